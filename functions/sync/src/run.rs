//! One sync run of one org (docs/flows.md#scheduled-sync) under the org's lease: pull Contacts and Leads past the
//! checkpoint ([`crate::pull`], [`crate::bulk`]), propagate deletes ([`crate::deletes`]), write
//! queued changes back ([`crate::write_back`]), and stop cleanly at the API budget or the deadline
//! with the checkpoint saved. This module holds what those jobs share: the run's state, its page
//! bookkeeping, its limits and its record.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_shared::crypto;
use outpost_shared::ids::{RecipientObject, RecordId};
use outpost_shared::salesforce::{ApiMeter, OrgConnection, SalesforceError, SfDateTime};
use outpost_shared::store::{
    ActivityRun, ObjectRun, OrgRegistration, Recipient, RunStatus, StoreError, SyncCheckpoint, SyncCursor, SyncRun,
    WriteBack, WriteBackRun, now_epoch,
};

use crate::integration::LoginError;
use crate::pull::Query;
use crate::records::Selected;
use crate::{CrashPoint, RunOptions, SyncContext};

/// Why a run stopped early.
#[derive(Debug)]
pub(crate) enum Stop {
    Budget,
    Deadline,
    Auth(String),
    /// The test hook: the process "died" here.
    Crash,
    /// The store failed, or the lease was lost: nothing more can be saved.
    Fatal(String),
}

/// What interrupted one step.
#[derive(Debug)]
pub(crate) enum Interrupt {
    Stop(Stop),
    Salesforce(SalesforceError),
}

impl From<Stop> for Interrupt {
    fn from(stop: Stop) -> Self {
        Interrupt::Stop(stop)
    }
}

impl From<StoreError> for Interrupt {
    fn from(err: StoreError) -> Self {
        Interrupt::Stop(Stop::Fatal(err.to_string()))
    }
}

impl From<SalesforceError> for Interrupt {
    fn from(err: SalesforceError) -> Self {
        match err {
            SalesforceError::RequestLimitExceeded => Interrupt::Stop(Stop::Budget),
            SalesforceError::SessionRefused { message, .. } => Interrupt::Stop(Stop::Auth(message)),
            other => Interrupt::Salesforce(other),
        }
    }
}

/// How a run ended for the caller.
#[derive(Debug)]
pub enum RunOutcome {
    Ran(Box<SyncRun>),
    /// Another run of this org holds the lease.
    AlreadyRunning,
    /// The crash hook fired; nothing was recorded (as after a real crash).
    Crashed,
}

impl RunOutcome {
    /// The status word the function, the CLI and the logs report.
    pub fn status(&self) -> String {
        match self {
            RunOutcome::Ran(run) => run.status.as_str().to_owned(),
            RunOutcome::AlreadyRunning => "already_running".into(),
            RunOutcome::Crashed => "crashed".into(),
        }
    }
}

/// The lease a run holds, renewed as its work goes on.
pub(crate) struct Lease {
    holder: String,
    ttl: Duration,
    renewed_at: Instant,
}

pub(crate) struct Run<'a> {
    pub(crate) ctx: &'a SyncContext,
    pub(crate) org: &'a OrgRegistration,
    pub(crate) options: &'a RunOptions,
    pub(crate) meter: Arc<ApiMeter>,
    pub(crate) conn: OrgConnection,
    /// One renewal per run: a second expiry is not retried.
    renewed: bool,
    pub(crate) record: SyncRun,
    /// Objects whose `cursor_before` is recorded: a re-login must not record it again.
    begun: HashSet<RecipientObject>,
    /// Pages saved by this run, counted from 1 (the crash hook's numbering).
    pages: u64,
    pub(crate) started: SfDateTime,
    lease: &'a mut Lease,
    /// When progress was last logged (long runs say how far they are).
    last_progress: Instant,
    /// The next object's query, started as the last page of the one before it arrived.
    pub(crate) next_query: Option<Query>,
    /// The write-backs due when the run began, read while Salesforce is being read.
    pub(crate) due_write_backs: Option<tokio::task::JoinHandle<Result<Vec<WriteBack>, StoreError>>>,
    /// The fields read from each object beyond the standard ones.
    pub(crate) selected: HashMap<RecipientObject, Selected>,
    /// Objects not read this run because their describe failed: read without their additional
    /// fields, changed records would lose the stored values.
    pub(crate) unread: HashSet<RecipientObject>,
}

