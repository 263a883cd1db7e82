//! Evaluating a list over an org's recipients: the records its definition selects, less the ones
//! mail must never go to, one recipient per address.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::condition::Condition;
use crate::ids::{RecipientObject, RecordId};
use crate::store::Recipient;

/// How a list selects records.
#[derive(Debug, Clone)]
pub enum Selection<'a> {
    /// Records meeting all (or any) of the conditions; no condition selects every record.
    Conditions { match_all: bool, conditions: &'a [Condition] },
    /// The records added to a static list.
    Members(&'a HashSet<RecordId>),
}

/// What a list is evaluated for.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub objects: &'a [RecipientObject],
    pub selection: Selection<'a>,
    /// Only records this user owns (the org's `owner` visibility).
    pub owner: Option<&'a str>,
}

/// Records a list selected that mail will not go to, by reason (each counted once, under the
/// first reason that applies, in this order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusions {
    pub deleted: u64,
    pub converted: u64,
    pub no_email: u64,
    pub invalid_email: u64,
    pub opted_out: u64,
    pub bounced: u64,
    pub duplicate_email: u64,
}

impl Exclusions {
    pub fn total(&self) -> u64 {
        self.deleted
            + self.converted
            + self.no_email
            + self.invalid_email
            + self.opted_out
            + self.bounced
            + self.duplicate_email
    }
}

/// A list's members and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// The members' positions among the recipients evaluated, in their order.
    pub members: Vec<usize>,
    pub excluded: Exclusions,
}

impl Evaluation {
    /// The members among `recipients` (the ones evaluated).
    pub fn members<'a>(&'a self, recipients: &'a [Recipient]) -> impl ExactSizeIterator<Item = &'a Recipient> {
        self.members.iter().map(move |index| &recipients[*index])
    }
}

/// Whether mail could be delivered to `address` at all: RFC 5322 syntax, and a domain with a dot
/// (an address on a bare host name reaches no one outside that network).
pub fn is_deliverable_address(address: &str) -> bool {
    let Ok(parsed) = address.parse::<email_address::EmailAddress>() else {
        return false;
    };
    let domain = parsed.domain();
    domain.contains('.') && !domain.ends_with('.') && !domain.starts_with('[')
}

/// A recipient's address as evaluation compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Address {
    Missing,
    Invalid,
    /// Trimmed and lower-cased: one recipient per address, compared case-insensitively.
    Usable(Box<str>),
}

impl Address {
    fn of(recipient: &Recipient) -> Self {
        match recipient.email.as_deref().map(str::trim) {
            None | Some("") => Address::Missing,
            Some(address) if !is_deliverable_address(address) => Address::Invalid,
            Some(address) => Address::Usable(address.to_lowercase().into_boxed_str()),
        }
    }
}

/// An org's recipients, with each address checked and normalised once when they are read: a
/// warm function evaluates the same recipients for many requests.
#[derive(Debug, Default)]
pub struct Recipients {
    records: Vec<Recipient>,
    addresses: Vec<Address>,
}

impl Recipients {
    pub fn new(records: Vec<Recipient>) -> Self {
        let addresses = records.iter().map(Address::of).collect();
        Self { records, addresses }
    }
}

impl std::ops::Deref for Recipients {
    type Target = [Recipient];

    fn deref(&self) -> &[Recipient] {
        &self.records
    }
}

/// Why mail must not go to `recipient`, whatever the list says.
fn excluded_for(recipient: &Recipient, address: &Address, excluded: &mut Exclusions) -> bool {
    let counter = if recipient.deleted {
        &mut excluded.deleted
    } else if recipient.converted {
        &mut excluded.converted
    } else {
        match address {
            Address::Missing => &mut excluded.no_email,
            Address::Invalid => &mut excluded.invalid_email,
            _ if recipient.opted_out => &mut excluded.opted_out,
            _ if recipient.bounced => &mut excluded.bounced,
            Address::Usable(_) => return false,
        }
    };
    *counter += 1;
    true
}

