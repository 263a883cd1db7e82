//! Sending campaigns through Amazon SES, what SES reports back, and the one-click unsubscribe
//! endpoint (docs/flows.md#campaigns). `main.rs` and `bin/unsubscribe.rs` only adapt Lambda's
//! events to this.

mod feedback;
mod invocation;
pub mod jobs;
mod sender;
pub mod ses;
pub mod unsubscribe;

pub use feedback::{Feedback, Unsubscribed};
pub use invocation::handle;
pub use jobs::{Job, JobQueue, QueueError};
pub use sender::{CAMPAIGN_TAG, CrashPoint, ORG_TAG, SendFailure, SendSettings, Sender, TEST_TAG};
