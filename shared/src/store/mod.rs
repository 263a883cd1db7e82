//! Storage: narrow traits for what Outpost keeps, implemented once over a single-table item layer
//! ([`table::Table`]) that has two adapters: DynamoDB ([`DynamoTable`]) and, for the local stack
//! and tests, an embedded file-backed table (`EmbeddedTable`, the `embedded` feature). The domain
//! never sees either.

mod dynamo;
#[cfg(feature = "embedded")]
mod embedded;
pub mod keys;
pub mod model;
pub mod table;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use dynamo::DynamoTable;
#[cfg(feature = "embedded")]
pub use embedded::EmbeddedTable;
pub use model::*;
use table::{BatchPut, Condition, ConditionalPut, Table, Write};

use crate::campaigns::{
    ActivityProgress, Campaign, CampaignContent, CampaignRequest, Counter, Counts, Delivery, Suppression,
};
use crate::ids::{OrgId, RecipientObject, RecordId, UserId};

/// Why the store could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored item is unreadable: {0}")]
    Corrupt(String),
    #[error("an item with that key already exists")]
    Conflict,
}

/// Whether a create made something new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    AlreadyExists,
}

/// Org registrations.
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Registers or updates an org.
    async fn put_org(&self, org: &OrgRegistration) -> Result<(), StoreError>;
    async fn get_org(&self, org: &OrgId) -> Result<Option<OrgRegistration>, StoreError>;
    /// Every registered org, active or not.
    async fn list_orgs(&self) -> Result<Vec<OrgRegistration>, StoreError>;
}

/// User mappings, keyed by (org, user).
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the mapping unless one exists (a double submit creates one mapping).
    async fn create_user(&self, user: &UserMapping) -> Result<Created, StoreError>;
    async fn get_user(&self, org: &OrgId, user: &UserId) -> Result<Option<UserMapping>, StoreError>;
}

/// Outpost sessions, keyed by the SHA-256 of their token.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &OutpostSession) -> Result<(), StoreError>;
    async fn get_session(&self, token_hash: &str) -> Result<Option<OutpostSession>, StoreError>;
    /// Saves a later `expires_at`; does nothing once the session was deleted.
    async fn extend_session(&self, session: &OutpostSession) -> Result<(), StoreError>;
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
}

/// Salesforce sessions userinfo confirmed, keyed by the SHA-256 of the session id.
#[async_trait]
pub trait ValidatedSessionCache: Send + Sync {
    async fn put_validated(&self, session: &ValidatedSession) -> Result<(), StoreError>;
    async fn get_validated(&self, sid_hash: &str) -> Result<Option<ValidatedSession>, StoreError>;
}

/// Idempotency keys of Apex callouts: claim, then complete or release.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request whose body hashes to `body_hash`; the claim lapses after `lease`
    /// so a crashed worker does not block the key forever.
    async fn claim_idempotency_key(
        &self,
        org: &OrgId,
        key: &str,
        body_hash: &str,
        lease: Duration,
    ) -> Result<IdempotencyClaim, StoreError>;
    /// Saves the response of a claimed key, kept for `retention`.
    async fn complete_idempotency_key(
        &self,
        org: &OrgId,
        key: &str,
        body_hash: &str,
        response: &SavedResponse,
        retention: Duration,
    ) -> Result<(), StoreError>;
    /// Gives up a claim whose processing failed, so a retry can process again.
    async fn release_idempotency_key(&self, org: &OrgId, key: &str, body_hash: &str) -> Result<(), StoreError>;
}

/// Sync checkpoints, one per (org, object).
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The checkpoint, or the initial one of an object never synced.
    async fn get_checkpoint(&self, org: &OrgId, object: RecipientObject) -> Result<SyncCheckpoint, StoreError>;
    async fn put_checkpoint(&self, checkpoint: &SyncCheckpoint) -> Result<(), StoreError>;
}

/// Where a listing of an org's recipients continues: a shard, and the last id read in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientCursor {
    pub shard: u8,
    pub after: Option<String>,
}

/// The recipient set of each org, spread over shards.
#[async_trait]
pub trait RecipientStore: Send + Sync {
    /// Sync writes: unconditional, batched. Pages come from a consistent Salesforce snapshot, and a
    /// record changed meanwhile is newer than the snapshot, so the next run rewrites it.
    async fn write_recipients(&self, org: &OrgId, recipients: &[Recipient]) -> Result<(), StoreError>;
    /// Callout writes: each applied only if newer than what is stored, in request order.
    async fn apply_recipients(&self, org: &OrgId, recipients: &[Recipient]) -> Result<Vec<Applied>, StoreError>;
    async fn get_recipient(&self, org: &OrgId, id: &RecordId) -> Result<Option<Recipient>, StoreError>;
    /// The stored recipient of each id (tombstones included), in the ids' order.
    async fn get_recipients(&self, org: &OrgId, ids: &[RecordId]) -> Result<Vec<Option<Recipient>>, StoreError>;
    /// Every recipient of the org (tombstones included), its shards read side by side.
    async fn all_recipients(&self, org: &OrgId) -> Result<Vec<Recipient>, StoreError>;
    /// The token that changes whenever the org's recipients do (`None` before any change).
    async fn recipients_version(&self, org: &OrgId) -> Result<Option<String>, StoreError>;
    /// Says the org's recipients changed: writers call it once a batch of changes is stored (a
    /// sync once per run), so readers that cache the org's recipients read them again.
    async fn mark_recipients_changed(&self, org: &OrgId) -> Result<(), StoreError>;
    /// A page of `object`'s recipients (tombstones included); `None` cursor to start, `None` back at the end.
    async fn list_recipients(
        &self,
        org: &OrgId,
        object: RecipientObject,
        cursor: Option<RecipientCursor>,
        limit: usize,
    ) -> Result<(Vec<Recipient>, Option<RecipientCursor>), StoreError>;
}

