//! What Lambda hands the send function, turned into jobs: SQS messages (jobs, and SES events
//! through SNS), DynamoDB stream records (start requests from the app), and the schedule.

use std::time::Instant;

use outpost_shared::campaigns::events::parse_event;
use outpost_shared::ids::{OrgId, RecordId};
use serde_json::{Value, json};

use crate::feedback::Feedback;
use crate::jobs::Job;
use crate::sender::{SendFailure, Sender};

/// One SQS message: a job, or an SES event.
async fn message(sender: &Sender, body: &str, deadline: Instant) -> Result<(), SendFailure> {
    if let Ok(job) = serde_json::from_str::<Job>(body) {
        return sender.run(&job, deadline).await;
    }
    match parse_event(body) {
        Ok(event) => Feedback { services: &sender.services }.handle_event(&event).await,
        // Retrying cannot fix it: said once, then dropped.
        Err(err) => {
            tracing::error!(error = %err, "an SQS message that is neither a job nor an SES event: dropped");
            Ok(())
        }
    }
}

/// Handles one invocation; for SQS, the partial batch response naming the messages to retry.
pub async fn handle(sender: &Sender, event: &Value, deadline: Instant) -> Result<Value, SendFailure> {
    if event.get("tick").and_then(Value::as_str) == Some("quota") {
        sender.run(&Job::QuotaCheck, deadline).await?;
        return Ok(json!({}));
    }
    let records = event.get("Records").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut failures = Vec::new();
    for record in records {
        match record.get("eventSource").and_then(Value::as_str) {
            Some("aws:sqs") => {
                let id = record.get("messageId").and_then(Value::as_str).unwrap_or_default();
                let body = record.get("body").and_then(Value::as_str).unwrap_or_default();
                if let Err(err) = message(sender, body, deadline).await {
                    tracing::warn!(error = %err, "an SQS message failed: it returns to the queue");
                    failures.push(json!({ "itemIdentifier": id }));
                }
            }
            Some("aws:dynamodb") => {
                let image = record.pointer("/dynamodb/NewImage");
                let org = image.and_then(|image| image.pointer("/org_id/S")).and_then(Value::as_str);
                let campaign = image.and_then(|image| image.pointer("/campaign_id/S")).and_then(Value::as_str);
                let (Some(Ok(org)), Some(campaign)) = (org.map(OrgId::parse), campaign) else {
                    tracing::error!("a stream record without an org and campaign: dropped");
                    continue;
                };
                let text =
                    |name: &str| image.and_then(|image| image.pointer(&format!("/{name}/S"))).and_then(Value::as_str);
                let job = match (text("request"), text("to")) {
                    (Some("test"), Some(to)) => Job::Test {
                        org_id: org,
                        campaign_id: campaign.to_owned(),
                        to: to.to_owned(),
                        record: text("record").and_then(|record| RecordId::parse(record).ok()),
                    },
                    _ => {
                        // Taken first: a retried batch starts the campaign once more, which is harmless.
                        sender.services.store.take_campaign_request(&org, campaign).await?;
                        Job::Start { org_id: org, campaign_id: campaign.to_owned() }
                    }
                };
                sender.run(&job, deadline).await?;
            }
            other => tracing::error!(source = ?other, "an event the send function does not handle: dropped"),
        }
    }
    Ok(json!({ "batchItemFailures": failures }))
}
