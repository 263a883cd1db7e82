//! An org's recipients held in memory by a warm function: read whole once, then reused until the
//! org's recipients version changes (a sync run, a callout batch, a local opt-out), so a list's count
//! costs one small read instead of reading every recipient again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Recipients;
use crate::ids::OrgId;
use crate::store::{Store, StoreError};

/// One org's recipients as of a version.
#[derive(Debug)]
pub struct Snapshot {
    pub version: Option<String>,
    pub recipients: Recipients,
}

/// One org's place in the cache: locked while its recipients are read, so concurrent requests
/// read them once.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Snapshot>>>>;

/// The snapshots of the orgs a function has served lately.
#[derive(Debug)]
pub struct SnapshotCache {
    orgs: Mutex<HashMap<OrgId, Slot>>,
    max_orgs: usize,
}

impl SnapshotCache {
    /// A cache that keeps at most `max_orgs` orgs (a function rarely serves more than a few).
    pub fn new(max_orgs: usize) -> Self {
        Self { orgs: Mutex::new(HashMap::new()), max_orgs: max_orgs.max(1) }
    }

    /// The org's recipients as of now: from memory when the version is unchanged.
    pub async fn get(&self, store: &dyn Store, org: &OrgId) -> Result<Arc<Snapshot>, StoreError> {
        let slot = {
            let mut orgs = self.orgs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if !orgs.contains_key(org) && orgs.len() >= self.max_orgs {
                // Forget another org's recipients; this one's will take their place.
                if let Some(other) = orgs.keys().next().copied() {
                    orgs.remove(&other);
                }
            }
            Arc::clone(orgs.entry(*org).or_default())
        };
        let mut held = slot.lock().await;
        let version = store.recipients_version(org).await?;
        if let Some(snapshot) = held.as_ref().filter(|snapshot| snapshot.version == version) {
            return Ok(Arc::clone(snapshot));
        }
        let recipients = store.all_recipients(org).await?;
        tracing::info!(org = %org, recipients = recipients.len(), "read the org's recipients");
        let snapshot = Arc::new(Snapshot { version, recipients: Recipients::new(recipients) });
        *held = Some(Arc::clone(&snapshot));
        Ok(snapshot)
    }
}
