//! Campaign activity in Salesforce, for orgs whose registration asks for it (`record_tasks`): one
//! completed Task per address a sent campaign reached, subject `Email: <subject>` (merge fields
//! empty, fallbacks applied), created by the
//! package's Apex REST class 200 at a time as the integration user, within the run's API budget.
//! Progress is kept per campaign, so each run carries on where the last stopped.

use outpost_shared::campaigns::{ActivityProgress, CampaignStatus, SendState, generic_subject};
use outpost_shared::ids::RecordId;
use outpost_shared::salesforce::{ACTIVITY_LIMIT, ActivityRequest, ActivityResponse, SalesforceError, SfDateTime};
use outpost_shared::store::keys::CAMPAIGN_SEGMENTS;

use crate::run::{Interrupt, Run};

/// Task.Subject holds 255 characters.
const SUBJECT_LENGTH: usize = 255;

/// The Task subject for a campaign's subject.
fn task_subject(subject: &str) -> String {
    format!("Email: {}", generic_subject(subject)).chars().take(SUBJECT_LENGTH).collect()
}

impl Run<'_> {
    /// Records the Tasks of every sent campaign not yet recorded.
    pub(crate) async fn record_campaign_activity(&mut self) -> Result<(), Interrupt> {
        if !self.org.settings.record_tasks {
            return Ok(());
        }
        let store = std::sync::Arc::clone(&self.ctx.services.store);
        let org = self.org.org_id;
        let sent = store.campaigns(&org).await?.into_iter().filter(|c| c.status == CampaignStatus::Sent);
        for campaign in sent {
            let mut progress = store.activity_progress(&org, &campaign.id).await?;
            let subject = task_subject(&campaign.subject);
            while !progress.done {
                let (page, next) = store
                    .deliveries(&org, &campaign.id, progress.segment, progress.after.as_deref(), ACTIVITY_LIMIT)
                    .await?;
                let reached: Vec<RecordId> =
                    page.iter().filter(|delivery| delivery.state == SendState::Sent).map(|d| d.record).collect();
                if !reached.is_empty() {
                    self.may_call()?;
                    let request = ActivityRequest {
                        subject: subject.clone(),
                        description: None,
                        activity_date: SfDateTime::now().date(),
                        who_ids: reached,
                    };
                    let response = self.activity(&request).await?;
                    let recorded = response.results.iter().filter(|result| result.success).count() as u64;
                    self.record.activity.recorded += recorded;
                    self.record.activity.failed += response.results.len() as u64 - recorded;
                }
                progress = match next {
                    Some(after) => ActivityProgress { after: Some(after), ..progress },
                    None if progress.segment + 1 < CAMPAIGN_SEGMENTS => {
                        ActivityProgress { segment: progress.segment + 1, after: None, done: false }
                    }
                    None => ActivityProgress { done: true, ..progress },
                };
                // Saved after the call: a crash between the two records that page again.
                store.put_activity_progress(&org, &campaign.id, &progress).await?;
            }
        }
        Ok(())
    }

    /// One activity call, renewing the session once if it expired.
    async fn activity(&mut self, request: &ActivityRequest) -> Result<ActivityResponse, Interrupt> {
        loop {
            match self.conn.record_activity(self.org.namespace.as_ref(), request).await {
                Ok(response) => return Ok(response),
                Err(SalesforceError::SessionExpired) => self.renew_session().await?,
                Err(err) => return Err(Interrupt::from(err)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_subjects_fit_the_field() {
        assert_eq!(task_subject("Spring news"), "Email: Spring news");
        assert_eq!(task_subject(&"é".repeat(400)).chars().count(), SUBJECT_LENGTH);
    }
}
