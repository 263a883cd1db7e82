//! `GET /entry`: every outcome of a custom link, web tab or formula link, over real HTTP against
//! the simulated orgs (Acme onboards each user, Globex lets every active user in).

use std::time::{Duration, Instant};

use outpost_tests::TestStack;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::outpost_shared::app_session::token_hash;
use outpost_tests::outpost_shared::ids::OrgId;
use outpost_tests::outpost_shared::store::{MappingSource, OrgStatus, ProvisioningMode};
use outpost_tests::salesforce_sim::{SObject, SessionKind};

use super::links::Link;
use super::reply::{JSON, Reply};
use super::side_org;
use super::writes::{StoreState, assert_store_never_holds};

/// Follows a link as a browser would (HTML), without following the redirect.
async fn open(stack: &TestStack, url: &str) -> Reply {
    Reply::send(stack.http.get(url)).await
}

/// Follows a link asking for JSON errors.
async fn open_json(stack: &TestStack, url: &str) -> Reply {
    Reply::send(stack.http.get(url).header("accept", JSON)).await
}

async fn app_page(stack: &TestStack, location: &str, session: &str) -> Reply {
    Reply::send(stack.http.get(stack.url(location)).header("cookie", format!("__Host-outpost_session={session}"))).await
}

/// The "Sign in with Salesforce" action of an error page.
fn sso_href(page: &Reply) -> String {
    let marker = "href=\"/sso/start?";
    let start = page.body.find(marker).unwrap_or_else(|| panic!("no SSO link in {}", page.body)) + "href=\"".len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].replace("&amp;", "&")
}

#[tokio::test]
async fn a_known_user_gets_an_opaque_session_cookie_and_a_clean_redirect_to_the_app() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let link = Link::parse(&stack.link(acme, ada, None, SessionKind::Api));
    let sid = link.sid();

    let reply = open(&stack, &link.url()).await;
    assert_eq!(reply.status, 303, "{reply:?}");
    assert_eq!(reply.location(), Some("/app"));
    reply.assert_private("known user");
    reply.assert_never_shows(&sid, "known user");
    let cookie = reply.cookie("__Host-outpost_session").expect("a session cookie");
    cookie.assert_cross_site("/");
    assert_eq!(reply.set_cookies().len(), 1, "only the session cookie: {reply:?}");
    assert_eq!(cookie.value.len(), 43, "a 256-bit opaque token");
    assert!(!cookie.value.contains(acme.registration.org_id.as_15()) && !cookie.value.contains(ada.user_id.as_15()));

    let session = stack.stack.services.store.get_session(&token_hash(&cookie.value)).await.unwrap().expect("stored");
    assert_eq!(
        (session.org_id, session.user_id, session.mode),
        (acme.registration.org_id, ada.user_id, ProvisioningMode::PerUser)
    );
    let max_age = cookie.max_age();
    assert!(max_age > 0 && max_age <= 12 * 3600, "a bounded Max-Age: {max_age}");
    assert_eq!(session.absolute_expires_at - session.created_at, max_age as i64, "the cookie outlives no session");
    assert_store_never_holds(&stack, &sid);
    assert_store_never_holds(&stack, &cookie.value);

    let app = app_page(&stack, "/app", &cookie.value).await;
    assert_eq!(app.status, 200, "{app:?}");
    assert!(app.body.contains("Hello, Ada Lovelace"), "{}", app.body);
}

#[tokio::test]
async fn accepts_15_or_18_char_ids_and_raw_or_percent_encoded_exclamation_marks() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let org = acme.registration.org_id;
    let fresh = || Link::parse(&stack.link(acme, ada, None, SessionKind::Api));

    let variants = [
        ("18-char ids", fresh().with("uid", ada.user_id.as_str()).with("oid", org.as_str()).url()),
        ("lower-case checksums", {
            let uid = format!("{}{}", ada.user_id.as_15(), ada.user_id.as_str()[15..].to_lowercase());
            let oid = format!("{}{}", org.as_15(), org.as_str()[15..].to_lowercase());
            fresh().with("uid", &uid).with("oid", &oid).url()
        }),
        ("a raw exclamation mark", {
            let link = fresh();
            let raw = link.query().replace("%21", "!");
            assert!(raw.contains(&format!("{}!", org.as_15())));
            link.raw(&raw)
        }),
        ("a lower-case percent escape", {
            let link = fresh();
            link.raw(&link.query().replace("%3A", "%3a").replace("%2F", "%2f"))
        }),
        ("parameters in another order with an unknown one", {
            let link = fresh();
            Link::on(
                &stack,
                &[
                    ("srv", link.get("srv")),
                    ("utm_source", "salesforce"),
                    ("sid", &link.sid()),
                    ("oid", link.get("oid")),
                    ("uid", link.get("uid")),
                ],
            )
            .url()
        }),
    ];
    for (name, url) in variants {
        let reply = open(&stack, &url).await;
        assert_eq!(reply.status, 303, "{name}: {reply:?}");
        assert_eq!(reply.location(), Some("/app"), "{name}");
        assert!(reply.cookie("__Host-outpost_session").is_some(), "{name}");
    }
}

