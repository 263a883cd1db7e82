//! Sending a campaign: freeze its membership once, then send each segment's addresses in chunks:
//! take rate slots, claim, hand to SES, record. An address is claimed before its message goes
//! out, so no address gets a campaign twice; a claim whose outcome was never recorded becomes
//! `unknown`, never resent.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use outpost_shared::campaigns::{
    Campaign, CampaignStatus, CampaignTemplates, Counter, Delivery, Header, Mailer, OutgoingMessage, PauseReason,
    SendError, SendQuota, SendState, TemplateError, Unsubscribe,
};
use outpost_shared::crypto::random_token;
use outpost_shared::ids::{OrgId, RecipientObject, RecordId};
use outpost_shared::lists::{Catalog, Query, Selection, SnapshotCache, checked, evaluate};
use outpost_shared::services::Services;
use outpost_shared::signed::Signer;
use outpost_shared::store::{ListDefinition, StoreError, Visibility, keys, now_epoch};

use crate::jobs::{Job, JobQueue, QueueError};

/// Tags every message carries, so SES's events find their campaign.
pub const ORG_TAG: &str = "outpost_org";
pub const CAMPAIGN_TAG: &str = "outpost_campaign";
/// Test sends carry this tag: their events change no campaign.
pub const TEST_TAG: &str = "outpost_test";

/// The unsubscribe link of test messages: it unsubscribes no one.
pub const TEST_LINK: &str = "test-message";

/// The signer of unsubscribe links (the app secret's key).
pub(crate) async fn signer(services: &Services) -> Result<Signer, SendFailure> {
    services.app_signer().await.map_err(|err| SendFailure::Secret(err.to_string()))
}

/// Messages a second one sender keeps up with (25 in flight, SES answering in well under 250 ms).
const PER_SENDER: u64 = 100;

/// How many senders a rate of `per_second` keeps busy: one per hundred a second, at most one per
/// segment.
fn lanes_for(per_second: u64) -> u8 {
    let lanes = per_second.div_ceil(PER_SENDER).clamp(1, u64::from(keys::CAMPAIGN_SEGMENTS));
    u8::try_from(lanes).unwrap_or(keys::CAMPAIGN_SEGMENTS)
}

/// Addresses read from a segment at a time.
const PAGE: usize = 200;

/// How sending behaves.
#[derive(Debug, Clone)]
pub struct SendSettings {
    /// Addresses claimed, sent and recorded together: a crash leaves at most this many `unknown`.
    pub chunk: usize,
    /// A claim older than this whose sender never recorded it is `unknown` (longer than any
    /// chunk's sends can take).
    pub claim_lease: Duration,
    /// How long the account's quota, once read, is trusted.
    pub quota_ttl: Duration,
    /// A segment stops this long before its invocation's deadline and queues its continuation.
    pub deadline_margin: Duration,
    /// Outpost's public URL, under which unsubscribe links are served.
    pub public_url: String,
    /// Addresses the freeze writes between saves of its progress.
    pub freeze_batch: usize,
}

impl SendSettings {
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            chunk: 25,
            claim_lease: Duration::from_secs(120),
            quota_ttl: Duration::from_secs(10),
            deadline_margin: Duration::from_secs(15),
            public_url: public_url.into(),
            freeze_batch: 5000,
        }
    }
}

/// Where a test wants sending to "crash" (everything stops, as when the process dies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// After a chunk's claims are written, before any message is handed over.
    AfterClaim,
    /// After a chunk's messages are handed over, before their outcomes are recorded.
    AfterSend,
    /// After a chunk's outcomes are recorded.
    AfterRecord,
}

/// Why a job failed; the queue retries it.
#[derive(Debug, thiserror::Error)]
pub enum SendFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the app secret is unavailable: {0}")]
    Secret(String),
    #[error("SES is unavailable: {0}")]
    Mailer(SendError),
    #[error("the campaign's template cannot be used: {0}")]
    Template(TemplateError),
    #[error("stopped by the test crash hook")]
    Crashed,
}

/// How a chunk ended.
enum Chunk {
    Sent,
    /// Some addresses went back to the queue (throttled, SES not reached): go round again.
    Retry,
    /// The campaign stopped sending (paused by a user or for quota, cancelled).
    Paused,
}