/// Which of two recipients sharing an address receives the mail: a Contact before a Lead, then
/// the most recently modified, then the lower id (so every evaluation picks the same one).
fn preferred(candidate: &Recipient, holder: &Recipient) -> bool {
    let rank = |r: &Recipient| {
        (r.id.object() == RecipientObject::Contact, r.last_modified_at.map_or(r.modstamp, |at| at.millis()))
    };
    (rank(candidate), std::cmp::Reverse(candidate.id)) > (rank(holder), std::cmp::Reverse(holder.id))
}

/// Evaluates `query` over `recipients`.
pub fn evaluate(recipients: &Recipients, query: &Query<'_>) -> Evaluation {
    let mut excluded = Exclusions::default();
    let selected = recipients.records.iter().enumerate().filter(|(_, recipient)| {
        query.objects.contains(&recipient.id.object())
            && query.owner.is_none_or(|owner| recipient.owner_id.as_deref() == Some(owner))
            && match &query.selection {
                Selection::Conditions { match_all: true, conditions } => {
                    conditions.iter().all(|condition| condition.matches(recipient))
                }
                Selection::Conditions { match_all: false, conditions } => {
                    conditions.is_empty() || conditions.iter().any(|condition| condition.matches(recipient))
                }
                Selection::Members(members) => members.contains(&recipient.id),
            }
    });
    let candidates: Vec<usize> = selected
        .filter(|(index, recipient)| !excluded_for(recipient, &recipients.addresses[*index], &mut excluded))
        .map(|(index, _)| index)
        .collect();
    // One recipient per address.
    let mut holders: HashMap<&str, usize> = HashMap::with_capacity(candidates.len());
    for &index in &candidates {
        let Address::Usable(address) = &recipients.addresses[index] else { continue };
        match holders.get_mut(&**address) {
            None => {
                holders.insert(address, index);
            }
            Some(holder) if preferred(&recipients.records[index], &recipients.records[*holder]) => *holder = index,
            Some(_) => {}
        }
    }
    let mut keep = vec![false; recipients.records.len()];
    for index in holders.into_values() {
        keep[index] = true;
    }
    let candidate_count = candidates.len();
    let members: Vec<usize> = candidates.into_iter().filter(|index| keep[*index]).collect();
    excluded.duplicate_email = (candidate_count - members.len()) as u64;
    Evaluation { members, excluded }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::condition::{ConditionSpec, Op};
    use crate::lists::fields::Catalog;
    use crate::salesforce::SfDateTime;

    fn recipient(id: &str, email: Option<&str>, edit: impl FnOnce(&mut Recipient)) -> Recipient {
        let mut recipient = Recipient::empty(RecordId::parse(id).unwrap(), 1);
        recipient.email = email.map(str::to_owned);
        edit(&mut recipient);
        recipient
    }

    const BOTH: [RecipientObject; 2] = RecipientObject::ALL;

    fn all<'a>(objects: &'a [RecipientObject], conditions: &'a [Condition]) -> Query<'a> {
        Query { objects, selection: Selection::Conditions { match_all: true, conditions }, owner: None }
    }

    fn ids(evaluation: &Evaluation, recipients: &[Recipient]) -> Vec<String> {
        evaluation.members(recipients).map(|r| r.id.as_str()[..15].to_owned()).collect()
    }

    #[test]
    fn exclusions_are_counted_once_each_under_the_first_reason() {
        let recipients = vec![
            recipient("003q0000000000A", Some("ok@example.com"), |_| {}),
            recipient("003q0000000000B", Some("gone@example.com"), |r| {
                r.deleted = true;
                r.opted_out = true;
            }),
            recipient("00Qq0000000000C", Some("lead@example.com"), |r| r.converted = true),
            recipient("003q0000000000D", None, |_| {}),
            recipient("003q0000000000E", Some("  "), |_| {}),
            recipient("003q0000000000F", Some("john..doe@example.com"), |_| {}),
            recipient("003q0000000000G", Some("user@intranet"), |_| {}),
            recipient("003q0000000000H", Some("out@example.com"), |r| {
                r.opted_out = true;
                r.bounced = true;
            }),
            recipient("003q0000000000J", Some("bounced@example.com"), |r| r.bounced = true),
        ];
        let evaluation = evaluate(&Recipients::new(recipients.clone()), &all(&BOTH, &[]));
        assert_eq!(ids(&evaluation, &recipients), ["003q0000000000A"]);
        let expected = Exclusions {
            deleted: 1,
            converted: 1,
            no_email: 2,
            invalid_email: 2,
            opted_out: 1,
            bounced: 1,
            duplicate_email: 0,
        };
        assert_eq!(evaluation.excluded, expected);
        assert_eq!(evaluation.excluded.total() + 1, recipients.len() as u64);
    }

    #[test]
    fn one_recipient_per_address_a_contact_first_then_the_latest_modified() {
        let modified = |text: &str| Some(SfDateTime::parse(text).unwrap());
        let recipients = vec![
            recipient("00Qq0000000000A", Some("Ada@Example.com"), |r| {
                r.last_modified_at = modified("2026-05-01T00:00:00Z")
            }),
            recipient("003q0000000000B", Some("ada@example.com"), |r| {
                r.last_modified_at = modified("2026-01-01T00:00:00Z")
            }),
            recipient("003q0000000000C", Some("ADA@example.com"), |r| {
                r.last_modified_at = modified("2026-02-01T00:00:00Z")
            }),
            recipient("00Qq0000000000D", Some("grace@example.com"), |r| {
                r.last_modified_at = modified("2026-01-01T00:00:00Z")
            }),
            recipient("00Qq0000000000E", Some("grace@example.com"), |r| {
                r.last_modified_at = modified("2026-03-01T00:00:00Z")
            }),
        ];
        let evaluation = evaluate(&Recipients::new(recipients.clone()), &all(&BOTH, &[]));
        assert_eq!(ids(&evaluation, &recipients), ["003q0000000000C", "00Qq0000000000E"]);
        assert_eq!(evaluation.excluded.duplicate_email, 3);
        // Only Leads: the Lead wins among Leads.
        let leads = evaluate(&Recipients::new(recipients.clone()), &all(&[RecipientObject::Lead], &[]));
        assert_eq!(ids(&leads, &recipients), ["00Qq0000000000A", "00Qq0000000000E"]);
    }

    #[test]
    fn conditions_combine_all_or_any_and_owners_see_their_own() {
        let catalog = Catalog::default();
        let condition = |field: &str, op: Op, value: &str| {
            let spec = ConditionSpec { field: field.into(), op, value: Some(serde_json::json!(value)) };
            Condition::check(&spec, &catalog, 0).unwrap()
        };
        let recipients = vec![
            recipient("003q0000000000A", Some("a@acme.com"), |r| r.owner_id = Some("005q0000000000AAAA".into())),
            recipient("003q0000000000B", Some("b@acme.com"), |r| r.title = Some("CEO".into())),
            recipient("00Qq0000000000C", Some("c@other.com"), |r| r.title = Some("CEO".into())),
        ];
        let conditions = [condition("Email", Op::EndsWith, "@acme.com"), condition("Title", Op::Eq, "ceo")];
        assert_eq!(
            ids(&evaluate(&Recipients::new(recipients.clone()), &all(&BOTH, &conditions)), &recipients),
            ["003q0000000000B"]
        );
        let any = Query {
            objects: &BOTH,
            selection: Selection::Conditions { match_all: false, conditions: &conditions },
            owner: None,
        };
        assert_eq!(evaluate(&Recipients::new(recipients.clone()), &any).members.len(), 3);
        let owned = Query { owner: Some("005q0000000000AAAA"), ..any };
        assert_eq!(ids(&evaluate(&Recipients::new(recipients.clone()), &owned), &recipients), ["003q0000000000A"]);
        let members: HashSet<RecordId> = [recipients[2].id].into();
        let picked = Query { objects: &BOTH, selection: Selection::Members(&members), owner: None };
        assert_eq!(ids(&evaluate(&Recipients::new(recipients.clone()), &picked), &recipients), ["00Qq0000000000C"]);
    }

    #[test]
    fn deliverable_addresses() {
        for good in ["ada@example.com", "first.last+tag@sub.example.co.uk", "o'brien@example.ie"] {
            assert!(is_deliverable_address(good), "{good}");
        }
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "john..doe@example.com",
            "user@intranet",
            "a@example.com.",
            "a b@example.com",
        ] {
            assert!(!is_deliverable_address(bad), "{bad}");
        }
    }
}
