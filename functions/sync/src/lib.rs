//! Scheduled sync with the integration user (docs/flows.md#scheduled-sync): pulls Contacts and Leads into the recipient
//! set, propagates deletes, and writes opt-outs and bounces back. Invoked by EventBridge Scheduler
//! (its own JSON input) or by the DynamoDB stream records of Apex "sync now" requests.

mod activity;
mod bulk;
mod deletes;
mod fields;
mod integration;
mod pull;
mod records;
mod run;
mod write_back;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::dynamodb;
use futures::StreamExt;
use lambda_runtime::Diagnostic;
use outpost_shared::ids::OrgId;
use outpost_shared::services::Services;
use outpost_shared::store::{OrgRegistration, RunStatus, StoreError};
use serde::{Deserialize, Serialize};

pub use integration::{IntegrationLogin, LoginError};
pub use records::Selected;
pub use run::{RunOutcome, sync_org};

/// Tunables of a run.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// `Sforce-Query-Options: batchSize` (200..=2000).
    pub page_size: u16,
    /// A first sync of more records than this goes through Bulk API 2.0.
    pub bulk_threshold: u64,
    pub bulk_poll_interval: Duration,
    /// Stop once the org's (or this app's) API usage reaches this share of its daily allocation.
    pub budget_ceiling: f64,
    /// Stop this long before the deadline, leaving time to save.
    pub deadline_margin: Duration,
    /// How often hard deletes are looked up with getDeleted.
    pub deletes_check_interval: Duration,
    /// getDeleted's window; older checkpoints reconcile by id.
    pub deleted_log_window: Duration,
    pub write_back_per_run: usize,
    pub write_back_max_attempts: u32,
    pub write_back_base_delay: Duration,
    /// Orgs synced at the same time by one invocation.
    pub concurrent_orgs: usize,
    /// How often a long run logs how far it is.
    pub progress_interval: Duration,
    /// How long an org's lease outlives its holder's last sign of life: a crashed or timed-out
    /// run blocks the next one for at most this long.
    pub lease_ttl: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            page_size: 2000,
            bulk_threshold: 200_000,
            bulk_poll_interval: Duration::from_secs(5),
            budget_ceiling: 0.8,
            deadline_margin: Duration::from_secs(10),
            deletes_check_interval: Duration::from_secs(3600),
            deleted_log_window: Duration::from_secs(15 * 24 * 3600 - 3600),
            write_back_per_run: 2000,
            write_back_max_attempts: 5,
            write_back_base_delay: Duration::from_secs(60),
            concurrent_orgs: 4,
            progress_interval: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(60),
        }
    }
}

/// Where a test wants the run to "crash" (the process dies, nothing more happens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// After a page's records are durable, before its checkpoint.
    BeforeCheckpoint,
    /// After a page's records are durable and its checkpoint saved.
    AfterCheckpoint,
}

/// One invocation's options.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// What started the run (`schedule`, `apex`, `local`…).
    pub trigger: String,
    /// Stop with the checkpoint saved before this.
    pub deadline: Instant,
    /// Test hook: crash at this point after this many pages were written.
    pub crash: Option<(CrashPoint, u64)>,
}

/// What a sync needs; built once per process, shared by every run.
#[derive(Debug)]
pub struct SyncContext {
    pub services: Services,
    pub settings: SyncSettings,
    pub login: IntegrationLogin,
    describes: fields::Describes,
}

impl SyncContext {
    pub fn new(services: Services, settings: SyncSettings) -> Self {
        let login = IntegrationLogin::new(
            services.salesforce.clone(),
            Arc::clone(&services.secrets),
            services.config.host_policy,
        );
        Self { services, settings, login, describes: fields::Describes::default() }
    }
}

/// The result of one org in an invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgResult {
    pub org_id: OrgId,
    pub status: String,
}

/// Syncs `orgs` (or every active org), a few at a time.
pub async fn sync_orgs(
    ctx: &SyncContext,
    orgs: Option<&[OrgId]>,
    options: &RunOptions,
) -> Result<Vec<(OrgId, RunOutcome)>, StoreError> {
    let registered = ctx.services.store.list_orgs().await?;
    let selected: Vec<OrgRegistration> = registered
        .into_iter()
        .filter(|org| org.is_active() && orgs.is_none_or(|wanted| wanted.contains(&org.org_id)))
        .collect();
    Ok(futures::stream::iter(selected)
        .map(|org| async move {
            let outcome = sync_org(ctx, &org, options).await;
            (org.org_id, outcome)
        })
        .buffer_unordered(ctx.settings.concurrent_orgs.max(1))
        .collect()
        .await)
}

/// The scheduler's input (its own JSON, not an EventBridge envelope).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledInput {
    /// One org, or every active org when absent.
    #[serde(default)]
    pub org_id: Option<OrgId>,
    #[serde(default)]
    pub trigger: Option<String>,
}

/// What one invocation was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Invocation {
    pub orgs: Option<Vec<OrgId>>,
    pub trigger: String,
}