/// Recipient lists, static lists' members, and the fields lists can filter on.
#[async_trait]
pub trait ListStore: Send + Sync {
    /// Saves a list (new or changed).
    /// Writes `list` if its stored revision is still `expected` (`None`: only if it is new);
    /// `false` when someone else changed or created it first.
    async fn put_list(&self, list: &RecipientList, expected: Option<&str>) -> Result<bool, StoreError>;
    async fn get_list(&self, org: &OrgId, list: &str) -> Result<Option<RecipientList>, StoreError>;
    /// Every list of the org, newest first.
    async fn lists(&self, org: &OrgId) -> Result<Vec<RecipientList>, StoreError>;
    /// Deletes a list and its members; whether it existed.
    async fn delete_list(&self, org: &OrgId, list: &str) -> Result<bool, StoreError>;
    async fn add_list_members(&self, org: &OrgId, list: &str, records: &[RecordId]) -> Result<(), StoreError>;
    async fn remove_list_members(&self, org: &OrgId, list: &str, records: &[RecordId]) -> Result<(), StoreError>;
    /// A static list's members.
    async fn list_members(&self, org: &OrgId, list: &str) -> Result<Vec<RecordId>, StoreError>;
    /// The additional fields the sync last found usable.
    async fn put_org_fields(&self, org: &OrgId, fields: &OrgFields) -> Result<(), StoreError>;
    async fn org_fields(&self, org: &OrgId) -> Result<OrgFields, StoreError>;
    /// Keeps a list-view selection until its `expires_at`.
    async fn put_selection(&self, selection: &PendingSelection) -> Result<(), StoreError>;
    async fn get_selection(&self, token: &str) -> Result<Option<PendingSelection>, StoreError>;
}

/// Changes owed to Salesforce, and the ones that gave up.
#[async_trait]
pub trait WriteBackStore: Send + Sync {
    /// Queues a change; the same change of the same record queued twice is one entry.
    async fn enqueue_write_back(&self, change: &WriteBack) -> Result<Created, StoreError>;
    /// Entries due at `now`, at most `limit`.
    async fn due_write_backs(&self, org: &OrgId, now: EpochSeconds, limit: usize)
    -> Result<Vec<WriteBack>, StoreError>;
    /// Every queued entry, due or not.
    async fn pending_write_backs(&self, org: &OrgId) -> Result<Vec<WriteBack>, StoreError>;
    /// Removes a change that Salesforce accepted.
    async fn complete_write_back(&self, change: &WriteBack) -> Result<(), StoreError>;
    /// Saves a failed attempt (its attempts, next time and error already updated).
    async fn retry_write_back(&self, change: &WriteBack) -> Result<(), StoreError>;
    /// Moves a change that exhausted its attempts to the dead letters, where it stays visible.
    async fn bury_write_back(&self, change: &WriteBack) -> Result<(), StoreError>;
    async fn dead_letters(&self, org: &OrgId) -> Result<Vec<WriteBack>, StoreError>;
}

