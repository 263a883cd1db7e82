//! `GET`/`POST /onboarding`: the whole journey of a new user in a `per_user` org, its validation,
//! its double submit, its expiry, and what it shows of the identity Salesforce reported.

use std::time::Duration;

use outpost_tests::outpost_local::provision::{DemoUser, ProvisionedOrg, UserKind};
use outpost_tests::outpost_shared::store::{MappingSource, ProvisioningMode};
use outpost_tests::salesforce_sim::{SObject, SessionKind, UserSpec};
use outpost_tests::{TestStack, url_encoded};

use super::reply::{JSON, Reply};
use super::side_org;
use super::signing::outpost_signer;
use super::writes::StoreState;

/// Opens `user`'s custom link and returns the pending-onboarding cookie it sets.
pub async fn start(stack: &TestStack, org: &ProvisionedOrg, user: &DemoUser, record: Option<&str>) -> String {
    let reply = Reply::send(stack.http.get(stack.link(org, user, record, SessionKind::Api))).await;
    assert_eq!(reply.location(), Some("/onboarding"), "{reply:?}");
    reply.cookie("outpost_pending").expect("a pending cookie").value
}

/// `GET /onboarding` with a pending cookie.
pub async fn form(stack: &TestStack, pending: &str) -> Reply {
    Reply::send(stack.http.get(stack.url("/onboarding")).header("cookie", format!("outpost_pending={pending}"))).await
}

/// `POST /onboarding` with a pending cookie (if any) and form fields.
pub async fn submit(stack: &TestStack, pending: Option<&str>, fields: &[(&str, &str)]) -> Reply {
    submit_body(stack, pending, url_encoded(fields)).await
}

