//! SSO (docs/flows.md#sso-with-pkce): `/sso/start` → the org's authorize page (the sim's login form, posted as plain
//! HTTP) → `/sso/callback` → a signed-in user, onboarding, or a clear refusal.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use outpost_tests::TestStack;
use outpost_tests::outpost_local::provision::{ProvisionedOrg, UserKind};
use outpost_tests::salesforce_sim::SObject;

use super::reply::{JSON, Reply};
use super::writes::StoreState;

/// A started sign-in: the authorize URL's parameters and the state cookie.
struct Started {
    authorize: url::Url,
    params: HashMap<String, String>,
    cookie: String,
}

async fn start(stack: &TestStack, org: &ProvisionedOrg, record: Option<&str>) -> Started {
    let mut path = format!("/sso/start?org={}", org.registration.org_id);
    if let Some(record) = record {
        path.push_str(&format!("&rid={record}"));
    }
    let reply = Reply::send(stack.http.get(stack.url(&path))).await;
    assert_eq!(reply.status, 302, "{reply:?}");
    reply.assert_private("SSO start");
    let cookie = reply.cookie("outpost_sso").expect("the state cookie");
    for attribute in ["HttpOnly", "Secure"] {
        assert!(cookie.has(attribute), "{cookie:?}");
    }
    assert_eq!(cookie.attribute("SameSite"), Some("Lax"), "sent back on the top-level return from Salesforce");
    assert_eq!(cookie.attribute("Path"), Some("/sso"));
    assert!(cookie.max_age() > 0 && cookie.max_age() <= 15 * 60, "short-lived: {cookie:?}");
    let authorize = url::Url::parse(reply.location().unwrap()).unwrap();
    let params = authorize.query_pairs().into_owned().collect();
    Started { authorize, params, cookie: cookie.value }
}

/// Posts the sim's login form as `username` choosing `action`; returns Salesforce's redirect.
async fn answer(stack: &TestStack, started: &Started, username: &str, action: &str) -> url::Url {
    let page = Reply::send(stack.http.get(started.authorize.as_str())).await;
    assert_eq!(page.status, 200, "the authorize page: {page:?}");
    assert!(page.body.contains(&format!("data-username=\"{username}\"")), "{username} can log in");
    let mut fields: Vec<(&str, &str)> = started.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fields.extend([("username", username), ("action", action)]);
    let form_url = format!("{}/services/oauth2/authorize", started.authorize.origin().ascii_serialization());
    let reply = Reply::send(
        stack
            .http
            .post(form_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(outpost_tests::url_encoded(&fields)),
    )
    .await;
    assert_eq!(reply.status, 302, "{reply:?}");
    url::Url::parse(reply.location().unwrap()).unwrap()
}

async fn callback(stack: &TestStack, url: &str, cookie: &str, accept: &str) -> Reply {
    Reply::send(stack.http.get(url).header("cookie", format!("outpost_sso={cookie}")).header("accept", accept)).await
}

fn username(stack: &TestStack, org: &ProvisionedOrg, kind: UserKind) -> String {
    let user = stack.user(org, kind);
    stack.sim(org).user(user.user_id.as_str()).unwrap().username
}

#[tokio::test]
async fn sso_asks_the_pinned_host_for_a_code_with_pkce_and_state_then_signs_a_known_user_in() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    let started = start(&stack, acme, None).await;
    assert_eq!(started.authorize.origin().ascii_serialization(), sim.base_url(), "the org's pinned host");
    assert_eq!(started.authorize.path(), "/services/oauth2/authorize");
    assert!(started.authorize.query().is_some_and(|query| !query.starts_with('&')), "{}", started.authorize);
    let p = &started.params;
    assert_eq!(p["response_type"], "code");
    assert_eq!(p["client_id"], sim.client_id());
    assert_eq!(p["redirect_uri"], stack.url("/sso/callback"));
    assert!(p["scope"].split(' ').any(|s| s == "openid"), "{}", p["scope"]);
    assert!(p["state"].len() >= 32, "an unguessable state");
    assert_eq!(p["code_challenge_method"], "S256");
    assert_eq!(URL_SAFE_NO_PAD.decode(&p["code_challenge"]).unwrap().len(), 32, "a SHA-256 challenge");

    let back = answer(&stack, &started, &username(&stack, acme, UserKind::Known), "approve").await;
    assert_eq!(back.as_str().split('?').next(), Some(stack.url("/sso/callback").as_str()));
    let done = callback(&stack, back.as_str(), &started.cookie, "text/html").await;
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(done.location(), Some("/app"));
    done.assert_private("SSO callback");
    done.cookie("__Host-outpost_session").expect("a session").assert_cross_site("/");
    assert!(done.clears("outpost_sso"), "{done:?}");
    let code: String = back.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    done.assert_never_shows(&code, "SSO callback");

    let session = done.cookie("__Host-outpost_session").unwrap().value;
    let app =
        Reply::send(stack.http.get(stack.url("/app")).header("cookie", format!("__Host-outpost_session={session}")))
            .await;
    assert_eq!(app.status, 200);
    assert!(app.body.contains("Hello, Ada Lovelace"));

    // The code was exchanged once; replaying the callback gets nothing.
    let replay = callback(&stack, back.as_str(), &started.cookie, JSON).await;
    replay.assert_refused(400, "sso_failed", "a replayed callback: the code is bad, Salesforce is fine");
}

