//! Salesforce ids: 15→18-char normalisation with the case checksum, and typed newtypes per key prefix.
//!
//! Every id Outpost keeps or compares is the canonical 18-char form: the first 15 characters as
//! Salesforce issued them (case-sensitive) and the 3-char checksum that encodes their case.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Why a string is not a Salesforce id (of the expected kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a Salesforce id has 15 or 18 characters")]
    Length,
    #[error("a Salesforce id has only letters and digits")]
    Charset,
    #[error("the 18-character id's checksum does not match its first 15 characters")]
    Checksum,
    #[error("the id's key prefix is not {expected}")]
    Prefix { expected: &'static str },
}

/// The 3-character case checksum of a 15-character id (docs/salesforce.md#ids).
fn checksum(id15: &[u8]) -> [u8; 3] {
    let mut suffix = [0u8; 3];
    for (chunk, out) in id15.chunks(5).zip(suffix.iter_mut()) {
        let bits =
            chunk.iter().enumerate().filter(|(_, c)| c.is_ascii_uppercase()).fold(0usize, |acc, (j, _)| acc | (1 << j));
        *out = CHECKSUM_ALPHABET[bits];
    }
    suffix
}

/// Any Salesforce id, always held in its canonical 18-character form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SalesforceId([u8; 18]);

impl SalesforceId {
    /// Parses a 15- or 18-character id; an 18-character id must carry the right checksum.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let bytes = input.as_bytes();
        if bytes.len() != 15 && bytes.len() != 18 {
            return Err(IdError::Length);
        }
        if !bytes.iter().all(u8::is_ascii_alphanumeric) {
            return Err(IdError::Charset);
        }
        let suffix = checksum(&bytes[..15]);
        if bytes.len() == 18 && !bytes[15..].eq_ignore_ascii_case(&suffix) {
            return Err(IdError::Checksum);
        }
        let mut canonical = [0u8; 18];
        canonical[..15].copy_from_slice(&bytes[..15]);
        canonical[15..].copy_from_slice(&suffix);
        Ok(Self(canonical))
    }

    /// The canonical 18-character form.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ids are ASCII by construction")
    }

    /// The canonical form's bytes, without [`SalesforceId::as_str`]'s UTF-8 check.
    pub fn as_bytes(&self) -> &[u8; 18] {
        &self.0
    }

    /// The 15-character, case-sensitive form (what session ids and many merge fields carry).
    pub fn as_15(&self) -> &str {
        &self.as_str()[..15]
    }

    /// The 3-character key prefix that names the object type.
    pub fn key_prefix(&self) -> &str {
        std::str::from_utf8(&self.0[..3]).expect("ids are ASCII by construction")
    }
}

impl fmt::Display for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SalesforceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SalesforceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::parsed::from_str_with(deserializer, "a Salesforce id", Self::parse)
    }
}

/// Declares an id newtype that only admits one key prefix.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(SalesforceId);

        impl $name {
            /// The key prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// Parses a 15- or 18-character id and checks its key prefix.
            pub fn parse(input: &str) -> Result<Self, IdError> {
                let id = SalesforceId::parse(input)?;
                if id.key_prefix() != Self::PREFIX {
                    return Err(IdError::Prefix { expected: Self::PREFIX });
                }
                Ok(Self(id))
            }

            /// The canonical 18-character form.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The 15-character form.
            pub fn as_15(&self) -> &str {
                self.0.as_15()
            }

            /// The untyped id.
            pub fn id(&self) -> SalesforceId {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::parsed::from_str_with(deserializer, concat!("a ", stringify!($name)), Self::parse)
            }
        }
    };
}

typed_id!(
    /// An organization id (`00D`).
    OrgId,
    "00D"
);
typed_id!(
    /// A user id (`005`).
    UserId,
    "005"
);
typed_id!(
    /// A Contact id (`003`).
    ContactId,
    "003"
);
typed_id!(
    /// A Lead id (`00Q`).
    LeadId,
    "00Q"
);

/// The objects Outpost keeps recipients for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum RecipientObject {
    Contact,
    Lead,
}

impl RecipientObject {
    /// Both objects, in sync order.
    pub const ALL: [RecipientObject; 2] = [RecipientObject::Contact, RecipientObject::Lead];

    /// The sObject API name.
    pub fn api_name(self) -> &'static str {
        match self {
            RecipientObject::Contact => "Contact",
            RecipientObject::Lead => "Lead",
        }
    }

    /// Parses an sObject API name (exact, as Salesforce spells it).
    pub fn from_api_name(name: &str) -> Option<Self> {
        match name {
            "Contact" => Some(RecipientObject::Contact),
            "Lead" => Some(RecipientObject::Lead),
            _ => None,
        }
    }

    fn key_prefix(self) -> &'static str {
        match self {
            RecipientObject::Contact => ContactId::PREFIX,
            RecipientObject::Lead => LeadId::PREFIX,
        }
    }
}

