//! What a campaign is, and what became of each address it went to.

use serde::{Deserialize, Serialize};

use crate::ids::{OrgId, RecordId, UserId};
use crate::store::{EpochSeconds, Recipient};

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Sending,
    Paused,
    Sent,
    Cancelled,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Sending => "sending",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Sent => "sent",
            CampaignStatus::Cancelled => "cancelled",
        }
    }
}

/// Why a campaign is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// A user paused it.
    Requested,
    /// The account's 24-hour sending quota is spent; it resumes by itself when quota is back.
    Quota,
    /// SES refuses to send for the account (sending paused or the account suspended).
    SendingDisabled,
    /// The list's conditions name a field the org no longer syncs: edit the list, then resume.
    ListNeedsEdit,
}

impl PauseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PauseReason::Requested => "requested",
            PauseReason::Quota => "quota",
            PauseReason::SendingDisabled => "sending_disabled",
            PauseReason::ListNeedsEdit => "list_needs_edit",
        }
    }
}

/// A campaign: one message, written once, sent to a list's members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub org_id: OrgId,
    /// 16 URL-safe characters.
    pub id: String,
    pub list_id: String,
    /// The list's name when the campaign was written (the list may be renamed or deleted later).
    pub list_name: String,
    pub owner_id: UserId,
    pub subject: String,
    pub from: String,
    #[serde(default)]
    pub reply_to: Option<String>,
    pub status: CampaignStatus,
    #[serde(default)]
    pub pause_reason: Option<PauseReason>,
    /// Set once every recipient is written down: from then on membership never changes.
    #[serde(default)]
    pub frozen: bool,
    /// Addresses frozen into the campaign.
    #[serde(default)]
    pub recipients: u64,
    /// The last address the freeze wrote (it writes in address order): where it carries on.
    #[serde(default)]
    pub freeze_after: Option<String>,
    /// Members the list excluded (no or bad address, opted out, bounced, duplicates, deleted).
    #[serde(default)]
    pub excluded: u64,
    /// Members left out because their address is on the org's suppression list.
    #[serde(default)]
    pub suppressed: u64,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
    #[serde(default)]
    pub started_at: Option<EpochSeconds>,
    #[serde(default)]
    pub finished_at: Option<EpochSeconds>,
    /// Changes with every write, so concurrent writers cannot undo each other.
    pub revision: String,
}

/// A campaign's bodies, kept apart from the campaign: they are written once and may be large,
/// while the campaign is read before every chunk and rewritten at every change of status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignContent {
    pub html: String,
    pub text: String,
}

/// How far a campaign got: running totals, each counted once per address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Addresses frozen into the campaign.
    #[serde(default)]
    pub recipients: u64,
    /// Accepted by SES.
    #[serde(default)]
    pub sent: u64,
    #[serde(default)]
    pub delivered: u64,
    /// Permanent and transient bounces together.
    #[serde(default)]
    pub bounced: u64,
    #[serde(default)]
    pub bounced_permanent: u64,
    #[serde(default)]
    pub bounced_transient: u64,
    #[serde(default)]
    pub complained: u64,
    #[serde(default)]
    pub unsubscribed: u64,
    /// Refused by SES for this message (the address is on the account's suppression list, say).
    #[serde(default)]
    pub failed: u64,
    /// Claimed, but whether SES accepted it cannot be known (a crash or timeout between the send
    /// and its record): never resent.
    #[serde(default)]
    pub unknown: u64,
    /// Not sent: the address joined the suppression list after the campaign was frozen.
    #[serde(default)]
    pub skipped: u64,
}

/// A counter of [`Counts`], as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    Recipients,
    Sent,
    Delivered,
    BouncedPermanent,
    BouncedTransient,
    Complained,
    Unsubscribed,
    Failed,
    Unknown,
    Skipped,
}

impl Counter {
    /// Whether senders move this total (as opposed to what recipients do later): once every
    /// address is settled, these are counted afresh from the addresses.
    pub fn is_sending(self) -> bool {
        matches!(self, Counter::Sent | Counter::Failed | Counter::Unknown | Counter::Skipped)
    }