/// Why an invocation failed, as the Lambda runtime reports it: the scheduler and the stream
/// retry a `Retryable` error, and never a `NonRetryable` one.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The event is neither the scheduler's input nor a stream batch.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The store could not list the orgs.
    #[error("the store is unavailable: {0}")]
    Store(#[from] StoreError),
    /// Some org's run failed in a way a retry may fix; the results of every org.
    #[error("a run failed and may succeed on retry: {}", serde_json::to_string(.0).unwrap_or_default())]
    Transient(Vec<OrgResult>),
}

impl From<SyncError> for Diagnostic {
    fn from(err: SyncError) -> Self {
        let error_type = match err {
            SyncError::InvalidInput(_) => "NonRetryable",
            SyncError::Store(_) | SyncError::Transient(_) => "Retryable",
        };
        Diagnostic { error_type: error_type.into(), error_message: err.to_string() }
    }
}

/// Reads either the scheduler's input or a DynamoDB stream batch of "sync now" requests.
pub fn parse_invocation(event: &serde_json::Value) -> Result<Invocation, SyncError> {
    if event.get("Records").is_some() {
        let batch: dynamodb::Event =
            serde_json::from_value(event.clone()).map_err(|err| SyncError::InvalidInput(err.to_string()))?;
        let orgs = batch
            .records
            .iter()
            .filter_map(|record| match record.change.new_image.get("org_id") {
                Some(serde_dynamo::AttributeValue::S(org)) => OrgId::parse(org).ok(),
                _ => None,
            })
            .collect();
        return Ok(Invocation { orgs: Some(orgs), trigger: "apex".into() });
    }
    let input: ScheduledInput =
        serde_json::from_value(event.clone()).map_err(|err| SyncError::InvalidInput(err.to_string()))?;
    Ok(Invocation {
        orgs: input.org_id.map(|org| vec![org]),
        trigger: input.trigger.unwrap_or_else(|| "schedule".into()),
    })
}

/// One invocation: parses the event, syncs the orgs it names, and fails as `Retryable` when a
/// run failed in a way a retry may fix (the orgs that finished resume at once on the retry).
pub async fn handle(
    ctx: &SyncContext,
    event: &serde_json::Value,
    deadline: Instant,
) -> Result<Vec<OrgResult>, SyncError> {
    let invocation = parse_invocation(event)?;
    let options = RunOptions { trigger: invocation.trigger, deadline, crash: None };
    let outcomes = sync_orgs(ctx, invocation.orgs.as_deref(), &options).await?;
    let transient =
        outcomes.iter().any(|(_, outcome)| matches!(outcome, RunOutcome::Ran(run) if run.status == RunStatus::Failed));
    let results: Vec<OrgResult> =
        outcomes.iter().map(|(org_id, outcome)| OrgResult { org_id: *org_id, status: outcome.status() }).collect();
    if transient {
        return Err(SyncError::Transient(results));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scheduler_input_and_stream_batches() {
        let all = parse_invocation(&serde_json::json!({})).unwrap();
        assert_eq!(all, Invocation { orgs: None, trigger: "schedule".into() });
        let one = parse_invocation(&serde_json::json!({"org_id": "00Dx0000000BV7z", "trigger": "manual"})).unwrap();
        assert_eq!(one.orgs.unwrap()[0].as_str(), "00Dx0000000BV7zEAG");
        // A stream record as Lambda delivers it (the documented DynamoDB Streams event shape).
        let stream = serde_json::json!({"Records": [{
            "eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1700000000.0,
                "Keys": {"pk": {"S": "ORG#00Dx0000000BV7zEAG"}, "sk": {"S": "SYNCREQUEST"}},
                "NewImage": {"org_id": {"S": "00Dx0000000BV7zEAG"}, "kind": {"S": "sync_request"}},
                "SequenceNumber": "111", "SizeBytes": 26, "StreamViewType": "NEW_IMAGE"
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/outpost/stream/2026-01-01T00:00:00.000"
        }]});
        let requested = parse_invocation(&stream).unwrap();
        assert_eq!(requested.trigger, "apex");
        assert_eq!(requested.orgs.unwrap(), vec![OrgId::parse("00Dx0000000BV7z").unwrap()]);
        assert!(matches!(parse_invocation(&serde_json::json!({"surprise": 1})), Err(SyncError::InvalidInput(_))));
        assert!(matches!(parse_invocation(&serde_json::json!({"org_id": "nope"})), Err(SyncError::InvalidInput(_))));
        assert!(matches!(parse_invocation(&serde_json::json!({"Records": "x"})), Err(SyncError::InvalidInput(_))));
    }

    #[test]
    fn only_bad_input_is_not_retried() {
        let diagnostic = Diagnostic::from(SyncError::InvalidInput("x".into()));
        assert_eq!(diagnostic.error_type, "NonRetryable");
        let transient = SyncError::Transient(vec![OrgResult {
            org_id: OrgId::parse("00Dx0000000BV7z").unwrap(),
            status: "failed".into(),
        }]);
        let diagnostic = Diagnostic::from(transient);
        assert_eq!(diagnostic.error_type, "Retryable");
        assert!(diagnostic.error_message.contains("00Dx0000000BV7zEAG"), "{}", diagnostic.error_message);
    }
}
