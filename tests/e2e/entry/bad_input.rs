//! Table-driven bad input: each case differs from a working request in one way and must be
//! refused with its status and stable code, set no cookie, write nothing, never echo the session
//! id, and (for hosts other than the org's) send nothing anywhere.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::salesforce_sim::SessionKind;
use outpost_tests::{TestStack, Tripwire, url_encoded};

use super::links::Link;
use super::onboarding::{form, start, submit, submit_body};
use super::reply::{FORM, JSON, Reply};
use super::signing::{canvas_payload, canvas_sign, outpost_signer};
use super::writes::StoreState;

/// The id with every letter's case swapped: another, valid-looking id.
fn swap_case(id: &str) -> String {
    assert!(id.chars().any(|c| c.is_ascii_alphabetic()), "{id} has letters to swap");
    id.chars().map(|c| if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect()
}

/// One request that must be refused.
struct Case {
    name: String,
    url: String,
    status: u16,
    code: &'static str,
}

fn case(name: impl Into<String>, url: String, status: u16, code: &'static str) -> Case {
    Case { name: name.into(), url, status, code }
}

/// An 18-char id with its checksum changed.
fn bad_checksum(id18: &str) -> String {
    let last = if id18.ends_with('A') { 'B' } else { 'A' };
    format!("{}{last}", &id18[..17])
}

#[tokio::test]
async fn refuses_malformed_foreign_and_tampered_links_without_side_effects() {
    let stack = TestStack::start().await;
    let tripwire = Tripwire::arm().await;
    let trip = tripwire.port;
    let (acme, globex) = (stack.acme(), stack.globex());
    let (ada, grace, alan) =
        (stack.user(acme, UserKind::Known), stack.user(acme, UserKind::New), stack.user(acme, UserKind::Inactive));
    let sim = stack.sim(acme);
    let port = sim.port();
    let (org15, org18) = (acme.registration.org_id.as_15(), acme.registration.org_id.as_str());
    let (uid15, uid18) = (ada.user_id.as_15(), ada.user_id.as_str());
    let l = Link::parse(&stack.link(acme, ada, None, SessionKind::Api));
    let sid = l.sid();
    let opaque = &sid[16..];
    let globex_link = Link::parse(&stack.link(globex, stack.user(globex, UserKind::Known), None, SessionKind::Api));
    let globex_sid = globex_link.sid();
    let contact = sim.records(outpost_tests::salesforce_sim::SObject::Contact)[0].id;
    let soap = |host: &str| format!("{host}/services/Soap/u/64.0/{org15}");
    let unknown_org = "00D5g0000NoSuch";

    let invalid = |name: &str, url: String| case(name, url, 400, "invalid_link");
    let host =
        |name: &str, srv: String| case(format!("srv: {name}"), l.with("srv", &srv).url(), 400, "host_not_allowed");
    let cases = vec![
        // Missing and empty parts.
        invalid("no query string", stack.url("/entry")),
        invalid("empty query string", l.raw("")),
        invalid("uid missing", l.without("uid").url()),
        invalid("oid missing", l.without("oid").url()),
        invalid("sid missing", l.without("sid").url()),
        invalid("srv missing", l.without("srv").url()),
        invalid("uid empty", l.with("uid", "").url()),
        invalid("sid empty", l.with("sid", "").url()),
        invalid("srv empty", l.with("srv", "").url()),
        invalid("only unknown parameters", l.raw("foo=bar&baz=1")),
        invalid("upper-case parameter names", l.raw(&l.query().replace("uid=", "UID=").replace("sid=", "SID="))),
        invalid("array-style parameter names", l.raw(&l.query().replace("uid=", "uid%5B%5D="))),
        // Ids that are not what they claim.
        invalid("uid with a wrong checksum", l.with("uid", &bad_checksum(uid18)).url()),
        invalid("oid with a wrong checksum", l.with("oid", &bad_checksum(org18)).url()),
        invalid("uid of 14 characters", l.with("uid", &uid15[..14]).url()),
        invalid("uid of 16 characters", l.with("uid", &format!("{uid15}A")).url()),
        invalid("uid of 19 characters", l.with("uid", &format!("{uid18}A")).url()),
        invalid("uid with a hyphen", l.with("uid", &format!("{}-", &uid15[..14])).url()),
        invalid("uid with a non-ASCII letter", l.with("uid", &format!("{}é", &uid15[..13])).url()),
        invalid(
            "uid with a NUL byte",
            l.raw(&l.query().replace(&format!("uid={uid15}"), &format!("uid={}%00", &uid15[..14]))),
        ),
        invalid(
            "uid with a trailing space",
            l.raw(&l.query().replace(&format!("uid={uid15}"), &format!("uid={uid15}+"))),
        ),
        invalid("uid is a Contact id", l.with("uid", contact.as15()).url()),
        invalid("uid is the org id", l.with("uid", org15).url()),
        invalid("oid is a user id", l.with("oid", uid15).url()),
        invalid("oid of another org", l.with("oid", globex_link.get("oid")).url()),
        invalid("oid in lower case", l.with("oid", &org15.to_lowercase()).url()),
        // Session ids that cannot belong to the link's org.
        invalid("sid of another org", l.with("sid", &globex_sid).url()),
        invalid("sid without an exclamation mark", l.with("sid", &format!("{org15}{opaque}")).url()),
        invalid("sid that ends at the exclamation mark", l.with("sid", &format!("{org15}!")).url()),
        invalid("sid that is only the org id", l.with("sid", org15).url()),
        invalid("sid prefixed with the 18-char org id", l.with("sid", &format!("{org18}!{opaque}")).url()),
        invalid("sid shaped like a JWT", l.with("sid", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln").url()),
        invalid(
            "sid with a plus sign (a space)",
            l.raw(&l.query().replace(&opaque[..4], &format!("{}+", &opaque[..4]))),
        ),
        invalid("sid with %20", l.raw(&l.query().replace(&opaque[..4], &format!("{}%20", &opaque[..4])))),
        invalid("sid with a double-encoded exclamation mark", l.raw(&l.query().replace("%21", "%2521"))),
        invalid("sid with markup", l.with("sid", &format!("{sid}<script>")).url()),
        invalid("sid with CR LF", l.with("sid", &format!("{sid}\r\nX-Injected: 1")).url()),
        invalid("sid with a quote", l.with("sid", &format!("{sid}\"")).url()),
        invalid("sid of 600 characters", l.with("sid", &format!("{sid}{}", "A".repeat(600))).url()),
        invalid(
            "sid with the org id in lower case",
            l.with("sid", &format!("{}!{opaque}", org15.to_lowercase())).url(),
        ),
        // Hosts other than the org's pinned Salesforce host (SSRF).
        host("loopback tripwire", soap(&format!("http://127.0.0.1:{trip}"))),
        host("the pinned host name on another port", soap(&format!("http://localhost:{trip}"))),
        host("an arbitrary https host", soap("https://evil.example")),
        host("a real My Domain that is not this org's", soap("https://acme.my.salesforce.com")),
        host("a look-alike of a My Domain", soap("https://acme.my.salesforce.com.evil.example")),
        host("the org's generic login host", soap(sim.login_url())),
        host("https on the loopback port", soap(&format!("https://localhost:{port}"))),
        host("loopback without a port", soap("http://localhost")),
        host("credentials before the real host", format!("http://localhost:{port}@127.0.0.1:{trip}/")),
        host("a fragment hiding the pinned host", format!("http://127.0.0.1:{trip}#@localhost:{port}")),
        host("javascript", "javascript:alert(document.cookie)".into()),
        host("a local file", "file:///etc/passwd".into()),
        host("scheme-relative", format!("//localhost:{port}/services/Soap/u/64.0/{org15}")),
        host("cloud metadata", "http://169.254.169.254:80/latest/meta-data/".into()),
        host("IPv6 loopback", format!("http://[::1]:{trip}/")),
        host("hex-encoded loopback", format!("http://0x7f.0.0.1:{trip}/")),
        host("gopher", format!("gopher://localhost:{trip}/")),
        host("another org's pinned host", soap(&globex.registration.pinned_host)),
        host("a port glued to a domain", format!("http://localhost:{port}.evil.example/")),
        // Who the org is, and what Salesforce says about the session.
        case(
            "oid of an unregistered org",
            Link::on(
                &stack,
                &[
                    ("uid", uid15),
                    ("oid", unknown_org),
                    ("sid", &format!("{unknown_org}!{opaque}")),
                    ("srv", &format!("http://127.0.0.1:{trip}/services/Soap/u/64.0/{unknown_org}")),
                ],
            )
            .url(),
            403,
            "org_not_registered",
        ),
        case(
            "another user's valid session",
            l.with("sid", &Link::parse(&stack.link(acme, grace, None, SessionKind::Api)).sid()).url(),
            403,
            "identity_mismatch",
        ),
        case(
            "uid with its letters' case swapped (another user)",
            l.with("uid", &swap_case(uid15)).url(),
            403,
            "identity_mismatch",
        ),
        case(
            "an inactive user's own session",
            Link::parse(&stack.link(acme, alan, None, SessionKind::Api)).url(),
            403,
            "user_inactive",
        ),
        case(
            "a well-formed unknown session",
            l.with("sid", &format!("{org15}!AQ{}", "x".repeat(90))).url(),
            401,
            "session_expired",
        ),
        case(
            "a Lightning session",
            Link::parse(&stack.link(acme, ada, None, SessionKind::Lightning)).url(),
            401,
            "session_not_api_enabled",
        ),
        // Duplicated parameters: which one would win is exactly what an attacker wants to choose.
        invalid("uid twice", l.plus("uid", uid15).url()),
        invalid("oid twice", l.plus("oid", org15).url()),
        invalid("sid twice", l.plus("sid", &globex_sid).url()),
        invalid("srv twice", l.plus("srv", &soap(&format!("http://127.0.0.1:{trip}"))).url()),
        invalid("rid twice", l.with("rid", contact.as15()).plus("rid", contact.as15()).url()),
        // Record context that is not a Contact or Lead id (and open-redirect attempts through it).
        invalid("rid of an Account", l.with("rid", "001q000000KvQ1t").url()),
        invalid("rid of a user", l.with("rid", uid15).url()),
        invalid("rid with a wrong checksum", l.with("rid", &bad_checksum(contact.as_str())).url()),
        invalid("rid as an absolute URL", l.with("rid", "https://evil.example/").url()),
        invalid("rid as a scheme-relative URL", l.with("rid", "//evil.example").url()),
        invalid("rid with a backslash path", l.with("rid", "/\\evil.example").url()),
        invalid(
            "rid with a header injection",
            l.with("rid", &format!("{}\r\nLocation: https://evil.example", contact.as15())).url(),
        ),
        // Oversized input.
        invalid("a query over 4 KB", l.plus("pad", &"x".repeat(4_100)).url()),
        invalid("a uid of 5,000 characters", l.with("uid", &"0".repeat(5_000)).url()),
        invalid("a query of 20 KB", l.plus("pad", &"%21".repeat(7_000)).url()),
    ];
    assert!(cases.len() >= 60, "{} cases", cases.len());

    let before = StoreState::of(&stack);
    for case in &cases {
        let reply = Reply::send(stack.http.get(&case.url).header("accept", JSON)).await;
        reply.assert_refused(case.status, case.code, &case.name);
        reply.assert_private(&case.name);
        reply.assert_never_shows(&sid, &case.name);
        let page = Reply::send(stack.http.get(&case.url)).await;
        assert_eq!(page.status.as_u16(), case.status, "{} (HTML)", case.name);
        assert!(page.body.contains(&format!("Error code: {}", case.code)), "{} (HTML): {}", case.name, page.body);
        assert!(page.set_cookies().is_empty(), "{} (HTML)", case.name);
        page.assert_never_shows(&sid, &case.name);
        before.assert_unchanged(&stack, &case.name);
        // The Visualforce hand-over posts the same fields as a form body: the same answer.
        let fields = case.url.split_once('?').map_or("", |(_, query)| query).to_owned();
        let posted = stack.http.post(stack.url("/entry")).header("accept", JSON).header("content-type", FORM);
        let posted = Reply::send(posted.body(fields)).await;
        posted.assert_refused(case.status, case.code, &format!("{} (POST)", case.name));
        posted.assert_private(&case.name);
        posted.assert_never_shows(&sid, &case.name);
        before.assert_unchanged(&stack, &case.name);
    }
    assert_eq!(tripwire.hits(), 0, "no request ever left for a host other than the org's");
    // The untouched link still works: every refusal above was about the one thing changed.
    assert_eq!(Reply::send(stack.http.get(l.url())).await.location(), Some("/app"));
}

#[tokio::test]
async fn refuses_onboarding_posts_without_a_valid_pending_identity_or_csrf_token() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let grace = stack.user(acme, UserKind::New);
    let katherine = acme.users.iter().rfind(|u| u.kind == UserKind::New).unwrap();
    let pending = start(&stack, acme, grace, None).await;
    let csrf = form(&stack, &pending).await.hidden_input("csrf");
    let other_pending = start(&stack, acme, katherine, None).await;
    let replayed_csrf = form(&stack, &other_pending).await.hidden_input("csrf");
    let sso_cookie = Reply::send(stack.http.get(stack.url(&format!("/sso/start?org={}", acme.registration.org_id))))
        .await
        .cookie("outpost_sso")
        .unwrap()
        .value;
    let forged = outpost_tests::outpost_shared::signed::Signer::new(b"not the key not the key not the key").seal(
        "pending-identity",
        &serde_json::json!({"org": acme.registration.org_id, "user": grace.user_id, "name": "x", "email": null,
            "username": null, "record": null, "nonce": "n"}),
        std::time::Duration::from_secs(600),
    );
    let tampered = {
        let (payload, tag) = pending.split_once('.').unwrap();
        let mut bytes = payload.as_bytes().to_vec();
        bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
        format!("{}.{tag}", String::from_utf8(bytes).unwrap())
    };
    let good = |csrf: &str| {
        url_encoded(&[("csrf", csrf), ("display_name", "Grace"), ("reply_to", "g@example.com"), ("consent", "yes")])
    };

    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        ("no pending cookie", None, good(&csrf), 401, "onboarding_expired"),
        ("a garbage pending cookie", Some("garbage"), good(&csrf), 401, "onboarding_expired"),
        ("a tampered pending cookie", Some(&tampered), good(&csrf), 401, "onboarding_expired"),
        ("a pending cookie signed with another key", Some(&forged), good(&csrf), 401, "onboarding_expired"),
        ("the SSO state cookie as pending identity", Some(&sso_cookie), good(&csrf), 401, "onboarding_expired"),
        ("no CSRF token", Some(&pending), good("").replace("csrf=&", ""), 403, "csrf"),
        ("an empty CSRF token", Some(&pending), good(""), 403, "csrf"),
        ("a CSRF token replayed from another user's form", Some(&pending), good(&replayed_csrf), 403, "csrf"),
        (
            "a CSRF token for another purpose",
            Some(&pending),
            good(&outpost_signer(&stack).await.csrf_token("logout", "")),
            403,
            "csrf",
        ),
        ("display_name twice", Some(&pending), format!("{}&display_name=Other", good(&csrf)), 400, "invalid_form"),
        (
            "a reply-to that is not UTF-8",
            Some(&pending),
            format!(
                "{}&reply_to=g%E9%40example.com",
                url_encoded(&[("csrf", &csrf), ("display_name", "Grace"), ("consent", "yes")])
            ),
            400,
            "invalid_form",
        ),
        (
            "an injected user id",
            Some(&pending),
            format!("{}&user_id={}", good(&csrf), stack.user(acme, UserKind::Known).user_id),
            400,
            "invalid_form",
        ),
        (
            "an injected org id",
            Some(&pending),
            format!("{}&org={}", good(&csrf), stack.globex().registration.org_id),
            400,
            "invalid_form",
        ),
        (
            "a 70 KB body",
            Some(&pending),
            url_encoded(&[("csrf", &csrf), ("display_name", &"x".repeat(70_000)), ("consent", "yes")]),
            400,
            "invalid_form",
        ),
    ];
    let before = StoreState::of(&stack);
    for (name, cookie, body, status, code) in cases {
        let reply = submit_body(&stack, cookie, body).await;
        reply.assert_refused(status, code, name);
        reply.assert_private(name);
        before.assert_unchanged(&stack, name);
    }
    for (name, cookie) in [("no pending cookie", ""), ("a tampered pending cookie", tampered.as_str())] {
        let reply = Reply::send(
            stack
                .http
                .get(stack.url("/onboarding"))
                .header("accept", JSON)
                .header("cookie", format!("outpost_pending={cookie}")),
        )
        .await;
        reply.assert_refused(401, "onboarding_expired", &format!("GET with {name}"));
    }
    assert!(stack.stack.services.store.get_user(&acme.registration.org_id, &grace.user_id).await.unwrap().is_none());
    // The genuine form still works afterwards.
    let fine = submit(
        &stack,
        Some(&pending),
        &[("csrf", &csrf), ("display_name", "G"), ("reply_to", "g@example.com"), ("consent", "yes")],
    )
    .await;
    assert_eq!(fine.status, 303, "{fine:?}");
}

#[tokio::test]
async fn refuses_bad_sso_starts_and_callbacks_without_side_effects() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let org18 = acme.registration.org_id.as_str();
    let started = Reply::send(stack.http.get(stack.url(&format!("/sso/start?org={org18}")))).await;
    let state = url::Url::parse(started.location().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let cookie = started.cookie("outpost_sso").unwrap().value;
    let pending_like =
        outpost_signer(&stack).await.seal("pending-identity", &state, std::time::Duration::from_secs(60));

    let start_cases = [
        ("no org", "/sso/start".to_owned(), 400, "invalid_link"),
        ("a malformed org", "/sso/start?org=not-an-id".to_owned(), 400, "invalid_link"),
        (
            "a user id as org",
            format!("/sso/start?org={}", stack.user(acme, UserKind::Known).user_id),
            400,
            "invalid_link",
        ),
        ("org twice", format!("/sso/start?org={org18}&org=00D5g0000GlobEx"), 400, "invalid_link"),
        ("an unregistered org", "/sso/start?org=00D5g0000NoSuch".to_owned(), 403, "org_not_registered"),
        ("rid of an Account", format!("/sso/start?org={org18}&rid=001q000000KvQ1t"), 400, "invalid_link"),
        ("rid as a URL", format!("/sso/start?org={org18}&rid=https%3A%2F%2Fevil.example"), 400, "invalid_link"),
    ];
    let encoded_state: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    let callback_cases = [
        ("no SSO cookie", format!("/sso/callback?code=abc&state={encoded_state}"), None, 400, "sso_state"),
        (
            "a forged SSO cookie",
            format!("/sso/callback?code=abc&state={encoded_state}"),
            Some("forged.value"),
            400,
            "sso_state",
        ),
        (
            "a pending cookie as SSO cookie",
            format!("/sso/callback?code=abc&state={encoded_state}"),
            Some(pending_like.as_str()),
            400,
            "sso_state",
        ),
        (
            "a tampered state",
            format!("/sso/callback?code=abc&state={encoded_state}x"),
            Some(cookie.as_str()),
            400,
            "sso_state",
        ),
        ("no state", "/sso/callback?code=abc".to_owned(), Some(cookie.as_str()), 400, "sso_state"),
        (
            "state twice",
            format!("/sso/callback?code=abc&state={encoded_state}&state={encoded_state}"),
            Some(cookie.as_str()),
            400,
            "invalid_link",
        ),
        (
            "an error with a tampered state",
            "/sso/callback?error=access_denied&state=guess".to_owned(),
            Some(cookie.as_str()),
            400,
            "sso_state",
        ),
        (
            "an error with the right state",
            format!("/sso/callback?error=access_denied&state={encoded_state}"),
            Some(cookie.as_str()),
            403,
            "sso_denied",
        ),
        ("no code", format!("/sso/callback?state={encoded_state}"), Some(cookie.as_str()), 400, "sso_failed"),
        (
            "an invented code",
            format!("/sso/callback?code=aPrxInvented&state={encoded_state}"),
            Some(cookie.as_str()),
            400,
            "sso_failed",
        ),
    ];
    let before = StoreState::of(&stack);
    for (name, path, status, code) in start_cases {
        let reply = Reply::send(stack.http.get(stack.url(&path)).header("accept", JSON)).await;
        reply.assert_refused(status, code, name);
        reply.assert_private(name);
    }
    for (name, path, cookie, status, code) in callback_cases {
        let mut request = stack.http.get(stack.url(&path)).header("accept", JSON);
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("outpost_sso={cookie}"));
        }
        let reply = Reply::send(request).await;
        reply.assert_refused(status, code, name);
        reply.assert_private(name);
    }
    before.assert_unchanged(&stack, "bad SSO requests");
}