    /// The attribute that holds the counter.
    pub fn attribute(self) -> &'static str {
        match self {
            Counter::Recipients => "recipients",
            Counter::Sent => "sent",
            Counter::Delivered => "delivered",
            Counter::BouncedPermanent => "bounced_permanent",
            Counter::BouncedTransient => "bounced_transient",
            Counter::Complained => "complained",
            Counter::Unsubscribed => "unsubscribed",
            Counter::Failed => "failed",
            Counter::Unknown => "unknown",
            Counter::Skipped => "skipped",
        }
    }
}

/// Where the send of one address stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendState {
    /// Waiting to be sent.
    Queued,
    /// A sender took it and is about to hand it to SES.
    Claimed,
    /// SES accepted it (`message_id` says which message).
    Sent,
    /// SES refused this message.
    Failed,
    /// Claimed by a sender that never recorded the outcome.
    Unknown,
    /// Not sent: suppressed (unsubscribed, complained, bounced) after the campaign was frozen.
    Skipped,
}

impl SendState {
    pub fn as_str(self) -> &'static str {
        match self {
            SendState::Queued => "queued",
            SendState::Claimed => "claimed",
            SendState::Sent => "sent",
            SendState::Failed => "failed",
            SendState::Unknown => "unknown",
            SendState::Skipped => "skipped",
        }
    }
}

/// Whether a bounce is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceKind {
    Permanent,
    /// SES gave up after retrying, but a later message may get through.
    Transient,
}

/// One address of a campaign, frozen when sending starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Trimmed and lower-cased: the key, one message per address.
    pub address: String,
    /// The record whose details fill the merge fields (a Contact before a Lead of one address).
    pub record: RecordId,
    /// The address as Salesforce spells it.
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    /// A string attribute, so a claim can be conditional on it.
    pub state: SendState,
    #[serde(default)]
    pub message_id: Option<String>,
    /// When the claim was taken, to tell a crashed sender's claim from a live one.
    #[serde(default)]
    pub claimed_at: Option<EpochSeconds>,
    /// Which sender took the claim.
    #[serde(default)]
    pub claimed_by: Option<String>,
    #[serde(default)]
    pub delivered: bool,
    #[serde(default)]
    pub bounce: Option<BounceKind>,
    #[serde(default)]
    pub complained: bool,
    #[serde(default)]
    pub unsubscribed: bool,
    /// Why SES refused it, or what the bounce said.
    #[serde(default)]
    pub detail: Option<String>,
    pub updated_at: EpochSeconds,
    /// Changes with every write: event updates are conditional on it.
    pub stamp: String,
}

impl Delivery {
    /// An address waiting to be sent to, its merge fields from `recipient`.
    pub fn queued(recipient: &Recipient, email: &str, now: EpochSeconds) -> Self {
        Self {
            address: email.trim().to_lowercase(),
            record: recipient.id,
            email: email.trim().to_owned(),
            first_name: recipient.first_name.clone(),
            last_name: recipient.last_name.clone(),
            // A Contact's company is its Account.
            company: recipient.company.clone().or_else(|| recipient.account_name.clone()),
            state: SendState::Queued,
            message_id: None,
            claimed_at: None,
            claimed_by: None,
            delivered: false,
            bounce: None,
            complained: false,
            unsubscribed: false,
            detail: None,
            updated_at: now,
            stamp: crate::crypto::random_token(),
        }
    }

    /// What a person looking for this address wants to know, most telling first.
    pub fn status(&self) -> &'static str {
        if self.unsubscribed {
            "unsubscribed"
        } else if self.complained {
            "complained"
        } else if let Some(bounce) = self.bounce {
            match bounce {
                BounceKind::Permanent => "bounced",
                BounceKind::Transient => "bounced_transient",
            }
        } else if self.delivered {
            "delivered"
        } else {
            self.state.as_str()
        }
    }
}

/// Why an address is on the org's suppression list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    Unsubscribed,
    Complained,
    Bounced,
}

/// An address no campaign of the org may go to again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub org_id: OrgId,
    pub address: String,
    pub reason: SuppressionReason,
    /// The campaign it came from.
    #[serde(default)]
    pub campaign_id: Option<String>,
    pub at: EpochSeconds,
}

/// What the app asks of the send function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum CampaignRequest {
    /// Start (or resume) sending.
    Start,
    /// Send one test message to `to`, rendered for `record`.
    Test { to: String, record: Option<RecordId> },
}

/// How far the Tasks of a sent campaign are recorded in Salesforce (orgs that ask for them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityProgress {
    /// The segment being recorded, and the last address recorded in it.
    pub segment: u8,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub done: bool,
}