#[tokio::test]
async fn carries_contact_and_lead_record_context_to_the_app() {
    let stack = crate::lists::synced(outpost_tests::StoreKind::Embedded).await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let sim = stack.sim(acme);
    for (object, label) in [(SObject::Contact, "Contact"), (SObject::Lead, "Lead")] {
        let record = sim.records(object).into_iter().find(|r| !r.is_deleted).expect("a live record");
        let link = stack.link(acme, ada, Some(record.id.as15()), SessionKind::Api);
        assert!(link.contains(&format!("rid={}", record.id.as15())), "the link carries the 15-char id");
        let reply = open(&stack, &link).await;
        assert_eq!(reply.status, 303, "{reply:?}");
        let location = format!("/app?rid={}", record.id.as_str());
        assert_eq!(reply.location(), Some(location.as_str()), "normalised to 18 chars");
        let session = reply.cookie("__Host-outpost_session").unwrap().value;
        let app = app_page(&stack, &location, &session).await;
        assert_eq!(app.status, 200);
        assert!(app.body.contains(&format!("{label} {}", record.id.as_str())), "{}", app.body);
    }
}

#[tokio::test]
async fn sends_a_new_user_of_a_per_user_org_to_onboarding_with_a_short_lived_pending_cookie() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let grace = stack.user(acme, UserKind::New);
    let before = StoreState::of(&stack);
    let link = Link::parse(&stack.link(acme, grace, None, SessionKind::Api));

    let reply = open(&stack, &link.url()).await;
    assert_eq!(reply.status, 303, "{reply:?}");
    assert_eq!(reply.location(), Some("/onboarding"));
    reply.assert_private("new user");
    reply.assert_never_shows(&link.sid(), "new user");
    assert!(reply.cookie("__Host-outpost_session").is_none(), "no session before onboarding");
    let pending = reply.cookie("outpost_pending").expect("a pending cookie");
    pending.assert_cross_site("/onboarding");
    assert!(pending.max_age() > 0 && pending.max_age() <= 15 * 60, "short-lived: {pending:?}");
    assert!(!pending.value.contains(&link.sid()));
    before.assert_unchanged(&stack, "the pending identity lives in the cookie, not the store");
    assert!(stack.stack.services.store.get_user(&acme.registration.org_id, &grace.user_id).await.unwrap().is_none());
}

#[tokio::test]
async fn refuses_inactive_users_in_both_provisioning_modes() {
    let stack = TestStack::start().await;
    for org in [stack.acme(), stack.globex()] {
        let alan = stack.user(org, UserKind::Inactive);
        let before = StoreState::of(&stack);
        let link = stack.link(org, alan, None, SessionKind::Api);
        let reply = open_json(&stack, &link).await;
        reply.assert_refused(403, "user_inactive", org.registration.mode.as_str());
        reply.assert_private("inactive user");
        before.assert_unchanged(&stack, "inactive user");
        let page = open(&stack, &stack.link(org, alan, None, SessionKind::Api)).await;
        assert_eq!(page.status, 403);
        assert!(page.body.contains("not active"), "{}", page.body);
    }
}

