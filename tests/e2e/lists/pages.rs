//! The pages without a script: a list built, counted and saved with the form's buttons; shown,
//! searched, edited, duplicated and deleted; forms refused without their CSRF token or with bad
//! input, re-shown with the error where it belongs; an edit over a newer one refused.

use outpost_tests::StoreKind;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::salesforce_sim::SObject;

use super::support::{Api, Pages, list_id_of, synced};
use crate::entry::reply::Reply;

/// The number shown as a page's count.
fn shown_count(body: &str) -> u64 {
    let start = body.find("id=\"count\">").expect("a count") + "id=\"count\">".len();
    let end = body[start..].find('<').unwrap() + start;
    body[start..end].parse().unwrap_or_else(|_| panic!("a number: {}", &body[start..end]))
}

async fn post_owned(pages: &Pages<'_>, path: &str, fields: &[(&str, String)]) -> Reply {
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(name, value)| (*name, value.as_str())).collect();
    pages.post(path, &borrowed).await
}

#[tokio::test]
async fn a_list_is_built_counted_saved_and_managed_without_a_script() {
    let stack = synced(StoreKind::Embedded).await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let pages = Pages::sign_in(&stack, acme, ada).await;
    let api = Api::new(&stack, acme, ada);
    let csrf = pages.csrf().await;

    let new = pages.get("/app/lists/new").await;
    assert_eq!(new.status, 200, "{new:?}");
    assert!(new.body.contains("<script src=\"/app/static/app.js\" defer></script>"));
    let csp = new.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.ends_with(&format!("frame-ancestors {}", stack.sim(acme).base_url())), "{csp}");
    assert!(new.body.contains("value=\"Region__c\""), "the org's additional fields are offered");
    assert!(!new.body.contains("Secret__c") && !new.body.contains("Notes__c"), "unreadable ones are not");

    let form = |action: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "Germans <b>& friends</b>".to_owned()),
            ("kind", "dynamic".to_owned()),
            ("objects", "Contact".to_owned()),
            ("objects", "Lead".to_owned()),
            ("match", "all".to_owned()),
            ("c0_field", "Country".to_owned()),
            ("c0_op", "eq".to_owned()),
            ("c0_value", "Germany".to_owned()),
            ("c1_field", String::new()),
            ("c1_op", "eq".to_owned()),
            ("action", action.to_owned()),
        ]
    };
    let expected = api
        .preview(&serde_json::json!({"objects": ["Contact", "Lead"], "conditions": [{"field": "Country", "op": "eq", "value": "Germany"}]}))
        .await["count"]
        .as_u64()
        .unwrap();
    let counted = post_owned(&pages, "/app/lists", &form("count")).await;
    assert_eq!(counted.status, 200, "{counted:?}");
    assert_eq!(shown_count(&counted.body), expected, "the Count button counts");
    assert!(counted.body.contains("Germans &#60;b&#62;&#38; friends&#60;/b&#62;"), "names are escaped");
    let with_row = post_owned(&pages, "/app/lists", &form("add_row")).await;
    assert!(with_row.body.contains("name=\"c2_field\""), "a row was added");
    let removed = post_owned(&pages, "/app/lists", &form("remove_0")).await;
    assert!(!removed.body.contains("value=\"Germany\""), "the row was removed");

    let saved = post_owned(&pages, "/app/lists", &form("save")).await;
    let id = list_id_of(&saved);
    let view = pages.get(&format!("/app/lists/{id}")).await;
    assert_eq!(view.status, 200, "{view:?}");
    assert_eq!(shown_count(&view.body), expected);
    assert!(view.body.contains("Country is Germany"), "conditions in words: {}", view.body);

    let members = pages.get(&format!("/app/lists/{id}/members")).await;
    assert_eq!(members.status, 200);
    let api_members = api.member_ids(&id).await;
    assert_eq!(api_members.len() as u64, expected);
    if let Some(first) = api_members.first() {
        assert!(members.body.contains(first.as_str()), "members link to their records");
        let contact = stack
            .sim(acme)
            .records(SObject::Contact)
            .into_iter()
            .chain(stack.sim(acme).records(SObject::Lead))
            .find(|record| record.id.as_str() == first)
            .unwrap();
        let search = pages.get(&format!("/app/lists/{id}/members?q={}", contact.last_name.replace(' ', "+"))).await;
        assert!(search.body.contains(first.as_str()), "search finds by name");
    }
    let nobody = pages.get(&format!("/app/lists/{id}/members?q=zzzz-nobody")).await;
    assert!(nobody.body.contains("No recipients match"), "{}", nobody.body);

    let edit = pages.get(&format!("/app/lists/{id}/edit")).await;
    assert!(edit.body.contains("value=\"Germany\""), "the edit form holds the condition");
    let revision = edit.hidden_input("revision");
    let mut renamed = form("save");
    renamed[1].1 = "Germany".to_owned();
    renamed.push(("revision", revision.clone()));
    assert_eq!(list_id_of(&post_owned(&pages, &format!("/app/lists/{id}"), &renamed).await), id);
    // The same form again carries a revision that is gone: it would undo the edit just made.
    let stale = post_owned(&pages, &format!("/app/lists/{id}"), &renamed).await;
    assert_eq!(stale.status, 409, "{stale:?}");
    assert!(stale.body.contains("Someone else changed this list meanwhile"), "{}", stale.body);
    // Counting the stale form keeps the revision it started from, so its Save is still refused.
    let recount: Vec<(&str, String)> = renamed
        .iter()
        .map(|(name, value)| (*name, if *name == "action" { "count".to_owned() } else { value.clone() }))
        .collect();
    let counted = post_owned(&pages, &format!("/app/lists/{id}"), &recount).await;
    assert_eq!(counted.status, 200, "{counted:?}");
    assert_eq!(counted.hidden_input("revision"), revision);

    let copy = list_id_of(&pages.post(&format!("/app/lists/{id}/duplicate"), &[("csrf", &csrf)]).await);
    assert_ne!(copy, id);
    assert!(pages.get(&format!("/app/lists/{copy}")).await.body.contains("Copy of Germany"));
    let confirm = pages.get(&format!("/app/lists/{id}/delete")).await;
    assert!(confirm.body.contains("Delete Germany?"));
    let deleted = pages.post(&format!("/app/lists/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!((deleted.status.as_u16(), deleted.location()), (303, Some("/app")));
    assert_eq!(pages.get(&format!("/app/lists/{id}")).await.status, 404);
    let home = pages.get("/app").await;
    assert!(home.body.contains("Copy of Germany") && !home.body.contains(&format!("/app/lists/{id}\"")));
}

#[tokio::test]
async fn forms_need_their_token_and_bad_input_is_shown_where_it_is() {
    let stack = synced(StoreKind::Embedded).await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let pages = Pages::sign_in(&stack, acme, ada).await;
    let other = Pages::sign_in(&stack, acme, ada).await;
    let csrf = pages.csrf().await;
    let others = other.csrf().await;
    let fields = |token: &str| {
        vec![
            ("csrf", token.to_owned()),
            ("name", "x".to_owned()),
            ("objects", "Contact".to_owned()),
            ("action", "save".to_owned()),
        ]
    };
    for (case, token) in [("no token", ""), ("another session's token", others.as_str()), ("a forged token", "AAAA")] {
        let refused = post_owned(&pages, "/app/lists", &fields(token)).await;
        assert_eq!(refused.status, 403, "{case}: {refused:?}");
        assert!(refused.header("content-type").unwrap().starts_with("text/html"), "{case}: people get a page");
        assert!(refused.body.contains("Error code: csrf"), "{case}");
    }
    let bad_value = [
        ("csrf", csrf.as_str()),
        ("name", "Recent"),
        ("objects", "Lead"),
        ("c0_field", "CreatedDate"),
        ("c0_op", "before"),
        ("c0_value", "last tuesday"),
        ("action", "save"),
    ];
    let shown = pages.post("/app/lists", &bad_value).await;
    assert_eq!(shown.status, 400, "{shown:?}");
    assert!(shown.body.contains("aria-invalid=\"true\""), "the row is marked");
    assert!(shown.body.contains("value=\"last tuesday\""), "what was typed is kept");
    let unnamed = [("csrf", csrf.as_str()), ("name", " "), ("objects", "Lead"), ("action", "save")];
    let shown = pages.post("/app/lists", &unnamed).await;
    assert!(shown.body.contains("id=\"name-error\""), "{}", shown.body);
    let malformed = pages.post("/app/lists", &[("csrf", &csrf), ("c99999_field", "x")]).await;
    assert_eq!(malformed.status, 400);
    // A name in Latin-1 (not UTF-8) is refused, never saved with U+FFFD in place of its letters.
    let latin1 = pages.post_body("/app/lists", format!("csrf={csrf}&name=Caf%E9&objects=Lead&action=save")).await;
    assert_eq!(latin1.status, 400, "{latin1:?}");
    assert!(latin1.body.contains("Error code: bad_request"), "{}", latin1.body);
    let org = acme.registration.org_id;
    assert!(stack.stack.services.store.lists(&org).await.unwrap().is_empty(), "nothing was saved");
    assert_eq!(pages.get("/app/lists/AAAAAAAAAAAAAAAA").await.status, 404);
}

#[tokio::test]
async fn the_record_a_link_came_from_goes_into_a_static_list() {
    let stack = synced(StoreKind::Embedded).await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let pages = Pages::sign_in(&stack, acme, ada).await;
    let contact = stack.sim(acme).records(SObject::Contact).into_iter().find(|c| !c.is_deleted).unwrap();
    let home = pages.get(&format!("/app?rid={}", contact.id.as15())).await;
    assert!(home.body.contains(&format!("Add {} to a list", contact.name())), "{}", home.body);
    let csrf = pages.csrf().await;
    let added = pages
        .post(
            "/app/selections",
            &[("csrf", &csrf), ("rid", contact.id.as_str()), ("list", ""), ("name", "From records")],
        )
        .await;
    let id = list_id_of(&added);
    let api = Api::new(&stack, acme, ada);
    let list = api.get(&format!("/api/v1/lists/{id}")).await.json();
    assert_eq!((list["kind"].as_str(), list["name"].as_str()), (Some("static"), Some("From records")));
    let members = stack.stack.services.store.list_members(&acme.registration.org_id, &id).await.unwrap();
    assert_eq!(members.iter().map(|m| m.as_str()).collect::<Vec<_>>(), [contact.id.as_str()]);
    // The next record can join that list.
    let again = pages.get(&format!("/app?rid={}", contact.id.as_str())).await;
    assert!(again.body.contains(&format!("value=\"{id}\"")), "the static list is offered");
}
