//! The "Add to Outpost list" button: a Visualforce page posts the user's session and the records
//! selected in a list view to `POST /entry`; the user lands on the selection, for themselves only,
//! and adds it to a static list. Onboarding keeps the selection waiting.

use outpost_tests::StoreKind;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::salesforce_sim::{SObject, SessionKind};

use super::support::{Pages, list_id_of, synced};
use crate::entry::reply::Reply;

fn strs(ids: &[String]) -> Vec<&str> {
    ids.iter().map(String::as_str).collect()
}

/// `POST /entry` with `fields`, as the Visualforce page's form does.
async fn hand_over(stack: &outpost_tests::TestStack, fields: &[(String, String)]) -> Reply {
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Reply::send(
        stack
            .http
            .post(stack.url("/entry"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(outpost_tests::url_encoded(&borrowed)),
    )
    .await
}

#[tokio::test]
async fn a_list_view_selection_lands_in_a_static_list() {
    let stack = synced(StoreKind::Embedded).await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let sim = stack.sim(acme);
    let selected: Vec<String> =
        sim.records(SObject::Lead).iter().filter(|l| !l.is_deleted).take(5).map(|l| l.id.as_str().to_owned()).collect();
    let form = sim
        .list_button_form(ada.user_id.as_str(), SObject::Lead, &strs(&selected), SessionKind::Api)
        .expect("the sim mints the page's session");
    let landed = hand_over(&stack, &form).await;
    assert_eq!(landed.status, 303, "{landed:?}");
    let location = landed.location().unwrap().to_owned();
    assert!(location.starts_with("/app/selections/"), "{location}");
    let session = landed.cookie("__Host-outpost_session").expect("signed in").value;
    let pages = Pages::with_session(&stack, session);

    let page = pages.get(&location).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Add 5 Leads to a list"), "{}", page.body);
    let csrf = page.hidden_input("csrf");
    let added = pages.post(&location, &[("csrf", &csrf), ("list", ""), ("name", "Trade show")]).await;
    let id = list_id_of(&added);
    let mut members: Vec<String> = stack
        .stack
        .services
        .store
        .list_members(&acme.registration.org_id, &id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect();
    members.sort();
    let mut expected = selected.clone();
    expected.sort();
    assert_eq!(members, expected);

    // The selection is the user's own: another org's user finds nothing there.
    let globex = stack.globex();
    let stranger = Pages::sign_in(&stack, globex, stack.user(globex, UserKind::Known)).await;
    let refused = stranger.get(&location).await;
    assert_eq!(refused.status, 404, "{refused:?}");
    assert!(refused.body.contains("selection_not_found"));
    let again = Pages::sign_in(&stack, acme, ada).await;
    assert_eq!(again.get(&location).await.status, 200, "the same user in another session may");
    assert_eq!(pages.get("/app/selections/not-a-token").await.status, 404);
}

#[tokio::test]
async fn a_bad_hand_over_is_refused_before_salesforce_is_asked() {
    let stack = synced(StoreKind::Embedded).await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let sim = stack.sim(acme);
    let contact = sim.records(SObject::Contact)[0].id.as_str().to_owned();
    let lead = sim.records(SObject::Lead)[0].id.as_str().to_owned();
    let form =
        sim.list_button_form(ada.user_id.as_str(), SObject::Contact, &[contact.as_str()], SessionKind::Api).unwrap();
    let with = |name: &str, value: &str| {
        let mut fields: Vec<(String, String)> = form.iter().filter(|(k, _)| k != name).cloned().collect();
        fields.push((name.to_owned(), value.to_owned()));
        fields
    };
    let too_many: Vec<String> = (0..1001).map(|n| format!("003q0000000{n:04}")).collect();
    for (case, fields) in [
        ("a Lead among Contacts", with("ids", &format!("{contact},{lead}"))),
        ("an Account", with("object", "Account")),
        ("nothing selected", with("ids", "")),
        ("1,001 records", with("ids", &too_many.join(","))),
        ("an unknown field", with("colour", "red")),
    ] {
        let refused = Reply::send(
            stack
                .http
                .post(stack.url("/entry"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(outpost_tests::url_encoded(
                    &fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(),
                )),
        )
        .await;
        assert_eq!(refused.status, 400, "{case}: {refused:?}");
        assert!(refused.set_cookies().is_empty(), "{case}");
    }
}

#[tokio::test]
async fn onboarding_keeps_the_selection_waiting() {
    let stack = synced(StoreKind::Embedded).await;
    let acme = stack.acme();
    let newcomer = stack.user(acme, UserKind::New);
    let sim = stack.sim(acme);
    let selected = vec![sim.records(SObject::Contact)[1].id.as_str().to_owned()];
    let form =
        sim.list_button_form(newcomer.user_id.as_str(), SObject::Contact, &strs(&selected), SessionKind::Api).unwrap();
    let landed = hand_over(&stack, &form).await;
    assert_eq!(landed.location(), Some("/onboarding"), "{landed:?}");
    let pending = landed.cookie("outpost_pending").unwrap().value;
    let onboarding =
        Reply::send(stack.http.get(stack.url("/onboarding")).header("cookie", format!("outpost_pending={pending}")))
            .await;
    let csrf = onboarding.hidden_input("csrf");
    let done = Reply::send(
        stack
            .http
            .post(stack.url("/onboarding"))
            .header("cookie", format!("outpost_pending={pending}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(outpost_tests::url_encoded(&[
                ("csrf", &csrf),
                ("display_name", "Grace"),
                ("reply_to", "grace@example.com"),
                ("consent", "yes"),
            ])),
    )
    .await;
    assert!(done.location().is_some_and(|l| l.starts_with("/app/selections/")), "{done:?}");
}
