//! The authorizer on AWS Lambda: clients built once, then every invocation is one decision.

use outpost_authorizer::{AuthorizerState, handle};
use outpost_shared::app_session::SessionPolicy;
use outpost_shared::config::Config;
use outpost_shared::services::Services;
use outpost_shared::telemetry::{self, LogFormat};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init(LogFormat::Json);
    let state = AuthorizerState {
        services: Services::from_aws(Config::from_env()?).await?,
        sessions: SessionPolicy::default(),
    };
    let state = &state;
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |event| handle(state, event))).await
}
