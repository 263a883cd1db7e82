//! Counts checked against Salesforce: for each definition, what a list selects (its members and
//! the records left out for their address) is what the simulated org's `SELECT COUNT()` answers
//! for the same conditions written in SOQL by an independent translation.

use outpost_tests::outpost_local::provision::{DemoUser, ProvisionedOrg, UserKind};
use outpost_tests::salesforce_sim::SessionKind;
use outpost_tests::{StoreKind, TestStack};
use serde_json::{Value, json};

use super::support::{Api, synced};

/// A Salesforce field of `object` behind an Outpost field; `None` where the object has none.
fn soql_field(field: &str, object: &str) -> Option<&'static str> {
    let contact = object == "Contact";
    Some(match field {
        "Country" if contact => "MailingCountry",
        "State" if contact => "MailingState",
        "City" if contact => "MailingCity",
        "Company" if contact => "Account.Name",
        "Account.Name" | "AccountId" | "Department" if !contact => return None,
        "Status" | "Industry" | "IsConverted" if contact => return None,
        other => return known(other),
    })
}

/// The field names the oracle writes SOQL for, as static strings.
fn known(field: &str) -> Option<&'static str> {
    const FIELDS: [&str; 22] = [
        "FirstName",
        "LastName",
        "Email",
        "OwnerId",
        "Title",
        "LeadSource",
        "CreatedDate",
        "HasOptedOutOfEmail",
        "IsEmailBounced",
        "Account.Name",
        "AccountId",
        "Department",
        "Company",
        "Status",
        "Industry",
        "Country",
        "State",
        "City",
        "Region__c",
        "Score__c",
        "Tier__c",
        "LastModifiedDate",
    ];
    FIELDS.into_iter().find(|known| *known == field)
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `text` inside a LIKE pattern.
fn like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'").replace('%', "\\%").replace('_', "\\_")
}

/// A date's first instant, and the first instant of the next day, as SOQL datetime literals.
fn day(date: &str) -> (String, String) {
    let parsed = time::Date::parse(date, &time::macros::format_description!("[year]-[month]-[day]")).unwrap();
    let next = parsed.next_day().unwrap();
    (format!("{parsed}T00:00:00Z"), format!("{next}T00:00:00Z"))
}

fn literal(value: &Value) -> String {
    match value {
        Value::String(text) => quoted(text),
        other => other.to_string(),
    }
}

/// One condition in SOQL for `object`: `TRUE`/`FALSE` where the object lacks the field (an
/// empty field equals nothing and differs from everything, as in SOQL).
fn condition(condition: &Value, object: &str) -> String {
    let (field, op, value) =
        (condition["field"].as_str().unwrap(), condition["op"].as_str().unwrap(), &condition["value"]);
    let Some(name) = soql_field(field, object) else {
        return if matches!(op, "ne" | "is_empty") { "TRUE".into() } else { "FALSE".into() };
    };
    let dated = matches!(field, "CreatedDate" | "LastModifiedDate");
    match op {
        "eq" => format!("{name} = {}", literal(value)),
        "ne" => format!("{name} != {}", literal(value)),
        "in" => format!("{name} IN ({})", value.as_array().unwrap().iter().map(literal).collect::<Vec<_>>().join(", ")),
        "starts_with" => format!("{name} LIKE '{}%'", like(value.as_str().unwrap())),
        "ends_with" => format!("{name} LIKE '%{}'", like(value.as_str().unwrap())),
        "contains" => format!("{name} LIKE '%{}%'", like(value.as_str().unwrap())),
        "is_empty" => format!("{name} = null"),
        "not_empty" => format!("{name} != null"),
        "is_true" => format!("{name} = true"),
        "is_false" => format!("{name} = false"),
        "before" if dated => format!("{name} < {}", day(value.as_str().unwrap()).0),
        "after" if dated => format!("{name} >= {}", day(value.as_str().unwrap()).1),
        "between" if dated => {
            let (from, to) = (day(value[0].as_str().unwrap()).0, day(value[1].as_str().unwrap()).1);
            format!("({name} >= {from} AND {name} < {to})")
        }
        "between" => format!("({name} >= {} AND {name} <= {})", value[0], value[1]),
        other => panic!("the oracle has no SOQL for {other}"),
    }
}

/// The WHERE clause of `definition` for `object`.
fn where_clause(definition: &Value, object: &str) -> String {
    let conditions: Vec<String> =
        definition["conditions"].as_array().unwrap().iter().map(|each| condition(each, object)).collect();
    let joiner = if definition["match"] == "any" { " OR " } else { " AND " };
    // A converted lead is no longer a recipient; it is not among what a list selects.
    let live = if object == "Lead" { "IsConverted = false" } else { "Id != null" };
    if conditions.is_empty() { live.to_owned() } else { format!("({}) AND {live}", conditions.join(joiner)) }
}

