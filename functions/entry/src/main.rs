//! The entry function on AWS Lambda: clients built once, then the router serves every invocation.

use outpost_entry::{EntryState, router};
use outpost_shared::config::Config;
use outpost_shared::services::Services;
use outpost_shared::telemetry::{self, LogFormat};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init(LogFormat::Json);
    let services = Services::from_aws(Config::from_env()?).await?;
    lambda_http::run(router(EntryState::new(services))).await
}