/// A Contact or Lead id: the record context a link may carry and the key of a recipient.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct RecordId(SalesforceId);

impl RecordId {
    /// Parses a Contact (`003`) or Lead (`00Q`) id.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let id = SalesforceId::parse(input)?;
        if RecipientObject::ALL.iter().any(|object| object.key_prefix() == id.key_prefix()) {
            Ok(Self(id))
        } else {
            Err(IdError::Prefix { expected: "003 or 00Q" })
        }
    }

    /// Parses an id that must belong to `object`.
    pub fn parse_for(object: RecipientObject, input: &str) -> Result<Self, IdError> {
        let id = SalesforceId::parse(input)?;
        if id.key_prefix() == object.key_prefix() {
            Ok(Self(id))
        } else {
            Err(IdError::Prefix { expected: object.key_prefix() })
        }
    }

    /// Which object the id belongs to.
    pub fn object(&self) -> RecipientObject {
        if self.0.key_prefix() == ContactId::PREFIX { RecipientObject::Contact } else { RecipientObject::Lead }
    }

    /// The canonical 18-character form.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The canonical form's bytes.
    pub fn as_bytes(&self) -> &[u8; 18] {
        self.0.as_bytes()
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RecordId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::parsed::from_str_with(deserializer, "a Contact or Lead id", Self::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vector of docs/salesforce.md#ids.
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
    fn normalises_every_documented_vector_to_18_chars() {
        for (short, long) in VECTORS {
            assert_eq!(SalesforceId::parse(short).unwrap().as_str(), *long, "{short}");
            assert_eq!(SalesforceId::parse(long).unwrap().as_str(), *long, "{long}");
        }
    }

    #[test]
    fn rejects_the_widely_copied_wrong_checksum() {
        assert_eq!(SalesforceId::parse("a0D30000001n7PiEAC"), Err(IdError::Checksum));
    }

    #[test]
    fn accepts_a_lower_cased_suffix_and_canonicalises_it() {
        let id = SalesforceId::parse("00Dx0000000BV7zeag").unwrap();
        assert_eq!(id.as_str(), "00Dx0000000BV7zEAG");
    }

    #[test]
    fn rejects_an_18_char_id_whose_first_15_were_recased() {
        // Lower-casing the body changes the case bits, so the suffix no longer matches.
        assert_eq!(SalesforceId::parse("00dx0000000bv7zEAG"), Err(IdError::Checksum));
    }

    #[test]
    fn rejects_wrong_lengths_and_characters() {
        for bad in ["", "00Dx0000000BV7", "00Dx0000000BV7zE", "00Dx0000000BV7zEAGX"] {
            assert_eq!(SalesforceId::parse(bad), Err(IdError::Length), "{bad:?}");
        }
        for bad in ["00Dx0000000BV7!", "00Dx0000000BV7 ", "00Dx0000000BV7é"] {
            assert!(SalesforceId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn typed_ids_check_their_key_prefix() {
        assert!(OrgId::parse("00Dx0000000BV7z").is_ok());
        assert_eq!(OrgId::parse("005x00000012Q9P"), Err(IdError::Prefix { expected: "00D" }));
        assert!(UserId::parse("005x00000012Q9PAAU").is_ok());
        assert!(UserId::parse("00Dx0000000BV7z").is_err());
        assert!(ContactId::parse("003q000000KvQ1t").is_ok());
        assert!(LeadId::parse("00Qq000000KvQ1t").is_ok());
        assert!(LeadId::parse("003q000000KvQ1t").is_err());
    }

    #[test]
    fn record_ids_admit_contacts_and_leads_only() {
        let contact = RecordId::parse("003q000000KvQ1t").unwrap();
        assert_eq!(contact.object(), RecipientObject::Contact);
        assert_eq!(contact.as_str(), "003q000000KvQ1tAAF");
        let lead = RecordId::parse("00Qq000000KvQ1t").unwrap();
        assert_eq!(lead.object(), RecipientObject::Lead);
        assert!(RecordId::parse("001q000000KvQ1t").is_err());
        assert!(RecordId::parse_for(RecipientObject::Lead, "003q000000KvQ1t").is_err());
    }

    #[test]
    fn the_15_char_form_keeps_case() {
        let org = OrgId::parse("00Dx0000000BV7zEAG").unwrap();
        assert_eq!(org.as_15(), "00Dx0000000BV7z");
    }

    #[test]
    fn serde_round_trips_through_the_canonical_form() {
        let org: OrgId = serde_json::from_str("\"00Dx0000000BV7z\"").unwrap();
        assert_eq!(serde_json::to_string(&org).unwrap(), "\"00Dx0000000BV7zEAG\"");
        assert!(serde_json::from_str::<OrgId>("\"005x00000012Q9P\"").is_err());
    }
}
