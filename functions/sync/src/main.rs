//! The sync function on AWS Lambda: clients and the integration token cache are built once and
//! kept warm across invocations; each invocation stops before its deadline.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{LambdaEvent, service_fn};
use outpost_shared::config::Config;
use outpost_shared::services::Services;
use outpost_shared::telemetry::{self, LogFormat};
use outpost_sync::{SyncContext, SyncSettings, handle};

/// The invocation's deadline (epoch milliseconds) as an `Instant`.
fn deadline(context: &lambda_runtime::Context) -> Instant {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(context.deadline.saturating_sub(now_ms))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(LogFormat::Json);
    let ctx = SyncContext::new(Services::from_aws(Config::from_env()?).await?, SyncSettings::default());
    let ctx = &ctx;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        handle(ctx, &event.payload, deadline(&event.context)).await
    }))
    .await
}
