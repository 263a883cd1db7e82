//! Where each kind of item lives in the single table. Both adapters use these keys, so a
//! DynamoDB table and an embedded file hold the same layout.

use super::table::{Key, KeyRef};
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

/// Whether `pk` is one of [`recipient_partition`]'s: `ORG#…#R` and two digits. Read from its
/// ends, as a sync asks once per record.
pub fn is_recipient_partition(pk: &str) -> bool {
    let Some(rest) = pk.strip_prefix("ORG#") else {
        return false;
    };
    matches!(rest.as_bytes(), [.., b'#', b'R', tens, ones] if tens.is_ascii_digit() && ones.is_ascii_digit())
}

pub fn recipient(org: &OrgId, id: &RecordId) -> Key {
    Key::new(recipient_partition(org, recipient_shard(id)), id.as_str())
}

/// The keys of many recipients of one org, as [`recipient`]'s: a page of 2,000 shares the
/// org's 16 partitions, built once, and each key borrows its record's id.
pub struct RecipientKeys {
    partitions: Vec<String>,
}

impl RecipientKeys {
    pub fn new(org: &OrgId) -> Self {
        Self { partitions: (0..RECIPIENT_SHARDS).map(|shard| recipient_partition(org, shard)).collect() }
    }

    pub fn key<'a>(&'a self, id: &'a RecordId) -> KeyRef<'a> {
        KeyRef { pk: &self.partitions[usize::from(recipient_shard(id))], sk: id.as_str() }
    }
}

pub fn write_back(org: &OrgId, record: &RecordId, change: &Change) -> Key {
    Key::new(org_partition(org), format!("WRITEBACK#{}#{record}", change.kind()))
}

pub fn dead_letter(org: &OrgId, record: &RecordId, change: &Change) -> Key {
    Key::new(org_partition(org), format!("DEADLETTER#{}#{record}", change.kind()))
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
        assert!(is_recipient_partition(&recipient(&org, &ids[0]).pk));
        assert_eq!(recipient_partition(&org, 7), "ORG#00Dx0000000BV7zEAG#R07");
        assert_eq!(recipient_partition(&org, 15), "ORG#00Dx0000000BV7zEAG#R15");
        assert!(
            !is_recipient_partition(&org_partition(&org))
                && !is_recipient_partition(&checkpoint(&org, RecipientObject::Lead).pk)
        );
        for (pk, recipients) in [
            ("ORG##R00", true),
            ("ORG#x#R#R99", true),
            ("ORG#R05", false),
            ("ORG#x#R5", false),
            ("ORG#x#R123", false),
            ("ORG#x#r05", false),
            ("ORG#x#R0a", false),
            ("ORG#x#R05#", false),
            ("ORGS#x#R05", false),
            ("SESSION#x#R05", false),
        ] {
            assert_eq!(is_recipient_partition(pk), recipients, "{pk}");
        }
    }

    #[test]
    fn recipient_keys_of_a_batch_are_each_recipients_key() {
        let org = OrgId::parse("00Dx0000000BV7z").unwrap();
        let batch = RecipientKeys::new(&org);
        for n in 0..200 {
            let id = RecordId::parse(&format!("00Qq0000{n:07}")).unwrap();
            assert_eq!(batch.key(&id), KeyRef::from(&recipient(&org, &id)));
        }
    }

    #[test]
    fn newer_runs_sort_first() {
        let org = OrgId::parse("00Dx0000000BV7z").unwrap();
        assert!(sync_run(&org, 2_000, "b").sk < sync_run(&org, 1_000, "a").sk);
    }
}
