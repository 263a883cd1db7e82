//! Writing queued changes (opt-outs, bounces) back to Salesforce with sObject Collections, 200
//! records a request, `allOrNone=false`. A record Salesforce refuses is retried with backoff and
//! becomes a dead letter after its last attempt; so does every record of a request Salesforce
//! refuses whole, so the queue is never stuck behind it.

use std::time::Duration;

use outpost_shared::crypto;
use outpost_shared::salesforce::{RecordResult, RecordWrite, SalesforceError};
use outpost_shared::store::{Change, WriteBack, now_epoch};
use serde_json::{Map, Value};

use crate::run::{Interrupt, Run, Stop};

/// Failures no retry can fix.
const PERMANENT_FAILURES: &[&str] =
    &["ENTITY_IS_DELETED", "CANNOT_UPDATE_CONVERTED_LEAD", "INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID"];

/// What became of one queued change.
enum Settled {
    Done,
    /// Failed, with Salesforce's error, and permanently so.
    Failed {
        error: String,
        permanent: bool,
    },
}

impl Run<'_> {
    /// Writes the changes that were due when the run began, a Collections request at a time.
    pub(crate) async fn write_back(&mut self) -> Result<(), Interrupt> {
        let due = match self.due_write_backs.take() {
            Some(read) => read.await.map_err(|err| Stop::Fatal(err.to_string()))??,
            None => {
                let limit = self.ctx.settings.write_back_per_run;
                self.ctx.services.store.due_write_backs(&self.org.org_id, now_epoch(), limit).await?
            }
        };
        for chunk in due.chunks(200) {
            self.may_call()?;
            let writes: Vec<RecordWrite> = chunk.iter().map(record_write).collect();
            let outcomes: Vec<Settled> = match self.update(&writes).await? {
                Ok(results) => results.iter().map(settled).collect(),
                Err(refused) => {
                    // The request as a whole was refused: each record takes a failed attempt.
                    tracing::warn!(
                        code = refused.code(),
                        records = chunk.len(),
                        "Salesforce refused a write-back request"
                    );
                    chunk.iter().map(|_| Settled::Failed { error: refused.to_string(), permanent: false }).collect()
                }
            };
            for (change, outcome) in chunk.iter().zip(outcomes) {
                self.settle(change, outcome).await?;
            }
        }
        Ok(())
    }

    /// One Collections update: renewing the session once if it expired, stopping on a limit.
    /// `Err` inside is a refusal of the whole request.
    async fn update(
        &mut self,
        writes: &[RecordWrite],
    ) -> Result<Result<Vec<RecordResult>, SalesforceError>, Interrupt> {
        loop {
            match self.conn.update_records(writes).await {
                Ok(results) => return Ok(Ok(results)),
                Err(SalesforceError::SessionExpired) => self.renew_session().await?,
                Err(err) => match Interrupt::from(err) {
                    Interrupt::Stop(stop) => return Err(stop.into()),
                    Interrupt::Salesforce(refused) => return Ok(Err(refused)),
                },
            }
        }
    }

    async fn settle(&mut self, change: &WriteBack, outcome: Settled) -> Result<(), Interrupt> {
        let store = &self.ctx.services.store;
        let settings = &self.ctx.settings;
        let (error, permanent) = match outcome {
            Settled::Done => {
                store.complete_write_back(change).await?;
                self.record.write_back.ok += 1;
                return Ok(());
            }
            Settled::Failed { error, permanent } => (error, permanent),
        };
        let attempts = change.attempts + 1;
        let failed = WriteBack {
            attempts,
            next_attempt_at: now_epoch() + backoff_seconds(settings.write_back_base_delay, attempts),
            last_error: Some(error),
            ..change.clone()
        };
        if permanent || attempts >= settings.write_back_max_attempts {
            tracing::warn!(record = %change.record, error = ?failed.last_error, "write-back became a dead letter");
            store.bury_write_back(&failed).await?;
            self.record.write_back.dead += 1;
        } else {
            store.retry_write_back(&failed).await?;
            self.record.write_back.failed += 1;
        }
        Ok(())
    }
}

fn settled(result: &RecordResult) -> Settled {
    if result.success {
        return Settled::Done;
    }
    let error =
        result.errors.iter().map(|e| format!("{}: {}", e.status_code, e.message)).collect::<Vec<_>>().join("; ");
    let permanent = result.errors.iter().any(|e| PERMANENT_FAILURES.contains(&e.status_code.as_str()));
    Settled::Failed { error, permanent }
}

/// Exponential backoff with full jitter: up to `base·2^(attempt-1)`.
fn backoff_seconds(base: Duration, attempt: u32) -> i64 {
    let ceiling = base.as_secs().saturating_mul(1 << (attempt.saturating_sub(1)).min(16)).max(1);
    let jitter = u64::from_le_bytes(crypto::random_bytes::<8>()) % ceiling;
    i64::try_from(ceiling / 2 + jitter / 2).unwrap_or(i64::MAX)
}

fn record_write(change: &WriteBack) -> RecordWrite {
    let mut fields = Map::new();
    match &change.change {
        Change::OptOut => {
            fields.insert("HasOptedOutOfEmail".into(), Value::Bool(true));
        }
        Change::Bounce { reason, bounced_at } => {
            fields.insert("EmailBouncedReason".into(), Value::String(reason.clone()));
            fields.insert("EmailBouncedDate".into(), Value::String(bounced_at.to_string()));
        }
    }
    RecordWrite { sobject: change.record.object().api_name().to_owned(), id: Some(change.record.to_string()), fields }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_its_ceiling() {
        let base = Duration::from_secs(60);
        for attempt in 1..6 {
            let ceiling = 60i64 << (attempt - 1);
            for _ in 0..50 {
                let wait = backoff_seconds(base, attempt);
                assert!((ceiling / 2..=ceiling).contains(&wait), "attempt {attempt}: {wait}");
            }
        }
        assert!(backoff_seconds(Duration::ZERO, 3) <= 1);
    }
}
