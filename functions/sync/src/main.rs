//! The sync function on AWS Lambda: clients and the integration token cache are built once and
//! kept warm across invocations; each invocation stops before its deadline.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use outpost_shared::config::Config;
use outpost_shared::services::Services;
use outpost_shared::telemetry::{self, LogFormat};
use outpost_sync::{
    OrgResult, RunOptions, RunOutcome, SyncContext, SyncSettings, is_transient, parse_invocation, sync_orgs,
};

/// The Lambda deadline (epoch milliseconds) as an `Instant`.
fn deadline(context: &lambda_runtime::Context) -> Instant {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(context.deadline.saturating_sub(now_ms))
}

async fn handle(ctx: &SyncContext, event: LambdaEvent<serde_json::Value>) -> Result<Vec<OrgResult>, Diagnostic> {
    let invocation = parse_invocation(&event.payload)
        .map_err(|message| Diagnostic { error_type: "NonRetryable".into(), error_message: message })?;
    let options = RunOptions { trigger: invocation.trigger, deadline: deadline(&event.context), crash: None };
    let outcomes = sync_orgs(ctx, invocation.orgs.as_deref(), &options)
        .await
        .map_err(|err| Diagnostic { error_type: "Retryable".into(), error_message: err.to_string() })?;
    let mut transient = false;
    let results = outcomes
        .into_iter()
        .map(|(org_id, outcome)| {
            let status = match outcome {
                RunOutcome::Ran(run) => {
                    transient |= is_transient(&run);
                    serde_json::to_value(run.status)
                        .ok()
                        .and_then(|s| s.as_str().map(str::to_owned))
                        .unwrap_or_default()
                }
                RunOutcome::AlreadyRunning => "already_running".into(),
                RunOutcome::Crashed => "crashed".into(),
            };
            OrgResult { org_id, status }
        })
        .collect::<Vec<_>>();
    if transient {
        // Let the scheduler's retry policy (then its DLQ) take over; finished orgs resume at once.
        return Err(Diagnostic {
            error_type: "Retryable".into(),
            error_message: serde_json::to_string(&results).unwrap_or_default(),
        });
    }
    Ok(results)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(LogFormat::Json);
    let services = Services::from_aws(Config::from_env()?).await?;
    let ctx = SyncContext::new(services, SyncSettings::default());
    let ctx = &ctx;
    lambda_runtime::run(service_fn(move |event| handle(ctx, event))).await
}