/// Runs one org's sync under its lease.
#[tracing::instrument(skip_all, fields(org = %org.org_id, trigger = %options.trigger))]
pub async fn sync_org(ctx: &SyncContext, org: &OrgRegistration, options: &RunOptions) -> RunOutcome {
    let store = &ctx.services.store;
    let clock = Instant::now();
    let mut lease = Lease {
        holder: crypto::random_token()[..16].to_owned(),
        ttl: ctx.settings.lease_ttl,
        renewed_at: Instant::now(),
    };
    // The integration user logs in while the lease is taken: the login is the slower of the two,
    // and a token is cached for the next run even when this one finds the lease held.
    let meter = Arc::new(ApiMeter::default());
    let (acquired, login) = tokio::join!(
        store.acquire_sync_lease(&org.org_id, &lease.holder, lease.ttl),
        ctx.login.connect(org, Arc::clone(&meter))
    );
    match acquired {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("another run holds the lease");
            return RunOutcome::AlreadyRunning;
        }
        Err(err) => {
            tracing::error!(error = %err, "could not take the sync lease");
            return RunOutcome::Ran(Box::new(failed_record(org, &lease.holder, options, err.to_string())));
        }
    }
    // A "sync now" pending at the start is served by this run (taken beside its first steps);
    // one arriving during it, by the next.
    let first = run(ctx, org, options, &mut lease, login, meter, clock);
    let (_, mut outcome) = tokio::join!(take_sync_request(ctx, org), first);
    let mut runs = 1;
    while let RunOutcome::Ran(record) = &outcome {
        let time_left = options.deadline.saturating_duration_since(Instant::now()) > ctx.settings.deadline_margin * 2;
        let again = runs < MAX_RUNS_PER_LEASE && time_left && record.status == RunStatus::Complete;
        if !again || !take_sync_request(ctx, org).await {
            break;
        }
        save_run(ctx, record).await;
        tracing::info!("a sync was requested during the run; running again");
        let (clock, meter) = (Instant::now(), Arc::new(ApiMeter::default()));
        let login = ctx.login.connect(org, Arc::clone(&meter)).await;
        outcome = run(ctx, org, options, &mut lease, login, meter, clock).await;
        runs += 1;
    }
    // The lease ends with the run, the crash hook's included (a real crash leaves it to lapse).
    let release = async {
        if let Err(err) = store.release_sync_lease(&org.org_id, &lease.holder).await {
            tracing::warn!(error = %err, "could not release the sync lease");
        }
    };
    match &outcome {
        RunOutcome::Ran(record) => tokio::join!(save_run(ctx, record), release).0,
        _ => release.await,
    }
    outcome
}

/// Stores a run's record and logs it.
async fn save_run(ctx: &SyncContext, record: &SyncRun) {
    if let Err(err) = ctx.services.store.put_run(record).await {
        tracing::error!(error = %err, "could not store the run record");
    }
    tracing::info!(run = %serde_json::to_string(record).unwrap_or_default(), "sync run finished");
}

/// Runs one lease may chain for "sync now" requests that arrive while it runs.
const MAX_RUNS_PER_LEASE: u32 = 3;

/// Clears a pending "sync now" request; whether there was one.
async fn take_sync_request(ctx: &SyncContext, org: &OrgRegistration) -> bool {
    ctx.services.store.take_sync_request(&org.org_id).await.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "could not read the sync request");
        false
    })
}

fn empty_record(org: &OrgRegistration, run_id: &str, options: &RunOptions) -> SyncRun {
    SyncRun {
        org_id: org.org_id,
        run_id: run_id.to_owned(),
        trigger: options.trigger.clone(),
        status: RunStatus::Complete,
        started_at: SfDateTime::now(),
        duration_ms: 0,
        contacts: ObjectRun::default(),
        leads: ObjectRun::default(),
        write_back: WriteBackRun::default(),
        activity: ActivityRun::default(),
        api_calls: 0,
        api_usage: None,
        skipped_fields: Vec::new(),
        error: None,
    }
}

fn failed_record(org: &OrgRegistration, run_id: &str, options: &RunOptions, error: String) -> SyncRun {
    SyncRun { status: RunStatus::Failed, error: Some(error), ..empty_record(org, run_id, options) }
}

