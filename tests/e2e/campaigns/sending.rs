//! A campaign to thousands reaches each address once, with RFC 8058 headers, merge fields and the
//! org's postal address; totals, the status search and the results CSV account for everyone.

use std::time::Duration;

use outpost_tests::StackOptions;
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn a_campaign_to_five_thousand_reaches_each_address_once_with_one_click_headers() {
    let stack = stack(StackOptions { contacts: 5_600, leads: 200, ..StackOptions::default() }).await;
    let api = api(&stack);
    let (list, members) = everyone(&api).await;
    assert!(members >= 5_000, "the list holds {members}");
    let id = create(&api, &body(&list)).await;
    let draft = campaign(&api, &id).await;
    assert_eq!(draft["counts"]["sent"], 0);

    let started = api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await;
    assert_eq!(started.status, 202, "{started:?}");
    let again = api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await;
    assert_eq!((again.status.as_u16(), again.error_code().as_str()), (409, "already_sending"));
    let done = wait_for(&api, &id, Duration::from_secs(180), sent).await;

    let counts = &done["counts"];
    assert_eq!(counts["recipients"], members, "every member is frozen in: {done:#}");
    assert_eq!(counts["sent"], members);
    assert_eq!((counts["failed"].as_u64(), counts["unknown"].as_u64()), (Some(0), Some(0)));
    let messages = outbox(&stack, &id).await;
    assert_eq!(messages.len() as u64, members, "one message per member");
    let addresses = once_each(&messages);
    let base = stack.url("/u/");
    for message in &messages {
        let unsubscribe = header(message, "List-Unsubscribe").unwrap();
        assert!(unsubscribe.starts_with(&format!("<{base}")) && unsubscribe.ends_with('>'), "{unsubscribe}");
        assert_eq!(header(message, "List-Unsubscribe-Post"), Some("List-Unsubscribe=One-Click"));
        let link = unsubscribe.trim_start_matches('<').trim_end_matches('>');
        assert!(message["text"].as_str().unwrap().contains(link), "the text body carries the same link");
        assert!(message["html"].as_str().unwrap().contains("1 Market Street"), "the postal address ends the HTML");
        assert!(message["text"].as_str().unwrap().ends_with("San Francisco, CA 94105\nUnited States\n"));
        assert_eq!(message["from"], "news@acme.example");
        assert_eq!(message["reply_to"], "team@acme.example");
    }
    // Merge fields: a member with a first name is greeted by it; one without gets the fallback.
    let sim = stack.sim(stack.acme());
    let named = messages.iter().find(|m| m["subject"] != "Spring news for you").unwrap();
    let first = named["subject"].as_str().unwrap().trim_start_matches("Spring news for ");
    assert!(named["text"].as_str().unwrap().starts_with(&format!("Hello {first},")));
    let records = sim.records(outpost_tests::salesforce_sim::SObject::Contact);
    let unnamed = records.iter().find(|r| {
        r.first_name.as_deref().is_none_or(str::is_empty)
            && r.email.as_deref().is_some_and(|email| addresses.contains(&email.trim().to_lowercase()))
    });
    if let Some(unnamed) = unnamed {
        let email = unnamed.email.as_deref().unwrap().trim().to_lowercase();
        let message = messages.iter().find(|m| m["to"].as_str().unwrap().to_lowercase() == email).unwrap();
        assert!(message["text"].as_str().unwrap().starts_with("Hello there,"), "{message:#}");
    }

    // The status search and the results account for every address.
    let all = recipients(&api, &id).await;
    assert_eq!(all.len() as u64, members);
    // The mailbox simulator's Contacts are among them: their events come back too.
    let handed_over = ["sent", "delivered", "bounced", "complained"];
    assert!(all.iter().all(|r| handed_over.contains(&r["status"].as_str().unwrap()) && r["message_id"].is_string()));
    let one = messages[7]["to"].as_str().unwrap();
    let found = api.get(&format!("/api/v1/campaigns/{id}/recipients?q={one}")).await.json();
    assert_eq!(found["total"], 1);
    assert_eq!(found["recipients"][0]["email"].as_str().unwrap().to_lowercase(), one.to_lowercase());
    let csv = api.get(&format!("/api/v1/campaigns/{id}/results.csv")).await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>()[..5],
        ["Email", "RecordId", "FirstName", "LastName", "Status"]
    );
    assert_eq!(reader.records().count() as u64, members);

    // Once sent, a campaign stays sent.
    for action in ["send", "pause", "resume", "cancel"] {
        let refused = api.post(&format!("/api/v1/campaigns/{id}/{action}"), &json!({})).await;
        assert_eq!(refused.status, 409, "{action}: {refused:?}");
    }
}

#[tokio::test]
async fn a_test_send_goes_to_one_address_marked_as_a_test() {
    let stack = stack(StackOptions::default()).await;
    let api = api(&stack);
    let (list, _) = everyone(&api).await;
    let id = create(&api, &body(&list)).await;
    let record = stack
        .sim(stack.acme())
        .records(outpost_tests::salesforce_sim::SObject::Contact)
        .into_iter()
        .find(|r| r.first_name.as_deref().is_some_and(|name| !name.is_empty()))
        .unwrap();

    let queued = api
        .post(
            &format!("/api/v1/campaigns/{id}/test"),
            &json!({"to": "me@acme.example", "record_id": record.id.as_str()}),
        )
        .await;
    assert_eq!(queued.status, 202, "{queued:?}");

    let mut tests = Vec::new();
    for _ in 0..100 {
        tests = outbox(&stack, "tests").await;
        if !tests.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tests.len(), 1, "{tests:#?}");
    let first = record.first_name.unwrap();
    assert_eq!(tests[0]["to"], "me@acme.example");
    assert_eq!(tests[0]["subject"], format!("[Test] Spring news for {first}"));
    assert!(header(&tests[0], "List-Unsubscribe").unwrap().ends_with("/u/test-message>"));
    assert_eq!(campaign(&api, &id).await["status"], "draft", "a test does not start the campaign");
    let page = stack.get(&stack.url("/u/test-message")).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("This was a test message"));
}

#[tokio::test]
async fn a_freeze_cut_short_by_its_deadline_carries_on_where_it_stopped() {
    // Every job stops at once (its deadline is within the margin), so each invocation of the
    // freeze writes one batch of 40 and queues its continuation.
    let options = StackOptions { job_deadline: Duration::from_secs(15), freeze_batch: 40, ..StackOptions::default() };
    let stack = stack(options).await;
    let api = api(&stack);
    let (list, members) = everyone(&api).await;
    assert!(members > 200, "{members}");
    let id = create(&api, &body(&list)).await;
    assert_eq!(api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await.status, 202);
    let done = wait_for(&api, &id, Duration::from_secs(60), sent).await;
    assert_eq!(done["counts"]["recipients"], members, "{done:#}");
    assert_eq!(once_each(&outbox(&stack, &id).await).len() as u64, members);
}