/// The sender: what every job reaches.
pub struct Sender {
    pub services: Services,
    pub mailer: Arc<dyn Mailer>,
    pub jobs: Arc<dyn JobQueue>,
    pub settings: SendSettings,
    recipients: SnapshotCache,
    quota: tokio::sync::Mutex<Option<(Instant, SendQuota)>>,
    /// Names this sender's claims.
    id: String,
    crash: Option<(CrashPoint, u64)>,
    chunks: AtomicU64,
    crashed: AtomicBool,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("id", &self.id).finish_non_exhaustive()
    }
}

fn epoch_second() -> (i64, Duration) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let second = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    (second, Duration::from_secs(1).saturating_sub(Duration::from_nanos(u64::from(now.subsec_nanos()))))
}

impl Sender {
    pub fn new(services: Services, mailer: Arc<dyn Mailer>, jobs: Arc<dyn JobQueue>, settings: SendSettings) -> Self {
        Self {
            services,
            mailer,
            jobs,
            settings,
            recipients: SnapshotCache::new(2),
            quota: tokio::sync::Mutex::new(None),
            id: random_token(),
            crash: None,
            chunks: AtomicU64::new(0),
            crashed: AtomicBool::new(false),
        }
    }

    /// Test hook: every job stops for good at `point` of the `chunk`th chunk (counted from 1).
    pub fn with_crash(mut self, point: CrashPoint, chunk: u64) -> Self {
        self.crash = Some((point, chunk));
        self
    }

    /// Whether the crash hook fired: from then on this sender does nothing.
    pub fn has_crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    fn crash_due(&self, point: CrashPoint, chunk: u64) -> Result<(), SendFailure> {
        if self.has_crashed() || self.crash == Some((point, chunk)) {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(SendFailure::Crashed);
        }
        Ok(())
    }

    /// Runs one job; `deadline` is the invocation's.
    pub async fn run(&self, job: &Job, deadline: Instant) -> Result<(), SendFailure> {
        if self.has_crashed() {
            return Err(SendFailure::Crashed);
        }
        match job {
            Job::Start { org_id, campaign_id } => self.start(org_id, campaign_id, deadline).await,
            Job::Segment { org_id, campaign_id, segment, lanes } => {
                self.run_lane(org_id, campaign_id, *segment, *lanes, deadline).await
            }
            Job::Test { org_id, campaign_id, to, record } => {
                self.send_test(org_id, campaign_id, to, record.as_ref()).await.map(drop)
            }
            Job::QuotaCheck => self.check_quota().await,
        }
    }

    async fn signer(&self) -> Result<Signer, SendFailure> {
        signer(&self.services).await
    }

    /// The account's quota, read at most every `quota_ttl` (`fresh` reads it now).
    async fn quota(&self, fresh: bool) -> Result<SendQuota, SendFailure> {
        let mut held = self.quota.lock().await;
        if let Some((read_at, quota)) = *held
            && !fresh
            && read_at.elapsed() < self.settings.quota_ttl
        {
            return Ok(quota);
        }
        let quota = self.mailer.quota().await.map_err(SendFailure::Mailer)?;
        *held = Some((Instant::now(), quota));
        Ok(quota)
    }

    /// Counts `sent` against the cached quota, so senders stop at the quota between reads.
    async fn spend_quota(&self, sent: u64) {
        if let Some((_, quota)) = self.quota.lock().await.as_mut() {
            quota.sent_last_24_hours += sent as f64;
        }
    }

    /// Changes a campaign with `change` (which says whether it changes anything), retrying over
    /// concurrent writers; the campaign as this call changed it, `None` when it did not.
    async fn update_campaign(
        &self,
        org: &OrgId,
        id: &str,
        change: impl Fn(&mut Campaign) -> bool,
    ) -> Result<Option<Campaign>, SendFailure> {
        let store = &self.services.store;
        loop {
            let Some(mut campaign) = store.get_campaign(org, id).await? else { return Ok(None) };
            if !change(&mut campaign) {
                return Ok(None);
            }
            let expected = std::mem::replace(&mut campaign.revision, random_token());
            campaign.updated_at = now_epoch();
            if store.put_campaign(&campaign, Some(&expected)).await? {
                return Ok(Some(campaign));
            }
        }
    }

