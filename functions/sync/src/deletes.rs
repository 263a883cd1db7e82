//! Deletes that bypass the recycle bin (hard deletes, emptied bins): getDeleted since the last
//! check, or a full reconciliation by id once getDeleted's 15-day window has passed.

use std::collections::HashSet;

use futures::StreamExt;
use outpost_shared::ids::{RecipientObject, RecordId};
use outpost_shared::salesforce::{QueryOptions, SalesforceError, SfDateTime};
use outpost_shared::store::{Applied, Recipient, SyncCheckpoint};

use crate::records::{self, IdRecord};
use crate::run::{Interrupt, Run};

impl Run<'_> {
    /// Looks for deletes at most once per `deletes_check_interval`.
    pub(crate) async fn check_deletes(
        &mut self,
        object: RecipientObject,
        checkpoint: &mut SyncCheckpoint,
    ) -> Result<(), Interrupt> {
        let Some(since) = checkpoint.deletes_checked_until else {
            return Ok(());
        };
        let now = SfDateTime::now();
        let settings = &self.ctx.settings;
        let interval_ms = i64::try_from(settings.deletes_check_interval.as_millis()).unwrap_or(i64::MAX);
        if now.millis() - since.millis() < interval_ms {
            return Ok(());
        }
        self.may_call()?;
        let window_ms = i64::try_from(settings.deleted_log_window.as_millis()).unwrap_or(i64::MAX);
        if now.millis() - since.millis() > window_ms {
            return self.reconcile(object, checkpoint).await;
        }
        match self.conn.get_deleted(object.api_name(), since, now).await {
            Ok(deleted) => {
                let tombstones: Vec<Recipient> = deleted
                    .deleted_records
                    .iter()
                    .filter_map(|d| {
                        let id = RecordId::parse_for(object, &d.id).ok()?;
                        Some(Recipient::tombstone(id, d.deleted_date.millis()))
                    })
                    .collect();
                let ids: Vec<RecordId> = tombstones.iter().map(|t| t.id).collect();
                let members = self.count_stored_members(&ids).await?;
                self.ctx.services.store.apply_recipients(&self.org.org_id, &tombstones).await?;
                self.record.object_mut(object).deleted += members;
                // Minute-granular and Salesforce's own clock: never let it move the check back.
                let covered = deleted.latest_date_covered.unwrap_or(now);
                checkpoint.deletes_checked_until = Some(covered.max(since));
                Ok(())
            }
            Err(SalesforceError::BadRequest { code, .. }) if code == "INVALID_REPLICATION_DATE" => {
                self.reconcile(object, checkpoint).await
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Tombstones every stored member that Salesforce no longer has.
    async fn reconcile(&mut self, object: RecipientObject, checkpoint: &mut SyncCheckpoint) -> Result<(), Interrupt> {
        tracing::info!(object = object.api_name(), "reconciling deletes by id");
        let started = SfDateTime::now();
        let options = QueryOptions { include_deleted: false, batch_size: Some(self.ctx.settings.page_size) };
        let soql = records::all_ids(object);
        let mut live: HashSet<RecordId> = HashSet::new();
        let mut pages = std::pin::pin!(self.conn.query::<IdRecord>(&soql, options));
        while let Some(page) = pages.next().await {
            self.may_call()?;
            live.extend(page?.iter().filter_map(|r| RecordId::parse_for(object, &r.id).ok()));
        }
        let store = &self.ctx.services.store;
        let mut cursor = None;
        let mut removed = 0u64;
        loop {
            let (stored, next) = store.list_recipients(&self.org.org_id, object, cursor, 1000).await?;
            let gone: Vec<Recipient> = stored
                .iter()
                .filter(|r| r.is_member() && !live.contains(&r.id))
                .map(|r| Recipient::tombstone(r.id, started.millis()))
                .collect();
            let applied = store.apply_recipients(&self.org.org_id, &gone).await?;
            removed += applied.iter().filter(|a| **a == Applied::Written).count() as u64;
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        self.record.object_mut(object).deleted += removed;
        checkpoint.deletes_checked_until = Some(started.max(checkpoint.deletes_checked_until.unwrap_or(started)));
        Ok(())
    }
}