/// The run itself, with the integration user's connection (or why there is none); its duration
/// counts from `clock`, when its login began.
async fn run(
    ctx: &SyncContext,
    org: &OrgRegistration,
    options: &RunOptions,
    lease: &mut Lease,
    login: Result<OrgConnection, LoginError>,
    meter: Arc<ApiMeter>,
    clock: Instant,
) -> RunOutcome {
    let mut record = empty_record(org, &lease.holder, options);
    let conn = match login {
        Ok(conn) => conn,
        Err(err) => {
            record.status = login_status(&err);
            record.error = Some(err.to_string());
            record.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
            return RunOutcome::Ran(Box::new(record));
        }
    };
    let (store, org_id, limit) = (Arc::clone(&ctx.services.store), org.org_id, ctx.settings.write_back_per_run);
    let due_write_backs = tokio::spawn(async move { store.due_write_backs(&org_id, now_epoch(), limit).await });
    let mut run = Run {
        ctx,
        org,
        options,
        meter,
        conn,
        renewed: false,
        started: record.started_at,
        record,
        begun: HashSet::new(),
        pages: 0,
        lease,
        last_progress: Instant::now(),
        next_query: None,
        due_write_backs: Some(due_write_backs),
        selected: HashMap::new(),
        unread: HashSet::new(),
    };
    let stop = run.all().await;
    let wrote = run.pages > 0 || run.record.contacts.deleted + run.record.leads.deleted > 0;
    let mut record = run.finish();
    // Functions that keep the org's recipients in memory read them again after this run.
    if wrote
        && !matches!(stop, Some(Stop::Crash))
        && let Err(err) = ctx.services.store.mark_recipients_changed(&org.org_id).await
    {
        tracing::warn!(error = %err, "could not mark the recipients as changed");
    }
    match stop {
        None => {}
        Some(Stop::Crash) => return RunOutcome::Crashed,
        Some(Stop::Budget) => record.status = RunStatus::StoppedBudget,
        Some(Stop::Deadline) => record.status = RunStatus::StoppedDeadline,
        Some(Stop::Auth(reason)) => {
            record.status = RunStatus::AuthFailed;
            record.error = Some(reason);
        }
        Some(Stop::Fatal(reason)) => {
            record.status = RunStatus::Failed;
            record.error = Some(reason);
        }
    }
    record.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    RunOutcome::Ran(Box::new(record))
}

fn login_status(err: &LoginError) -> RunStatus {
    match err {
        LoginError::Refused(_) | LoginError::Credentials(_) => RunStatus::AuthFailed,
        LoginError::Unavailable(_) => RunStatus::Failed,
    }
}