/// Sync runs, the per-org run lease and "sync now" requests.
#[async_trait]
pub trait SyncRunStore: Send + Sync {
    async fn put_run(&self, run: &SyncRun) -> Result<(), StoreError>;
    /// The latest runs, newest first.
    async fn recent_runs(&self, org: &OrgId, limit: usize) -> Result<Vec<SyncRun>, StoreError>;
    /// Takes the org's run lease for `holder` unless someone else holds a live one.
    async fn acquire_sync_lease(&self, org: &OrgId, holder: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Extends `holder`'s lease to `ttl` from now; `false` when it lapsed and someone else took it.
    async fn renew_sync_lease(&self, org: &OrgId, holder: &str, ttl: Duration) -> Result<bool, StoreError>;
    async fn release_sync_lease(&self, org: &OrgId, holder: &str) -> Result<(), StoreError>;
    /// Records a "sync now" request unless one is pending.
    async fn request_sync(&self, org: &OrgId, ttl: Duration) -> Result<Created, StoreError>;
    /// Removes the pending request; whether there was one.
    async fn take_sync_request(&self, org: &OrgId) -> Result<bool, StoreError>;
}

/// Campaigns, their frozen addresses and running totals, and the org's suppression list.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Writes `campaign` if its stored revision is still `expected` (`None`: only if it is new).
    async fn put_campaign(&self, campaign: &Campaign, expected: Option<&str>) -> Result<bool, StoreError>;
    async fn get_campaign(&self, org: &OrgId, campaign: &str) -> Result<Option<Campaign>, StoreError>;
    /// Writes a new campaign's bodies (before the campaign itself).
    async fn put_campaign_content(
        &self,
        org: &OrgId,
        campaign: &str,
        content: &CampaignContent,
    ) -> Result<(), StoreError>;
    async fn campaign_content(&self, org: &OrgId, campaign: &str) -> Result<Option<CampaignContent>, StoreError>;
    /// Every campaign of the org, newest first.
    async fn campaigns(&self, org: &OrgId) -> Result<Vec<Campaign>, StoreError>;
    async fn campaign_counts(&self, org: &OrgId, campaign: &str) -> Result<Counts, StoreError>;
    /// Adds to one of a campaign's totals.
    async fn count(&self, org: &OrgId, campaign: &str, counter: Counter, delta: i64) -> Result<(), StoreError>;
    /// Writes the senders' totals (sent, failed, unknown, skipped) as counted from the addresses.
    async fn set_sending_counts(&self, org: &OrgId, campaign: &str, counts: &Counts) -> Result<(), StoreError>;
    /// Writes frozen addresses (unconditionally: only the freeze writes before sending starts).
    async fn put_deliveries(&self, org: &OrgId, campaign: &str, deliveries: &[Delivery]) -> Result<(), StoreError>;
    async fn delete_deliveries(&self, org: &OrgId, campaign: &str, addresses: &[String]) -> Result<(), StoreError>;
    /// A page of one segment's addresses in address order, and where the next page starts.
    async fn deliveries(
        &self,
        org: &OrgId,
        campaign: &str,
        segment: u8,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Option<String>), StoreError>;
    async fn get_delivery(&self, org: &OrgId, campaign: &str, address: &str) -> Result<Option<Delivery>, StoreError>;
    /// Claims each address still queued (writes `claims` as given); `true` where this claim won.
    async fn claim_deliveries(&self, org: &OrgId, campaign: &str, claims: &[Delivery])
    -> Result<Vec<bool>, StoreError>;
    /// Writes `delivery` if its stored stamp is still `expected`.
    async fn update_delivery(
        &self,
        org: &OrgId,
        campaign: &str,
        delivery: &Delivery,
        expected: &str,
    ) -> Result<bool, StoreError>;
    /// Writes the outcomes of claimed addresses, each only if its stamp is still the claim's
    /// (`claims`, in order); `false` where an event changed the address meanwhile.
    async fn record_deliveries(
        &self,
        org: &OrgId,
        campaign: &str,
        deliveries: &[Delivery],
        claims: &[&str],
    ) -> Result<Vec<bool>, StoreError>;
    async fn mark_segment_done(&self, org: &OrgId, campaign: &str, segment: u8) -> Result<(), StoreError>;
    async fn activity_progress(&self, org: &OrgId, campaign: &str) -> Result<ActivityProgress, StoreError>;
    async fn put_activity_progress(
        &self,
        org: &OrgId,
        campaign: &str,
        progress: &ActivityProgress,
    ) -> Result<(), StoreError>;
    /// The segments with nothing left to send.
    async fn segments_done(&self, org: &OrgId, campaign: &str) -> Result<Vec<u8>, StoreError>;
    /// Adds an address to the org's suppression list (the first reason stays).
    async fn suppress(&self, suppression: &Suppression) -> Result<Created, StoreError>;
    async fn suppressions(&self, org: &OrgId) -> Result<Vec<Suppression>, StoreError>;
    /// Whether each address is on the org's suppression list, in the addresses' order.
    async fn suppressed(&self, org: &OrgId, addresses: &[&str]) -> Result<Vec<bool>, StoreError>;
    /// Asks the send function for `request` (a start only unless one is pending).
    async fn request_campaign(
        &self,
        org: &OrgId,
        campaign: &str,
        request: &CampaignRequest,
        ttl: Duration,
    ) -> Result<Created, StoreError>;
    /// Removes the pending request; whether there was one.
    async fn take_campaign_request(&self, org: &OrgId, campaign: &str) -> Result<bool, StoreError>;
    /// Takes `count` of the account's sends in epoch second `second`, if no more than
    /// `per_second` are taken in it then.
    async fn take_send_slots(&self, second: i64, count: u64, per_second: u64) -> Result<bool, StoreError>;
}

/// Everything Outpost keeps.
pub trait Store:
    OrgStore
    + UserStore
    + SessionStore
    + ValidatedSessionCache
    + IdempotencyStore
    + CheckpointStore
    + RecipientStore
    + WriteBackStore
    + SyncRunStore
    + ListStore
    + CampaignStore
{
}

impl<T> Store for T where
    T: OrgStore
        + UserStore
        + SessionStore
        + ValidatedSessionCache
        + IdempotencyStore
        + CheckpointStore
        + RecipientStore
        + WriteBackStore
        + SyncRunStore
        + ListStore
        + CampaignStore
{
}

/// The store as the functions hold it.
pub type SharedStore = Arc<dyn Store>;

/// The domain stores over any [`Table`].
#[derive(Debug, Clone)]
pub struct Items<T> {
    table: T,
}

impl<T: Table> Items<T> {
    pub fn new(table: T) -> Self {
        Self { table }
    }

    /// The underlying table.
    pub fn table(&self) -> &T {
        &self.table
    }
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[async_trait]
impl<T: Table> OrgStore for Items<T> {
    async fn put_org(&self, org: &OrgRegistration) -> Result<(), StoreError> {
        self.table.put(&keys::org(&org.org_id), None, org, Condition::Always).await.map(drop)
    }

    async fn get_org(&self, org: &OrgId) -> Result<Option<OrgRegistration>, StoreError> {
        self.table.get(&keys::org(org)).await
    }

    async fn list_orgs(&self) -> Result<Vec<OrgRegistration>, StoreError> {
        const PAGE: usize = 100;
        let mut orgs = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page =
                self.table.query::<OrgRegistration>(keys::ORGS_PARTITION, "ORG#", after.as_deref(), PAGE).await?;
            orgs.extend(page.items.into_iter().map(|(_, org)| org));
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(orgs),
            }
        }
    }
}

#[async_trait]
impl<T: Table> UserStore for Items<T> {
    async fn create_user(&self, user: &UserMapping) -> Result<Created, StoreError> {
        let key = keys::user(&user.org_id, &user.user_id);
        Ok(match self.table.put(&key, None, user, Condition::Absent).await? {
            Write::Done => Created::Created,
            Write::Refused(_) => Created::AlreadyExists,
        })
    }

    async fn get_user(&self, org: &OrgId, user: &UserId) -> Result<Option<UserMapping>, StoreError> {
        self.table.get(&keys::user(org, user)).await
    }
}

#[async_trait]
impl<T: Table> SessionStore for Items<T> {
    async fn create_session(&self, session: &OutpostSession) -> Result<(), StoreError> {
        let key = keys::session(&session.token_hash);
        match self.table.put(&key, Some(session.expires_at), session, Condition::Absent).await? {
            Write::Done => Ok(()),
            Write::Refused(_) => Err(StoreError::Conflict),
        }
    }

