//! The one thing sending needs from SES, as a trait: the local stack's outbox and Amazon SES v2
//! both implement it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A header SES adds to the message as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// A rendered message to one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMessage {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub reply_to: Option<String>,
    pub subject: String,
    pub headers: Vec<Header>,
    pub text: String,
    pub html: String,
    /// Tags SES publishes with the message's events (`[A-Za-z0-9_-]` names and values).
    pub tags: Vec<(String, String)>,
}

impl OutgoingMessage {
    /// The value of a tag this message carries.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.iter().find(|(tag, _)| tag == name).map(|(_, value)| value.as_str())
    }
}

/// Why a message was not sent, by what the sender may do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// SES refused this message and will refuse it again (a rejected or suppressed address).
    #[error("refused: {0}")]
    Rejected(String),
    /// Faster than the account's rate: it was not sent; try again shortly.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The 24-hour quota is spent: it was not sent.
    #[error("the daily sending quota is spent")]
    QuotaExceeded,
    /// SES refuses to send for the account at all: it was not sent.
    #[error("sending is disabled for the account: {0}")]
    SendingDisabled(String),
    /// The request never reached SES: it was not sent.
    #[error("SES was not reached: {0}")]
    NotSent(String),
    /// The request may or may not have been accepted (a timeout, a lost answer).
    #[error("SES's answer was lost: {0}")]
    Unknown(String),
}

/// The account's sending limits, as SES reports them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SendQuota {
    /// Messages per second.
    pub max_send_rate: f64,
    /// Messages per 24 hours; negative means no limit.
    pub max_24_hour_send: f64,
    pub sent_last_24_hours: f64,
}

impl SendQuota {
    /// How many more messages the account may send now.
    pub fn remaining(&self) -> u64 {
        if self.max_24_hour_send < 0.0 {
            return u64::MAX;
        }
        let left = (self.max_24_hour_send - self.sent_last_24_hours).floor();
        if left <= 0.0 { 0 } else { left as u64 }
    }

    /// Whole messages per second, at least one.
    pub fn per_second(&self) -> u64 {
        if self.max_send_rate.is_finite() && self.max_send_rate >= 1.0 { self.max_send_rate as u64 } else { 1 }
    }
}

/// What sends mail: Amazon SES, or the local stack's outbox.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands one message over; its message id on success.
    async fn send(&self, message: &OutgoingMessage) -> Result<String, SendError>;
    /// The account's limits now.
    async fn quota(&self) -> Result<SendQuota, SendError>;
}
