//! The apex function on AWS Lambda: clients built once, then the router serves every callout.

use std::sync::Arc;

use outpost_apex::{ApexState, StoredSyncRequest, router};
use outpost_shared::config::Config;
use outpost_shared::services::Services;
use outpost_shared::telemetry::{self, LogFormat};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init(LogFormat::Json);
    let services = Services::from_aws(Config::from_env()?).await?;
    let sync = Arc::new(StoredSyncRequest { services: services.clone() });
    lambda_http::run(router(Arc::new(ApexState { services, sync }))).await
}