    async fn get_session(&self, token_hash: &str) -> Result<Option<OutpostSession>, StoreError> {
        self.table.get(&keys::session(token_hash)).await
    }

    async fn extend_session(&self, session: &OutpostSession) -> Result<(), StoreError> {
        let key = keys::session(&session.token_hash);
        let condition = Condition::Equals("token_hash", session.token_hash.clone());
        self.table.put(&key, Some(session.expires_at), session, condition).await.map(drop)
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.table.delete(&keys::session(token_hash), Condition::Always).await.map(drop)
    }
}

#[async_trait]
impl<T: Table> ValidatedSessionCache for Items<T> {
    async fn put_validated(&self, session: &ValidatedSession) -> Result<(), StoreError> {
        let key = keys::validated_session(&session.sid_hash);
        self.table.put(&key, Some(session.expires_at), session, Condition::Always).await.map(drop)
    }

    async fn get_validated(&self, sid_hash: &str) -> Result<Option<ValidatedSession>, StoreError> {
        self.table.get(&keys::validated_session(sid_hash)).await
    }
}

#[async_trait]
impl<T: Table> IdempotencyStore for Items<T> {
    async fn claim_idempotency_key(
        &self,
        org: &OrgId,
        key: &str,
        body_hash: &str,
        lease: Duration,
    ) -> Result<IdempotencyClaim, StoreError> {
        let record = IdempotencyRecord {
            org_id: *org,
            key: key.to_owned(),
            body_hash: body_hash.to_owned(),
            response: None,
            expires_at: now_epoch().saturating_add(seconds(lease)),
        };
        let written =
            self.table.put(&keys::idempotency(org, key), Some(record.expires_at), &record, Condition::Absent).await?;
        Ok(match written {
            Write::Done => IdempotencyClaim::Claimed,
            Write::Refused(Some(existing)) if existing.body_hash != body_hash => IdempotencyClaim::Mismatch,
            Write::Refused(Some(IdempotencyRecord { response: Some(saved), .. })) => IdempotencyClaim::Replay(saved),
            Write::Refused(_) => IdempotencyClaim::InProgress,
        })
    }

    async fn complete_idempotency_key(
        &self,
        org: &OrgId,
        key: &str,
        body_hash: &str,
        response: &SavedResponse,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let record = IdempotencyRecord {
            org_id: *org,
            key: key.to_owned(),
            body_hash: body_hash.to_owned(),
            response: Some(response.clone()),
            expires_at: now_epoch().saturating_add(seconds(retention)),
        };
        let condition = Condition::Equals("body_hash", body_hash.to_owned());
        match self.table.put(&keys::idempotency(org, key), Some(record.expires_at), &record, condition).await? {
            Write::Done => Ok(()),
            // The lease lapsed and another request took the key: its answer wins.
            Write::Refused(_) => Err(StoreError::Conflict),
        }
    }

    async fn release_idempotency_key(&self, org: &OrgId, key: &str, body_hash: &str) -> Result<(), StoreError> {
        let condition = Condition::Equals("body_hash", body_hash.to_owned());
        self.table.delete(&keys::idempotency(org, key), condition).await.map(drop)
    }
}

#[async_trait]
impl<T: Table> CheckpointStore for Items<T> {
    async fn get_checkpoint(&self, org: &OrgId, object: RecipientObject) -> Result<SyncCheckpoint, StoreError> {
        Ok(self
            .table
            .get(&keys::checkpoint(org, object))
            .await?
            .unwrap_or_else(|| SyncCheckpoint::initial(*org, object)))
    }

    async fn put_checkpoint(&self, checkpoint: &SyncCheckpoint) -> Result<(), StoreError> {
        let key = keys::checkpoint(&checkpoint.org_id, checkpoint.object);
        self.table.put(&key, None, checkpoint, Condition::Always).await.map(drop)
    }
}

/// Tombstones outlive any callout retry or sync snapshot by far, then expire.
const TOMBSTONE_LIFETIME: i64 = 30 * 24 * 3600;
/// Run records are kept this long.
const RUN_RETENTION: i64 = 90 * 24 * 3600;

fn recipient_ttl(recipient: &Recipient) -> Option<EpochSeconds> {
    (!recipient.is_member()).then(|| now_epoch() + TOMBSTONE_LIFETIME)
}

#[async_trait]
impl<T: Table> RecipientStore for Items<T> {
    async fn write_recipients(&self, org: &OrgId, recipients: &[Recipient]) -> Result<(), StoreError> {
        let puts: Vec<BatchPut<&Recipient>> = recipients
            .iter()
            .map(|recipient| BatchPut {
                key: keys::recipient(org, &recipient.id),
                ttl: recipient_ttl(recipient),
                item: recipient,
            })
            .collect();
        self.table.put_batch(&puts).await
    }

    async fn apply_recipients(&self, org: &OrgId, recipients: &[Recipient]) -> Result<Vec<Applied>, StoreError> {
        let puts: Vec<ConditionalPut<&Recipient>> = recipients
            .iter()
            .map(|recipient| ConditionalPut {
                key: keys::recipient(org, &recipient.id),
                ttl: recipient_ttl(recipient),
                item: recipient,
                condition: Condition::AbsentOrBelow("modstamp", recipient.modstamp),
            })
            .collect();
        let written = self.table.put_each(&puts).await?;
        Ok(written.into_iter().map(|written| if written { Applied::Written } else { Applied::Stale }).collect())
    }

    async fn get_recipient(&self, org: &OrgId, id: &RecordId) -> Result<Option<Recipient>, StoreError> {
        self.table.get(&keys::recipient(org, id)).await
    }

