//! Large first loads through Bulk API 2.0: a query job, checkpointed by id so a poll or a read
//! that outlives the run resumes in the next one, read page by page through `Sforce-Locator`.

use std::collections::HashMap;
use std::time::Instant;

use outpost_shared::ids::RecipientObject;
use outpost_shared::salesforce::{BulkJobState, SalesforceError};
use outpost_shared::store::{BulkJobCheckpoint, SyncCheckpoint, SyncCursor};

use crate::run::{Interrupt, Run, Stop};

impl Run<'_> {
    /// Starts the object's full-load job and checkpoints it before anything else happens.
    pub(crate) async fn start_bulk(
        &mut self,
        object: RecipientObject,
        checkpoint: &mut SyncCheckpoint,
    ) -> Result<(), Interrupt> {
        self.may_call()?;
        let job = self.conn.create_bulk_query(&self.selected(object).full_load(), false).await?;
        // Records changed while the job runs are newer than this; the REST pull after it catches them.
        let started_at = job.created_date.unwrap_or(self.started).plus_seconds(-60);
        checkpoint.bulk_job = Some(BulkJobCheckpoint { job_id: job.id, locator: None, started_at });
        self.ctx.services.store.put_checkpoint(checkpoint).await?;
        self.record.object_mut(object).bulk = true;
        Ok(())
    }

    /// Polls the checkpointed job (a poll that outlives the run resumes next run), then reads its
    /// CSV pages by locator until Salesforce answers `null`.
    pub(crate) async fn read_bulk(
        &mut self,
        object: RecipientObject,
        checkpoint: &mut SyncCheckpoint,
    ) -> Result<(), Interrupt> {
        let Some(job) = checkpoint.bulk_job.clone() else {
            return Ok(());
        };
        self.record.object_mut(object).bulk = true;
        if job.locator.is_none() {
            self.wait_for_job(&job, checkpoint).await?;
        }
        let mut locator = job.locator.clone();
        loop {
            self.may_call()?;
            let page = match self.conn.bulk_results(&job.job_id, locator.as_deref(), None).await {
                Err(SalesforceError::NotFound { .. }) => {
                    return Err(self.drop_bulk(checkpoint, &job, "no longer exists").await);
                }
                page => page?,
            };
            let selected = self.selected(object);
            let rows = page.rows::<HashMap<String, String>>()?.into_iter().map(|cells| selected.csv_row(cells));
            let (recipients, _) = selected.recipients(rows.collect::<Result<_, _>>()?)?;
            locator = page.next_locator;
            let Some(bulk) = checkpoint.bulk_job.as_mut() else {
                return Ok(());
            };
            bulk.locator = locator.clone().or_else(|| Some("null".into()));
            if locator.is_none() {
                checkpoint.cursor = Some(SyncCursor { modstamp: job.started_at, id: String::new() });
                checkpoint.bulk_job = None;
            }
            self.save_page(object, recipients, None, checkpoint).await?;
            if locator.is_none() {
                return Ok(());
            }
        }
    }

    /// Polls until the job completes; a job that will never deliver is dropped.
    async fn wait_for_job(
        &mut self,
        job: &BulkJobCheckpoint,
        checkpoint: &mut SyncCheckpoint,
    ) -> Result<(), Interrupt> {
        loop {
            self.may_call()?;
            let status = match self.conn.bulk_job(&job.job_id).await {
                Err(SalesforceError::NotFound { .. }) => {
                    return Err(self.drop_bulk(checkpoint, job, "no longer exists").await);
                }
                status => status?,
            };
            match status.state {
                BulkJobState::JobComplete => return Ok(()),
                BulkJobState::Failed | BulkJobState::Aborted => {
                    let message = status.error_message.unwrap_or_else(|| "no message".into());
                    let why = format!("ended {:?}: {message}", status.state);
                    return Err(self.drop_bulk(checkpoint, job, &why).await);
                }
                _ => {
                    let remaining = self.options.deadline.saturating_duration_since(Instant::now());
                    let wait = self.ctx.settings.bulk_poll_interval;
                    if remaining < wait + self.ctx.settings.deadline_margin {
                        return Err(Interrupt::Stop(Stop::Deadline));
                    }
                    self.keep_lease().await?;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Forgets a job that will never deliver (failed, aborted, or deleted on Salesforce's side, as
    /// it does 7 days after a job ends); the next run starts the load over. Returns why, to report.
    async fn drop_bulk(&self, checkpoint: &mut SyncCheckpoint, job: &BulkJobCheckpoint, why: &str) -> Interrupt {
        checkpoint.bulk_job = None;
        if let Err(err) = self.ctx.services.store.put_checkpoint(checkpoint).await {
            return err.into();
        }
        Interrupt::Salesforce(SalesforceError::BadRequest {
            code: "BULK_JOB_FAILED".into(),
            message: format!("Bulk job {} {why}", job.job_id),
        })
    }
}
