//! Campaigns on the local stack: jobs on an in-process queue instead of SQS, and SES replaced by
//! an outbox under the data directory (or moto's SES, on the AWS backend). The outbox answers
//! as SES's mailbox simulator does: its addresses produce the events SES would publish.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use outpost_app::campaigns::CampaignTrigger;
use outpost_send::{Feedback, Job, JobQueue, QueueError, Sender};
use outpost_shared::campaigns::events::{parse_event, simulated_events, simulator_outcome};
use outpost_shared::campaigns::{CampaignRequest, CampaignStatus, Mailer, OutgoingMessage, SendError, SendQuota};
use outpost_shared::ids::OrgId;
use outpost_shared::salesforce::SfDateTime;
use outpost_shared::services::Services;
use outpost_shared::store::{StoreError, now_epoch};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// The local SES account's limits.
#[derive(Debug, Clone, Copy)]
pub struct LocalSesSettings {
    pub max_send_rate: f64,
    pub max_24_hour_send: f64,
}

impl Default for LocalSesSettings {
    /// A production account's early limits; enough to watch a demo campaign go out.
    fn default() -> Self {
        Self { max_send_rate: 200.0, max_24_hour_send: 50_000.0 }
    }
}

/// A message as the outbox keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub message_id: String,
    /// The campaign it belongs to (`None` for a test send).
    pub campaign: Option<String>,
    pub test: bool,
    pub at: String,
    #[serde(flatten)]
    pub message: OutgoingMessage,
}

/// SES for the local stack: messages go to files, limits are counted here, and the clock can be
/// moved forward (to watch a quota pause end).
pub struct LocalSes {
    dir: PathBuf,
    settings: Mutex<LocalSesSettings>,
    /// When each message of the last 24 hours went out (account time).
    sent: Mutex<VecDeque<i64>>,
    /// Seconds the account's clock is ahead of the machine's.
    offset: AtomicI64,
    /// Writes one file at a time, each line whole.
    writing: Mutex<()>,
    /// The events SES would publish, to the job loop that applies them.
    events: mpsc::UnboundedSender<String>,
}

impl std::fmt::Debug for LocalSes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSes").field("dir", &self.dir).finish_non_exhaustive()
    }
}

const DAY: i64 = 24 * 3600;

impl LocalSes {
    /// An outbox in `dir`, and the events it publishes (for [`run_jobs`]).
    pub fn open(
        dir: &Path,
        settings: LocalSesSettings,
    ) -> anyhow::Result<(Arc<Self>, mpsc::UnboundedReceiver<String>)> {
        std::fs::create_dir_all(dir)?;
        let (events, incoming) = mpsc::unbounded_channel::<String>();
        let ses = Arc::new(Self {
            dir: dir.to_owned(),
            settings: Mutex::new(settings),
            sent: Mutex::new(VecDeque::new()),
            offset: AtomicI64::new(0),
            writing: Mutex::new(()),
            events,
        });
        Ok((ses, incoming))
    }

    /// Changes the account's limits.
    pub fn set_limits(&self, settings: LocalSesSettings) {
        *self.settings.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = settings;
    }

    /// Moves the account's clock forward (the 24-hour window moves with it).
    pub fn advance_clock(&self, by: Duration) {
        self.offset.fetch_add(i64::try_from(by.as_secs()).unwrap_or(i64::MAX), Ordering::SeqCst);
    }

    fn now(&self) -> i64 {
        now_epoch() + self.offset.load(Ordering::SeqCst)
    }

    fn file(&self, campaign: Option<&str>) -> PathBuf {
        self.dir.join(format!("{}.jsonl", campaign.unwrap_or("tests")))
    }

    /// Every message of `campaign` (`None`: test sends), in the order sent.
    pub fn messages(&self, campaign: Option<&str>) -> std::io::Result<Vec<OutboxEntry>> {
        let text = match std::fs::read_to_string(self.file(campaign)) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        // A line cut short by a kill is not a message SES accepted.
        Ok(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
    }

    /// The campaigns with mail in the outbox (`tests` for test sends), by name.
    pub fn campaigns(&self) -> std::io::Result<Vec<String>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(campaign) = name.strip_suffix(".jsonl") {
                found.push(campaign.to_owned());
            }
        }
        found.sort();
        Ok(found)
    }
}

fn message_id() -> String {
    let token = outpost_shared::crypto::random_token();
    format!("0100{}-local-000000", token.chars().filter(char::is_ascii_alphanumeric).collect::<String>())
}

#[async_trait]
impl Mailer for LocalSes {
    async fn send(&self, message: &OutgoingMessage) -> Result<String, SendError> {
        {
            let settings = *self.settings.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = self.now();
            let mut sent = self.sent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            while sent.front().is_some_and(|at| *at <= now - DAY) {
                sent.pop_front();
            }
            if settings.max_24_hour_send >= 0.0 && sent.len() as f64 >= settings.max_24_hour_send {
                return Err(SendError::QuotaExceeded);
            }
            sent.push_back(now);
        }
        let id = message_id();
        let campaign = message.tag(outpost_send::CAMPAIGN_TAG).map(str::to_owned);
        let test = message.tag(outpost_send::TEST_TAG).is_some();
        let entry = OutboxEntry {
            message_id: id.clone(),
            campaign: campaign.clone().filter(|_| !test),
            test,
            at: SfDateTime::now().iso8601(),
            message: message.clone(),
        };
        let mut line = serde_json::to_vec(&entry).map_err(|err| SendError::NotSent(err.to_string()))?;
        line.push(b'\n');
        {
            let _turn = self.writing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let path = self.file(entry.campaign.as_deref());
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|err| SendError::NotSent(err.to_string()))?;
            // One write call: a kill leaves the line whole or cut short, never interleaved.
            file.write_all(&line).map_err(|err| SendError::Unknown(err.to_string()))?;
        }
        if simulator_outcome(&message.to).is_some() {
            for record in simulated_events(message, &id, SfDateTime::now()) {
                // The receiver lives as long as the stack.
                let _closed = self.events.send(record);
            }
        }
        Ok(id)
    }

    async fn quota(&self) -> Result<SendQuota, SendError> {
        let settings = *self.settings.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = self.now();
        let sent = self.sent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let recent = sent.iter().filter(|at| **at > now - DAY).count();
        Ok(SendQuota {
            max_send_rate: settings.max_send_rate,
            max_24_hour_send: settings.max_24_hour_send,
            sent_last_24_hours: recent as f64,
        })
    }
}

