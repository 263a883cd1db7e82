//! The authorizer over HTTP (the local middleware runs the Lambda's decision function on the
//! routes template.yaml protects): `/app`, `/app/*` and `/logout` take the `__Host-outpost_session`
//! cookie; `/api/*` takes a Salesforce session id as bearer with the org's instance host, checked
//! like `/entry` and cached by its SHA-256 for at most five minutes. A route's identity source
//! missing → 401 (as API Gateway answers without asking the authorizer); refused → 403.

use std::time::{Duration, Instant};

use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::outpost_shared::app_session::token_hash;
use outpost_tests::outpost_shared::crypto::{random_token, sha256_hex};
use outpost_tests::outpost_shared::store::now_epoch;
use outpost_tests::salesforce_sim::SessionKind;
use outpost_tests::{TestStack, Tripwire};
use serde_json::json;

use crate::entry::reply::Reply;
use crate::entry::writes::{StoreState, assert_store_never_holds};

/// Routes behind the cookie authorizer.
fn takes_cookie(path: &str) -> bool {
    !path.starts_with("/api/")
}

const PROTECTED: [(&str, &str); 5] = [
    ("GET", "/app"),
    ("GET", "/app/lists/42"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v2/anything"),
    ("POST", "/logout"),
];

async fn call(stack: &TestStack, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = stack.http.request(method.parse().unwrap(), stack.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Reply::send(request).await
}

/// `GET /api/v1/me` with a Salesforce session as bearer credential.
async fn me(stack: &TestStack, sid: &str, instance: Option<&str>) -> Reply {
    let authorization = format!("Bearer {sid}");
    let mut headers = vec![("authorization", authorization.as_str())];
    headers.extend(instance.map(|host| ("x-salesforce-instance", host)));
    call(stack, "GET", "/api/v1/me", &headers).await
}

fn assert_unauthorized(reply: &Reply, context: &str) {
    assert_eq!(reply.status, 401, "{context}: {reply:?}");
    assert_eq!(reply.json(), json!({"message": "Unauthorized"}), "{context}");
}

fn assert_forbidden(reply: &Reply, context: &str) {
    assert_eq!(reply.status, 403, "{context}: {reply:?}");
    assert_eq!(reply.json(), json!({"message": "Forbidden"}), "{context}");
    assert!(reply.set_cookies().is_empty(), "{context}");
}

/// `token` with its last character replaced by a different one (always different: replacing it
/// with a fixed letter left the token unchanged one time in 64).
fn with_last_character_changed(token: &str) -> String {
    let (head, last) = token.split_at(token.len() - 1);
    format!("{head}{}", if last == "A" { 'B' } else { 'A' })
}

/// The `host:port` a Salesforce-side caller names as its instance.
fn instance_of(base_url: &str) -> &str {
    base_url.trim_start_matches("http://")
}

#[tokio::test]
async fn protected_routes_without_credentials_are_unauthorized_and_others_stay_open() {
    let stack = TestStack::start().await;
    for (method, path) in PROTECTED {
        assert_unauthorized(&call(&stack, method, path, &[]).await, path);
        let instance_only = [("x-salesforce-instance", instance_of(stack.sim(stack.acme()).base_url()))];
        assert_unauthorized(&call(&stack, method, path, &instance_only).await, path);
    }
    assert_eq!(call(&stack, "GET", "/health", &[]).await.status, 200);
    let entry = call(&stack, "GET", "/entry", &[]).await;
    assert_eq!(entry.status, 400, "/entry is public: {entry:?}");
    assert_eq!(call(&stack, "GET", "/applications", &[]).await.status, 404, "only /app and /app/* are protected");
}

#[tokio::test]
async fn forged_malformed_and_foreign_session_cookies_are_forbidden() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let real = stack.sign_in(acme, stack.user(acme, UserKind::Known)).await;
    let pending =
        Reply::send(stack.http.get(stack.link(acme, stack.user(acme, UserKind::New), None, SessionKind::Api)))
            .await
            .cookie("outpost_pending")
            .unwrap()
            .value;
    let forged = random_token();
    let cookies = [
        ("a random token of the right shape", format!("__Host-outpost_session={forged}")),
        ("a short token", "__Host-outpost_session=abc".to_owned()),
        ("a token one character too long", format!("__Host-outpost_session={real}A")),
        ("a token with a changed character", format!("__Host-outpost_session={}", with_last_character_changed(&real))),
        ("the stored hash instead of the token", format!("__Host-outpost_session={}", token_hash(&real))),
        ("the pending-onboarding cookie's value", format!("__Host-outpost_session={pending}")),
        ("an empty session cookie", "__Host-outpost_session=".to_owned()),
        ("only other cookies", format!("outpost_pending={pending}; theme=dark")),
        ("a look-alike name", format!("__Host-outpost_session_x={real}")),
        ("the name without its __Host- prefix", format!("outpost_session={real}")),
        ("a token with markup", "__Host-outpost_session=<script>alert(1)</script>".to_owned()),
    ];
    let before = StoreState::of(&stack);
    for (name, cookie) in &cookies {
        for (method, path) in PROTECTED {
            let reply = call(&stack, method, path, &[("cookie", cookie)]).await;
            let context = format!("{name} on {path}");
            // A cookie is not the identity source of /api/*: that is as if no credential came.
            if takes_cookie(path) { assert_forbidden(&reply, &context) } else { assert_unauthorized(&reply, &context) }
        }
    }
    let on_api = call(&stack, "GET", "/api/v1/me", &[("cookie", &format!("__Host-outpost_session={real}"))]).await;
    assert_unauthorized(&on_api, "a genuine session cookie is not a credential of /api/*");
    before.assert_unchanged(&stack, "refused cookies");
    let fine = call(&stack, "GET", "/app", &[("cookie", &format!("theme=dark; __Host-outpost_session={real}"))]).await;
    assert_eq!(fine.status, 200, "the genuine cookie among others works: {fine:?}");
}

#[tokio::test]
async fn deleted_idle_expired_and_past_their_lifetime_sessions_are_forbidden() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let store = &stack.stack.services.store;

    let deleted = stack.sign_in(acme, ada).await;
    store.delete_session(&token_hash(&deleted)).await.unwrap();
    assert_forbidden(
        &call(&stack, "GET", "/app", &[("cookie", &format!("__Host-outpost_session={deleted}"))]).await,
        "deleted",
    );

    let idle = stack.sign_in(acme, ada).await;
    let mut record = store.get_session(&token_hash(&idle)).await.unwrap().unwrap();
    record.expires_at = now_epoch() - 1;
    store.extend_session(&record).await.unwrap();
    assert_forbidden(
        &call(&stack, "GET", "/app", &[("cookie", &format!("__Host-outpost_session={idle}"))]).await,
        "idle",
    );

    let old = stack.sign_in(acme, ada).await;
    let mut record = store.get_session(&token_hash(&old)).await.unwrap().unwrap();
    record.absolute_expires_at = now_epoch() - 1;
    store.extend_session(&record).await.unwrap();
    let before = StoreState::of(&stack);
    assert_forbidden(
        &call(&stack, "GET", "/app", &[("cookie", &format!("__Host-outpost_session={old}"))]).await,
        "too old",
    );
    before.assert_unchanged(&stack, "an expired session is not extended");
}