    async fn pause(&self, org: &OrgId, id: &str, reason: PauseReason) -> Result<(), SendFailure> {
        tracing::warn!(org = %org, campaign = id, reason = reason.as_str(), "campaign paused");
        self.update_campaign(org, id, |campaign| {
            let sending = campaign.status == CampaignStatus::Sending;
            if sending {
                campaign.status = CampaignStatus::Paused;
                campaign.pause_reason = Some(reason);
            }
            sending
        })
        .await
        .map(drop)
    }

    /// Freezes the membership once, then starts the senders.
    async fn start(&self, org: &OrgId, id: &str, deadline: Instant) -> Result<(), SendFailure> {
        let store = &self.services.store;
        let Some(campaign) = store.get_campaign(org, id).await? else { return Ok(()) };
        if campaign.status != CampaignStatus::Sending {
            return Ok(());
        }
        if !campaign.frozen && !self.freeze(&campaign, deadline).await? {
            return Ok(());
        }
        // Only as many senders as the rate keeps busy: a sender waiting for its second's share
        // is a Lambda billed for waiting.
        let lanes = lanes_for(self.quota(false).await?.per_second());
        for segment in 0..lanes {
            let job = Job::Segment { org_id: *org, campaign_id: id.to_owned(), segment, lanes };
            self.jobs.enqueue(&job, Duration::ZERO).await?;
        }
        self.finish_if_done(org, id).await
    }

    /// Sends `segment`, then every `lanes`-th segment after it, carrying on in a new job near
    /// `deadline`.
    async fn run_lane(
        &self,
        org: &OrgId,
        id: &str,
        first: u8,
        lanes: u8,
        deadline: Instant,
    ) -> Result<(), SendFailure> {
        let done: HashSet<u8> = self.services.store.segments_done(org, id).await?.into_iter().collect();
        let mut segment = first;
        while segment < keys::CAMPAIGN_SEGMENTS {
            if !done.contains(&segment) && !self.send_segment(org, id, segment, lanes, deadline).await? {
                return Ok(());
            }
            segment = segment.saturating_add(lanes.max(1));
            if segment < keys::CAMPAIGN_SEGMENTS && Instant::now() + self.settings.deadline_margin > deadline {
                let job = Job::Segment { org_id: *org, campaign_id: id.to_owned(), segment, lanes };
                self.jobs.enqueue(&job, Duration::ZERO).await?;
                return Ok(());
            }
        }
        self.finish_if_done(org, id).await
    }

