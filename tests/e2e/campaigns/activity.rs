//! An org that asks for it gets one completed Task per recipient a sent campaign reached, written
//! by the integration user through the package's Apex class, once.

use std::collections::HashSet;
use std::time::Duration;

use outpost_tests::StackOptions;
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn a_sent_campaign_leaves_one_task_per_recipient_when_the_org_asks() {
    let stack = stack(StackOptions::default()).await;
    let store = &stack.stack.services.store;
    let acme = stack.acme().registration.org_id;
    let mut registration = store.get_org(&acme).await.unwrap().unwrap();
    registration.settings.record_tasks = true;
    store.put_org(&registration).await.unwrap();
    let api = api(&stack);
    let (list, _) = everyone(&api).await;
    let id = create(&api, &body(&list)).await;
    assert_eq!(api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await.status, 202);
    let done = wait_for(&api, &id, Duration::from_secs(60), sent).await;
    let reached: HashSet<String> =
        recipients(&api, &id).await.iter().map(|r| r["record_id"].as_str().unwrap().to_owned()).collect();
    let sim = stack.sim(stack.acme());
    let before = sim.tasks().len();

    let run = outpost_tests::outpost_local::sync_once(&stack.stack.sync, None, Duration::from_secs(60)).await.unwrap();
    let acme_run = run.as_array().unwrap().iter().find(|r| r["org_id"] == acme.to_string()).unwrap().clone();
    assert_eq!(acme_run["activity"]["recorded"], done["counts"]["sent"], "{acme_run:#}");
    let tasks: Vec<_> = sim.tasks().into_iter().skip(before).collect();
    assert_eq!(tasks.len() as u64, done["counts"]["sent"].as_u64().unwrap());
    assert!(tasks.iter().all(|task| task.subject == "Email: Spring news for you"));
    assert!(tasks.iter().all(|task| task.status == "Completed"));
    let who: HashSet<String> = tasks.iter().map(|task| task.who_id.to_string()).collect();
    assert_eq!(who, reached, "one Task for each record the campaign reached");

    // Recorded once: the next run writes none.
    let again =
        outpost_tests::outpost_local::sync_once(&stack.stack.sync, None, Duration::from_secs(60)).await.unwrap();
    let acme_again = again.as_array().unwrap().iter().find(|r| r["org_id"] == acme.to_string()).unwrap().clone();
    assert_eq!(acme_again["activity"]["recorded"], 0);
    assert_eq!(sim.tasks().len(), before + tasks.len());
}