#[tokio::test]
async fn a_salesforce_session_as_bearer_is_confirmed_once_and_cached_by_its_hash() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    let ada = stack.user(acme, UserKind::Known);
    let sid = sim.mint_session(ada.user_id.as_str(), SessionKind::Api).unwrap();
    let unused = sim.mint_session(ada.user_id.as_str(), SessionKind::Api).unwrap();
    let instance = instance_of(sim.base_url());

    let first = me(&stack, &sid, Some(instance)).await;
    assert_eq!(first.status, 200, "{first:?}");
    let expected =
        json!({"org_id": acme.registration.org_id.as_str(), "user_id": ada.user_id.as_str(), "mode": "per_user"});
    assert_eq!(first.json(), expected);
    let cached = stack.stack.services.store.get_validated(&sha256_hex(sid.as_bytes())).await.unwrap().expect("cached");
    assert_eq!((cached.org_id, cached.user_id), (acme.registration.org_id, ada.user_id));
    let lifetime = cached.expires_at - now_epoch();
    assert!((290..=300).contains(&lifetime), "cached for at most five minutes: {lifetime} s");
    assert_store_never_holds(&stack, &sid);
    assert_store_never_holds(&stack, &sid[16..]);

    // Salesforce now refuses every session: the cached one is trusted without asking again,
    // an equally valid but never-confirmed one is not.
    sim.expire_all_sessions();
    let again = me(&stack, &sid, Some(instance)).await;
    assert_eq!((again.status.as_u16(), again.json()), (200, expected), "served from the cache");
    assert_forbidden(&me(&stack, &unused, Some(instance)).await, "an uncached session Salesforce refuses");
    // A cached session still only works with its own org's host.
    assert_forbidden(&me(&stack, &sid, Some(instance_of(stack.sim(stack.globex()).base_url()))).await, "other host");
}