#[tokio::test]
async fn sso_sends_a_new_user_to_onboarding_and_lets_org_wide_users_in_with_their_record() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let started = start(&stack, acme, None).await;
    let back = answer(&stack, &started, &username(&stack, acme, UserKind::New), "approve").await;
    let done = callback(&stack, back.as_str(), &started.cookie, "text/html").await;
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(done.location(), Some("/onboarding"));
    assert!(done.cookie("__Host-outpost_session").is_none());
    done.cookie("outpost_pending").expect("a pending identity").assert_cross_site("/onboarding");

    let globex = stack.globex();
    let contact = stack.sim(globex).records(SObject::Contact)[0].id;
    let started = start(&stack, globex, Some(contact.as15())).await;
    let back = answer(&stack, &started, &username(&stack, globex, UserKind::Known), "approve").await;
    let done = callback(&stack, back.as_str(), &started.cookie, "text/html").await;
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(done.location(), Some(format!("/app?rid={}", contact.as_str()).as_str()));
    assert!(done.cookie("__Host-outpost_session").is_some());
}

#[tokio::test]
async fn a_denied_sso_shows_a_clear_page() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let before = StoreState::of(&stack);
    let started = start(&stack, acme, None).await;
    let back = answer(&stack, &started, &username(&stack, acme, UserKind::Known), "deny").await;
    assert!(back.query_pairs().any(|(k, v)| k == "error" && v == "access_denied"), "{back}");
    let page = callback(&stack, back.as_str(), &started.cookie, "text/html").await;
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.body.contains("Sign-in with Salesforce was cancelled"), "{}", page.body);
    assert!(page.body.contains("Error code: sso_denied"));
    assert!(page.set_cookies().is_empty());
    callback(&stack, back.as_str(), &started.cookie, JSON).await.assert_refused(403, "sso_denied", "denied");
    before.assert_unchanged(&stack, "denied SSO");
}

#[tokio::test]
async fn a_tampered_sso_state_is_refused_before_the_code_is_exchanged() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let started = start(&stack, acme, None).await;
    let back = answer(&stack, &started, &username(&stack, acme, UserKind::Known), "approve").await;
    let before = StoreState::of(&stack);
    let mut tampered = back.clone();
    let pairs: Vec<(String, String)> = back
        .query_pairs()
        .map(|(k, v)| (k.clone().into_owned(), if k == "state" { format!("{v}x") } else { v.into_owned() }))
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(&pairs);
    callback(&stack, tampered.as_str(), &started.cookie, JSON).await.assert_refused(400, "sso_state", "tampered state");
    // Another browser's sign-in (another state cookie) cannot complete this one either.
    let other = start(&stack, acme, None).await;
    callback(&stack, back.as_str(), &other.cookie, JSON).await.assert_refused(400, "sso_state", "another browser");
    before.assert_unchanged(&stack, "tampered state");
    // The code was never presented to Salesforce: the genuine callback still completes.
    assert_eq!(callback(&stack, back.as_str(), &started.cookie, "text/html").await.location(), Some("/app"));
}

#[tokio::test]
async fn a_salesforce_that_does_not_answer_the_code_exchange_is_502_not_a_bad_code() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let started = start(&stack, acme, None).await;
    let back = answer(&stack, &started, &username(&stack, acme, UserKind::Known), "approve").await;
    // Slower than the 10 s the stack waits for a Salesforce answer.
    stack.sim(acme).set_latency(Duration::from_secs(11));
    let before = StoreState::of(&stack);

    let reply = callback(&stack, back.as_str(), &started.cookie, JSON).await;
    reply.assert_refused(502, "sso_unreachable", "a token endpoint that does not answer");
    before.assert_unchanged(&stack, "nothing is written when Salesforce does not answer");
}
