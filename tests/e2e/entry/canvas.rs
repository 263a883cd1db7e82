//! `POST /canvas` (docs/flows.md#canvas): a signed request from the org's Canvas app is verified, its token is
//! confirmed live, and the user continues like any successful entry.

use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::{TestStack, url_encoded};

use super::reply::{JSON, Reply};

async fn post(stack: &TestStack, signed_request: &str, accept: &str) -> Reply {
    Reply::send(
        stack
            .http
            .post(stack.url("/canvas"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", accept)
            .body(url_encoded(&[("signed_request", signed_request)])),
    )
    .await
}

#[tokio::test]
async fn a_verified_canvas_request_signs_a_known_user_in() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let signed = stack.sim(acme).signed_request(ada.user_id.as_str()).unwrap();
    let token = super::signing::canvas_payload(&signed)["client"]["oauthToken"].as_str().unwrap().to_owned();
    let reply = post(&stack, &signed, "text/html").await;
    assert_eq!(reply.status, 303, "{reply:?}");
    assert_eq!(reply.location(), Some("/app"));
    reply.assert_private("Canvas");
    reply.assert_never_shows(&token, "Canvas");
    let session = reply.cookie("__Host-outpost_session").expect("a session");
    session.assert_cross_site("/");
    let app = Reply::send(
        stack.http.get(stack.url("/app")).header("cookie", format!("__Host-outpost_session={}", session.value)),
    )
    .await;
    assert!(app.body.contains("Hello, Ada Lovelace"), "{}", app.body);
    super::writes::assert_store_never_holds(&stack, &token);
}

#[tokio::test]
async fn canvas_onboards_new_users_admits_org_wide_users_and_refuses_inactive_ones() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let grace = stack.user(acme, UserKind::New);
    let new = post(&stack, &stack.sim(acme).signed_request(grace.user_id.as_str()).unwrap(), "text/html").await;
    assert_eq!(new.status, 303, "{new:?}");
    assert_eq!(new.location(), Some("/onboarding"));
    assert!(new.cookie("outpost_pending").is_some() && new.cookie("__Host-outpost_session").is_none());

    let globex = stack.globex();
    let user = stack.user(globex, UserKind::Known);
    let wide = post(&stack, &stack.sim(globex).signed_request(user.user_id.as_str()).unwrap(), "text/html").await;
    assert_eq!(wide.location(), Some("/app"), "{wide:?}");
    assert!(stack.stack.services.store.get_user(&globex.registration.org_id, &user.user_id).await.unwrap().is_some());

    for org in [acme, globex] {
        let alan = stack.user(org, UserKind::Inactive);
        let signed = stack.sim(org).signed_request(alan.user_id.as_str()).unwrap();
        post(&stack, &signed, JSON).await.assert_refused(403, "user_inactive", "inactive Canvas user");
    }
}

#[tokio::test]
async fn a_captured_canvas_request_is_useless_once_its_session_has_ended() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    let signed = sim.signed_request(stack.user(acme, UserKind::Known).user_id.as_str()).unwrap();
    sim.expire_all_sessions();
    post(&stack, &signed, JSON).await.assert_refused(401, "session_expired", "replayed Canvas request");
}
