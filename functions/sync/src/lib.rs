//! Scheduled sync with the integration user (flow 6): pulls Contacts and Leads into the recipient
//! set, propagates deletes, and writes opt-outs and bounces back. Invoked by EventBridge Scheduler
//! (its own JSON input) or by the DynamoDB stream record of an Apex "sync now" request.

mod integration;
mod layout;
mod page_workers;
mod records;
mod run;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use outpost_shared::ids::OrgId;
use outpost_shared::services::Services;
use outpost_shared::store::{OrgRegistration, RunStatus, StoreError, SyncRun};
use serde::{Deserialize, Serialize};

pub use integration::{IntegrationLogin, LoginError};
use page_workers::PageWorkers;
pub use records::changes_after;
pub use run::{RunOutcome, sync_org};

/// Tunables of a run.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// `Sforce-Query-Options: batchSize` (200..=2000).
    pub page_size: u16,
    /// A first sync of more records than this goes through Bulk API 2.0.
    pub bulk_threshold: u64,
    pub bulk_poll_interval: Duration,
    /// Stop once the org's API usage reaches this share of its daily allocation.
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
    pages: PageWorkers,
}

impl SyncContext {
    pub fn new(services: Services, settings: SyncSettings) -> Self {
        let login = IntegrationLogin::new(
            services.salesforce.clone(),
            Arc::clone(&services.secrets),
            services.config.host_policy,
        );
        Self { services, settings, login, pages: PageWorkers::new() }
    }
}

/// The result of one org in an invocation.
#[derive(Debug, Clone, Serialize)]
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

/// Reads either the scheduler's input or a DynamoDB stream batch of "sync now" requests.
pub fn parse_invocation(event: &serde_json::Value) -> Result<Invocation, String> {
    if let Some(records) = event.get("Records").and_then(serde_json::Value::as_array) {
        let orgs = records
            .iter()
            .filter_map(|record| record.pointer("/dynamodb/NewImage/org_id/S")?.as_str())
            .filter_map(|org| OrgId::parse(org).ok())
            .collect();
        return Ok(Invocation { orgs: Some(orgs), trigger: "apex".into() });
    }
    let input: ScheduledInput = serde_json::from_value(event.clone()).map_err(|err| format!("invalid input: {err}"))?;
    Ok(Invocation {
        orgs: input.org_id.map(|org| vec![org]),
        trigger: input.trigger.unwrap_or_else(|| "schedule".into()),
    })
}

/// Whether a failed run is worth retrying by the invoker (a transient failure).
pub fn is_transient(run: &SyncRun) -> bool {
    run.status == RunStatus::Failed
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
        let stream = serde_json::json!({"Records": [
            {"eventName": "INSERT", "dynamodb": {"NewImage": {"org_id": {"S": "00Dx0000000BV7zEAG"}, "kind": {"S": "sync_request"}}}}
        ]});
        let requested = parse_invocation(&stream).unwrap();
        assert_eq!(requested.trigger, "apex");
        assert_eq!(requested.orgs.unwrap().len(), 1);
        assert!(parse_invocation(&serde_json::json!({"surprise": 1})).is_err());
        assert!(parse_invocation(&serde_json::json!({"org_id": "nope"})).is_err());
    }
}
