//! The campaign API refuses bad input with stable codes, and keeps campaigns to who may see them.

use outpost_tests::StackOptions;
use outpost_tests::outpost_local::provision::UserKind;
use serde_json::{Value, json};

use super::support::*;
use crate::lists::Api;

fn with(list: &str, field: &str, value: Value) -> Value {
    let mut body = body(list);
    body[field] = value;
    body
}

#[tokio::test]
async fn bad_campaigns_are_refused_with_stable_codes() {
    let stack = stack(StackOptions::default()).await;
    let api = api(&stack);
    let (list, _) = everyone(&api).await;
    let globex = stack.globex();
    let globex_api = Api::new(&stack, globex, stack.user(globex, UserKind::Known));
    let foreign = globex_api.create(&json!({"name": "Theirs", "objects": ["Contact"], "conditions": []})).await;
    let foreign = foreign["id"].as_str().unwrap();
    let over = format!("{{{{unsubscribe_url}}}}{}", "x".repeat(1024 * 1024));
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (with(&list, "html", json!("<p>no link</p>")), 400, "missing_unsubscribe_link", "html"),
        (with(&list, "text", json!("no link")), 400, "missing_unsubscribe_link", "text"),
        (with(&list, "from", json!("ceo@elsewhere.example")), 400, "sender_not_allowed", "from"),
        (with(&list, "from", json!("not an address")), 400, "sender_not_allowed", "from"),
        (with(&list, "reply_to", json!("nope")), 400, "invalid_reply_to", "reply_to"),
        (with(&list, "list_id", json!("AAAAAAAAAAAAAAAA")), 404, "list_not_found", "list_id"),
        (with(&list, "list_id", json!(foreign)), 404, "list_not_found", "list_id"),
        (with(&list, "html", json!("{{unsubscribe_url}} {% if %}")), 400, "template_invalid", "html"),
        (with(&list, "subject", json!("Hi {{ Title }}")), 400, "unknown_merge_field", "subject"),
        (with(&list, "subject", json!("  ")), 400, "invalid_subject", "subject"),
        (with(&list, "html", json!(over)), 400, "body_too_large", "html"),
        (with(&list, "surprise", json!(1)), 400, "invalid_json", ""),
    ];
    for (body, status, code, path) in cases {
        let refused = api.post("/api/v1/campaigns", &body).await;
        assert_eq!((refused.status.as_u16(), refused.error_code().as_str()), (status, code), "{refused:?}");
        if !path.is_empty() {
            assert_eq!(refused.json()["error"]["path"], path, "{refused:?}");
        }
    }
    assert!(api.get("/api/v1/campaigns").await.json()["campaigns"].as_array().unwrap().is_empty(), "nothing saved");

    let id = create(&api, &body(&list)).await;
    let unknown = api.get("/api/v1/campaigns/AAAAAAAAAAAAAAAA").await;
    assert_eq!((unknown.status.as_u16(), unknown.error_code().as_str()), (404, "campaign_not_found"));
    let other_org = globex_api.get(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(other_org.status, 404, "another org's campaign does not exist for Globex");
    let pause = api.post(&format!("/api/v1/campaigns/{id}/pause"), &json!({})).await;
    assert_eq!((pause.status.as_u16(), pause.error_code().as_str()), (409, "not_sending"));
    let resume = api.post(&format!("/api/v1/campaigns/{id}/resume"), &json!({})).await;
    assert_eq!((resume.status.as_u16(), resume.error_code().as_str()), (409, "not_paused"));
    let test = api.post(&format!("/api/v1/campaigns/{id}/test"), &json!({"to": "nobody"})).await;
    assert_eq!((test.status.as_u16(), test.error_code().as_str()), (400, "invalid_address"));
    let unknown_action = api.post(&format!("/api/v1/campaigns/{id}/explode"), &json!({})).await;
    assert_eq!(unknown_action.status, 404);
    let listed = api.get("/api/v1/campaigns").await.json();
    assert_eq!(listed["campaigns"][0]["id"], id.as_str());
    assert_eq!(listed["campaigns"][0]["status"], "draft");

    let cancelled = api.post(&format!("/api/v1/campaigns/{id}/cancel"), &json!({})).await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.json()["status"], "cancelled");
    let send = api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await;
    assert_eq!((send.status.as_u16(), send.error_code().as_str()), (409, "campaign_finished"));
}
