//! The JSON API: lists created, read, changed (never over someone else's newer edit) and deleted;
//! static lists' records; every bad input refused with a stable code and nothing saved.

use outpost_tests::StoreKind;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::outpost_shared::store::OrgFields;
use outpost_tests::salesforce_sim::SObject;
use serde_json::{Value, json};

use super::support::{Api, synced};

on_both_stores!(lists_are_created_read_changed_and_deleted, static_lists_take_records_of_their_objects);

async fn lists_are_created_read_changed_and_deleted(store: StoreKind) {
    let stack = synced(store).await;
    let acme = stack.acme();
    let api = Api::new(&stack, acme, stack.user(acme, UserKind::Known));
    let definition = json!({"name": "Named people", "objects": ["Contact", "Lead"],
        "conditions": [{"field": "FirstName", "op": "not_empty"}]});
    let preview = api.preview(&definition).await;
    assert!(preview["count"].as_u64().unwrap() > 0, "{preview}");

    let created = api.post("/api/v1/lists", &definition).await;
    assert_eq!(created.status, 201, "{created:?}");
    let list = created.json();
    let id = list["id"].as_str().unwrap().to_owned();
    let revision = list["revision"].as_str().unwrap().to_owned();
    assert_eq!(created.location(), Some(format!("/api/v1/lists/{id}").as_str()));
    assert_eq!(created.header("etag"), Some(format!("\"{revision}\"").as_str()));
    assert_eq!(list["count"], preview["count"], "a saved list counts what its preview did");
    assert_eq!(list["excluded"], preview["excluded"]);
    assert_eq!((list["kind"].as_str(), list["match"].as_str()), (Some("dynamic"), Some("all")));

    let read = api.get(&format!("/api/v1/lists/{id}")).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.json()["count"], preview["count"]);
    let all = api.get("/api/v1/lists").await.json();
    let listed = all["lists"].as_array().unwrap().iter().find(|l| l["id"] == id.as_str()).unwrap().clone();
    assert_eq!(listed["count"], preview["count"], "the last count is kept for the list of lists");

    let renamed = api.patch(&format!("/api/v1/lists/{id}"), &json!({"name": "Leads named"}), Some(&revision)).await;
    assert_eq!(renamed.status, 200, "{renamed:?}");
    let renamed = renamed.json();
    assert_eq!(renamed["name"], "Leads named");
    assert_eq!(renamed["conditions"], list["conditions"], "what the body leaves out stays");
    assert_ne!(renamed["revision"], revision.as_str(), "an edit makes a new revision");
    api.patch(&format!("/api/v1/lists/{id}"), &json!({"name": "Lost"}), Some(&revision)).await.assert_refused(
        412,
        "revision_mismatch",
        "an edit of a revision that is gone",
    );
    let narrowed = api.patch(&format!("/api/v1/lists/{id}"), &json!({"objects": ["Lead"]}), None).await.json();
    let leads_only =
        api.preview(&json!({"objects": ["Lead"], "conditions": [{"field": "FirstName", "op": "not_empty"}]})).await;
    assert_eq!(narrowed["count"], leads_only["count"]);
    assert!(narrowed["count"].as_u64() < preview["count"].as_u64());

    assert_eq!(api.delete(&format!("/api/v1/lists/{id}")).await.status, 204);
    api.get(&format!("/api/v1/lists/{id}")).await.assert_refused(404, "list_not_found", "a deleted list");
    api.delete(&format!("/api/v1/lists/{id}")).await.assert_refused(404, "list_not_found", "deleted twice");
    api.get("/api/v1/lists/..%2F..%2Fetc").await.assert_refused(404, "list_not_found", "not a list id");
}