/// `POST /onboarding` with a raw body.
pub async fn submit_body(stack: &TestStack, pending: Option<&str>, body: String) -> Reply {
    let mut request = stack
        .http
        .post(stack.url("/onboarding"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", JSON)
        .body(body);
    if let Some(pending) = pending {
        request = request.header("cookie", format!("outpost_pending={pending}"));
    }
    Reply::send(request).await
}

/// The `value` attribute of input `id` as rendered.
fn input_value(page: &Reply, id: &str) -> String {
    let start = page.body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}"));
    let tag_end = page.body[start..].find('>').unwrap() + start;
    let tag = &page.body[start..tag_end];
    let value = tag.find("value=\"").map(|i| i + "value=\"".len()).unwrap_or_else(|| panic!("no value in {tag}"));
    tag[value..value + tag[value..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn onboards_a_new_user_once_and_signs_them_in() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let grace = stack.user(acme, UserKind::New);
    let sim_user = stack.sim(acme).user(grace.user_id.as_str()).unwrap();
    let store = &stack.stack.services.store;
    let org = acme.registration.org_id;
    let pending = start(&stack, acme, grace, None).await;

    let page = form(&stack, &pending).await;
    assert_eq!(page.status, 200, "{page:?}");
    page.assert_private("onboarding form");
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        page.body.contains("Grace Hopper") && page.body.contains(&sim_user.username) && page.body.contains("Acme Sim")
    );
    assert_eq!(input_value(&page, "display_name"), "Grace Hopper", "prefilled with Salesforce's name");
    assert_eq!(input_value(&page, "reply_to"), sim_user.email, "prefilled with Salesforce's email");
    assert!(!page.body.contains(" checked"), "consent is never pre-ticked");
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.ends_with(&format!("frame-ancestors {}", stack.sim(acme).base_url())), "{csp}");
    let csrf = page.hidden_input("csrf");
    assert!(!csrf.is_empty());

    let before = StoreState::of(&stack);
    let invalid =
        submit(&stack, Some(&pending), &[("csrf", &csrf), ("display_name", "  "), ("reply_to", "grace@")]).await;
    assert_eq!(invalid.status, 422, "{invalid:?}");
    assert!(invalid.set_cookies().is_empty());
    for message in
        ["Enter the name your recipients will see.", "Enter an email address", "You need to accept the terms"]
    {
        assert!(invalid.body.contains(message), "{message}: {}", invalid.body);
    }
    assert_eq!(invalid.body.matches("aria-invalid=\"true\"").count(), 3);
    assert_eq!(input_value(&invalid, "reply_to"), "grace@", "input is kept");
    let kept = submit(
        &stack,
        Some(&pending),
        &[("csrf", &csrf), ("display_name", "Grace <b>\"Amazing\"</b> & co"), ("reply_to", "nope"), ("consent", "yes")],
    )
    .await;
    assert_eq!(kept.status, 422);
    assert_eq!(input_value(&kept, "display_name"), "Grace &#60;b&#62;&#34;Amazing&#34;&#60;/b&#62; &#38; co");
    assert!(kept.body.contains(" checked"), "consent is kept");
    assert!(!kept.body.contains("Enter the name"), "only the failing field is flagged");
    before.assert_unchanged(&stack, "invalid onboarding input");

    let fields =
        [("csrf", csrf.as_str()), ("display_name", "Grace H."), ("reply_to", "grace@example.com"), ("consent", "yes")];
    let done = submit(&stack, Some(&pending), &fields).await;
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(done.location(), Some("/app"));
    done.assert_private("onboarding submit");
    let session = done.cookie("__Host-outpost_session").expect("a session cookie");
    session.assert_cross_site("/");
    assert!(done.clears("outpost_pending"), "the pending identity is dropped: {done:?}");
    let cleared = done.set_cookies().into_iter().find(|c| c.name == "outpost_pending").unwrap();
    cleared.assert_cross_site("/onboarding");
    let mapping = store.get_user(&org, &grace.user_id).await.unwrap().expect("the mapping exists");
    assert_eq!((mapping.display_name.as_str(), mapping.reply_to.as_str()), ("Grace H.", "grace@example.com"));
    assert_eq!(mapping.source, MappingSource::Onboarding);
    assert!(mapping.consented_at.is_some());

    // The same cookie and token again (a replay, or a double click): single use, no second session.
    let twice = [
        ("csrf", csrf.as_str()),
        ("display_name", "Someone Else"),
        ("reply_to", "else@example.com"),
        ("consent", "yes"),
    ];
    let again = submit(&stack, Some(&pending), &twice).await;
    assert_eq!(again.status, 401, "{again:?}");
    assert!(again.body.contains("onboarding_used"), "{}", again.body);
    assert!(again.cookie("__Host-outpost_session").is_none(), "no second session: {again:?}");
    assert_eq!(store.get_user(&org, &grace.user_id).await.unwrap().unwrap(), mapping, "one mapping, unchanged");

    let app = Reply::send(
        stack.http.get(stack.url("/app")).header("cookie", format!("__Host-outpost_session={}", session.value)),
    )
    .await;
    assert_eq!(app.status, 200);
    assert!(app.body.contains("Hello, Grace H."), "{}", app.body);

    // Known now: the next link goes straight in.
    let next = Reply::send(stack.http.get(stack.link(acme, grace, None, SessionKind::Api))).await;
    assert_eq!(next.location(), Some("/app"));
}

#[tokio::test]
async fn onboarding_keeps_the_record_context_the_link_carried() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let katherine = acme.users.iter().rfind(|u| u.kind == UserKind::New).unwrap();
    let lead = stack.sim(acme).records(SObject::Lead).into_iter().find(|r| !r.is_deleted).unwrap();
    let pending = start(&stack, acme, katherine, Some(lead.id.as15())).await;
    let csrf = form(&stack, &pending).await.hidden_input("csrf");
    let fields =
        [("csrf", csrf.as_str()), ("display_name", "K. Johnson"), ("reply_to", "kj@example.com"), ("consent", "yes")];
    let done = submit(&stack, Some(&pending), &fields).await;
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(done.location(), Some(format!("/app?rid={}", lead.id.as_str()).as_str()));
}