#[tokio::test]
async fn refuses_canvas_requests_that_do_not_verify_without_side_effects() {
    let stack = TestStack::start().await;
    let tripwire = Tripwire::arm().await;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    let ada = stack.user(acme, UserKind::Known);
    let grace = stack.user(acme, UserKind::New);
    let genuine = sim.signed_request(ada.user_id.as_str()).unwrap();
    let secret = sim.client_secret().to_owned();
    let (signature, payload) = genuine.split_once('.').unwrap();
    let json = canvas_payload(&genuine);
    let resigned = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut json = json.clone();
        edit(&mut json);
        canvas_sign(&secret, &json)
    };
    let flipped_signature = {
        let mut bytes = STANDARD.decode(signature).unwrap();
        bytes[0] ^= 1;
        format!("{}.{payload}", STANDARD.encode(bytes))
    };
    let mut grace_json = json.clone();
    grace_json["context"]["user"]["userId"] = grace.user_id.as_str().into();
    let swapped_payload = format!("{signature}.{}", STANDARD.encode(grace_json.to_string()));

    let field = |value: &str| url_encoded(&[("signed_request", value)]);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("no signed_request", String::new(), 400, "canvas_invalid"),
        ("an empty signed_request", field(""), 400, "canvas_invalid"),
        ("no dot", field(signature), 400, "canvas_invalid"),
        ("a flipped signature bit", field(&flipped_signature), 400, "canvas_invalid"),
        ("another user's payload under the genuine signature", field(&swapped_payload), 400, "canvas_invalid"),
        ("signed with the wrong secret", field(&canvas_sign("not-the-secret", &json)), 400, "canvas_invalid"),
        ("a truncated signature", field(&format!("{}.{payload}", &signature[..20])), 400, "canvas_invalid"),
        ("a payload that is not base64", field(&format!("{signature}.%%%not-base64%%%")), 400, "canvas_invalid"),
        (
            "a signed payload that is not JSON",
            field(&format!("{signature}.{}", STANDARD.encode("not json"))),
            400,
            "canvas_invalid",
        ),
        ("an unsupported algorithm", field(&resigned(&|j| j["algorithm"] = "HMACSHA1".into())), 400, "canvas_invalid"),
        (
            "a malformed user id",
            field(&resigned(&|j| j["context"]["user"]["userId"] = "005-bad".into())),
            400,
            "canvas_invalid",
        ),
        (
            "an instance URL that is not the org's",
            field(&resigned(&|j| j["client"]["instanceUrl"] = format!("http://127.0.0.1:{}", tripwire.port).into())),
            400,
            "host_not_allowed",
        ),
        (
            "a context user who does not own the token",
            field(&resigned(&|j| j["context"]["user"]["userId"] = grace.user_id.as_str().into())),
            403,
            "identity_mismatch",
        ),
        (
            "an unregistered org",
            field(&resigned(&|j| j["context"]["organization"]["organizationId"] = "00D5g0000NoSuch".into())),
            403,
            "org_not_registered",
        ),
        (
            "an invented token",
            field(&resigned(&|j| j["client"]["oauthToken"] = format!("{}!AQinvented", sim.org_id15()).into())),
            401,
            "session_expired",
        ),
        ("signed_request twice", format!("{}&{}", field(&genuine), field(&genuine)), 400, "invalid_form"),
        ("an extra field", format!("{}&user_id={}", field(&genuine), grace.user_id), 400, "invalid_form"),
        ("a 70 KB body", field(&format!("{genuine}{}", "A".repeat(70_000))), 400, "invalid_form"),
    ];
    let before = StoreState::of(&stack);
    for (name, body, status, code) in cases {
        let reply = Reply::send(
            stack
                .http
                .post(stack.url("/canvas"))
                .header("accept", JSON)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await;
        reply.assert_refused(status, code, name);
        reply.assert_private(name);
        before.assert_unchanged(&stack, name);
    }
    assert_eq!(tripwire.hits(), 0, "a token is only ever sent to the org's pinned host");
}
