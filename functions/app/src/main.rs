//! The app function on AWS Lambda: clients built once, then the router serves every invocation.

use std::sync::Arc;

use outpost_app::campaigns::StreamTrigger;
use outpost_app::{AppState, Exports, router};
use outpost_shared::config::Config;
use outpost_shared::services::Services;
use outpost_shared::telemetry::{self, LogFormat};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init(LogFormat::Json);
    let services = Services::from_aws(Config::from_env()?).await?;
    let exports = match std::env::var("OUTPOST_EXPORT_BUCKET") {
        Ok(bucket) if !bucket.trim().is_empty() => Some(Exports::connect(bucket)?),
        _ => None,
    };
    let campaigns = Arc::new(StreamTrigger(services.store.clone()));
    lambda_http::run(router(AppState::new(services, exports, campaigns))).await
}