impl Run<'_> {
    fn finish(mut self) -> SyncRun {
        self.record.api_calls = self.meter.calls();
        self.record.api_usage = self.meter.latest().map(|usage| usage.to_string());
        let partial =
            self.record.contacts.error.is_some() || self.record.leads.error.is_some() || self.record.error.is_some();
        if partial {
            self.record.status = RunStatus::Partial;
        }
        self.record
    }

    /// The fields, both objects, then the write-back queue; `Some` when the run stopped early.
    async fn all(&mut self) -> Option<Stop> {
        if let Err(stop) = self.select_fields().await {
            return Some(stop);
        }
        for object in RecipientObject::ALL {
            if self.unread.contains(&object) {
                continue;
            }
            if let Err(stop) = self.object_with_renewal(object).await {
                return Some(stop);
            }
        }
        match self.write_back().await {
            Ok(()) => {}
            Err(Interrupt::Stop(stop)) => return Some(stop),
            Err(Interrupt::Salesforce(err)) => self.record.error = Some(format!("write-back: {err}")),
        }
        match self.record_campaign_activity().await {
            Ok(()) => None,
            Err(Interrupt::Stop(stop)) => Some(stop),
            Err(Interrupt::Salesforce(err)) => {
                self.record.error = Some(format!("campaign activity: {err}"));
                None
            }
        }
    }

    /// Logs in again after Salesforce said the session expired, once per run; a second expiry
    /// right after a new login is an authentication failure.
    pub(crate) async fn renew_session(&mut self) -> Result<(), Stop> {
        if self.renewed {
            return Err(Stop::Auth("the integration session expired again right after a new login".into()));
        }
        self.renewed = true;
        // A query started with the old session would only expire in its turn.
        self.next_query = None;
        tracing::info!("integration session expired; logging in again");
        self.conn = self.ctx.login.renew(self.org, Arc::clone(&self.meter)).await.map_err(|err| match err {
            LoginError::Unavailable(reason) => Stop::Fatal(reason),
            other => Stop::Auth(other.to_string()),
        })?;
        Ok(())
    }

    /// Syncs one object; an expired session is renewed once and the object restarts from its
    /// checkpoint (never from a stale `nextRecordsUrl`). Salesforce errors of the object are
    /// recorded and the run goes on with the next one.
    async fn object_with_renewal(&mut self, object: RecipientObject) -> Result<(), Stop> {
        loop {
            match self.object(object).await {
                Ok(()) => return Ok(()),
                Err(Interrupt::Stop(stop)) => return Err(stop),
                Err(Interrupt::Salesforce(SalesforceError::SessionExpired)) => self.renew_session().await?,
                Err(Interrupt::Salesforce(err)) => {
                    tracing::warn!(object = object.api_name(), code = err.code(), "object sync failed");
                    self.record.object_mut(object).error = Some(err.to_string());
                    return Ok(());
                }
            }
        }
    }

    async fn object(&mut self, object: RecipientObject) -> Result<(), Interrupt> {
        let store = &self.ctx.services.store;
        let selected = self.selected(object);
        let (mut checkpoint, mut query) = match self.next_query.take() {
            Some(query) if query.object == object => (query.checkpoint.clone(), Some(query)),
            _ => (store.get_checkpoint(&self.org.org_id, object).await?, None),
        };
        let mut changed = false;
        if selected.needs_reread(checkpoint.fields.as_deref()) {
            // Records read before lack a field read now: read the object again from the start.
            if checkpoint.cursor.is_some() || checkpoint.bulk_job.is_some() {
                tracing::info!(object = object.api_name(), "fields were added; reading every record again");
            }
            (checkpoint.cursor, checkpoint.bulk_job, query) = (None, None, None);
            checkpoint.fields = Some(selected.signature());
            changed = true;
        } else if checkpoint.fields.as_deref() != Some(selected.signature().as_str()) {
            // Fields were only removed: nothing to read again, but a field added back later must
            // be missing from the signature, or its values (lost meanwhile) would never return.
            checkpoint.fields = Some(selected.signature());
            changed = true;
        }
        if query.is_none() && checkpoint.bulk_job.is_none() {
            // Its first page comes while the checkpoint below is saved.
            query = Some(self.open_query(object, checkpoint.clone()));
        }
        let counts = self.record.object_mut(object);
        counts.cursor_after = checkpoint.cursor.clone();
        if self.begun.insert(object) {
            counts.cursor_before = checkpoint.cursor.clone();
        }
        if checkpoint.deletes_checked_until.is_none() {
            // A first sync: deletions matter from its start on, however many runs (or crashes) it
            // takes, so that is saved before the first record is written.
            checkpoint.deletes_checked_until = Some(self.started.plus_seconds(-300));
            changed = true;
        }
        if changed {
            store.put_checkpoint(&checkpoint).await?;
        }
        if checkpoint.bulk_job.is_some() {
            self.read_bulk(object, &mut checkpoint).await?;
        }
        self.pull(object, &mut checkpoint, query).await?;
        self.check_deletes(object, &mut checkpoint).await?;
        checkpoint.completed_at = Some(now_epoch());
        self.ctx.services.store.put_checkpoint(&checkpoint).await?;
        Ok(())
    }

    fn limits(&self) -> Limits {
        Limits {
            deadline: self.options.deadline,
            margin: self.ctx.settings.deadline_margin,
            meter: Arc::clone(&self.meter),
            budget_ceiling: self.ctx.settings.budget_ceiling,
        }
    }

    /// Stops before a call that would run into the deadline or past the budget.
    pub(crate) fn may_call(&self) -> Result<(), Stop> {
        self.limits().may_call()
    }

    /// The limits a fetch task checks on its own.
    pub(crate) fn fetch_limits(&self) -> Limits {
        self.limits()
    }

    /// Whether the test hook wants a crash at `point` of page `number`.
    fn crash_due(&self, point: CrashPoint, number: u64) -> bool {
        self.options.crash == Some((point, number))
    }

    /// Extends the lease once a quarter of it has passed, so that it lapses within its TTL of
    /// the run's last sign of life; a lease someone else took ends the run.
    pub(crate) async fn keep_lease(&mut self) -> Result<(), Stop> {
        if self.lease.renewed_at.elapsed() < self.lease.ttl / 4 {
            return Ok(());
        }
        let store = &self.ctx.services.store;
        match store.renew_sync_lease(&self.org.org_id, &self.lease.holder, self.lease.ttl).await {
            Ok(true) => {
                self.lease.renewed_at = Instant::now();
                Ok(())
            }
            Ok(false) => Err(Stop::Fatal("the sync lease lapsed and another run took it".into())),
            Err(err) => Err(Stop::Fatal(err.to_string())),
        }
    }

    /// Stores a page's recipients, then saves `checkpoint` with `cursor` (a REST page's) or as it
    /// is (a Bulk page's caller has moved it already), and counts the page.
    pub(crate) async fn save_page(
        &mut self,
        object: RecipientObject,
        recipients: Vec<Recipient>,
        cursor: Option<SyncCursor>,
        checkpoint: &mut SyncCheckpoint,
    ) -> Result<(), Interrupt> {
        let store = &self.ctx.services.store;
        let org = self.org.org_id;
        let removed = self.stored_members(&recipients).await?;
        store.write_recipients(&org, &recipients).await?;
        self.pages += 1;
        if self.crash_due(CrashPoint::BeforeCheckpoint, self.pages) {
            // The state a crash between the two writes leaves.
            return Err(Stop::Crash.into());
        }
        if let Some(cursor) = cursor {
            checkpoint.cursor = Some(cursor);
        }
        store.put_checkpoint(checkpoint).await?;
        self.record.object_mut(object).cursor_after = checkpoint.cursor.clone();
        self.count(object, &recipients, removed);
        if self.crash_due(CrashPoint::AfterCheckpoint, self.pages) {
            return Err(Stop::Crash.into());
        }
        self.keep_lease().await?;
        Ok(())
    }

    /// How many of the records a page removes from the recipient set (deleted, not converted)
    /// are stored members now: a tombstone of a record never stored deletes nothing.
    async fn stored_members(&self, page: &[Recipient]) -> Result<u64, StoreError> {
        let removed: Vec<RecordId> = page.iter().filter(|r| r.deleted).map(|r| r.id).collect();
        self.count_stored_members(&removed).await
    }

    /// How many of `ids` are stored members.
    pub(crate) async fn count_stored_members(&self, ids: &[RecordId]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let stored = self.ctx.services.store.get_recipients(&self.org.org_id, ids).await?;
        Ok(stored.iter().filter(|r| r.as_ref().is_some_and(Recipient::is_member)).count() as u64)
    }

    fn count(&mut self, object: RecipientObject, page: &[Recipient], removed: u64) {
        let counts = self.record.object_mut(object);
        counts.pages += 1;
        counts.pulled += page.len() as u64;
        counts.upserted += page.iter().filter(|r| r.is_member()).count() as u64;
        counts.converted += page.iter().filter(|r| r.converted && !r.deleted).count() as u64;
        counts.deleted += removed;
        let (pulled, pages) = (counts.pulled, counts.pages);
        if self.last_progress.elapsed() >= self.ctx.settings.progress_interval {
            self.last_progress = Instant::now();
            tracing::info!(object = object.api_name(), pulled, pages, api_calls = self.meter.calls(), "sync progress");
        }
    }
}

/// When a run must stop calling Salesforce.
pub(crate) struct Limits {
    deadline: Instant,
    /// Time kept back to save the checkpoint and the run record.
    margin: Duration,
    meter: Arc<ApiMeter>,
    budget_ceiling: f64,
}

impl Limits {
    /// Stops before a call that would run into the deadline or past the budget.
    pub(crate) fn may_call(&self) -> Result<(), Stop> {
        if self.deadline.saturating_duration_since(Instant::now()) < self.margin {
            return Err(Stop::Deadline);
        }
        if let Some(usage) = self.meter.latest()
            && usage.fraction() >= self.budget_ceiling
        {
            tracing::info!(%usage, "API budget share spent");
            return Err(Stop::Budget);
        }
        Ok(())
    }
}
