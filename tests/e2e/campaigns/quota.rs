//! The account's 24-hour quota pauses a campaign with that reason; when the quota is back (the
//! account's clock moved a day on), it resumes by itself.

use std::time::Duration;

use outpost_tests::StackOptions;
use outpost_tests::outpost_local::campaigns::LocalSesSettings;
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn a_spent_daily_quota_pauses_the_campaign_until_the_quota_is_back() {
    let ses = LocalSesSettings { max_send_rate: 1_000.0, max_24_hour_send: 60.0 };
    let options = StackOptions { ses, quota_check: Duration::from_millis(200), ..StackOptions::default() };
    let stack = stack(options).await;
    let api = api(&stack);
    let (list, members) = everyone(&api).await;
    assert!(members > 120, "{members}");
    let id = create(&api, &body(&list)).await;
    assert_eq!(api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await.status, 202);

    let paused = wait_for(&api, &id, Duration::from_secs(30), |c| c["status"] == "paused").await;
    assert_eq!(paused["pause_reason"], "quota");
    assert_eq!(paused["counts"]["sent"], 60, "exactly the quota went out: {paused:#}");
    // It stays paused while the quota is spent (several quota checks pass meanwhile).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let still = campaign(&api, &id).await;
    assert_eq!((still["status"].as_str(), still["counts"]["sent"].as_u64()), (Some("paused"), Some(60)));
    assert_eq!(outbox(&stack, &id).await.len(), 60);

    let outbox_ses = stack.stack.outbox.as_ref().unwrap();
    outbox_ses.advance_clock(Duration::from_secs(24 * 3600 + 1));
    let again = wait_for(&api, &id, Duration::from_secs(30), |c| c["counts"]["sent"].as_u64() >= Some(120)).await;
    assert_eq!(again["counts"]["sent"], 120, "the next day's quota, and no more");

    outbox_ses.set_limits(LocalSesSettings { max_send_rate: 1_000.0, max_24_hour_send: 100_000.0 });
    let done = wait_for(&api, &id, Duration::from_secs(30), sent).await;
    assert_eq!(done["counts"]["sent"], members);
    assert!(done.get("pause_reason").is_none());
    assert_eq!(once_each(&outbox(&stack, &id).await).len() as u64, members);
}

#[tokio::test]
async fn a_user_pauses_resumes_and_cancels() {
    let ses = LocalSesSettings { max_send_rate: 20.0, max_24_hour_send: 100_000.0 };
    let stack = stack(StackOptions { ses, ..StackOptions::default() }).await;
    let api = api(&stack);
    let (list, members) = everyone(&api).await;
    let id = create(&api, &body(&list)).await;
    assert_eq!(api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await.status, 202);
    wait_for(&api, &id, Duration::from_secs(30), |c| c["counts"]["sent"].as_u64() >= Some(20)).await;

    let paused = api.post(&format!("/api/v1/campaigns/{id}/pause"), &json!({})).await;
    assert_eq!(paused.status, 200, "{paused:?}");
    // Chunks already handed over finish; nothing more goes out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = campaign(&api, &id).await;
    assert_eq!((held["status"].as_str(), held["pause_reason"].as_str()), (Some("paused"), Some("requested")));
    let sent_while_paused = held["counts"]["sent"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(campaign(&api, &id).await["counts"]["sent"].as_u64().unwrap(), sent_while_paused);
    assert!(sent_while_paused < members);

    assert_eq!(api.post(&format!("/api/v1/campaigns/{id}/resume"), &json!({})).await.status, 202);
    wait_for(&api, &id, Duration::from_secs(30), |c| c["counts"]["sent"].as_u64() > Some(sent_while_paused)).await;
    let cancelled = api.post(&format!("/api/v1/campaigns/{id}/cancel"), &json!({})).await;
    assert_eq!(cancelled.status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopped = campaign(&api, &id).await;
    assert_eq!(stopped["status"], "cancelled");
    let final_sent = stopped["counts"]["sent"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(campaign(&api, &id).await["counts"]["sent"].as_u64().unwrap(), final_sent, "nothing after cancel");
    assert!(final_sent < members);
    assert_eq!(once_each(&outbox(&stack, &id).await).len() as u64, final_sent);
}