/// `SELECT COUNT()` on the org, as `user`.
async fn soql_count(stack: &TestStack, org: &ProvisionedOrg, user: &DemoUser, soql: &str) -> u64 {
    let sim = stack.sim(org);
    let sid = sim.mint_session(user.user_id.as_str(), SessionKind::Api).unwrap();
    let url = reqwest::Url::parse_with_params(&format!("{}/services/data/v64.0/query", sim.base_url()), &[("q", soql)])
        .unwrap();
    let answer = stack.http.get(url).bearer_auth(sid).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{soql}");
    let body: Value = answer.json().await.unwrap();
    body["totalSize"].as_u64().unwrap_or_else(|| panic!("{soql}: {body}"))
}

/// What a preview selected: its members and everything excluded but deleted and converted records
/// (which SOQL does not return).
fn selected(preview: &Value) -> u64 {
    let excluded = &preview["excluded"];
    ["no_email", "invalid_email", "opted_out", "bounced", "duplicate_email"]
        .iter()
        .map(|reason| excluded[reason].as_u64().unwrap())
        .sum::<u64>()
        + preview["count"].as_u64().unwrap()
}

/// Checks `definition` (objects, match, conditions) against SOQL; `owner` adds `OwnerId = `.
async fn agrees(stack: &TestStack, org: &ProvisionedOrg, user: &DemoUser, definition: &Value, owner: bool) -> u64 {
    let preview = Api::new(stack, org, user).preview(definition).await;
    let mut expected = 0;
    for object in definition["objects"].as_array().unwrap() {
        let object = object.as_str().unwrap();
        let mut clause = where_clause(definition, object);
        if owner {
            clause = format!("({clause}) AND OwnerId = {}", quoted(user.user_id.as_str()));
        }
        expected += soql_count(stack, org, user, &format!("SELECT COUNT() FROM {object} WHERE {clause}")).await;
    }
    assert_eq!(selected(&preview), expected, "{definition}: {preview}");
    // Every member can be mailed, once.
    let sample = preview["sample"].as_array().unwrap();
    assert!(sample.iter().all(|member| member["email"].as_str().is_some_and(|email| email.contains('@'))));
    expected
}

#[tokio::test]
async fn counts_agree_with_salesforce_soql() {
    let stack = synced(StoreKind::Embedded).await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let both = json!(["Contact", "Lead"]);
    let definitions = [
        json!({"objects": both, "conditions": []}),
        json!({"objects": ["Contact"], "conditions": [{"field": "Country", "op": "eq", "value": "germany"}]}),
        json!({"objects": both, "match": "any", "conditions": [
            {"field": "Country", "op": "in", "value": ["Germany", "France", "Japan"]},
            {"field": "Title", "op": "starts_with", "value": "VP"}]}),
        json!({"objects": both, "conditions": [{"field": "Email", "op": "ends_with", "value": ".com"},
            {"field": "LeadSource", "op": "ne", "value": "Web"}]}),
        json!({"objects": ["Lead"], "conditions": [{"field": "Status", "op": "in", "value": ["Open - Not Contacted", "Working - Contacted"]},
            {"field": "Industry", "op": "not_empty"}]}),
        json!({"objects": ["Contact"], "conditions": [{"field": "Account.Name", "op": "contains", "value": "a"},
            {"field": "Department", "op": "is_empty"}]}),
        json!({"objects": both, "conditions": [{"field": "Company", "op": "starts_with", "value": "G"}]}),
        json!({"objects": both, "conditions": [{"field": "CreatedDate", "op": "between", "value": ["2024-01-01", "2025-06-30"]}]}),
        json!({"objects": both, "match": "any", "conditions": [{"field": "CreatedDate", "op": "before", "value": "2023-03-01"},
            {"field": "LastModifiedDate", "op": "after", "value": "2026-01-31"}]}),
        json!({"objects": both, "conditions": [{"field": "Region__c", "op": "eq", "value": "EMEA"}]}),
        json!({"objects": both, "conditions": [{"field": "Score__c", "op": "between", "value": [20, 60]},
            {"field": "HasOptedOutOfEmail", "op": "is_false"}]}),
        json!({"objects": ["Contact"], "match": "any", "conditions": [{"field": "Tier__c", "op": "in", "value": ["Gold", "Platinum"]},
            {"field": "Score__c", "op": "eq", "value": 99}]}),
        json!({"objects": both, "conditions": [{"field": "City", "op": "not_empty"}, {"field": "State", "op": "is_empty"}]}),
        json!({"objects": both, "conditions": [{"field": "FirstName", "op": "contains", "value": "an"},
            {"field": "IsEmailBounced", "op": "is_true"}]}),
    ];
    let mut nonzero = 0;
    for definition in &definitions {
        if agrees(&stack, acme, ada, definition, false).await > 0 {
            nonzero += 1;
        }
    }
    assert!(nonzero >= 10, "most definitions select something, so the comparison means something: {nonzero}");
}

#[tokio::test]
async fn owner_visibility_counts_only_the_users_own_records() {
    let stack = synced(StoreKind::Embedded).await;
    let globex = stack.globex();
    for user in globex.users.iter().filter(|user| user.kind == UserKind::Known) {
        let everyone = json!({"objects": ["Contact", "Lead"], "conditions": []});
        let countries =
            json!({"objects": ["Contact", "Lead"], "conditions": [{"field": "Country", "op": "not_empty"}]});
        agrees(&stack, globex, user, &everyone, true).await;
        agrees(&stack, globex, user, &countries, true).await;
    }
}