async fn static_lists_take_records_of_their_objects(store: StoreKind) {
    let stack = synced(store).await;
    let acme = stack.acme();
    let api = Api::new(&stack, acme, stack.user(acme, UserKind::Known));
    let list = api.create(&json!({"name": "Hand-picked", "kind": "static", "objects": ["Contact"]})).await;
    assert_eq!(list["count"], 0);
    let id = list["id"].as_str().unwrap();
    let members = format!("/api/v1/lists/{id}/members");

    let contacts = stack.sim(acme).records(SObject::Contact);
    let deliverable: Vec<String> = contacts
        .iter()
        .filter(|c| !c.is_deleted && !c.has_opted_out_of_email && !c.is_email_bounced)
        .filter(|c| c.email.as_deref().is_some_and(|e| e.ends_with(".com") && !e.contains(' ')))
        .take(3)
        .map(|c| c.id.as_str().to_owned())
        .collect();
    assert_eq!(deliverable.len(), 3);
    // 15-character ids are as good as 18; the same record twice is added once, and counted once.
    let mut ids: Vec<String> = deliverable.clone();
    ids.push(deliverable[0][..15].to_owned());
    let added = api.post(&members, &json!({"ids": ids})).await;
    assert_eq!(added.status, 200, "{added:?}");
    assert_eq!(added.json(), json!({"added": 3, "already": 0, "members": 3}), "a repeat is not a record already there");
    let again = api.post(&members, &json!({"ids": [deliverable[1]]})).await.json();
    assert_eq!(again, json!({"added": 0, "already": 1, "members": 3}));

    let mut listed = api.member_ids(id).await;
    listed.sort();
    let mut expected = deliverable.clone();
    expected.sort();
    assert_eq!(listed, expected);
    let first_page = api.get(&format!("{members}?limit=2")).await.json();
    assert_eq!(first_page["members"].as_array().unwrap().len(), 2);
    let next = first_page["next_cursor"].as_str().unwrap();
    let second = api.get(&format!("{members}?limit=2&cursor={next}")).await.json();
    assert_eq!(second["members"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);

    let lead = stack.sim(acme).records(SObject::Lead)[0].id.as_str().to_owned();
    let wrong = api.post(&members, &json!({"ids": [deliverable[0], lead]})).await;
    wrong.assert_refused(400, "wrong_object", "a Lead in a Contacts list");
    assert_eq!(wrong.json()["error"]["path"], "ids[1]");
    api.post(&members, &json!({"ids": ["003 nonsense"]})).await.assert_refused(400, "invalid_record_id", "not an id");
    api.post(&members, &json!({"ids": []})).await.assert_refused(400, "no_records", "nothing");
    let many: Vec<String> = (0..201).map(|n| format!("003q0000000{n:04}")).collect();
    api.post(&members, &json!({"ids": many})).await.assert_refused(400, "too_many_records", "201 records");
    assert_eq!(api.get(&format!("/api/v1/lists/{id}")).await.json()["count"], 3, "refusals add nothing");

    let removed = api.send(reqwest::Method::DELETE, &members, &json!({"ids": [deliverable[0], deliverable[0]]})).await;
    assert_eq!(removed.json(), json!({"removed": 1}));
    assert_eq!(api.get(&format!("/api/v1/lists/{id}")).await.json()["count"], 2);

    let dynamic = api.create(&json!({"name": "Everyone", "objects": ["Contact"]})).await;
    let dynamic_members = format!("/api/v1/lists/{}/members", dynamic["id"].as_str().unwrap());
    api.post(&dynamic_members, &json!({"ids": [deliverable[0]]})).await.assert_refused(409, "not_static", "dynamic");
}

#[tokio::test]
async fn bad_definitions_are_refused_with_a_stable_code_and_nothing_saved() {
    let stack = synced(StoreKind::Embedded).await;
    let acme = stack.acme();
    let api = Api::new(&stack, acme, stack.user(acme, UserKind::Known));
    let condition = |field: &str, op: &str, value: Value| json!({"name": "x", "objects": ["Contact"], "conditions": [{"field": field, "op": op, "value": value}]});
    let many_values: Vec<String> = (0..101).map(|n| n.to_string()).collect();
    let many_conditions: Vec<Value> = (0..51).map(|_| json!({"field": "Email", "op": "not_empty"})).collect();
    let cases: Vec<(&str, Value, &str, Option<&str>)> = vec![
        ("no name", json!({"objects": ["Contact"]}), "invalid_name", Some("name")),
        ("an 81-character name", json!({"name": "x".repeat(81), "objects": ["Contact"]}), "invalid_name", Some("name")),
        ("no objects", json!({"name": "x", "objects": []}), "invalid_objects", Some("objects")),
        ("Accounts", json!({"name": "x", "objects": ["Account"]}), "invalid_objects", Some("objects")),
        (
            "a kind that is neither",
            json!({"name": "x", "objects": ["Lead"], "kind": "smart"}),
            "invalid_kind",
            Some("kind"),
        ),
        (
            "a match that is neither",
            json!({"name": "x", "objects": ["Lead"], "match": "most"}),
            "invalid_match",
            Some("match"),
        ),
        ("a field nobody has", condition("Nope__c", "eq", json!("x")), "unknown_field", Some("conditions[0].field")),
        (
            "a field hidden from the integration user",
            condition("Secret__c", "eq", json!("x")),
            "unknown_field",
            Some("conditions[0].field"),
        ),
        (
            "a field Salesforce cannot filter on",
            condition("Notes__c", "contains", json!("x")),
            "unknown_field",
            Some("conditions[0].field"),
        ),
        (
            "a text operator on a date",
            condition("CreatedDate", "starts_with", json!("2026")),
            "invalid_operator",
            Some("conditions[0].op"),
        ),
        (
            "a date that is not one",
            condition("CreatedDate", "before", json!("31/01/2026")),
            "invalid_value",
            Some("conditions[0].value"),
        ),
        (
            "between with one bound",
            condition("CreatedDate", "between", json!(["2026-01-01"])),
            "invalid_value",
            Some("conditions[0].value"),
        ),
        ("101 values", condition("Title", "in", json!(many_values)), "invalid_value", Some("conditions[0].value")),
        (
            "a number that is not one",
            condition("Score__c", "eq", json!("lots")),
            "invalid_value",
            Some("conditions[0].value"),
        ),
        (
            "51 conditions",
            json!({"name": "x", "objects": ["Lead"], "conditions": many_conditions}),
            "too_many_conditions",
            Some("conditions"),
        ),
        ("an unknown member", json!({"name": "x", "objects": ["Lead"], "colour": "red"}), "invalid_json", None),
        (
            "a condition without an operator",
            json!({"name": "x", "objects": ["Lead"], "conditions": [{"field": "Email"}]}),
            "invalid_json",
            Some("conditions[0]"),
        ),
        (
            "an operator nobody has",
            condition("Email", "sounds_like", json!("x")),
            "invalid_json",
            Some("conditions[0].op"),
        ),
    ];
    for (case, body, code, path) in cases {
        let refused = api.post("/api/v1/lists", &body).await;
        refused.assert_refused(400, code, case);
        if let Some(path) = path {
            assert_eq!(refused.json()["error"]["path"], path, "{case}");
        }
    }
    let post =
        |content_type: &'static str, body: Vec<u8>| api.raw(reqwest::Method::POST, "/api/v1/lists", content_type, body);
    post("text/plain", b"{}".to_vec()).await.assert_refused(415, "unsupported_media_type", "not JSON");
    post("application/json", b"{\"name\": ".to_vec()).await.assert_refused(400, "invalid_json", "cut short");
    post("application/json", vec![b' '; 300 * 1024]).await.assert_refused(413, "body_too_large", "300 KB");
    let org = acme.registration.org_id;
    assert!(stack.stack.services.store.lists(&org).await.unwrap().is_empty(), "nothing was saved");
}

#[tokio::test]
async fn owner_visibility_keeps_lists_and_records_to_their_owner() {
    let stack = synced(StoreKind::Embedded).await;
    let globex = stack.globex();
    let users: Vec<_> = globex.users.iter().filter(|u| u.kind == UserKind::Known).collect();
    assert!(users.len() >= 2, "Globex has two users to tell apart");
    let (first, second) = (Api::new(&stack, globex, users[0]), Api::new(&stack, globex, users[1]));
    let list = first.create(&json!({"name": "Mine", "objects": ["Contact", "Lead"]})).await;
    let id = list["id"].as_str().unwrap();
    second.get(&format!("/api/v1/lists/{id}")).await.assert_refused(404, "list_not_found", "another owner's list");
    assert!(second.get("/api/v1/lists").await.json()["lists"].as_array().unwrap().is_empty());
    for member in
        first.get(&format!("/api/v1/lists/{id}/members?limit=1000")).await.json()["members"].as_array().unwrap()
    {
        assert_eq!(member["owner_id"], users[0].user_id.as_str(), "only the user's own records");
    }
}

#[tokio::test]
async fn a_list_whose_field_went_away_asks_to_be_edited() {
    let stack = synced(StoreKind::Embedded).await;
    let acme = stack.acme();
    let api = Api::new(&stack, acme, stack.user(acme, UserKind::Known));
    let list = api
        .create(&json!({"name": "EMEA", "objects": ["Contact"],
        "conditions": [{"field": "Region__c", "op": "eq", "value": "EMEA"}]}))
        .await;
    // The admin removed the field from the org's settings (or its permission): the sync no longer reads it.
    let store = &stack.stack.services.store;
    store.put_org_fields(&acme.registration.org_id, &OrgFields::default()).await.unwrap();
    let stale = api.get(&format!("/api/v1/lists/{}", list["id"].as_str().unwrap())).await;
    stale.assert_refused(409, "list_needs_edit", "a condition on a field that went away");
}
