//! A sender killed at any point, then restarted: no address gets the campaign twice, and every
//! address ends sent, or `unknown` when the kill fell between handing it over and recording it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use outpost_tests::outpost_send::CrashPoint;
use outpost_tests::{StackOptions, TestStack};
use serde_json::{Value, json};

use super::support::*;

/// Addresses claimed, sent and recorded together (`SendSettings::chunk`), and the chunks in
/// flight at once (the local stack's concurrent jobs): what one kill can leave unknown.
const CHUNK: usize = 25;
const IN_FLIGHT: usize = 4;

async fn wait_for_crash(stack: &TestStack) {
    let started = Instant::now();
    while !stack.stack.sender.has_crashed() {
        assert!(started.elapsed() < Duration::from_secs(60), "the crash hook never fired");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A seed from the clock, printed so a failing run can be repeated.
fn seed() -> u64 {
    let seed = std::env::var("OUTPOST_KILL_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("kill test seed: {seed} (OUTPOST_KILL_SEED={seed} repeats it)");
    seed
}

#[tokio::test]
async fn kills_at_random_points_send_no_duplicate_and_lose_no_recipient() {
    let mut rng = seed();
    let mut next = move |below: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % below
    };
    let points = [CrashPoint::AfterClaim, CrashPoint::AfterSend, CrashPoint::AfterRecord];
    let first = (points[next(3) as usize], 1 + next(20));
    let options = StackOptions { contacts: 1_500, leads: 100, send_crash: Some(first), ..StackOptions::default() };
    let mut stack = stack(options).await;
    let (id, members) = {
        let api = api(&stack);
        let (list, members) = everyone(&api).await;
        let id = create(&api, &body(&list)).await;
        assert_eq!(api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await.status, 202);
        (id, members)
    };
    let mut kills = vec![first];
    wait_for_crash(&stack).await;
    // Two more kills at random points of the restarted sender, then a clean restart.
    for _ in 0..2 {
        let kill = (points[next(3) as usize], 1 + next(10));
        kills.push(kill);
        stack = stack.restart(Some(kill)).await;
        wait_for_crash(&stack).await;
    }
    stack = stack.restart(None).await;
    let api = api(&stack);
    let done = wait_for(&api, &id, Duration::from_secs(120), sent).await;
    eprintln!("kills: {kills:?}");

    let counts = &done["counts"];
    assert_eq!(counts["recipients"], members, "{done:#}");
    let messages = outbox(&stack, &id).await;
    let mailed = once_each(&messages);
    let everyone: Vec<Value> = recipients(&api, &id).await;
    assert_eq!(everyone.len() as u64, members, "no recipient lost");
    let by_status = |statuses: &[&str]| -> HashSet<String> {
        everyone
            .iter()
            .filter(|r| statuses.contains(&r["status"].as_str().unwrap()))
            .map(|r| r["email"].as_str().unwrap().to_lowercase())
            .collect()
    };
    // The mailbox simulator's addresses move on from sent to what their events said.
    let sent_to = by_status(&["sent", "delivered", "bounced", "complained"]);
    let unknown = by_status(&["unknown"]);
    assert_eq!(sent_to.len() + unknown.len(), everyone.len(), "every address ends sent or unknown: {counts}");
    assert!(sent_to.is_subset(&mailed), "a message recorded as sent is in the outbox");
    assert!(mailed.is_subset(&sent_to.union(&unknown).cloned().collect()), "nothing mailed outside the campaign");
    assert!(unknown.len() <= kills.len() * IN_FLIGHT * CHUNK, "only chunks in flight are unknown: {}", unknown.len());
    assert_eq!(counts["sent"].as_u64().unwrap() as usize, sent_to.len(), "the totals match the addresses");
    assert_eq!(counts["unknown"].as_u64().unwrap() as usize, unknown.len());
}
