//! The work the send function is given: on AWS each job is an SQS message (or a DynamoDB stream
//! record for a start request); locally a channel carries them.

use std::time::Duration;

use async_trait::async_trait;
use outpost_shared::ids::{OrgId, RecordId};
use serde::{Deserialize, Serialize};

/// One piece of sending work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Freeze the campaign's membership (once), then hand each unfinished segment to a sender.
    Start { org_id: OrgId, campaign_id: String },
    /// Send one segment's queued addresses, then every `lanes`-th segment after it: a campaign
    /// runs as many senders side by side as the account's rate needs.
    Segment {
        org_id: OrgId,
        campaign_id: String,
        segment: u8,
        #[serde(default = "all_lanes")]
        lanes: u8,
    },
    /// Send the campaign, rendered for `record` (or a sample), to one address outside the list.
    Test { org_id: OrgId, campaign_id: String, to: String, record: Option<RecordId> },
    /// Resume campaigns paused for quota when the account has quota again.
    QuotaCheck,
}

fn all_lanes() -> u8 {
    outpost_shared::store::keys::CAMPAIGN_SEGMENTS
}

/// Why a job could not be queued.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the job queue is unavailable: {0}")]
pub struct QueueError(pub String);

/// Where jobs go: SQS on AWS, a channel locally.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Queues `job` to run after `delay`.
    async fn enqueue(&self, job: &Job, delay: Duration) -> Result<(), QueueError>;
}
