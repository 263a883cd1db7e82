//! Where each kind of item lives in the single table. Both adapters use these keys, so a
//! DynamoDB table and an embedded file hold the same layout.

use super::table::Key;
use crate::ids::{OrgId, RecipientObject, RecordId, UserId};

use super::model::Change;

/// Registrations share one small partition so the scheduled sync can list them with one Query
/// instead of scanning a table that holds millions of recipients.
pub const ORGS_PARTITION: &str = "ORGS";

pub fn org(org: &OrgId) -> Key {
    Key::new(ORGS_PARTITION, format!("ORG#{org}"))
}

pub fn org_partition(org: &OrgId) -> String {
    format!("ORG#{org}")
}

pub fn user(org: &OrgId, user: &UserId) -> Key {
    Key::new(org_partition(org), format!("USER#{user}"))
}

pub fn session(token_hash: &str) -> Key {
    Key::new(format!("SESSION#{token_hash}"), "SESSION")
}

pub fn validated_session(sid_hash: &str) -> Key {
    Key::new(format!("SFSESSION#{sid_hash}"), "SFSESSION")
}

pub fn idempotency(org: &OrgId, key: &str) -> Key {
    Key::new(org_partition(org), format!("IDEMPOTENCY#{key}"))
}

pub fn checkpoint(org: &OrgId, object: RecipientObject) -> Key {
    Key::new(org_partition(org), format!("CHECKPOINT#{}", object.api_name()))
}

/// Recipients spread over this many partitions per org: one partition takes ~1,000 writes/s.
pub const RECIPIENT_SHARDS: u8 = 16;

/// The shard of a record id (FNV-1a: stable across processes and versions).
pub fn recipient_shard(id: &RecordId) -> u8 {
    let hash =
        id.as_bytes().iter().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193));
    (hash % u32::from(RECIPIENT_SHARDS)) as u8
}

pub fn recipient_partition(org: &OrgId, shard: u8) -> String {
    format!("ORG#{org}#R{shard:02}")
}

pub fn recipient(org: &OrgId, id: &RecordId) -> Key {
    Key::new(recipient_partition(org, recipient_shard(id)), id.as_str())
}

/// The token that changes whenever an org's recipients do: warm functions keep an org's
/// recipients in memory until it changes.
pub fn recipients_version(org: &OrgId) -> Key {
    Key::new(org_partition(org), "RECIPIENTS#VERSION")
}

/// The additional fields the sync found readable and filterable for an org.
pub fn org_fields(org: &OrgId) -> Key {
    Key::new(org_partition(org), "FIELDS")
}

pub fn list(org: &OrgId, list: &str) -> Key {
    Key::new(org_partition(org), format!("LIST#{list}"))
}

/// A static list's members live in a partition of their own.
pub fn list_members_partition(org: &OrgId, list: &str) -> String {
    format!("ORG#{org}#L#{list}")
}

pub fn list_member(org: &OrgId, list: &str, record: &RecordId) -> Key {
    Key::new(list_members_partition(org, list), record.as_str())
}

/// A pending selection stands alone, like a session: its token is its key.
pub fn selection(token: &str) -> Key {
    Key::new(format!("SELECTION#{token}"), "SELECTION")
}

pub fn write_back(org: &OrgId, record: &RecordId, change: &Change) -> Key {
    Key::new(org_partition(org), format!("WRITEBACK#{}#{record}", change.kind()))
}

pub fn dead_letter(org: &OrgId, record: &RecordId, change: &Change) -> Key {
    Key::new(org_partition(org), format!("DEADLETTER#{}#{record}", change.kind()))
}

pub fn campaign(org: &OrgId, campaign: &str) -> Key {
    Key::new(org_partition(org), format!("CAMPAIGN#{campaign}"))
}

/// A campaign's bodies, in parts small enough for a DynamoDB item (400 KB).
pub fn campaign_content(org: &OrgId, campaign: &str, part: usize) -> Key {
    Key::new(org_partition(org), format!("{}{part:02}", campaign_content_prefix(campaign)))
}

pub fn campaign_content_prefix(campaign: &str) -> String {
    format!("CAMPAIGNBODY#{campaign}#")
}