    /// Writes down who the campaign goes to: the list's members now, less suppressed addresses,
    /// in address order, saving how far it got after each batch; near `deadline` it queues its own
    /// continuation. Whether it is frozen (a list that needs editing pauses the campaign instead).
    async fn freeze(&self, campaign: &Campaign, deadline: Instant) -> Result<bool, SendFailure> {
        let store = &self.services.store;
        let org_id = &campaign.org_id;
        let started = Instant::now();
        let Some(org) = store.get_org(org_id).await?.filter(|org| org.is_active()) else {
            tracing::warn!(org = %org_id, "campaign of an unregistered or inactive org left unsent");
            return Ok(false);
        };
        let snapshot = self.recipients.get(store.as_ref(), org_id).await?;
        let owner = (org.settings.visibility == Visibility::Owner).then_some(campaign.owner_id.as_str());
        let (evaluation, excluded) = match store.get_list(org_id, &campaign.list_id).await? {
            None => (None, 0),
            Some(list) => {
                let members;
                let conditions;
                let selection = match &list.definition {
                    ListDefinition::Dynamic { match_all, conditions: specs } => {
                        let catalog = Catalog::new(&store.org_fields(org_id).await?.fields);
                        conditions = match checked(specs, &catalog) {
                            Ok(conditions) => conditions,
                            Err(_) => {
                                self.pause(org_id, &campaign.id, PauseReason::ListNeedsEdit).await?;
                                return Ok(false);
                            }
                        };
                        Selection::Conditions { match_all: *match_all, conditions: &conditions }
                    }
                    ListDefinition::Static => {
                        members = store.list_members(org_id, &list.id).await?.into_iter().collect();
                        Selection::Members(&members)
                    }
                };
                let evaluation = evaluate(&snapshot.recipients, &Query { objects: &list.objects, selection, owner });
                let excluded = evaluation.excluded.total();
                (Some(evaluation), excluded)
            }
        };
        let suppressed: HashSet<String> =
            store.suppressions(org_id).await?.into_iter().map(|suppression| suppression.address).collect();
        let now = now_epoch();
        let mut left_out = 0u64;
        let mut deliveries: Vec<Delivery> = evaluation
            .iter()
            .flat_map(|evaluation| evaluation.members(&snapshot.recipients))
            .filter_map(|recipient| {
                let email = recipient.email.as_deref()?;
                if suppressed.contains(&email.trim().to_lowercase()) {
                    left_out += 1;
                    return None;
                }
                Some(Delivery::queued(recipient, email, now))
            })
            .collect();
        deliveries.sort_unstable_by(|a, b| a.address.cmp(&b.address));
        let start = match &campaign.freeze_after {
            // A continuation: what an earlier invocation wrote stays as written.
            Some(after) => deliveries.partition_point(|delivery| delivery.address.as_str() <= after.as_str()),
            None => {
                self.remove_strays(campaign, &deliveries).await?;
                0
            }
        };
        for (number, batch) in deliveries[start..].chunks(self.settings.freeze_batch.max(1)).enumerate() {
            // At least one batch an invocation, so every invocation makes progress.
            if number > 0 && Instant::now() + self.settings.deadline_margin > deadline {
                let job = Job::Start { org_id: *org_id, campaign_id: campaign.id.clone() };
                self.jobs.enqueue(&job, Duration::ZERO).await?;
                return Ok(false);
            }
            let writes: Vec<_> =
                batch.chunks(1000).map(|chunk| store.put_deliveries(org_id, &campaign.id, chunk)).collect();
            futures::stream::iter(writes)
                .buffer_unordered(4)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<(), _>>()?;
            let last = batch.last().map(|delivery| delivery.address.clone());
            let written = batch.len() as u64;
            self.update_campaign(org_id, &campaign.id, |campaign| {
                campaign.freeze_after.clone_from(&last);
                campaign.recipients += written;
                true
            })
            .await?;
        }
        let frozen = self
            .update_campaign(org_id, &campaign.id, |campaign| {
                campaign.frozen = true;
                campaign.excluded = excluded;
                campaign.suppressed = left_out;
                true
            })
            .await?;
        let recipients = frozen.map_or(0, |campaign| campaign.recipients);
        tracing::info!(
            org = %org_id,
            campaign = %campaign.id,
            recipients,
            suppressed = left_out,
            excluded,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "campaign frozen"
        );
        Ok(true)
    }