    async fn get_recipients(&self, org: &OrgId, ids: &[RecordId]) -> Result<Vec<Option<Recipient>>, StoreError> {
        let keys: Vec<table::Key> = ids.iter().map(|id| keys::recipient(org, id)).collect();
        self.table.get_batch(&keys).await
    }

    async fn all_recipients(&self, org: &OrgId) -> Result<Vec<Recipient>, StoreError> {
        let shards = (0..keys::RECIPIENT_SHARDS).map(|shard| {
            let partition = keys::recipient_partition(org, shard);
            async move { self.all_with_prefix::<Recipient>(&partition, "").await }
        });
        Ok(futures::future::try_join_all(shards).await?.into_iter().flatten().collect())
    }

    async fn recipients_version(&self, org: &OrgId) -> Result<Option<String>, StoreError> {
        Ok(self.table.get::<Version>(&keys::recipients_version(org)).await?.map(|version| version.token))
    }

    async fn mark_recipients_changed(&self, org: &OrgId) -> Result<(), StoreError> {
        let version = Version { token: crate::crypto::random_token() };
        self.table.put(&keys::recipients_version(org), None, &version, Condition::Always).await.map(drop)
    }

    async fn list_recipients(
        &self,
        org: &OrgId,
        object: RecipientObject,
        cursor: Option<RecipientCursor>,
        limit: usize,
    ) -> Result<(Vec<Recipient>, Option<RecipientCursor>), StoreError> {
        let prefix = match object {
            RecipientObject::Contact => crate::ids::ContactId::PREFIX,
            RecipientObject::Lead => crate::ids::LeadId::PREFIX,
        };
        let mut cursor = cursor.unwrap_or(RecipientCursor { shard: 0, after: None });
        let mut recipients = Vec::new();
        while cursor.shard < keys::RECIPIENT_SHARDS && recipients.len() < limit {
            let partition = keys::recipient_partition(org, cursor.shard);
            let page = self
                .table
                .query::<Recipient>(&partition, prefix, cursor.after.as_deref(), limit - recipients.len())
                .await?;
            recipients.extend(page.items.into_iter().map(|(_, recipient)| recipient));
            cursor = match page.next_after {
                Some(after) => RecipientCursor { shard: cursor.shard, after: Some(after) },
                None => RecipientCursor { shard: cursor.shard + 1, after: None },
            };
        }
        let next = (cursor.shard < keys::RECIPIENT_SHARDS).then_some(cursor);
        Ok((recipients, next))
    }
}

#[async_trait]
impl<T: Table> WriteBackStore for Items<T> {
    async fn enqueue_write_back(&self, change: &WriteBack) -> Result<Created, StoreError> {
        let key = keys::write_back(&change.org_id, &change.record, &change.change);
        Ok(match self.table.put(&key, None, change, Condition::Absent).await? {
            Write::Done => Created::Created,
            // A different change of the same kind (a newer bounce) replaces the pending one.
            Write::Refused(Some(pending)) if pending.change != change.change => {
                self.table.put(&key, None, change, Condition::Always).await?;
                Created::Created
            }
            Write::Refused(_) => Created::AlreadyExists,
        })
    }

    async fn due_write_backs(
        &self,
        org: &OrgId,
        now: EpochSeconds,
        limit: usize,
    ) -> Result<Vec<WriteBack>, StoreError> {
        let mut due = self.pending_write_backs(org).await?;
        due.retain(|change| change.next_attempt_at <= now);
        due.truncate(limit);
        Ok(due)
    }

    async fn pending_write_backs(&self, org: &OrgId) -> Result<Vec<WriteBack>, StoreError> {
        self.all_with_prefix(&keys::org_partition(org), "WRITEBACK#").await
    }

    async fn complete_write_back(&self, change: &WriteBack) -> Result<(), StoreError> {
        let key = keys::write_back(&change.org_id, &change.record, &change.change);
        self.table.delete(&key, Condition::Always).await.map(drop)
    }

    async fn retry_write_back(&self, change: &WriteBack) -> Result<(), StoreError> {
        let key = keys::write_back(&change.org_id, &change.record, &change.change);
        self.table.put(&key, None, change, Condition::Always).await.map(drop)
    }

    async fn bury_write_back(&self, change: &WriteBack) -> Result<(), StoreError> {
        // Written first, deleted second: a crash in between leaves a duplicate, never a loss.
        let dead = keys::dead_letter(&change.org_id, &change.record, &change.change);
        self.table.put(&dead, None, change, Condition::Always).await?;
        self.complete_write_back(change).await
    }

    async fn dead_letters(&self, org: &OrgId) -> Result<Vec<WriteBack>, StoreError> {
        self.all_with_prefix(&keys::org_partition(org), "DEADLETTER#").await
    }
}

impl<T: Table> Items<T> {
    /// Writes `item` if its stored `revision` is still `expected` (`None`: only if it is new);
    /// `false` when someone else changed or created it first.
    async fn put_revised<R: serde::Serialize + serde::de::DeserializeOwned + Send + Sync>(
        &self,
        key: &table::Key,
        item: &R,
        expected: Option<&str>,
    ) -> Result<bool, StoreError> {
        let condition = match expected {
            Some(revision) => Condition::Equals("revision", revision.to_owned()),
            None => Condition::Absent,
        };
        Ok(matches!(self.table.put(key, None, item, condition).await?, Write::Done))
    }

    /// Every live item of a partition under a sort-key prefix.
    async fn all_with_prefix<R: serde::de::DeserializeOwned + Send>(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<R>, StoreError> {
        const PAGE: usize = 500;
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.table.query::<R>(pk, prefix, after.as_deref(), PAGE).await?;
            items.extend(page.items.into_iter().map(|(_, item)| item));
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(items),
            }
        }
    }
}