/// A campaign's running totals live beside it, the senders' apart from the recipients': once
/// every address is settled the senders' are written afresh, while events still add to the others.
pub fn campaign_counts(org: &OrgId, campaign: &str, sending: bool) -> Key {
    let part = if sending { "SENDING" } else { "EVENTS" };
    Key::new(org_partition(org), format!("CAMPAIGNCOUNTS#{campaign}#{part}"))
}

/// A campaign's addresses spread over this many partitions, each sent by one sender at a time.
pub const CAMPAIGN_SEGMENTS: u8 = 16;

/// The segment of an address (FNV-1a, as recipient shards).
pub fn delivery_segment(address: &str) -> u8 {
    let hash = address.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    (hash % u32::from(CAMPAIGN_SEGMENTS)) as u8
}

pub fn deliveries_partition(org: &OrgId, campaign: &str, segment: u8) -> String {
    format!("ORG#{org}#C#{campaign}#S{segment:02}")
}

pub fn delivery(org: &OrgId, campaign: &str, address: &str) -> Key {
    Key::new(deliveries_partition(org, campaign, delivery_segment(address)), address)
}

/// How far a sent campaign's Tasks are recorded in Salesforce.
pub fn activity_progress(org: &OrgId, campaign: &str) -> Key {
    Key::new(org_partition(org), format!("CAMPAIGNTASKS#{campaign}"))
}

/// Written once a segment has no address left to send.
pub fn segment_done(org: &OrgId, campaign: &str, segment: u8) -> Key {
    Key::new(org_partition(org), format!("CAMPAIGNSEGMENT#{campaign}#{segment:02}"))
}

/// The org's suppression list: addresses no campaign may go to again.
pub fn suppression(org: &OrgId, address: &str) -> Key {
    Key::new(suppressions_partition(org), address)
}

pub fn suppressions_partition(org: &OrgId) -> String {
    format!("ORG#{org}#SUPPRESSED")
}

/// Written by the app to start or resume a campaign; its DynamoDB stream record starts the
/// send function.
pub fn campaign_request(org: &OrgId, campaign: &str) -> Key {
    Key::new(org_partition(org), format!("CAMPAIGNREQUEST#{campaign}"))
}

/// Messages handed to SES in one second, across every sender: SES's rate is per account.
pub fn send_window(second: i64) -> Key {
    Key::new(format!("SESRATE#{second}"), "RATE")
}

/// Runs sort newest first: the sort key counts down from `i64::MAX`.
pub fn sync_run(org: &OrgId, started_at_millis: i64, run_id: &str) -> Key {
    Key::new(org_partition(org), format!("RUN#{:019}#{run_id}", i64::MAX - started_at_millis))
}

pub fn sync_lease(org: &OrgId) -> Key {
    Key::new(org_partition(org), "SYNCLEASE")
}

/// Written by the Apex "sync now" call; its DynamoDB stream record starts the sync function.
pub fn sync_request(org: &OrgId) -> Key {
    Key::new(org_partition(org), "SYNCREQUEST")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        let ids: Vec<RecordId> = (0..1000).map(|n| RecordId::parse(&format!("003q0000{n:07}")).unwrap()).collect();
        let mut counts = [0u32; RECIPIENT_SHARDS as usize];
        for id in &ids {
            counts[usize::from(recipient_shard(id))] += 1;
        }
        assert!(counts.iter().all(|&c| c > 30), "{counts:?}");
        assert_eq!(recipient_shard(&ids[0]), recipient_shard(&RecordId::parse(ids[0].as_str()).unwrap()));
        let org = OrgId::parse("00Dx0000000BV7z").unwrap();
        assert_eq!(recipient_partition(&org, 7), "ORG#00Dx0000000BV7zEAG#R07");
        assert_eq!(recipient_partition(&org, 15), "ORG#00Dx0000000BV7zEAG#R15");
    }

    #[test]
    fn newer_runs_sort_first() {
        let org = OrgId::parse("00Dx0000000BV7z").unwrap();
        assert!(sync_run(&org, 2_000, "b").sk < sync_run(&org, 1_000, "a").sk);
    }
}
