//! The token in a message's unsubscribe link: signed with the app secret, naming the campaign and
//! recipient, and needing no login (RFC 8058 one-click).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{OrgId, RecordId};
use crate::signed::{SignedError, Signer};

/// The signer purpose: a token minted for anything else never unsubscribes anyone.
const PURPOSE: &str = "unsubscribe";
/// Links stay good long after the mail is read: people unsubscribe from old mail too.
const LIFETIME: Duration = Duration::from_secs(5 * 365 * 24 * 3600);

/// Who an unsubscribe link is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    #[serde(rename = "o")]
    pub org_id: OrgId,
    #[serde(rename = "c")]
    pub campaign_id: String,
    #[serde(rename = "r")]
    pub record: RecordId,
}

impl Unsubscribe {
    pub fn token(&self, signer: &Signer) -> String {
        signer.seal(PURPOSE, self, LIFETIME)
    }

    pub fn open(signer: &Signer, token: &str) -> Result<Self, SignedError> {
        signer.open(PURPOSE, token)
    }

    /// The link under Outpost's public URL.
    pub fn url(&self, signer: &Signer, public_url: &str) -> String {
        format!("{}/u/{}", public_url.trim_end_matches('/'), self.token(signer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_open_only_with_their_key_and_purpose() {
        let signer = Signer::new(&[7; 32]);
        let claim = Unsubscribe {
            org_id: OrgId::parse("00Dx0000000BV7z").unwrap(),
            campaign_id: "c".repeat(16),
            record: RecordId::parse("003000000000001").unwrap(),
        };
        let token = claim.token(&signer);
        assert_eq!(Unsubscribe::open(&signer, &token).unwrap(), claim);
        assert!(claim.url(&signer, "https://o.example/").starts_with("https://o.example/u/"));
        assert_eq!(Unsubscribe::open(&Signer::new(&[8; 32]), &token), Err(SignedError::Invalid));
        let other_purpose = signer.seal("csrf", &claim, Duration::from_secs(60));
        assert_eq!(Unsubscribe::open(&signer, &other_purpose), Err(SignedError::Invalid));
        let mut tampered = token.clone();
        tampered.insert(3, 'x');
        assert!(Unsubscribe::open(&signer, &tampered).is_err());
    }
}