/// The in-process stand-in for the jobs queue.
#[derive(Clone)]
pub struct LocalJobs {
    queue: mpsc::UnboundedSender<Job>,
}

#[async_trait]
impl JobQueue for LocalJobs {
    async fn enqueue(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        let queue = self.queue.clone();
        let job = job.clone();
        if delay.is_zero() {
            return queue.send(job).map_err(|_| QueueError("the local job queue is closed".into()));
        }
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _closed = queue.send(job);
        });
        Ok(())
    }
}

impl LocalJobs {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Job>) {
        let (queue, jobs) = mpsc::unbounded_channel();
        (Self { queue }, jobs)
    }
}

/// The app's requests, straight onto the local queue.
pub struct LocalCampaignTrigger(pub LocalJobs);

#[async_trait]
impl CampaignTrigger for LocalCampaignTrigger {
    async fn request(&self, org: &OrgId, campaign: &str, request: &CampaignRequest) -> Result<(), StoreError> {
        let job = match request {
            CampaignRequest::Start => Job::Start { org_id: *org, campaign_id: campaign.to_owned() },
            CampaignRequest::Test { to, record } => {
                Job::Test { org_id: *org, campaign_id: campaign.to_owned(), to: to.clone(), record: *record }
            }
        };
        self.0.enqueue(&job, Duration::ZERO).await.map_err(|err| StoreError::Unavailable(err.to_string()))
    }
}

/// Jobs run side by side, as concurrent Lambda invocations would.
const CONCURRENT_JOBS: usize = 4;

/// What the job loop is given.
pub struct JobInputs {
    pub jobs: LocalJobs,
    pub incoming: mpsc::UnboundedReceiver<Job>,
    /// SES events from the outbox (none on the AWS backend).
    pub events: Option<mpsc::UnboundedReceiver<String>>,
    /// How often quota-paused campaigns are checked.
    pub quota_check: Duration,
    /// How long a job may run, as the send function's timeout.
    pub job_deadline: Duration,
    /// Stops the loop and every job it runs, as a killed process stops.
    pub shutdown: tokio::sync::oneshot::Receiver<()>,
}

/// Applies one simulated SES event.
async fn apply_event(services: &Services, record: &str) {
    match parse_event(record) {
        Ok(event) => {
            if let Err(err) = (Feedback { services }).handle_event(&event).await {
                tracing::warn!(error = %err, "a simulated SES event failed");
            }
        }
        Err(err) => tracing::error!(error = %err, "a simulated SES event does not parse"),
    }
}

/// Runs jobs as they come, retrying a failed one as SQS would redeliver it, and applies the
/// outbox's events in order; returns once every job it started has stopped.
pub async fn run_jobs(sender: Arc<Sender>, inputs: JobInputs) {
    let JobInputs { jobs, mut incoming, mut events, quota_check, job_deadline, mut shutdown } = inputs;
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_JOBS));
    let mut ticker = tokio::time::interval(quota_check);
    let mut running = tokio::task::JoinSet::new();
    loop {
        let job = tokio::select! {
            _ = &mut shutdown => break,
            Some(job) = incoming.recv() => job,
            Some(record) = async { match events.as_mut() { Some(events) => events.recv().await, None => None } } => {
                // SES publishes events a moment after the send, in order per message.
                apply_event(&sender.services, &record).await;
                continue;
            }
            _ = ticker.tick() => Job::QuotaCheck,
            Some(_finished) = running.join_next() => continue,
        };
        let (sender, jobs, slots) = (Arc::clone(&sender), jobs.clone(), Arc::clone(&slots));
        running.spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else { return };
            if let Err(err) = sender.run(&job, Instant::now() + job_deadline).await {
                if sender.has_crashed() {
                    return;
                }
                tracing::warn!(error = %err, ?job, "a campaign job failed: retried shortly");
                let _closed = jobs.enqueue(&job, Duration::from_secs(2)).await;
            }
        });
    }
    running.abort_all();
    while running.join_next().await.is_some() {}
}

/// Campaigns left sending when the stack stopped carry on (SQS would redeliver their jobs).
pub async fn resume_sending(services: &Services, jobs: &LocalJobs) -> anyhow::Result<()> {
    for org in services.store.list_orgs().await? {
        for campaign in services.store.campaigns(&org.org_id).await? {
            if campaign.status == CampaignStatus::Sending {
                let job = Job::Start { org_id: org.org_id, campaign_id: campaign.id };
                jobs.enqueue(&job, Duration::ZERO).await?;
            }
        }
    }
    Ok(())
}