    /// Removes what a freeze that crashed before saving its progress wrote and this one leaves out.
    async fn remove_strays(&self, campaign: &Campaign, deliveries: &[Delivery]) -> Result<(), SendFailure> {
        let store = &self.services.store;
        let keep: HashSet<&str> = deliveries.iter().map(|delivery| delivery.address.as_str()).collect();
        for segment in 0..keys::CAMPAIGN_SEGMENTS {
            let mut after: Option<String> = None;
            loop {
                let (page, next) =
                    store.deliveries(&campaign.org_id, &campaign.id, segment, after.as_deref(), 1000).await?;
                let stray: Vec<String> = page
                    .into_iter()
                    .map(|delivery| delivery.address)
                    .filter(|address| !keep.contains(address.as_str()))
                    .collect();
                store.delete_deliveries(&campaign.org_id, &campaign.id, &stray).await?;
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Sends one segment's queued addresses, chunk by chunk; whether the segment is done (if not,
    /// the campaign stopped sending, or a job to carry on is queued).
    async fn send_segment(
        &self,
        org: &OrgId,
        id: &str,
        segment: u8,
        lanes: u8,
        deadline: Instant,
    ) -> Result<bool, SendFailure> {
        let store = &self.services.store;
        let Some(campaign) = store.get_campaign(org, id).await? else { return Ok(false) };
        if campaign.status != CampaignStatus::Sending || !campaign.frozen {
            return Ok(false);
        }
        let templates = self.templates(&campaign).await?;
        let signer = self.signer().await?;
        let mut after: Option<String> = None;
        let mut again = false;
        loop {
            // At least one page an invocation, so every invocation makes progress.
            if after.is_some() && Instant::now() + self.settings.deadline_margin > deadline {
                // Time is up: a fresh invocation carries on from the queue.
                let job = Job::Segment { org_id: *org, campaign_id: id.to_owned(), segment, lanes };
                self.jobs.enqueue(&job, Duration::ZERO).await?;
                return Ok(false);
            }
            let (page, next) = store.deliveries(org, id, segment, after.as_deref(), PAGE).await?;
            let mut queued = Vec::new();
            for delivery in page {
                match delivery.state {
                    SendState::Queued => queued.push(delivery),
                    SendState::Claimed => again |= !self.settle_claim(org, id, delivery).await?,
                    _ => {}
                }
            }
            for chunk in queued.chunks(self.settings.chunk.max(1)) {
                match self.send_chunk(&campaign, &templates, &signer, chunk).await? {
                    Chunk::Sent => {}
                    Chunk::Retry => again = true,
                    Chunk::Paused => return Ok(false),
                }
            }
            match next {
                Some(next) => after = Some(next),
                None if again => {
                    // Addresses went back to the queue, or another sender's claims are still live.
                    let job = Job::Segment { org_id: *org, campaign_id: id.to_owned(), segment, lanes };
                    self.jobs.enqueue(&job, Duration::from_secs(1)).await?;
                    return Ok(false);
                }
                None => break,
            }
        }
        store.mark_segment_done(org, id, segment).await?;
        Ok(true)
    }

    /// Records an outcome over what an event wrote meanwhile (SES reported the message before
    /// its sender recorded it): the event's flags stay, the outcome is added.
    async fn merge_record(&self, org: &OrgId, id: &str, record: &Delivery) -> Result<(), SendFailure> {
        let store = &self.services.store;
        loop {
            let Some(mut current) = store.get_delivery(org, id, &record.address).await? else { return Ok(()) };
            if current.state != SendState::Claimed {
                return Ok(());
            }
            current.state = record.state;
            current.message_id = record.message_id.clone().or(current.message_id);
            current.detail = record.detail.clone().or(current.detail);
            let expected = std::mem::replace(&mut current.stamp, random_token());
            current.updated_at = now_epoch();
            if store.update_delivery(org, id, &current, &expected).await? {
                return Ok(());
            }
        }
    }

    /// A claim found while reading a segment: a live one (its sender may still be sending) is
    /// left alone (false); one past its lease was never recorded, so its outcome cannot be known
    /// (true).
    async fn settle_claim(&self, org: &OrgId, id: &str, claim: Delivery) -> Result<bool, SendFailure> {
        let lease = i64::try_from(self.settings.claim_lease.as_secs()).unwrap_or(i64::MAX);
        if claim.claimed_at.is_some_and(|at| at.saturating_add(lease) > now_epoch()) {
            return Ok(false);
        }
        let expected = claim.stamp.clone();
        // An event for the message (it left SES's id) proves SES took it.
        let (state, counter, detail) = match claim.message_id {
            Some(_) => (SendState::Sent, Counter::Sent, None),
            None => (
                SendState::Unknown,
                Counter::Unknown,
                Some("the sender stopped between handing the message to SES and recording it".into()),
            ),
        };
        let settled = Delivery { state, detail, updated_at: now_epoch(), stamp: random_token(), ..claim };
        if self.services.store.update_delivery(org, id, &settled, &expected).await? {
            self.services.store.count(org, id, counter, 1).await?;
        }
        Ok(true)
    }

    /// The campaign's templates, with the org's postal address.
    async fn templates(&self, campaign: &Campaign) -> Result<CampaignTemplates, SendFailure> {
        let store = &self.services.store;
        let (org, content) =
            tokio::join!(store.get_org(&campaign.org_id), store.campaign_content(&campaign.org_id, &campaign.id));
        let postal = org?.map(|org| org.settings.postal_address).unwrap_or_default();
        let content = content?.ok_or_else(|| StoreError::Corrupt(format!("campaign {} has no bodies", campaign.id)))?;
        CampaignTemplates::compile(&campaign.subject, &content.html, &content.text, &postal)
            .map_err(SendFailure::Template)
    }

    /// Waits for `count` of the account's per-second sends.
    async fn take_slots(&self, count: u64, per_second: u64) -> Result<(), SendFailure> {
        loop {
            let (second, rest) = epoch_second();
            if self.services.store.take_send_slots(second, count, per_second).await? {
                return Ok(());
            }
            tokio::time::sleep(rest).await;
        }
    }

    /// The message to one address.
    fn message(
        &self,
        campaign: &Campaign,
        templates: &CampaignTemplates,
        unsubscribe: &str,
        delivery: &Delivery,
    ) -> Result<OutgoingMessage, TemplateError> {
        let rendered = templates.render(delivery, unsubscribe)?;
        Ok(OutgoingMessage {
            from: campaign.from.clone(),
            to: delivery.email.clone(),
            reply_to: campaign.reply_to.clone(),
            subject: rendered.subject,
            headers: vec![
                Header { name: "List-Unsubscribe".into(), value: format!("<{unsubscribe}>") },
                Header { name: "List-Unsubscribe-Post".into(), value: "List-Unsubscribe=One-Click".into() },
            ],
            text: rendered.text,
            html: rendered.html,
            tags: vec![(ORG_TAG.into(), campaign.org_id.to_string()), (CAMPAIGN_TAG.into(), campaign.id.clone())],
        })
    }

    /// Claims, sends and records one chunk of queued addresses.
    async fn send_chunk(
        &self,
        campaign: &Campaign,
        templates: &CampaignTemplates,
        signer: &Signer,
        chunk: &[Delivery],
    ) -> Result<Chunk, SendFailure> {
        let store = &self.services.store;
        let (org, id) = (&campaign.org_id, campaign.id.as_str());
        let quota = self.quota(false).await?;
        let take = (chunk.len() as u64).min(quota.per_second()).min(quota.remaining());
        if take == 0 {
            self.pause(org, id, PauseReason::Quota).await?;
            return Ok(Chunk::Paused);
        }
        // What the rate or quota leaves out waits for the next round.
        let short = take < chunk.len() as u64;
        let chunk = &chunk[..usize::try_from(take).unwrap_or(chunk.len())];
        self.take_slots(take, quota.per_second()).await?;
        // Read after waiting for the rate: a pause or cancel meanwhile holds this chunk back.
        if store.get_campaign(org, id).await?.is_none_or(|campaign| campaign.status != CampaignStatus::Sending) {
            return Ok(Chunk::Paused);
        }
        let number = self.chunks.fetch_add(1, Ordering::SeqCst) + 1;
        let now = now_epoch();
        // An address suppressed since the freeze (unsubscribed from another campaign, say) is skipped.
        let addresses: Vec<&str> = chunk.iter().map(|delivery| delivery.address.as_str()).collect();
        let suppressed = store.suppressed(org, &addresses).await?;
        let claims: Vec<Delivery> = chunk
            .iter()
            .zip(&suppressed)
            .map(|(delivery, suppressed)| Delivery {
                state: if *suppressed { SendState::Skipped } else { SendState::Claimed },
                claimed_at: Some(now),
                claimed_by: Some(self.id.clone()),
                updated_at: now,
                stamp: random_token(),
                ..delivery.clone()
            })
            .collect();
        let won = store.claim_deliveries(org, id, &claims).await?;
        let (claimed, skipped): (Vec<Delivery>, Vec<Delivery>) = claims
            .into_iter()
            .zip(won)
            .filter_map(|(claim, won)| won.then_some(claim))
            .partition(|claim| claim.state == SendState::Claimed);
        if !skipped.is_empty() {
            store.count(org, id, Counter::Skipped, i64::try_from(skipped.len()).unwrap_or(i64::MAX)).await?;
        }
        self.crash_due(CrashPoint::AfterClaim, number)?;
        let sends: Vec<_> = claimed
            .iter()
            .map(|delivery| async move {
                let unsubscribe = Unsubscribe { org_id: *org, campaign_id: id.to_owned(), record: delivery.record }
                    .url(signer, &self.settings.public_url);
                let outcome = match self.message(campaign, templates, &unsubscribe, delivery) {
                    Ok(message) => self.mailer.send(&message).await,
                    Err(err) => Err(SendError::Rejected(err.message)),
                };
                (delivery, outcome)
            })
            .collect();
        let outcomes: Vec<(&Delivery, Result<String, SendError>)> =
            futures::stream::iter(sends).buffer_unordered(chunk.len()).collect().await;
        self.crash_due(CrashPoint::AfterSend, number)?;
        let mut records = Vec::with_capacity(outcomes.len());
        // Each record is conditional on its claim's stamp: an event may have come first.
        let claim_stamps: Vec<String> = outcomes.iter().map(|(delivery, _)| delivery.stamp.clone()).collect();
        let mut counts: HashMap<Counter, i64> = HashMap::new();
        let mut result = if short { Chunk::Retry } else { Chunk::Sent };
        for (delivery, outcome) in outcomes {
            let mut record = Delivery { updated_at: now_epoch(), stamp: random_token(), ..delivery.clone() };
            match outcome {
                Ok(message_id) => {
                    record.state = SendState::Sent;
                    record.message_id = Some(message_id);
                    *counts.entry(Counter::Sent).or_default() += 1;
                }
                Err(SendError::Rejected(reason)) => {
                    record.state = SendState::Failed;
                    record.detail = Some(reason);
                    *counts.entry(Counter::Failed).or_default() += 1;
                }
                Err(SendError::Unknown(reason)) => {
                    record.state = SendState::Unknown;
                    record.detail = Some(reason);
                    *counts.entry(Counter::Unknown).or_default() += 1;
                }
                Err(refused) => {
                    // Not sent, and known not to be: back to the queue.
                    record.state = SendState::Queued;
                    record.claimed_at = None;
                    record.claimed_by = None;
                    result = match (&refused, result) {
                        (_, Chunk::Paused) => Chunk::Paused,
                        (SendError::QuotaExceeded, _) => {
                            self.pause(org, id, PauseReason::Quota).await?;
                            Chunk::Paused
                        }
                        (SendError::SendingDisabled(_), _) => {
                            self.pause(org, id, PauseReason::SendingDisabled).await?;
                            Chunk::Paused
                        }
                        _ => Chunk::Retry,
                    };
                }
            }
            records.push(record);
        }
        let stamps: Vec<&str> = claim_stamps.iter().map(String::as_str).collect();
        let recorded = store.record_deliveries(org, id, &records, &stamps).await?;
        for (record, recorded) in records.iter().zip(recorded) {
            if !recorded {
                self.merge_record(org, id, record).await?;
            }
        }
        self.crash_due(CrashPoint::AfterRecord, number)?;
        self.spend_quota(counts.get(&Counter::Sent).copied().unwrap_or(0).unsigned_abs()).await;
        for (counter, delta) in counts {
            store.count(org, id, counter, delta).await?;
        }
        if matches!(result, Chunk::Retry) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(result)
    }

    /// Marks the campaign sent once every segment is done, its senders' totals first counted
    /// afresh from the addresses (a crash between a record and its count cannot leave them off).
    async fn finish_if_done(&self, org: &OrgId, id: &str) -> Result<(), SendFailure> {
        let store = &self.services.store;
        if store.segments_done(org, id).await?.len() < usize::from(keys::CAMPAIGN_SEGMENTS) {
            return Ok(());
        }
        if store.get_campaign(org, id).await?.is_none_or(|campaign| campaign.status != CampaignStatus::Sending) {
            return Ok(());
        }
        outpost_shared::campaigns::tally::recount(store.as_ref(), org, id).await?;
        let finished = self
            .update_campaign(org, id, |campaign| {
                let sending = campaign.status == CampaignStatus::Sending;
                if sending {
                    campaign.status = CampaignStatus::Sent;
                    campaign.pause_reason = None;
                    campaign.finished_at = Some(now_epoch());
                }
                sending
            })
            .await?;
        if let Some(campaign) = finished {
            tracing::info!(org = %org, campaign = id, recipients = campaign.recipients, "campaign sent");
        }
        Ok(())
    }

    /// Resumes campaigns paused for quota once the account has quota again.
    async fn check_quota(&self) -> Result<(), SendFailure> {
        let store = &self.services.store;
        let mut waiting = Vec::new();
        for org in store.list_orgs().await?.into_iter().filter(|org| org.is_active()) {
            let campaigns = store.campaigns(&org.org_id).await?;
            waiting.extend(campaigns.into_iter().filter(|campaign| {
                campaign.status == CampaignStatus::Paused && campaign.pause_reason == Some(PauseReason::Quota)
            }));
        }
        if waiting.is_empty() || self.quota(true).await?.remaining() == 0 {
            return Ok(());
        }
        for campaign in waiting {
            self.resume(&campaign.org_id, &campaign.id, Some(PauseReason::Quota)).await?;
        }
        Ok(())
    }

    /// Sets a paused campaign sending again (only if paused for `reason`, when given) and starts it.
    pub async fn resume(&self, org: &OrgId, id: &str, reason: Option<PauseReason>) -> Result<bool, SendFailure> {
        let resumed = self
            .update_campaign(org, id, |campaign| {
                let paused = campaign.status == CampaignStatus::Paused
                    && reason.is_none_or(|reason| campaign.pause_reason == Some(reason));
                if paused {
                    campaign.status = CampaignStatus::Sending;
                    campaign.pause_reason = None;
                }
                paused
            })
            .await?
            .is_some();
        if resumed {
            tracing::info!(org = %org, campaign = id, "campaign resumed");
            self.jobs.enqueue(&Job::Start { org_id: *org, campaign_id: id.to_owned() }, Duration::ZERO).await?;
        }
        Ok(resumed)
    }
}

impl Sender {
    /// Sends the campaign to one address outside its list, rendered for `record` (or the org's
    /// first Contact), marked as a test; its message id.
    async fn send_test(
        &self,
        org: &OrgId,
        id: &str,
        to: &str,
        record: Option<&RecordId>,
    ) -> Result<Option<String>, SendFailure> {
        let store = &self.services.store;
        let Some(campaign) = store.get_campaign(org, id).await? else { return Ok(None) };
        let templates = self.templates(&campaign).await?;
        let recipient = match record {
            Some(record) => store.get_recipient(org, record).await?,
            None => None,
        };
        // Without a record named, the org's first Contact lends its merge fields.
        let recipient = match recipient {
            Some(recipient) => recipient,
            None => {
                let (first, _) = store.list_recipients(org, RecipientObject::Contact, None, 1).await?;
                let Some(recipient) = first.into_iter().next() else {
                    tracing::warn!(org = %org, "no recipient to render a test message for");
                    return Ok(None);
                };
                recipient
            }
        };
        let sample = Delivery::queued(&recipient, to, now_epoch());
        // A test's link must not unsubscribe the record it borrowed its merge fields from.
        let unsubscribe = format!("{}/u/{TEST_LINK}", self.settings.public_url.trim_end_matches('/'));
        let mut message = self.message(&campaign, &templates, &unsubscribe, &sample).map_err(SendFailure::Template)?;
        message.subject = format!("[Test] {}", message.subject);
        message.tags.push((TEST_TAG.into(), "1".into()));
        match self.mailer.send(&message).await {
            Ok(message_id) => Ok(Some(message_id)),
            Err(SendError::Rejected(reason)) => {
                tracing::warn!(org = %org, campaign = id, reason = %reason, "test send refused");
                Ok(None)
            }
            Err(err) => Err(SendFailure::Mailer(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_follow_the_rate() {
        assert_eq!(lanes_for(1), 1, "the sandbox's one a second: one sender");
        assert_eq!(lanes_for(14), 1);
        assert_eq!(lanes_for(100), 1);
        assert_eq!(lanes_for(101), 2);
        assert_eq!(lanes_for(1_000), 10);
        assert_eq!(lanes_for(50_000), keys::CAMPAIGN_SEGMENTS, "never more than the segments");
    }
}
