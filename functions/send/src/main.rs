//! The send function on AWS Lambda: campaign jobs and SES events from SQS, start requests from
//! the table's stream, and the quota check on a schedule.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use lambda_runtime::{LambdaEvent, service_fn};
use outpost_send::ses::SesMailer;
use outpost_send::{Job, JobQueue, QueueError, SendSettings, Sender};
use outpost_shared::config::Config;
use outpost_shared::services::{Services, aws_config};
use outpost_shared::telemetry::{self, LogFormat};

/// Jobs go to the function's own SQS queue.
struct SqsJobs {
    client: aws_sdk_sqs::Client,
    url: String,
}

#[async_trait]
impl JobQueue for SqsJobs {
    async fn enqueue(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|err| QueueError(err.to_string()))?;
        // SQS delays at most 15 minutes.
        let delay = i32::try_from(delay.as_secs().min(900)).unwrap_or(900);
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map(drop)
            .map_err(|err| QueueError(aws_sdk_sqs::error::DisplayErrorContext(err).to_string()))
    }
}

/// The invocation's deadline (epoch milliseconds) as an `Instant`.
fn deadline(context: &lambda_runtime::Context) -> Instant {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(context.deadline.saturating_sub(now_ms))
}

fn variable(name: &'static str) -> Result<String, lambda_runtime::Error> {
    std::env::var(name).map_err(|_| format!("the environment variable {name} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(LogFormat::Json);
    let config = Config::from_env()?;
    let public_url = config.public_url.clone().ok_or("OUTPOST_PUBLIC_URL must be set: unsubscribe links need it")?;
    let aws = aws_config()?;
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(&aws), std::env::var("OUTPOST_SES_CONFIGURATION_SET").ok());
    let jobs = SqsJobs { client: aws_sdk_sqs::Client::new(&aws), url: variable("OUTPOST_JOBS_QUEUE_URL")? };
    let services = Services::from_aws(config).await?;
    let sender = Sender::new(services, Arc::new(mailer), Arc::new(jobs), SendSettings::new(public_url));
    let sender = &sender;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        outpost_send::handle(sender, &event.payload, deadline(&event.context))
            .await
            .map_err(|err| lambda_runtime::Error::from(err.to_string()))
    }))
    .await
}