#[tokio::test]
async fn lets_every_active_user_of_an_org_wide_org_in_and_maps_each_once() {
    let stack = TestStack::start().await;
    let globex = stack.globex();
    let org = globex.registration.org_id;
    let active: Vec<_> = globex.users.iter().filter(|u| u.kind != UserKind::Inactive).collect();
    assert!(active.len() >= 3, "Globex has several active users");
    for user in active {
        assert!(stack.stack.services.store.get_user(&org, &user.user_id).await.unwrap().is_none());
        let reply = open(&stack, &stack.link(globex, user, None, SessionKind::Api)).await;
        assert_eq!(reply.status, 303, "{}: {reply:?}", user.name);
        assert_eq!(reply.location(), Some("/app"));
        let session = reply.cookie("__Host-outpost_session").expect("no onboarding in org_wide orgs").value;
        let mapping = stack.stack.services.store.get_user(&org, &user.user_id).await.unwrap().expect("mapped");
        assert_eq!(mapping.source, MappingSource::OrgWide);
        assert_eq!(mapping.display_name, user.name);

        let again = open(&stack, &stack.link(globex, user, None, SessionKind::Api)).await;
        assert_eq!(again.status, 303);
        let unchanged = stack.stack.services.store.get_user(&org, &user.user_id).await.unwrap().unwrap();
        assert_eq!(unchanged, mapping, "a second entry creates nothing new");

        let app = Reply::send(
            stack.http.get(stack.url("/app")).header("cookie", format!("__Host-outpost_session={session}")),
        )
        .await;
        assert_eq!(app.status, 200, "{app:?}");
        for shown in [user.name.as_str(), "Globex Sim"] {
            assert!(app.body.contains(shown), "the home page names {shown}");
        }
    }
}

#[tokio::test]
async fn refuses_an_unregistered_org_and_tells_the_admin_how_to_register() {
    let stack = TestStack::start().await;
    let tripwire = outpost_tests::Tripwire::arm().await;
    let org = OrgId::parse("00D5g0000NoSuch").unwrap();
    let link = Link::on(
        &stack,
        &[
            ("uid", "005x00000012Q9P"),
            ("oid", org.as_15()),
            ("sid", &format!("{}!AQcAQNotARealSessionButWellFormed", org.as_15())),
            ("srv", &format!("http://127.0.0.1:{}/services/Soap/u/64.0/{}", tripwire.port, org.as_15())),
        ],
    );
    let before = StoreState::of(&stack);
    open_json(&stack, &link.url()).await.assert_refused(403, "org_not_registered", "unregistered org");
    let page = open(&stack, &link.url()).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("register the org"), "{}", page.body);
    page.assert_never_shows(&link.sid(), "unregistered org");
    before.assert_unchanged(&stack, "unregistered org");
    assert_eq!(tripwire.hits(), 0, "an unregistered org's link reaches no host");
}

#[tokio::test]
async fn refuses_an_inactive_org() {
    let stack = TestStack::start().await;
    let globex = stack.globex();
    let store = &stack.stack.services.store;
    let mut registration = store.get_org(&globex.registration.org_id).await.unwrap().unwrap();
    registration.status = OrgStatus::Inactive;
    store.put_org(&registration).await.unwrap();
    let user = stack.user(globex, UserKind::Known);
    let before = StoreState::of(&stack);
    let reply = open_json(&stack, &stack.link(globex, user, None, SessionKind::Api)).await;
    reply.assert_refused(403, "org_inactive", "inactive org");
    before.assert_unchanged(&stack, "inactive org");
    assert!(store.get_user(&globex.registration.org_id, &user.user_id).await.unwrap().is_none());
}

#[tokio::test]
async fn refuses_a_valid_session_presented_with_another_users_id() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let grace = stack.user(acme, UserKind::New);
    let before = StoreState::of(&stack);
    // Grace's own, valid session, in a link claiming to be Ada (who is onboarded).
    let link = Link::parse(&stack.link(acme, grace, None, SessionKind::Api)).with("uid", ada.user_id.as_15());
    open_json(&stack, &link.url()).await.assert_refused(403, "identity_mismatch", "someone else's uid");
    before.assert_unchanged(&stack, "identity mismatch");
}

#[tokio::test]
async fn an_expired_session_offers_sign_in_with_salesforce() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let link = Link::parse(&stack.link(acme, ada, None, SessionKind::Api));
    stack.sim(acme).expire_all_sessions();
    let before = StoreState::of(&stack);

    open_json(&stack, &link.url()).await.assert_refused(401, "session_expired", "expired session");
    let page = open(&stack, &link.url()).await;
    assert_eq!(page.status, 401);
    page.assert_private("expired session");
    page.assert_never_shows(&link.sid(), "expired session");
    assert!(page.body.contains("Sign in with Salesforce"), "{}", page.body);
    let org18 = acme.registration.org_id.as_str();
    assert_eq!(sso_href(&page), format!("/sso/start?org={org18}"));
    before.assert_unchanged(&stack, "expired session");

    let sso = Reply::send(stack.http.get(stack.url(&sso_href(&page)))).await;
    assert_eq!(sso.status, 302, "the offered link starts SSO: {sso:?}");
    let authorize = sso.location().unwrap();
    assert!(authorize.starts_with(&format!("{}/services/oauth2/authorize?", stack.sim(acme).base_url())));
}

