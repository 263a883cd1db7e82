//! One sync run of one org (flow 6): pull Contacts and Leads past the checkpoint, propagate
//! deletes, load big first syncs through Bulk API 2.0, write queued changes back, and stop cleanly
//! at the API budget or the deadline with the checkpoint saved.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use outpost_shared::crypto;
use outpost_shared::ids::{RecipientObject, RecordId};
use outpost_shared::salesforce::{
    ApiMeter, BulkJobState, CsvRows, FetchedPage, OrgConnection, QueryOptions, RecordResult, RecordWrite,
    SalesforceError, SfDateTime,
};
use outpost_shared::store::{
    BulkJobCheckpoint, Change, ObjectRun, OrgRegistration, Recipient, RecipientRef, RunStatus, StoreError,
    SyncCheckpoint, SyncCursor, SyncRun, WriteBack, WriteBackRun, now_epoch,
};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::integration::LoginError;
use crate::records::{self, CsvColumns, IdRecord, SyncRecord};
use crate::{CrashPoint, RunOptions, SyncContext};

/// Why a run stopped early.
#[derive(Debug)]
enum Stop {
    Budget,
    Deadline,
    Auth(String),
    /// The test hook: the process "died" here.
    Crash,
    /// The store failed: nothing more can be saved.
    Fatal(String),
}

/// What interrupted one step.
#[derive(Debug)]
enum Interrupt {
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

struct Run<'a> {
    ctx: &'a SyncContext,
    org: &'a OrgRegistration,
    options: &'a RunOptions,
    meter: Arc<ApiMeter>,
    conn: OrgConnection,
    /// One renewal per run: a second expiry is not retried.
    renewed: bool,
    record: SyncRun,
    /// Pages whose write has started.
    pages_started: u64,
    started: SfDateTime,
    /// When progress was last logged (long runs say how far they are).
    last_progress: Instant,
    /// The next object's query, started as the last page of the one before it arrived.
    next_query: Option<Query>,
}

/// Runs one org's sync under its lease.
#[tracing::instrument(skip_all, fields(org = %org.org_id, trigger = %options.trigger))]
pub async fn sync_org(ctx: &SyncContext, org: &OrgRegistration, options: &RunOptions) -> RunOutcome {
    let run_id = crypto::random_token()[..16].to_owned();
    let store = &ctx.services.store;
    let lease_ttl = options.deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(60);
    match store.acquire_sync_lease(&org.org_id, &run_id, lease_ttl).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("another run holds the lease");
            return RunOutcome::AlreadyRunning;
        }
        Err(err) => {
            tracing::error!(error = %err, "could not take the sync lease");
            return RunOutcome::Ran(Box::new(failed_record(org, &run_id, options, err.to_string())));
        }
    }
    // A "sync now" pending at the start is served by this run; one arriving during it, by the next.
    take_sync_request(ctx, org).await;
    let mut runs = 0;
    let outcome = loop {
        let clock = Instant::now();
        let Some(mut record) = run(ctx, org, options, &run_id).await else {
            break RunOutcome::Crashed;
        };
        runs += 1;
        record.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Err(err) = store.put_run(&record).await {
            tracing::error!(error = %err, "could not store the run record");
        }
        tracing::info!(run = %serde_json::to_string(&record).unwrap_or_default(), "sync run finished");
        let time_left = options.deadline.saturating_duration_since(Instant::now()) > ctx.settings.deadline_margin * 2;
        if runs < MAX_RUNS_PER_LEASE
            && time_left
            && record.status == RunStatus::Complete
            && take_sync_request(ctx, org).await
        {
            tracing::info!("a sync was requested during the run; running again");
            continue;
        }
        break RunOutcome::Ran(Box::new(record));
    };
    // The lease ends with the run, crash hook included (a real crash waits for its expiry).
    if let Err(err) = store.release_sync_lease(&org.org_id, &run_id).await {
        tracing::warn!(error = %err, "could not release the sync lease");
    }
    outcome
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
        api_calls: 0,
        api_usage: None,
        error: None,
    }
}

fn failed_record(org: &OrgRegistration, run_id: &str, options: &RunOptions, error: String) -> SyncRun {
    SyncRun { status: RunStatus::Failed, error: Some(error), ..empty_record(org, run_id, options) }
}