/// The token [`RecipientStore::recipients_version`] reads.
#[derive(serde::Serialize, serde::Deserialize)]
struct Version {
    token: String,
}

/// A static list's member.
#[derive(serde::Serialize, serde::Deserialize)]
struct Member {
    record: RecordId,
}

#[async_trait]
impl<T: Table> ListStore for Items<T> {
    async fn put_list(&self, list: &RecipientList, expected: Option<&str>) -> Result<bool, StoreError> {
        self.put_revised(&keys::list(&list.org_id, &list.id), list, expected).await
    }

    async fn get_list(&self, org: &OrgId, list: &str) -> Result<Option<RecipientList>, StoreError> {
        self.table.get(&keys::list(org, list)).await
    }

    async fn lists(&self, org: &OrgId) -> Result<Vec<RecipientList>, StoreError> {
        let mut lists: Vec<RecipientList> = self.all_with_prefix(&keys::org_partition(org), "LIST#").await?;
        lists.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| a.name.cmp(&b.name)));
        Ok(lists)
    }

    async fn delete_list(&self, org: &OrgId, list: &str) -> Result<bool, StoreError> {
        let members = self.list_members(org, list).await?;
        let keys: Vec<table::Key> = members.iter().map(|record| keys::list_member(org, list, record)).collect();
        self.table.delete_batch(&keys).await?;
        Ok(matches!(
            self.table.delete(&keys::list(org, list), Condition::Equals("id", list.to_owned())).await?,
            Write::Done
        ))
    }

    async fn add_list_members(&self, org: &OrgId, list: &str, records: &[RecordId]) -> Result<(), StoreError> {
        let puts: Vec<BatchPut<Member>> = records
            .iter()
            .map(|record| BatchPut {
                key: keys::list_member(org, list, record),
                ttl: None,
                item: Member { record: *record },
            })
            .collect();
        self.table.put_batch(&puts).await
    }

    async fn remove_list_members(&self, org: &OrgId, list: &str, records: &[RecordId]) -> Result<(), StoreError> {
        let keys: Vec<table::Key> = records.iter().map(|record| keys::list_member(org, list, record)).collect();
        self.table.delete_batch(&keys).await
    }

    async fn list_members(&self, org: &OrgId, list: &str) -> Result<Vec<RecordId>, StoreError> {
        let members: Vec<Member> = self.all_with_prefix(&keys::list_members_partition(org, list), "").await?;
        Ok(members.into_iter().map(|member| member.record).collect())
    }

    async fn put_org_fields(&self, org: &OrgId, fields: &OrgFields) -> Result<(), StoreError> {
        self.table.put(&keys::org_fields(org), None, fields, Condition::Always).await.map(drop)
    }

    async fn org_fields(&self, org: &OrgId) -> Result<OrgFields, StoreError> {
        Ok(self.table.get(&keys::org_fields(org)).await?.unwrap_or_default())
    }

    async fn put_selection(&self, selection: &PendingSelection) -> Result<(), StoreError> {
        let key = keys::selection(&selection.token);
        self.table.put(&key, Some(selection.expires_at), selection, Condition::Absent).await.map(drop)
    }

    async fn get_selection(&self, token: &str) -> Result<Option<PendingSelection>, StoreError> {
        self.table.get(&keys::selection(token)).await
    }
}

/// The `kind` attribute of a "sync now" request: the sync function's stream filter matches it.
const SYNC_REQUEST_KIND: &str = "sync_request";

#[derive(serde::Serialize, serde::Deserialize)]
struct Lease {
    holder: String,
}

#[async_trait]
impl<T: Table> SyncRunStore for Items<T> {
    async fn put_run(&self, run: &SyncRun) -> Result<(), StoreError> {
        let key = keys::sync_run(&run.org_id, run.started_at.millis(), &run.run_id);
        self.table.put(&key, Some(now_epoch() + RUN_RETENTION), run, Condition::Always).await.map(drop)
    }

    async fn recent_runs(&self, org: &OrgId, limit: usize) -> Result<Vec<SyncRun>, StoreError> {
        let page = self.table.query::<SyncRun>(&keys::org_partition(org), "RUN#", None, limit).await?;
        Ok(page.items.into_iter().map(|(_, run)| run).collect())
    }

    async fn acquire_sync_lease(&self, org: &OrgId, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let lease = Lease { holder: holder.to_owned() };
        let written =
            self.table.put(&keys::sync_lease(org), Some(now_epoch() + seconds(ttl)), &lease, Condition::Absent).await?;
        Ok(matches!(written, Write::Done))
    }

    async fn renew_sync_lease(&self, org: &OrgId, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let lease = Lease { holder: holder.to_owned() };
        let condition = Condition::Equals("holder", holder.to_owned());
        let written =
            self.table.put(&keys::sync_lease(org), Some(now_epoch() + seconds(ttl)), &lease, condition).await?;
        Ok(matches!(written, Write::Done))
    }

    async fn release_sync_lease(&self, org: &OrgId, holder: &str) -> Result<(), StoreError> {
        self.table.delete(&keys::sync_lease(org), Condition::Equals("holder", holder.to_owned())).await.map(drop)
    }

    async fn request_sync(&self, org: &OrgId, ttl: Duration) -> Result<Created, StoreError> {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Request {
            org_id: OrgId,
            kind: String,
        }
        let request = Request { org_id: *org, kind: SYNC_REQUEST_KIND.into() };
        let written = self
            .table
            .put(&keys::sync_request(org), Some(now_epoch() + seconds(ttl)), &request, Condition::Absent)
            .await?;
        Ok(if matches!(written, Write::Done) { Created::Created } else { Created::AlreadyExists })
    }

