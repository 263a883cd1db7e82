//! Salesforce record ids (docs/salesforce.md#ids): the 18-char checksum, a compact
//! `Copy` id type, and generators whose ids sort (byte order) in creation order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Key prefix of Contact records.
pub const CONTACT_PREFIX: &str = "003";
/// Key prefix of Account records.
pub const ACCOUNT_PREFIX: &str = "001";
/// Key prefix of Lead records.
pub const LEAD_PREFIX: &str = "00Q";
/// Key prefix of User records.
pub const USER_PREFIX: &str = "005";
/// Key prefix of Organization ids.
pub const ORG_PREFIX: &str = "00D";
/// Key prefix of Task records.
pub const TASK_PREFIX: &str = "00T";
/// Key prefix of Bulk API jobs.
pub const BULK_JOB_PREFIX: &str = "750";
/// Key prefix of query locators.
pub const QUERY_LOCATOR_PREFIX: &str = "0r8";

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
/// Base-62 digits in ASCII order, so fixed-width counters sort like numbers.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 3-char case-insensitive checksum suffix of a 15-char id (docs/salesforce.md#ids).
pub fn checksum(id15: &[u8; 15]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (chunk, slot) in id15.chunks(5).zip(out.iter_mut()) {
        let v =
            chunk.iter().enumerate().filter(|(_, c)| c.is_ascii_uppercase()).fold(0usize, |acc, (j, _)| acc | (1 << j));
        *slot = SUFFIX_ALPHABET[v];
    }
    out
}

/// Converts a 15-char id to its 18-char form; `None` if it is not 15 alphanumerics.
pub fn to18(id15: &str) -> Option<String> {
    SfId::parse(id15).map(|id| id.to_string())
}

/// Why a string is not a Salesforce id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Salesforce id: {0:?}")]
pub struct InvalidId(pub String);

/// A canonical 18-char Salesforce id, stored inline (`Copy`, cheap to hash and compare).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SfId([u8; 18]);

impl SfId {
    /// Parses a 15- or 18-char id; an 18-char id must carry the right (case-insensitive) checksum.
    pub fn parse(s: &str) -> Option<SfId> {
        let b = s.as_bytes();
        if (b.len() != 15 && b.len() != 18) || !b.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut id15 = [0u8; 15];
        id15.copy_from_slice(&b[..15]);
        let sum = checksum(&id15);
        if b.len() == 18 && !b[15..].eq_ignore_ascii_case(&sum) {
            return None;
        }
        let mut out = [0u8; 18];
        out[..15].copy_from_slice(&id15);
        out[15..].copy_from_slice(&sum);
        Some(SfId(out))
    }

    /// Builds an id from its 15 significant chars (which must be ASCII alphanumerics).
    fn from15(id15: [u8; 15]) -> SfId {
        let sum = checksum(&id15);
        let mut out = [0u8; 18];
        out[..15].copy_from_slice(&id15);
        out[15..].copy_from_slice(&sum);
        SfId(out)
    }

    /// The canonical 18-char form.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The case-sensitive 15-char form (what `{!$User.Id}` yields in a link).
    pub fn as15(&self) -> &str {
        &self.as_str()[..15]
    }

    /// The 3-char key prefix (`003`, `00Q`, …).
    pub fn prefix(&self) -> &str {
        &self.as_str()[..3]
    }
}

impl fmt::Display for SfId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SfId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SfId({})", self.as_str())
    }
}

impl FromStr for SfId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SfId::parse(s).ok_or_else(|| InvalidId(s.to_owned()))
    }
}

impl Serialize for SfId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SfId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SfId::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid id {s:?}")))
    }
}

/// Builds ids `<prefix><pod 2 chars><10 base-62 digits>` from a counter, so that later ids
/// compare greater byte-wise (the sim relies on this to keep tables sorted by id).
pub fn make_id(prefix: &str, pod: [u8; 2], counter: u64) -> SfId {
    let mut id15 = [b'0'; 15];
    id15[..3].copy_from_slice(&prefix.as_bytes()[..3]);
    id15[3..5].copy_from_slice(&pod);
    let mut n = counter;
    for slot in id15[5..].iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    SfId::from15(id15)
}

/// The two "pod" characters that follow the key prefix, taken from the org id like real ids.
pub fn pod_of(org: &SfId) -> [u8; 2] {
    let b = org.as_str().as_bytes();
    [b[3], b[4]]
}

/// Random id-like strings for tokens, codes and locators.
pub fn random_chars(alphabet: &[u8], len: usize) -> String {
    let mut bytes = vec![0u8; len];
    // aws-lc's RNG only fails if the OS RNG is unavailable; fall back to a time-seeded mix.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let mut seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9);
        for b in &mut bytes {
            seed = crate::data::splitmix64(&mut seed);
            *b = seed as u8;
        }
    }
    bytes.iter().map(|b| alphabet[*b as usize % alphabet.len()] as char).collect()
}

/// Alphanumeric alphabet for random strings.
pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &[(&str, &str)] = &[
        ("00Di0000000icUB", "00Di0000000icUBEAY"),
        ("005i0000002MUqL", "005i0000002MUqLAAW"),
        ("00ei0000001CMKc", "00ei0000001CMKcAAO"),
        ("00DRO0000008aXd", "00DRO0000008aXd2AI"),
        ("005RO000000Hfnk", "005RO000000HfnkYAC"),
        ("003q000000KvQ1t", "003q000000KvQ1tAAF"),
        ("a00D0000008pQRA", "a00D0000008pQRAIA2"),
        ("00Dx0000000BV7z", "00Dx0000000BV7zEAG"),
        ("005x00000012Q9P", "005x00000012Q9PAAU"),
        ("a0BA0000000L2ZC", "a0BA0000000L2ZCMA0"),
        ("AaaAABbbBBCccCC", "AaaAABbbBBCccCCZZZ"),
        ("AAaAAbbBBBCcCCC", "AAaAAbbBBBCcCCC123"),
        ("ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO555"),
        ("70130000001tcyI", "70130000001tcyIAAQ"),
        ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
    ];

    #[test]
    fn checksum_matches_the_doc_vectors() {
        for (id15, id18) in VECTORS {
            assert_eq!(to18(id15).as_deref(), Some(*id18), "{id15}");
            assert_eq!(SfId::parse(id18).map(|i| i.to_string()).as_deref(), Some(*id18));
        }
    }

    #[test]
    fn rejects_wrong_checksum_and_accepts_lowercase_suffix() {
        assert!(SfId::parse("a0D30000001n7PiEAC").is_none());
        assert_eq!(SfId::parse("00Di0000000icUBeay").map(|i| i.to_string()).as_deref(), Some("00Di0000000icUBEAY"));
        assert!(SfId::parse("00Di0000000icU").is_none());
        assert!(SfId::parse("00Di0000000icU!").is_none());
    }

    #[test]
    fn generated_ids_sort_in_creation_order() {
        let pod = [b'5', b'e'];
        let mut prev = make_id(CONTACT_PREFIX, pod, 0);
        for n in [1u64, 9, 10, 61, 62, 63, 3843, 3844, 1_000_000, 99_999_999] {
            let id = make_id(CONTACT_PREFIX, pod, n);
            assert!(id.as_str() > prev.as_str(), "{id} !> {prev}");
            assert!(SfId::parse(id.as_str()).is_some());
            prev = id;
        }
    }
}