#[tokio::test]
async fn an_expired_onboarding_explains_how_to_start_again() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let grace = stack.user(acme, UserKind::New);
    let identity = serde_json::json!({
        "org": acme.registration.org_id, "user": grace.user_id, "name": "Grace Hopper",
        "email": "grace@example.com", "username": null, "record": null, "nonce": "n",
    });
    let expired = outpost_signer(&stack).await.seal("pending-identity", &identity, Duration::ZERO);
    let before = StoreState::of(&stack);

    let page = form(&stack, &expired).await;
    assert_eq!(page.status, 401, "{page:?}");
    page.assert_private("expired onboarding");
    assert!(page.body.contains("open Outpost again"), "the page says how to start over: {}", page.body);
    assert!(page.body.contains("onboarding_expired"));
    let csrf = outpost_signer(&stack).await.csrf_token("onboarding", "n");
    let fields =
        [("csrf", csrf.as_str()), ("display_name", "Grace"), ("reply_to", "g@example.com"), ("consent", "yes")];
    submit(&stack, Some(&expired), &fields).await.assert_refused(401, "onboarding_expired", "expired pending cookie");
    submit(&stack, None, &fields).await.assert_refused(401, "onboarding_expired", "no pending cookie");
    before.assert_unchanged(&stack, "expired onboarding");
    assert!(stack.stack.services.store.get_user(&acme.registration.org_id, &grace.user_id).await.unwrap().is_none());
}

#[tokio::test]
async fn escapes_markup_in_what_salesforce_reports_about_a_user() {
    let stack = TestStack::start().await;
    let mallory = UserSpec {
        username: Some("mallory@side-org.example".to_owned()),
        email: Some("\"><svg/onload=alert(3)>@evil.example".to_owned()),
        ..UserSpec::new("<script>alert('first')</script>", "\"><img src=x onerror=alert(2)>")
    };
    let sim = side_org::register(&stack, "00D5g0000XssOrg", vec![mallory], ProvisioningMode::PerUser).await;
    let user = sim.users()[0].clone();
    let link = sim.custom_link(user.id.as_str(), None, SessionKind::Api).unwrap();
    let entered = Reply::send(stack.http.get(link)).await;
    assert_eq!(entered.location(), Some("/onboarding"), "{entered:?}");
    let pending = entered.cookie("outpost_pending").unwrap().value;

    let page = form(&stack, &pending).await;
    assert_eq!(page.status, 200, "{page:?}");
    for raw in ["<script>alert", "<img src=x", "<svg/onload"] {
        assert!(!page.body.contains(raw), "{raw} reached the page unescaped");
    }
    assert!(page.body.contains("&#60;script&#62;alert(&#39;first&#39;)&#60;/script&#62;"), "{}", page.body);
    assert!(page.body.contains("&#34;&#62;&#60;img src=x onerror=alert(2)&#62;"));
    assert_eq!(input_value(&page, "reply_to"), "&#34;&#62;&#60;svg/onload=alert(3)&#62;@evil.example");

    // Keeping Salesforce's name as the display name: the app page escapes it too.
    let csrf = page.hidden_input("csrf");
    let name = user.name();
    let fields =
        [("csrf", csrf.as_str()), ("display_name", name.as_str()), ("reply_to", "m@example.com"), ("consent", "yes")];
    let done = submit(&stack, Some(&pending), &fields).await;
    assert_eq!(done.status, 303, "{done:?}");
    let session = done.cookie("__Host-outpost_session").unwrap().value;
    let app =
        Reply::send(stack.http.get(stack.url("/app")).header("cookie", format!("__Host-outpost_session={session}")))
            .await;
    assert_eq!(app.status, 200);
    assert!(!app.body.contains("<script>alert") && !app.body.contains("<img src=x"), "{}", app.body);
    assert!(app.body.contains("Hello, &#60;script&#62;"));
    sim.shutdown().await.unwrap();
}