    async fn take_sync_request(&self, org: &OrgId) -> Result<bool, StoreError> {
        let condition = Condition::Equals("kind", SYNC_REQUEST_KIND.into());
        Ok(matches!(self.table.delete(&keys::sync_request(org), condition).await?, Write::Done))
    }
}

/// The `kind` attribute of a campaign request: the send function's stream filter matches it.
const CAMPAIGN_REQUEST_KIND: &str = "campaign_request";

/// A segment with nothing left to send.
#[derive(serde::Serialize, serde::Deserialize)]
struct SegmentDone {
    segment: u8,
}

/// The most of a campaign's bodies one item holds: well under DynamoDB's 400 KB an item.
const CONTENT_PART_BYTES: usize = 300 * 1024;

/// One part of a campaign's bodies (their JSON, cut at character boundaries).
#[derive(serde::Serialize, serde::Deserialize)]
struct ContentPart {
    part: usize,
    parts: usize,
    data: String,
}

/// `text` in pieces of at most `bytes` bytes, never splitting a character.
fn split_at_chars(text: &str, bytes: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(bytes);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// How long a send window's counter is kept: long past its second.
const SEND_WINDOW_LIFETIME: i64 = 120;

#[async_trait]
impl<T: Table> CampaignStore for Items<T> {
    async fn put_campaign(&self, campaign: &Campaign, expected: Option<&str>) -> Result<bool, StoreError> {
        self.put_revised(&keys::campaign(&campaign.org_id, &campaign.id), campaign, expected).await
    }

    async fn get_campaign(&self, org: &OrgId, campaign: &str) -> Result<Option<Campaign>, StoreError> {
        self.table.get(&keys::campaign(org, campaign)).await
    }

    async fn put_campaign_content(
        &self,
        org: &OrgId,
        campaign: &str,
        content: &CampaignContent,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(content).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let parts = split_at_chars(&json, CONTENT_PART_BYTES);
        let total = parts.len();
        let puts: Vec<BatchPut<ContentPart>> = parts
            .into_iter()
            .enumerate()
            .map(|(part, data)| BatchPut {
                key: keys::campaign_content(org, campaign, part),
                ttl: None,
                item: ContentPart { part, parts: total, data: data.to_owned() },
            })
            .collect();
        self.table.put_batch(&puts).await
    }

    async fn campaign_content(&self, org: &OrgId, campaign: &str) -> Result<Option<CampaignContent>, StoreError> {
        let prefix = keys::campaign_content_prefix(campaign);
        let parts: Vec<ContentPart> = self.all_with_prefix(&keys::org_partition(org), &prefix).await?;
        if parts.is_empty() {
            return Ok(None);
        }
        if parts.iter().enumerate().any(|(at, part)| part.part != at || part.parts != parts.len()) {
            return Err(StoreError::Corrupt(format!("campaign {campaign}'s bodies are incomplete")));
        }
        let json: String = parts.iter().map(|part| part.data.as_str()).collect();
        serde_json::from_str(&json).map(Some).map_err(|err| StoreError::Corrupt(err.to_string()))
    }

    async fn campaigns(&self, org: &OrgId) -> Result<Vec<Campaign>, StoreError> {
        let mut campaigns: Vec<Campaign> = self.all_with_prefix(&keys::org_partition(org), "CAMPAIGN#").await?;
        campaigns.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(campaigns)
    }

    async fn campaign_counts(&self, org: &OrgId, campaign: &str) -> Result<Counts, StoreError> {
        let (sending, events) = futures::future::try_join(
            self.table.get::<Counts>(&keys::campaign_counts(org, campaign, true)),
            self.table.get::<Counts>(&keys::campaign_counts(org, campaign, false)),
        )
        .await?;
        let (sending, events) = (sending.unwrap_or_default(), events.unwrap_or_default());
        Ok(Counts {
            sent: sending.sent,
            failed: sending.failed,
            unknown: sending.unknown,
            skipped: sending.skipped,
            bounced: events.bounced_permanent + events.bounced_transient,
            ..events
        })
    }

    async fn count(&self, org: &OrgId, campaign: &str, counter: Counter, delta: i64) -> Result<(), StoreError> {
        let key = keys::campaign_counts(org, campaign, counter.is_sending());
        self.table.add(&key, None, counter.attribute(), delta, None).await.map(drop)
    }

    async fn set_sending_counts(&self, org: &OrgId, campaign: &str, counts: &Counts) -> Result<(), StoreError> {
        let sending = Counts {
            sent: counts.sent,
            failed: counts.failed,
            unknown: counts.unknown,
            skipped: counts.skipped,
            ..Counts::default()
        };
        let key = keys::campaign_counts(org, campaign, true);
        self.table.put(&key, None, &sending, Condition::Always).await.map(drop)
    }

    async fn put_deliveries(&self, org: &OrgId, campaign: &str, deliveries: &[Delivery]) -> Result<(), StoreError> {
        let puts: Vec<BatchPut<&Delivery>> = deliveries
            .iter()
            .map(|delivery| BatchPut {
                key: keys::delivery(org, campaign, &delivery.address),
                ttl: None,
                item: delivery,
            })
            .collect();
        self.table.put_batch(&puts).await
    }

    async fn delete_deliveries(&self, org: &OrgId, campaign: &str, addresses: &[String]) -> Result<(), StoreError> {
        let keys: Vec<table::Key> = addresses.iter().map(|address| keys::delivery(org, campaign, address)).collect();
        self.table.delete_batch(&keys).await
    }

    async fn deliveries(
        &self,
        org: &OrgId,
        campaign: &str,
        segment: u8,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Option<String>), StoreError> {
        let partition = keys::deliveries_partition(org, campaign, segment);
        let page = self.table.query::<Delivery>(&partition, "", after, limit).await?;
        Ok((page.items.into_iter().map(|(_, delivery)| delivery).collect(), page.next_after))
    }

    async fn get_delivery(&self, org: &OrgId, campaign: &str, address: &str) -> Result<Option<Delivery>, StoreError> {
        self.table.get(&keys::delivery(org, campaign, address)).await
    }

    async fn claim_deliveries(
        &self,
        org: &OrgId,
        campaign: &str,
        claims: &[Delivery],
    ) -> Result<Vec<bool>, StoreError> {
        let puts: Vec<ConditionalPut<&Delivery>> = claims
            .iter()
            .map(|claim| ConditionalPut {
                key: keys::delivery(org, campaign, &claim.address),
                ttl: None,
                item: claim,
                condition: Condition::Equals("state", crate::campaigns::SendState::Queued.as_str().to_owned()),
            })
            .collect();
        self.table.put_each(&puts).await
    }

    async fn update_delivery(
        &self,
        org: &OrgId,
        campaign: &str,
        delivery: &Delivery,
        expected: &str,
    ) -> Result<bool, StoreError> {
        let key = keys::delivery(org, campaign, &delivery.address);
        let written = self.table.put(&key, None, delivery, Condition::Equals("stamp", expected.to_owned())).await?;
        Ok(matches!(written, Write::Done))
    }

    async fn record_deliveries(
        &self,
        org: &OrgId,
        campaign: &str,
        deliveries: &[Delivery],
        claims: &[&str],
    ) -> Result<Vec<bool>, StoreError> {
        let puts: Vec<ConditionalPut<&Delivery>> = deliveries
            .iter()
            .zip(claims)
            .map(|(delivery, claim)| ConditionalPut {
                key: keys::delivery(org, campaign, &delivery.address),
                ttl: None,
                item: delivery,
                condition: Condition::Equals("stamp", (*claim).to_owned()),
            })
            .collect();
        self.table.put_each(&puts).await
    }

    async fn mark_segment_done(&self, org: &OrgId, campaign: &str, segment: u8) -> Result<(), StoreError> {
        let key = keys::segment_done(org, campaign, segment);
        self.table.put(&key, None, &SegmentDone { segment }, Condition::Always).await.map(drop)
    }

    async fn activity_progress(&self, org: &OrgId, campaign: &str) -> Result<ActivityProgress, StoreError> {
        Ok(self.table.get(&keys::activity_progress(org, campaign)).await?.unwrap_or_default())
    }

    async fn put_activity_progress(
        &self,
        org: &OrgId,
        campaign: &str,
        progress: &ActivityProgress,
    ) -> Result<(), StoreError> {
        self.table.put(&keys::activity_progress(org, campaign), None, progress, Condition::Always).await.map(drop)
    }

    async fn segments_done(&self, org: &OrgId, campaign: &str) -> Result<Vec<u8>, StoreError> {
        let prefix = format!("CAMPAIGNSEGMENT#{campaign}#");
        let done: Vec<SegmentDone> = self.all_with_prefix(&keys::org_partition(org), &prefix).await?;
        Ok(done.into_iter().map(|done| done.segment).collect())
    }

    async fn suppress(&self, suppression: &Suppression) -> Result<Created, StoreError> {
        let key = keys::suppression(&suppression.org_id, &suppression.address);
        Ok(match self.table.put(&key, None, suppression, Condition::Absent).await? {
            Write::Done => Created::Created,
            Write::Refused(_) => Created::AlreadyExists,
        })
    }

    async fn suppressions(&self, org: &OrgId) -> Result<Vec<Suppression>, StoreError> {
        self.all_with_prefix(&keys::suppressions_partition(org), "").await
    }

    async fn suppressed(&self, org: &OrgId, addresses: &[&str]) -> Result<Vec<bool>, StoreError> {
        let keys: Vec<table::Key> = addresses.iter().map(|address| keys::suppression(org, address)).collect();
        let found: Vec<Option<Suppression>> = self.table.get_batch(&keys).await?;
        Ok(found.iter().map(Option::is_some).collect())
    }

    async fn request_campaign(
        &self,
        org: &OrgId,
        campaign: &str,
        request: &CampaignRequest,
        ttl: Duration,
    ) -> Result<Created, StoreError> {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Request {
            org_id: OrgId,
            campaign_id: String,
            kind: String,
            #[serde(flatten)]
            request: CampaignRequest,
        }
        let key = match request {
            CampaignRequest::Start => keys::campaign_request(org, campaign),
            // Tests never wait for one another.
            CampaignRequest::Test { .. } => {
                let start = keys::campaign_request(org, campaign);
                table::Key::new(start.pk, format!("{}#TEST#{}", start.sk, crate::crypto::random_token()))
            }
        };
        let request = Request {
            org_id: *org,
            campaign_id: campaign.to_owned(),
            kind: CAMPAIGN_REQUEST_KIND.into(),
            request: request.clone(),
        };
        let written = self.table.put(&key, Some(now_epoch() + seconds(ttl)), &request, Condition::Absent).await?;
        Ok(if matches!(written, Write::Done) { Created::Created } else { Created::AlreadyExists })
    }

    async fn take_campaign_request(&self, org: &OrgId, campaign: &str) -> Result<bool, StoreError> {
        let condition = Condition::Equals("kind", CAMPAIGN_REQUEST_KIND.into());
        Ok(matches!(self.table.delete(&keys::campaign_request(org, campaign), condition).await?, Write::Done))
    }

    async fn take_send_slots(&self, second: i64, count: u64, per_second: u64) -> Result<bool, StoreError> {
        let delta = i64::try_from(count).unwrap_or(i64::MAX);
        let limit = i64::try_from(per_second).unwrap_or(i64::MAX);
        let ttl = Some(second + SEND_WINDOW_LIFETIME);
        self.table.add(&keys::send_window(second), ttl, "taken", delta, Some(limit)).await
    }
}
