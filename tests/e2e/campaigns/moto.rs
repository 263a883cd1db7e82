//! A campaign on the AWS backend: DynamoDB, SES v2 and S3 on moto, as the functions reach them on
//! AWS. moto's SES is a sandbox account (one message a second, 200 a day), so the list is small.

use std::time::Duration;

use outpost_tests::{StackOptions, StoreKind};
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn a_campaign_goes_out_through_ses_on_moto_at_the_accounts_rate() {
    let stack = stack(StackOptions { store: StoreKind::Moto, ..StackOptions::default() }).await;
    let api = api(&stack);
    let list = api.create(&json!({"name": "Three", "objects": ["Contact"], "kind": "static"})).await;
    let list = list["id"].as_str().unwrap().to_owned();
    let members = api.member_ids(&everyone(&api).await.0).await;
    let chosen: Vec<&str> = members.iter().map(String::as_str).filter(|id| id.starts_with("003")).take(3).collect();
    let added = api.post(&format!("/api/v1/lists/{list}/members"), &json!({"ids": chosen})).await;
    assert_eq!(added.status, 200, "{added:?}");
    let id = create(&api, &body(&list)).await;
    assert_eq!(api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await.status, 202);

    let done = wait_every(&api, &id, Duration::from_secs(300), Duration::from_secs(1), sent).await;
    assert_eq!(
        (done["counts"]["recipients"].as_u64(), done["counts"]["sent"].as_u64()),
        (Some(3), Some(3)),
        "{done:#}"
    );
    let all = recipients(&api, &id).await;
    assert!(all.iter().all(|r| r["message_id"].as_str().is_some_and(|id| !id.is_empty())), "{all:#?}");

    // The results go to the exports bucket, behind a short-lived link.
    let results = api.get(&format!("/api/v1/campaigns/{id}/results.csv")).await;
    assert_eq!(results.status, 303, "{results:?}");
    let link = results.location().unwrap().to_owned();
    let csv = stack.http.get(&link).send().await.unwrap().text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "a header and a row per recipient: {csv}");
}