#[tokio::test]
async fn bearer_sessions_need_onboarding_in_per_user_orgs_only() {
    let stack = TestStack::start().await;
    let (acme, globex) = (stack.acme(), stack.globex());
    let grace = stack.user(acme, UserKind::New);
    let sid = stack.sim(acme).mint_session(grace.user_id.as_str(), SessionKind::Api).unwrap();
    let before = StoreState::of(&stack);
    assert_forbidden(&me(&stack, &sid, Some(instance_of(stack.sim(acme).base_url()))).await, "not onboarded");
    before.assert_unchanged(&stack, "a refused bearer session is not cached");

    let user = stack.user(globex, UserKind::Known);
    let sid = stack.sim(globex).mint_session(user.user_id.as_str(), SessionKind::Api).unwrap();
    let reply = me(&stack, &sid, Some(instance_of(stack.sim(globex).base_url()))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"org_id": globex.registration.org_id.as_str(), "user_id": user.user_id.as_str(), "mode": "org_wide"})
    );
}

#[tokio::test]
async fn bearer_credentials_that_fail_any_entry_check_are_forbidden_and_go_nowhere() {
    let stack = TestStack::start().await;
    let tripwire = Tripwire::arm().await;
    let trip = format!("127.0.0.1:{}", tripwire.port);
    let (acme, globex) = (stack.acme(), stack.globex());
    let sim = stack.sim(acme);
    let instance = instance_of(sim.base_url()).to_owned();
    let mint = |kind: UserKind, session: SessionKind| {
        sim.mint_session(stack.user(acme, kind).user_id.as_str(), session).unwrap()
    };
    let ada = mint(UserKind::Known, SessionKind::Api);
    let org15 = acme.registration.org_id.as_15();
    let globex_sid =
        stack.sim(globex).mint_session(stack.user(globex, UserKind::Known).user_id.as_str(), SessionKind::Api).unwrap();
    let unknown_org = format!("00D5g0000NoSuch{}", &ada[15..]);

    let cases: Vec<(&str, String, Option<String>)> = vec![
        (
            "an inactive user's session",
            format!("Bearer {}", mint(UserKind::Inactive, SessionKind::Api)),
            Some(instance.clone()),
        ),
        (
            "a Lightning session",
            format!("Bearer {}", mint(UserKind::Known, SessionKind::Lightning)),
            Some(instance.clone()),
        ),
        (
            "an IP-locked session",
            format!("Bearer {}", mint(UserKind::Known, SessionKind::IpLocked)),
            Some(instance.clone()),
        ),
        ("an unknown session", format!("Bearer {org15}!AQ{}", "z".repeat(90)), Some(instance.clone())),
        ("no instance header", format!("Bearer {ada}"), None),
        ("the tripwire as instance", format!("Bearer {ada}"), Some(trip.clone())),
        ("the tripwire as an instance URL", format!("Bearer {ada}"), Some(format!("http://{trip}"))),
        ("the pinned host name on another port", format!("Bearer {ada}"), Some(format!("localhost:{}", tripwire.port))),
        ("an arbitrary host", format!("Bearer {ada}"), Some("evil.example".to_owned())),
        ("a real My Domain that is not this org's", format!("Bearer {ada}"), Some("acme.my.salesforce.com".to_owned())),
        (
            "another org's pinned host",
            format!("Bearer {ada}"),
            Some(instance_of(stack.sim(globex).base_url()).to_owned()),
        ),
        ("the org's generic login host", format!("Bearer {ada}"), Some(instance_of(sim.login_url()).to_owned())),
        ("credentials in the instance", format!("Bearer {ada}"), Some(format!("http://{instance}@{trip}"))),
        ("another org's session with this org's host", format!("Bearer {globex_sid}"), Some(instance.clone())),
        ("an unregistered org's session", format!("Bearer {unknown_org}"), Some(trip.clone())),
        ("a session without the org prefix", format!("Bearer {}", &ada[16..]), Some(instance.clone())),
        ("a JWT", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".to_owned(), Some(instance.clone())),
        ("Basic credentials", "Basic dXNlcjpwYXNz".to_owned(), Some(instance.clone())),
        ("an empty bearer", "Bearer ".to_owned(), Some(instance.clone())),
        ("a session with markup", format!("Bearer {ada}<script>"), Some(instance.clone())),
    ];
    let before = StoreState::of(&stack);
    for (name, authorization, host) in &cases {
        let mut headers = vec![("authorization", authorization.as_str())];
        headers.extend(host.as_deref().map(|h| ("x-salesforce-instance", h)));
        let reply = call(&stack, "GET", "/api/v1/me", &headers).await;
        let context = format!("{name} on /api/v1/me");
        if host.is_some() {
            assert_forbidden(&reply, &context)
        } else {
            assert_unauthorized(&reply, &context)
        }
        // Bearer credentials are not the identity source of the cookie routes.
        for (method, path) in [("GET", "/app"), ("POST", "/logout")] {
            assert_unauthorized(&call(&stack, method, path, &headers).await, &format!("{name} on {path}"));
        }
    }
    before.assert_unchanged(&stack, "refused bearer credentials are neither cached nor anything else");
    assert_eq!(tripwire.hits(), 0, "a session id is only ever sent to its org's pinned host");
    assert_eq!(me(&stack, &ada, Some(&instance)).await.status, 200, "the genuine credentials work");
    // The scheme is case-insensitive (RFC 9110).
    let lower = [("authorization", format!("bearer {ada}")), ("x-salesforce-instance", instance.clone())];
    let lower: Vec<(&str, &str)> = lower.iter().map(|(name, value)| (*name, value.as_str())).collect();
    assert_eq!(call(&stack, "GET", "/api/v1/me", &lower).await.status, 200, "a lower-case scheme works");
}

#[tokio::test]
async fn a_bearer_session_salesforce_cannot_confirm_in_time_is_forbidden_before_the_function_times_out() {
    let stack = TestStack::start().await;
    let globex = stack.globex();
    let sim = stack.sim(globex);
    let sid = sim.mint_session(stack.user(globex, UserKind::Known).user_id.as_str(), SessionKind::Api).unwrap();
    sim.set_latency(Duration::from_millis(5_500));
    let before = StoreState::of(&stack);
    let started = Instant::now();
    assert_forbidden(&me(&stack, &sid, Some(instance_of(sim.base_url()))).await, "slow Salesforce");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(5), "Salesforce had its five seconds: {waited:?}");
    // API Gateway waits for an authorizer at most 10 s (and the function times out at 10 s).
    assert!(waited < Duration::from_secs(8), "refused well within the authorizer's limit: {waited:?}");
    before.assert_unchanged(&stack, "an unconfirmed session is not cached");
}