#[tokio::test]
async fn lightning_and_ip_locked_sessions_offer_sign_in_with_salesforce() {
    let stack = TestStack::start().await;
    for org in [stack.acme(), stack.globex()] {
        let user = stack.user(org, UserKind::Known);
        for kind in [SessionKind::Lightning, SessionKind::IpLocked] {
            let context = format!("{kind:?} session in {}", org.registration.name);
            let before = StoreState::of(&stack);
            let link = Link::parse(&stack.link(org, user, None, kind));
            open_json(&stack, &link.url()).await.assert_refused(401, "session_not_api_enabled", &context);
            let page = open(&stack, &link.url()).await;
            assert_eq!(page.status, 401, "{context}");
            page.assert_never_shows(&link.sid(), &context);
            assert!(page.body.contains("Sign in with Salesforce"), "{context}");
            assert_eq!(sso_href(&page), format!("/sso/start?org={}", org.registration.org_id.as_str()), "{context}");
            before.assert_unchanged(&stack, &context);
        }
    }
}

#[tokio::test]
async fn answers_503_when_the_salesforce_host_refuses_connections() {
    let stack = TestStack::start().await;
    // A port that is bound but never listens: every connection is refused.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let org = "00D5g0000DownSf";
    let host =
        side_org::register_host(&stack, org, &format!("http://127.0.0.1:{port}"), ProvisioningMode::PerUser).await;
    let link = Link::on(
        &stack,
        &[
            ("uid", "005x00000012Q9P"),
            ("oid", org),
            ("sid", &format!("{org}!AQcAQWellFormedSessionOfAnOrgWhoseSalesforceIsDown")),
            ("srv", &format!("{host}/services/Soap/u/64.0/{org}")),
        ],
    );
    let before = StoreState::of(&stack);
    let started = Instant::now();
    open_json(&stack, &link.url()).await.assert_refused(503, "salesforce_unavailable", "refused connection");
    assert!(started.elapsed() < Duration::from_secs(5), "connection errors fail fast");
    let page = open(&stack, &link.url()).await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("Try again"), "{}", page.body);
    page.assert_never_shows(&link.sid(), "refused connection");
    before.assert_unchanged(&stack, "refused connection");
    drop(socket);
}

#[tokio::test]
async fn answers_503_when_userinfo_outlasts_its_five_second_timeout() {
    let stack = TestStack::start().await;
    let globex = stack.globex();
    let user = stack.user(globex, UserKind::Known);
    let link = stack.link(globex, user, None, SessionKind::Api);
    stack.sim(globex).set_latency(Duration::from_millis(5_500));
    let before = StoreState::of(&stack);
    let started = Instant::now();
    let reply = open_json(&stack, &link).await;
    let waited = started.elapsed();
    reply.assert_refused(503, "salesforce_unavailable", "slow Salesforce");
    assert!(waited >= Duration::from_secs(5), "Outpost gave Salesforce its five seconds: {waited:?}");
    // The function's own timeout is 10 s (template.yaml): past it the user would get API
    // Gateway's error instead of this page, so retries must fit in the same five seconds.
    assert!(waited < Duration::from_secs(8), "answered well within the function's timeout: {waited:?}");
    before.assert_unchanged(&stack, "slow Salesforce");
    assert!(stack.stack.services.store.get_user(&globex.registration.org_id, &user.user_id).await.unwrap().is_none());
}

#[tokio::test]
async fn never_redirects_anywhere_but_its_own_app_whatever_the_link_adds() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    for (name, value) in [
        ("redirect_uri", "https://evil.example/steal"),
        ("next", "//evil.example"),
        ("return_to", "https://evil.example"),
        ("RelayState", "javascript:alert(1)"),
        ("retURL", "/\\evil.example"),
        ("startURL", "https://evil.example"),
    ] {
        let link = Link::parse(&stack.link(acme, ada, None, SessionKind::Api)).plus(name, value);
        let reply = open(&stack, &link.url()).await;
        assert_eq!(reply.status, 303, "{name}: {reply:?}");
        assert_eq!(reply.location(), Some("/app"), "{name} is ignored");
    }
}
