//! What recipients do comes back: the mailbox simulator's bounce and complaint reach the
//! campaign's totals and, through the write-back queue, the Salesforce records; a one-click
//! unsubscribe opts the recipient out at once, and no later campaign mails them.

use std::time::Duration;

use outpost_tests::StackOptions;
use outpost_tests::salesforce_sim::SObject;
use serde_json::json;

use super::support::*;

fn contact_with(stack: &outpost_tests::TestStack, email: &str) -> outpost_tests::salesforce_sim::Record {
    stack
        .sim(stack.acme())
        .records(SObject::Contact)
        .into_iter()
        .find(|record| record.email.as_deref() == Some(email))
        .unwrap_or_else(|| panic!("the simulated org has a Contact at {email}"))
}

#[tokio::test]
async fn simulator_bounces_and_complaints_reach_the_totals_and_salesforce() {
    let stack = stack(StackOptions::default()).await;
    let api = api(&stack);
    let (list, members) = everyone(&api).await;
    let id = create(&api, &body(&list)).await;
    assert_eq!(api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await.status, 202);

    let done = wait_for(&api, &id, Duration::from_secs(60), |campaign| {
        sent(campaign)
            && campaign["counts"]["bounced"] == 1
            && campaign["counts"]["complained"] == 1
            && campaign["counts"]["delivered"] == 2
    })
    .await;
    let counts = &done["counts"];
    assert_eq!(counts["sent"], members);
    assert_eq!((counts["bounced_permanent"].as_u64(), counts["bounced_transient"].as_u64()), (Some(1), Some(0)));
    let bounced = api.get(&format!("/api/v1/campaigns/{id}/recipients?status=bounced")).await.json();
    assert_eq!(bounced["recipients"][0]["email"], "bounce@simulator.amazonses.com");
    assert!(bounced["recipients"][0]["detail"].as_str().unwrap().contains("5.1.1"), "{bounced:#}");
    let complained = api.get(&format!("/api/v1/campaigns/{id}/recipients?status=complained")).await.json();
    assert_eq!(complained["recipients"][0]["email"], "complaint@simulator.amazonses.com");
    let delivered = api.get(&format!("/api/v1/campaigns/{id}/recipients?status=delivered")).await.json();
    assert_eq!(delivered["recipients"][0]["email"], "success@simulator.amazonses.com");

    // The integration user writes both back on its next run.
    outpost_tests::outpost_local::sync_once(&stack.stack.sync, None, Duration::from_secs(60)).await.unwrap();
    let bounce = contact_with(&stack, "bounce@simulator.amazonses.com");
    assert!(bounce.is_email_bounced);
    assert!(bounce.email_bounced_reason.as_deref().unwrap().contains("5.1.1"), "{bounce:?}");
    assert!(bounce.email_bounced_date.is_some());
    assert!(contact_with(&stack, "complaint@simulator.amazonses.com").has_opted_out_of_email);
    assert!(!contact_with(&stack, "success@simulator.amazonses.com").has_opted_out_of_email);

    // Both addresses are suppressed: the next campaign to the same list leaves them out.
    let next = create(&api, &body(&list)).await;
    assert_eq!(api.post(&format!("/api/v1/campaigns/{next}/send"), &json!({})).await.status, 202);
    let next = wait_for(&api, &next, Duration::from_secs(60), sent).await;
    let addresses = once_each(&outbox(&stack, next["id"].as_str().unwrap()).await);
    assert!(!addresses.contains("bounce@simulator.amazonses.com"));
    assert!(!addresses.contains("complaint@simulator.amazonses.com"));
    assert!(addresses.contains("success@simulator.amazonses.com"));
}

#[tokio::test]
async fn one_click_unsubscribe_opts_out_at_once_and_only_once() {
    let stack = stack(StackOptions::default()).await;
    let api = api(&stack);
    let (list, members) = everyone(&api).await;
    let id = create(&api, &body(&list)).await;
    assert_eq!(api.post(&format!("/api/v1/campaigns/{id}/send"), &json!({})).await.status, 202);
    wait_for(&api, &id, Duration::from_secs(60), sent).await;
    let messages = outbox(&stack, &id).await;
    let message = messages.iter().find(|m| !m["to"].as_str().unwrap().contains("simulator")).unwrap();
    let to = message["to"].as_str().unwrap().to_owned();
    let link = header(message, "List-Unsubscribe").unwrap().trim_matches(['<', '>']).to_owned();

    // Following the link (as a mail scanner would) changes nothing; it asks.
    let page = stack.get(&link).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.text().await.unwrap().contains("name=\"List-Unsubscribe\" value=\"One-Click\""));
    assert_eq!(campaign(&api, &id).await["counts"]["unsubscribed"], 0);

    let one_click = |body: &'static str| {
        stack.http.post(&link).header("content-type", "application/x-www-form-urlencoded").body(body).send()
    };
    let empty = one_click("").await.unwrap();
    assert_eq!(empty.status(), 400, "a POST without List-Unsubscribe=One-Click changes nothing");
    // As RFC 8058 has mailbox providers post it (multipart/form-data), then as our page does.
    let boundary = "----outpost-test-boundary";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--{boundary}--\r\n"
    );
    let done = stack
        .http
        .post(&link)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("You are unsubscribed"));
    let again = one_click("List-Unsubscribe=One-Click").await.unwrap();
    assert_eq!(again.status(), 200, "a second unsubscribe is the same as the first");
    let after = campaign(&api, &id).await;
    assert_eq!(after["counts"]["unsubscribed"], 1, "twice is once: {after:#}");
    let found = api.get(&format!("/api/v1/campaigns/{id}/recipients?q={to}")).await.json();
    assert_eq!(found["recipients"][0]["status"], "unsubscribed");

    let mut tampered = link.clone();
    tampered.insert(link.len() - 3, 'x');
    assert_eq!(stack.get(&tampered).await.status(), 404);
    let forged = one_click_to(&stack, &tampered).await;
    assert_eq!(forged, 404);

    // Salesforce learns it through the integration user; no later campaign mails the address.
    outpost_tests::outpost_local::sync_once(&stack.stack.sync, None, Duration::from_secs(60)).await.unwrap();
    let record = found["recipients"][0]["record_id"].as_str().unwrap().to_owned();
    assert!(stack.sim(stack.acme()).record(&record).unwrap().has_opted_out_of_email);
    let next = create(&api, &body(&list)).await;
    assert_eq!(api.post(&format!("/api/v1/campaigns/{next}/send"), &json!({})).await.status, 202);
    let next_done = wait_for(&api, &next, Duration::from_secs(60), sent).await;
    assert!(next_done["counts"]["recipients"].as_u64().unwrap() < members);
    assert!(!once_each(&outbox(&stack, &next).await).contains(&to.to_lowercase()));
}

async fn one_click_to(stack: &outpost_tests::TestStack, link: &str) -> u16 {
    let response = stack
        .http
        .post(link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}
