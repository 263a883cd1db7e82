//! A Salesforce session id is a password: whatever happens to a link, no log line may hold it.
//! `outpost_tests::logs()` holds every line this process logged, at trace level.

use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::salesforce_sim::SessionKind;
use outpost_tests::{TestStack, logs};

use super::links::Link;
use super::reply::{JSON, Reply};

#[tokio::test]
async fn no_log_line_ever_holds_a_session_id() {
    let stack = TestStack::start().await;
    let (acme, globex) = (stack.acme(), stack.globex());
    let (ada, grace, alan) =
        (stack.user(acme, UserKind::Known), stack.user(acme, UserKind::New), stack.user(acme, UserKind::Inactive));
    let mut sids = Vec::new();
    let mut open = async |url: String, expected: u16| {
        let reply = Reply::send(stack.http.get(&url).header("accept", JSON)).await;
        assert_eq!(reply.status, expected, "{url}: {reply:?}");
        sids.push(Link::parse(&url).sid());
    };

    // Admitted: a known user, a new user, an org-wide user.
    open(stack.link(acme, ada, None, SessionKind::Api), 303).await;
    open(stack.link(acme, grace, None, SessionKind::Api), 303).await;
    open(stack.link(globex, stack.user(globex, UserKind::Known), None, SessionKind::Api), 303).await;
    // Refused by Salesforce's answer: inactive, Lightning, IP-locked, someone else's.
    open(stack.link(acme, alan, None, SessionKind::Api), 403).await;
    open(stack.link(acme, ada, None, SessionKind::Lightning), 401).await;
    open(stack.link(acme, ada, None, SessionKind::IpLocked), 401).await;
    open(Link::parse(&stack.link(acme, grace, None, SessionKind::Api)).with("uid", ada.user_id.as_str()).url(), 403)
        .await;
    // Refused before any network call: a foreign org's session, a host that is not the org's.
    let globex_sid =
        Link::parse(&stack.link(globex, stack.user(globex, UserKind::Known), None, SessionKind::Api)).sid();
    open(Link::parse(&stack.link(acme, ada, None, SessionKind::Api)).with("sid", &globex_sid).url(), 400).await;
    open(Link::parse(&stack.link(acme, ada, None, SessionKind::Api)).with("srv", "https://evil.example/").url(), 400)
        .await;
    open(Link::parse(&stack.link(acme, ada, None, SessionKind::Api)).plus("sid", "duplicate").url(), 400).await;
    // Expired: Salesforce answers Bad_OAuth_Token.
    let expired = stack.link(acme, ada, None, SessionKind::Api);
    stack.sim(acme).expire_all_sessions();
    open(expired, 401).await;
    // Salesforce-side code presenting a session as a bearer credential.
    let bearer =
        stack.sim(globex).mint_session(stack.user(globex, UserKind::Known).user_id.as_str(), SessionKind::Api).unwrap();
    let me = Reply::send(
        stack
            .http
            .get(stack.url("/api/v1/me"))
            .header("authorization", format!("Bearer {bearer}"))
            .header("x-salesforce-instance", stack.sim(globex).base_url().trim_start_matches("http://")),
    )
    .await;
    assert_eq!(me.status, 200, "{me:?}");
    sids.push(bearer);

    let logged = logs();
    assert!(logged.contains("signed in") && logged.contains("entry refused"), "the capture saw these requests");
    for sid in &sids {
        let (org, secret) = sid.split_once('!').unwrap();
        assert!(secret.len() >= 8, "{org}: a real secret part");
        assert!(!logged.contains(sid.as_str()), "a session id of {org} was logged");
        assert!(!logged.contains(secret), "the secret part of a session id of {org} was logged");
        let encoded: String = url::form_urlencoded::byte_serialize(sid.as_bytes()).collect();
        assert!(!logged.contains(&encoded), "a URL-encoded session id of {org} was logged");
    }
}