/// The run itself; `None` when the crash hook fired.
async fn run(ctx: &SyncContext, org: &OrgRegistration, options: &RunOptions, run_id: &str) -> Option<SyncRun> {
    let mut record = empty_record(org, run_id, options);
    let meter = Arc::new(ApiMeter::default());
    let conn = match ctx.login.connect(org, Arc::clone(&meter)).await {
        Ok(conn) => conn,
        Err(err) => {
            record.status = login_status(&err);
            record.error = Some(err.to_string());
            return Some(record);
        }
    };
    let mut run = Run {
        ctx,
        org,
        options,
        meter,
        conn,
        renewed: false,
        started: record.started_at,
        record,
        pages_started: 0,
        last_progress: Instant::now(),
        next_query: None,
    };
    let stop = run.all().await;
    let mut record = run.finish();
    match stop {
        None => {}
        Some(Stop::Crash) => return None,
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
    Some(record)
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

    /// Both objects, then the write-back queue; `Some` when the run stopped early.
    async fn all(&mut self) -> Option<Stop> {
        for object in RecipientObject::ALL {
            if let Err(stop) = self.object_with_renewal(object).await {
                return Some(stop);
            }
        }
        match self.write_back().await {
            Ok(()) => None,
            Err(Interrupt::Stop(stop)) => Some(stop),
            Err(Interrupt::Salesforce(err)) => {
                self.record.error = Some(format!("write-back: {err}"));
                None
            }
        }
    }

    /// Syncs one object; an expired session is renewed once and the object restarts from its
    /// checkpoint (never from a stale `nextRecordsUrl`). Salesforce errors of the object are
    /// recorded and the run goes on with the next one.
    async fn object_with_renewal(&mut self, object: RecipientObject) -> Result<(), Stop> {
        loop {
            match self.object(object).await {
                Ok(()) => return Ok(()),
                Err(Interrupt::Stop(stop)) => return Err(stop),
                Err(Interrupt::Salesforce(SalesforceError::SessionExpired)) if !self.renewed => {
                    self.renewed = true;
                    // A query started with the old session would only expire in its turn.
                    self.next_query = None;
                    tracing::info!("integration session expired; logging in again");
                    self.conn =
                        self.ctx.login.renew(self.org, Arc::clone(&self.meter)).await.map_err(|err| match err {
                            LoginError::Unavailable(reason) => Stop::Fatal(reason),
                            other => Stop::Auth(other.to_string()),
                        })?;
                }
                Err(Interrupt::Salesforce(SalesforceError::SessionExpired)) => {
                    return Err(Stop::Auth("the integration session expired again right after a new login".into()));
                }
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
        let mut checkpoint = store.get_checkpoint(&self.org.org_id, object).await?;
        let counts = self.record.object_mut(object);
        if counts.cursor_before.is_none() {
            counts.cursor_before = checkpoint.cursor.clone();
        }
        if checkpoint.deletes_checked_until.is_none() {
            // A first sync: deletions matter from its start on, however many runs (or crashes) it
            // takes, so that is saved before the first record is written.
            checkpoint.deletes_checked_until = Some(self.started.plus_seconds(-300));
            store.put_checkpoint(&checkpoint).await?;
        }
        if checkpoint.bulk_job.is_some() {
            self.read_bulk(object, &mut checkpoint).await?;
        }
        self.pull(object, &mut checkpoint).await?;
        self.check_deletes(object, &mut checkpoint).await?;
        checkpoint.completed_at = Some(now_epoch());
        store.put_checkpoint(&checkpoint).await?;
        self.record.object_mut(object).cursor_after = checkpoint.cursor.clone();
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
    fn may_call(&self) -> Result<(), Stop> {
        self.limits().may_call()
    }

    /// Whether the test hook wants a crash at `point` of page `number`.
    fn crash_due(&self, point: CrashPoint, number: u64) -> bool {
        self.options.crash == Some((point, number))
    }

    /// Runs a page's write on a task of its own, on the low-priority page workers, so that a REST
    /// pull fetches, parses and writes the pages after it meanwhile. Its checkpoint waits for
    /// [`Run::finish_page`].
    fn start_page(
        &mut self,
        object: RecipientObject,
        write: impl Future<Output = Result<PageWritten, Interrupt>> + Send + 'static,
    ) -> PageWrite {
        self.pages_started += 1;
        let task = self.ctx.pages.spawn(write.in_current_span());
        PageWrite { number: self.pages_started, object, task }
    }

    /// Parses a query page and writes its recipients, on the page's own task: the records borrow
    /// their text from the page body, which the task owns.
    fn start_query_page(&mut self, object: RecipientObject, page: FetchedPage) -> PageWrite {
        let (store, org) = (Arc::clone(&self.ctx.services.store), self.org.org_id);
        self.start_page(object, async move {
            let rows = records::page_records(&page, object)?;
            let cursor = rows.last().map(SyncRecord::cursor);
            let mut recipients = Vec::with_capacity(rows.len());
            for row in rows {
                recipients.push(row.into_recipient(object)?);
            }
            store.write_recipients(&org, &recipients).await?;
            Ok(PageWritten::of(&recipients, cursor))
        })
    }

    /// Waits until a page's recipients are durable, then saves `checkpoint` (moved past them first,
    /// for a REST page; a Bulk page's caller has moved it already) and counts the page. Pages are
    /// finished in the order they started, so checkpoints only advance.
    async fn finish_page(&mut self, page: PageWrite, checkpoint: &mut SyncCheckpoint) -> Result<(), Interrupt> {
        let written = page.task.await.map_err(|err| Stop::Fatal(format!("the page write stopped: {err}")))??;
        if self.crash_due(CrashPoint::BeforeCheckpoint, page.number) {
            // The state a crash between the two writes leaves.
            return Err(Stop::Crash.into());
        }
        if let Some(cursor) = written.cursor {
            checkpoint.cursor = Some(cursor);
        }
        self.ctx.services.store.put_page_checkpoint(checkpoint).await?;
        self.count(page.object, written.pulled, written.members);
        if self.crash_due(CrashPoint::AfterCheckpoint, page.number) {
            return Err(Stop::Crash.into());
        }
        Ok(())
    }

    /// Writes a Bulk page's recipients, then saves `checkpoint` as it is, and waits for both.
    async fn write_durably(
        &mut self,
        object: RecipientObject,
        recipients: Vec<RecipientRef<'static>>,
        checkpoint: &mut SyncCheckpoint,
    ) -> Result<(), Interrupt> {
        let (store, org) = (Arc::clone(&self.ctx.services.store), self.org.org_id);
        let page = self.start_page(object, async move {
            store.write_recipients(&org, &recipients).await?;
            Ok(PageWritten::of(&recipients, None))
        });
        self.finish_page(page, checkpoint).await
    }

    fn count(&mut self, object: RecipientObject, pulled: u64, members: u64) {
        let counts = self.record.object_mut(object);
        counts.pages += 1;
        counts.pulled += pulled;
        counts.upserted += members;
        counts.deleted += pulled - members;
        let (pulled, pages) = (counts.pulled, counts.pages);
        if self.last_progress.elapsed() >= self.ctx.settings.progress_interval {
            self.last_progress = Instant::now();
            tracing::info!(object = object.api_name(), pulled, pages, api_calls = self.meter.calls(), "sync progress");
        }
    }

    /// REST pull past the cursor. A fetch task runs a page ahead of the writes: it reads only
    /// each page's header to ask for the next one, so Salesforce serves page N+1 while page N is
    /// parsed and written. Once the last page has arrived, the next object's query starts, so that
    /// its first pages come while this one's last are written.
    async fn pull(&mut self, object: RecipientObject, checkpoint: &mut SyncCheckpoint) -> Result<(), Interrupt> {
        let first_sync = checkpoint.cursor.is_none();
        let mut query = match self.next_query.take() {
            Some(query) if query.object == object && query.cursor == checkpoint.cursor => query,
            _ => self.open_query(object, checkpoint.cursor.clone()),
        };
        let first =
            query.pages.recv().await.unwrap_or_else(|| Err(Stop::Fatal("the fetch task stopped".into()).into()))?;
        if first_sync && first.header.total_size > self.ctx.settings.bulk_threshold {
            tracing::info!(
                object = object.api_name(),
                total = first.header.total_size,
                "large first load: Bulk API 2.0"
            );
            self.start_bulk(object, checkpoint).await?;
            self.read_bulk(object, checkpoint).await?;
            return Box::pin(self.pull(object, checkpoint)).await;
        }
        // Each page is parsed and written on its own task while the pages before it end: one page
        // is parsed while another's write waits for the disk. Pages in flight may be stored in
        // either order: a query returns each record once, so no two of them hold the same record.
        let in_flight = self.ctx.services.store.overlapping_recipient_writes().max(1);
        let mut writing = VecDeque::new();
        let mut next = Some(Ok(first));
        while let Some(page) = next {
            let page = match page {
                Ok(page) => page,
                Err(err) => {
                    // The pages before the failure are saved first.
                    self.finish_pages(&mut writing, 0, checkpoint).await?;
                    return Err(err);
                }
            };
            // An empty page (a query with no rows) has nothing to write and no cursor to move.
            if page.header.has_records {
                writing.push_back(self.start_query_page(object, page));
                self.finish_pages(&mut writing, in_flight - 1, checkpoint).await?;
            }
            next = query.pages.recv().await;
        }
        self.next_query = self.open_next_query(object).await;
        self.finish_pages(&mut writing, 0, checkpoint).await
    }

    /// Starts fetching `object`'s changes after `cursor`.
    fn open_query(&self, object: RecipientObject, cursor: Option<SyncCursor>) -> Query {
        let options = QueryOptions { include_deleted: true, batch_size: Some(self.ctx.settings.page_size) };
        // A first load over the threshold goes to Bulk API 2.0: its first page is all it needs.
        let bulk_threshold = cursor.is_none().then_some(self.ctx.settings.bulk_threshold);
        let soql = records::changes_after(object, cursor.as_ref());
        let (sender, pages) = tokio::sync::mpsc::channel(1);
        let mut fetcher = tokio::task::JoinSet::new();
        let fetch = fetch_pages(self.conn.clone(), options, self.limits(), soql, bulk_threshold, sender);
        fetcher.spawn(fetch.in_current_span());
        Query { object, cursor, pages, _fetcher: fetcher }
    }

    /// The query of the object after `object`, started now, unless its checkpoint holds a Bulk
    /// job (which moves its cursor first) or cannot be read (its own turn will say why).
    async fn open_next_query(&self, object: RecipientObject) -> Option<Query> {
        let next = RecipientObject::ALL.into_iter().skip_while(|each| *each != object).nth(1)?;
        let checkpoint = self.ctx.services.store.get_checkpoint(&self.org.org_id, next).await.ok()?;
        checkpoint.bulk_job.is_none().then(|| self.open_query(next, checkpoint.cursor))
    }

    /// Finishes the oldest pages until `keep` are left. On an error no write outlives the run:
    /// the rest are awaited, and their records without a checkpoint are rewritten by the next run.
    async fn finish_pages(
        &mut self,
        writing: &mut VecDeque<PageWrite>,
        keep: usize,
        checkpoint: &mut SyncCheckpoint,
    ) -> Result<(), Interrupt> {
        while writing.len() > keep {
            let Some(oldest) = writing.pop_front() else { break };
            if let Err(err) = self.finish_page(oldest, checkpoint).await {
                for page in writing.drain(..) {
                    page.abandon().await;
                }
                return Err(err);
            }
        }
        Ok(())
    }

    async fn start_bulk(&mut self, object: RecipientObject, checkpoint: &mut SyncCheckpoint) -> Result<(), Interrupt> {
        self.may_call()?;
        let job = self.conn.create_bulk_query(&records::full_load(object), false).await?;
        // Records changed while the job runs are newer than this; the REST pull after it catches them.
        let started_at = job.created_date.unwrap_or(self.started).plus_seconds(-60);
        checkpoint.bulk_job = Some(BulkJobCheckpoint { job_id: job.id, locator: None, started_at });
        self.ctx.services.store.put_checkpoint(checkpoint).await?;
        self.record.object_mut(object).bulk = true;
        Ok(())
    }

    /// Polls the checkpointed job (a poll that outlives the run resumes next run), then reads its
    /// CSV pages by locator until Salesforce answers `null`.
    async fn read_bulk(&mut self, object: RecipientObject, checkpoint: &mut SyncCheckpoint) -> Result<(), Interrupt> {
        let Some(job) = checkpoint.bulk_job.clone() else {
            return Ok(());
        };
        self.record.object_mut(object).bulk = true;
        if job.locator.is_none() {
            loop {
                self.may_call()?;
                let status = match self.conn.bulk_job(&job.job_id).await {
                    Err(SalesforceError::NotFound { .. }) => {
                        return Err(self.drop_bulk(checkpoint, &job, "no longer exists").await);
                    }
                    status => status?,
                };
                match status.state {
                    BulkJobState::JobComplete => break,
                    BulkJobState::Failed | BulkJobState::Aborted => {
                        let message = status.error_message.unwrap_or_else(|| "no message".into());
                        let why = format!("ended {:?}: {message}", status.state);
                        return Err(self.drop_bulk(checkpoint, &job, &why).await);
                    }
                    _ => {
                        let remaining = self.options.deadline.saturating_duration_since(Instant::now());
                        let wait = self.ctx.settings.bulk_poll_interval;
                        if remaining < wait + self.ctx.settings.deadline_margin {
                            return Err(Interrupt::Stop(Stop::Deadline));
                        }
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        let mut locator = job.locator.clone();
        loop {
            self.may_call()?;
            let page = match self.conn.bulk_results(&job.job_id, locator.as_deref(), None).await {
                Err(SalesforceError::NotFound { .. }) => {
                    return Err(self.drop_bulk(checkpoint, &job, "no longer exists").await);
                }
                page => page?,
            };
            let mut rows = CsvRows::new(&page.csv);
            let columns = match rows.next() {
                Some(header) => CsvColumns::from_header(&header?),
                None => CsvColumns::from_header(&[]),
            };
            let recipients = rows
                .map(|row| columns.record(&row?)?.into_recipient(object))
                .collect::<Result<Vec<_>, SalesforceError>>()?;
            locator = page.next_locator;
            let Some(bulk) = checkpoint.bulk_job.as_mut() else {
                return Ok(());
            };
            bulk.locator = locator.clone().or_else(|| Some("null".into()));
            if locator.is_none() {
                checkpoint.cursor = Some(SyncCursor { modstamp: job.started_at, id: String::new() });
                checkpoint.bulk_job = None;
            }
            self.write_durably(object, recipients, checkpoint).await?;
            if locator.is_none() {
                return Ok(());
            }
        }
    }

    /// Forgets a job that will never deliver (failed, aborted, or deleted on Salesforce's side, as
    /// it does 7 days after a job ends); the next run starts the load over. Returns why, to report.
    async fn drop_bulk(&self, checkpoint: &mut SyncCheckpoint, job: &BulkJobCheckpoint, why: &str) -> Interrupt {
        checkpoint.bulk_job = None;
        if let Err(err) = self.ctx.services.store.put_checkpoint(checkpoint).await {
            return err.into();
        }
        Interrupt::Salesforce(SalesforceError::BadRequest {
            code: "BULK_JOB_FAILED".into(),
            message: format!("Bulk job {} {why}", job.job_id),
        })
    }

    /// Deletes that bypass the recycle bin: getDeleted since the last check (hourly), or a full
    /// reconciliation by id once the 15-day window has passed.
    async fn check_deletes(
        &mut self,
        object: RecipientObject,
        checkpoint: &mut SyncCheckpoint,
    ) -> Result<(), Interrupt> {
        let Some(since) = checkpoint.deletes_checked_until else {
            return Ok(());
        };
        let now = SfDateTime::now();
        let settings = &self.ctx.settings;
        let interval_ms = i64::try_from(settings.deletes_check_interval.as_millis()).unwrap_or(i64::MAX);
        if now.millis() - since.millis() < interval_ms {
            return Ok(());
        }
        self.may_call()?;
        if now.millis() - since.millis() > settings.deleted_log_window.as_millis() as i64 {
            return self.reconcile(object, checkpoint).await;
        }
        match self.conn.get_deleted(object.api_name(), since, now).await {
            Ok(deleted) => {
                let tombstones = deleted
                    .deleted_records
                    .iter()
                    .filter_map(|d| {
                        let id = RecordId::parse_for(object, &d.id).ok()?;
                        Some(Recipient::tombstone(id, d.deleted_date.millis()))
                    })
                    .collect::<Vec<_>>();
                let applied = self.ctx.services.store.apply_recipients(&self.org.org_id, &tombstones).await?;
                let removed = applied.iter().filter(|a| **a == outpost_shared::store::Applied::Written).count();
                self.record.object_mut(object).deleted += removed as u64;
                checkpoint.deletes_checked_until = Some(deleted.latest_date_covered.unwrap_or(now));
                Ok(())
            }
            Err(SalesforceError::BadRequest { code, .. }) if code == "INVALID_REPLICATION_DATE" => {
                self.reconcile(object, checkpoint).await
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Tombstones every stored member that Salesforce no longer has.
    async fn reconcile(&mut self, object: RecipientObject, checkpoint: &mut SyncCheckpoint) -> Result<(), Interrupt> {
        tracing::info!(object = object.api_name(), "reconciling deletes by id");
        let started = SfDateTime::now();
        let options = QueryOptions { include_deleted: false, batch_size: Some(self.ctx.settings.page_size) };
        let soql = records::all_ids(object);
        let mut live: HashSet<RecordId> = HashSet::new();
        let mut pages = std::pin::pin!(self.conn.query::<IdRecord>(&soql, options));
        while let Some(page) = pages.next().await {
            self.may_call()?;
            live.extend(page?.records.iter().filter_map(|r| RecordId::parse_for(object, &r.id).ok()));
        }
        let store = &self.ctx.services.store;
        let mut cursor = None;
        let mut removed = 0u64;
        loop {
            let (stored, next) = store.list_recipients(&self.org.org_id, object, cursor, 1000).await?;
            let gone: Vec<Recipient> = stored
                .iter()
                .filter(|r| r.is_member() && !live.contains(&r.id))
                .map(|r| Recipient::tombstone(r.id, started.millis()))
                .collect();
            let applied = store.apply_recipients(&self.org.org_id, &gone).await?;
            removed += applied.iter().filter(|a| **a == outpost_shared::store::Applied::Written).count() as u64;
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        self.record.object_mut(object).deleted += removed;
        checkpoint.deletes_checked_until = Some(started);
        Ok(())
    }

    /// Writes queued changes with sObject Collections (200 per call, `allOrNone=false`).
    async fn write_back(&mut self) -> Result<(), Interrupt> {
        let settings = &self.ctx.settings;
        let store = &self.ctx.services.store;
        let due = store.due_write_backs(&self.org.org_id, now_epoch(), settings.write_back_per_run).await?;
        for chunk in due.chunks(200) {
            self.may_call()?;
            let writes: Vec<RecordWrite> = chunk.iter().map(record_write).collect();
            let results = self.conn.update_records(&writes).await?;
            for (change, result) in chunk.iter().zip(results) {
                self.settle(change, &result).await?;
            }
        }
        Ok(())
    }

    async fn settle(&mut self, change: &WriteBack, result: &RecordResult) -> Result<(), Interrupt> {
        let store = &self.ctx.services.store;
        let settings = &self.ctx.settings;
        if result.success {
            store.complete_write_back(change).await?;
            self.record.write_back.ok += 1;
            return Ok(());
        }
        let error =
            result.errors.iter().map(|e| format!("{}: {}", e.status_code, e.message)).collect::<Vec<_>>().join("; ");
        let permanent = result.errors.iter().any(|e| PERMANENT_FAILURES.contains(&e.status_code.as_str()));
        let attempts = change.attempts + 1;
        let failed = WriteBack {
            attempts,
            next_attempt_at: now_epoch() + backoff_seconds(settings.write_back_base_delay, attempts),
            last_error: Some(error),
            ..change.clone()
        };
        if permanent || attempts >= settings.write_back_max_attempts {
            tracing::warn!(record = %change.record, error = ?failed.last_error, "write-back became a dead letter");
            store.bury_write_back(&failed).await?;
            self.record.write_back.dead += 1;
        } else {
            store.retry_write_back(&failed).await?;
            self.record.write_back.failed += 1;
        }
        Ok(())
    }
}

/// An object's query under way: its pages, fetched a page ahead by a task that stops when this is
/// dropped.
struct Query {
    object: RecipientObject,
    /// Where it started: it serves the object only while the checkpoint is still there.
    cursor: Option<SyncCursor>,
    pages: tokio::sync::mpsc::Receiver<Result<FetchedPage, Interrupt>>,
    _fetcher: tokio::task::JoinSet<()>,
}

/// A page whose recipients are being written; its checkpoint is saved when it finishes.
struct PageWrite {
    /// Pages of this run, counted from 1 (the crash hook's numbering).
    number: u64,
    object: RecipientObject,
    task: tokio::task::JoinHandle<Result<PageWritten, Interrupt>>,
}

/// What a page's write stored.
struct PageWritten {
    pulled: u64,
    members: u64,
    /// The cursor past the page's records, for a page of the cursor-ordered REST query.
    cursor: Option<SyncCursor>,
}

impl PageWritten {
    fn of(recipients: &[RecipientRef<'_>], cursor: Option<SyncCursor>) -> Self {
        let members = recipients.iter().filter(|r| r.is_member()).count() as u64;
        Self { pulled: recipients.len() as u64, members, cursor }
    }
}

impl PageWrite {
    /// Waits for a write whose checkpoint will not be saved.
    async fn abandon(self) {
        let _ = self.task.await;
    }
}

/// When a run must stop calling Salesforce.
struct Limits {
    deadline: Instant,
    /// Time kept back to save the checkpoint and the run record.
    margin: Duration,
    meter: Arc<ApiMeter>,
    budget_ceiling: f64,
}

impl Limits {
    /// Stops before a call that would run into the deadline or past the budget.
    fn may_call(&self) -> Result<(), Stop> {
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

/// Sends the first page of `soql` and every page after it, in order, until the query ends, a
/// limit stops the calls, or the reader goes away; only the first when its total is over
/// `bulk_threshold`. An error is the last thing sent.
async fn fetch_pages(
    conn: OrgConnection,
    options: QueryOptions,
    limits: Limits,
    soql: String,
    bulk_threshold: Option<u64>,
    pages: tokio::sync::mpsc::Sender<Result<FetchedPage, Interrupt>>,
) {
    let mut next = Some(soql);
    let mut first = true;
    while let Some(query_or_url) = next {
        let fetched = match limits.may_call() {
            Ok(()) if first => conn.query_first(&query_or_url, options).await.map_err(Interrupt::from),
            Ok(()) => conn.query_next(&query_or_url, options).await.map_err(Interrupt::from),
            Err(stop) => Err(stop.into()),
        };
        let page = match fetched {
            Ok(page) => page,
            Err(interrupt) => {
                let _ = pages.send(Err(interrupt)).await;
                return;
            }
        };
        next = match page.header.next() {
            Ok(url) => url.map(str::to_owned),
            Err(err) => {
                let _ = pages.send(Err(err.into())).await;
                return;
            }
        };
        if first && bulk_threshold.is_some_and(|threshold| page.header.total_size > threshold) {
            next = None;
        }
        first = false;
        if pages.send(Ok(page)).await.is_err() {
            return;
        }
    }
}

/// Failures no retry can fix.
const PERMANENT_FAILURES: &[&str] =
    &["ENTITY_IS_DELETED", "CANNOT_UPDATE_CONVERTED_LEAD", "INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID"];

/// Exponential backoff with full jitter: up to `base·2^(attempt-1)`.
fn backoff_seconds(base: Duration, attempt: u32) -> i64 {
    let ceiling = base.as_secs().saturating_mul(1 << (attempt.saturating_sub(1)).min(16)).max(1);
    let jitter = u64::from_le_bytes(crypto::random_bytes::<8>()) % ceiling;
    i64::try_from(ceiling / 2 + jitter / 2).unwrap_or(i64::MAX)
}

fn record_write(change: &WriteBack) -> RecordWrite {
    let mut fields = Map::new();
    match &change.change {
        Change::OptOut => {
            fields.insert("HasOptedOutOfEmail".into(), Value::Bool(true));
        }
        Change::Bounce { reason, bounced_at } => {
            fields.insert("EmailBouncedReason".into(), Value::String(reason.clone()));
            fields.insert("EmailBouncedDate".into(), Value::String(bounced_at.to_string()));
        }
    }
    RecordWrite { sobject: change.record.object().api_name().to_owned(), id: Some(change.record.to_string()), fields }
}
