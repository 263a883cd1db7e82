//! `GET /app`, `GET /api/v1/me` and `POST /logout` behind the authorizer: the home page, the
//! identity API and sign-out.

use outpost_tests::TestStack;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::outpost_shared::app_session::token_hash;
use outpost_tests::salesforce_sim::{SObject, SessionKind};

use super::reply::{JSON, Reply};
use super::writes::StoreState;

async fn get(stack: &TestStack, path: &str, session: &str) -> Reply {
    Reply::send(stack.http.get(stack.url(path)).header("cookie", format!("__Host-outpost_session={session}"))).await
}

async fn logout(stack: &TestStack, session: &str, body: &str) -> Reply {
    Reply::send(
        stack
            .http
            .post(stack.url("/logout"))
            .header("cookie", format!("__Host-outpost_session={session}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", JSON)
            .body(body.to_owned()),
    )
    .await
}

#[tokio::test]
async fn the_home_page_shows_who_you_are_your_org_and_how_to_sign_out() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let session = stack.sign_in(acme, ada).await;
    let page = get(&stack, "/app", &session).await;
    assert_eq!(page.status, 200, "{page:?}");
    page.assert_private("landing page");
    for shown in ["Hello, Ada Lovelace", "Acme Sim", "action=\"/logout\"", "Sign out", "New list"] {
        assert!(page.body.contains(shown), "{shown} missing: {}", page.body);
    }
    assert!(!page.hidden_input("csrf").is_empty());
    assert!(!page.body.contains("to a list</h2>"), "no record offered without rid");
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.ends_with(&format!("frame-ancestors {}", stack.sim(acme).base_url())), "framed only by the org: {csp}");
}

#[tokio::test]
async fn the_home_page_ignores_record_context_that_is_not_a_contact_or_lead() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let session = stack.sign_in(acme, stack.user(acme, UserKind::Known)).await;
    let contact = stack.sim(acme).records(SObject::Contact)[0].id;
    for query in [
        "rid=001q000000KvQ1t".to_owned(),
        "rid=%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned(),
        format!("rid={}&rid={}", contact.as15(), contact.as15()),
        "rid=https%3A%2F%2Fevil.example".to_owned(),
    ] {
        let page = get(&stack, &format!("/app?{query}"), &session).await;
        assert_eq!(page.status, 200, "{query}: {page:?}");
        assert!(!page.body.contains("to a list</h2>"), "{query}");
        assert!(!page.body.contains("<script>alert"), "{query}");
    }
}

#[tokio::test]
async fn api_me_reports_the_identity_the_authorizer_established() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    // /api/* is for Salesforce-side code: a Salesforce session as bearer, with its instance host.
    let sid = stack.sim(acme).mint_session(ada.user_id.as_str(), SessionKind::Api).unwrap();
    let me = Reply::send(
        stack
            .http
            .get(stack.url("/api/v1/me"))
            .header("authorization", format!("Bearer {sid}"))
            .header("x-salesforce-instance", stack.sim(acme).base_url().trim_start_matches("http://")),
    )
    .await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(
        me.json(),
        serde_json::json!({"org_id": acme.registration.org_id.as_str(), "user_id": ada.user_id.as_str(), "mode": "per_user"})
    );
}

#[tokio::test]
async fn logout_deletes_the_session_so_the_cookie_stops_working() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let session = stack.sign_in(acme, stack.user(acme, UserKind::Known)).await;
    let csrf = get(&stack, "/app", &session).await.hidden_input("csrf");

    let out = logout(&stack, &session, &outpost_tests::url_encoded(&[("csrf", &csrf)])).await;
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.body.contains("You are signed out"), "{}", out.body);
    assert!(out.clears("__Host-outpost_session"), "{out:?}");
    let cleared = out.set_cookies().into_iter().find(|c| c.name == "__Host-outpost_session").unwrap();
    cleared.assert_cross_site("/");
    assert!(stack.stack.services.store.get_session(&token_hash(&session)).await.unwrap().is_none(), "deleted");

    for path in ["/app", "/app/lists"] {
        let refused = get(&stack, path, &session).await;
        assert_eq!(refused.status, 403, "{path}: {refused:?}");
        assert_eq!(refused.json(), serde_json::json!({"message": "Forbidden"}));
    }
    let again = logout(&stack, &session, &outpost_tests::url_encoded(&[("csrf", &csrf)])).await;
    assert_eq!(again.status, 403, "{again:?}");
    // A new link still signs the user in again.
    assert_eq!(
        Reply::send(stack.http.get(stack.link(acme, stack.user(acme, UserKind::Known), None, SessionKind::Api)))
            .await
            .location(),
        Some("/app")
    );
}

#[tokio::test]
async fn logout_requires_the_csrf_token_of_its_own_session() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let session = stack.sign_in(acme, ada).await;
    let other = stack.sign_in(acme, ada).await;
    let other_csrf = get(&stack, "/app", &other).await.hidden_input("csrf");
    let before = StoreState::of(&stack);
    for (name, body) in [
        ("no token", String::new()),
        ("an empty token", "csrf=".to_owned()),
        ("another session's token", outpost_tests::url_encoded(&[("csrf", &other_csrf)])),
        ("a token for nobody", "csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned()),
    ] {
        logout(&stack, &session, &body).await.assert_refused(403, "csrf", name);
    }
    let oversized = format!("csrf={}", "A".repeat(70_000));
    logout(&stack, &session, &oversized).await.assert_refused(400, "invalid_form", "a 70 KB body");
    before.assert_unchanged(&stack, "refused logouts");
    assert_eq!(get(&stack, "/app", &session).await.status, 200, "the session survives refused logouts");
}
