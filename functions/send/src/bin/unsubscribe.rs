//! The unsubscribe endpoint on AWS Lambda (`/u/{token}`, no authorizer: the token is signed).

use std::sync::Arc;

use outpost_shared::config::Config;
use outpost_shared::services::Services;
use outpost_shared::telemetry::{self, LogFormat};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init(LogFormat::Json);
    let services = Services::from_aws(Config::from_env()?).await?;
    lambda_http::run(outpost_send::unsubscribe::router(Arc::new(services))).await
}
