//! Fault injection knobs: latency, 503 storms, session expiry after K calls, JWT refusal,
//! per-record write failures and Bulk job failures. All resettable.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::data::Rng;
use crate::ids::SfId;

/// How the JWT bearer grant refuses the next assertions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JwtRefusal {
    /// `invalid_grant` / `user hasn't approved this consumer`.
    NotApproved,
    /// Any `{"error","error_description"}`.
    Custom {
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
}

/// A per-record write failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFailure {
    /// Status code, e.g. `UNABLE_TO_LOCK_ROW`.
    pub code: String,
    /// Message; a stock one per code when absent.
    #[serde(default)]
    pub message: Option<String>,
    /// Fail only the next K write attempts of that record; `None` = always.
    #[serde(default)]
    pub remaining: Option<u32>,
}

/// The live fault state.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Added to every Salesforce-surface response.
    pub latency: Duration,
    /// Probability that a data/Bulk/Apex call answers 503.
    pub error_rate: f64,
    rng: Rng,
    /// The next K data/Bulk/Apex calls answer 503.
    pub fail_next_calls: u32,
    /// Expire every session after K more successful data calls.
    pub expire_sessions_after_calls: Option<u64>,
    /// JWT bearer refusal.
    pub jwt_refusal: Option<JwtRefusal>,
    /// Record id → failure.
    pub write_failures: HashMap<SfId, WriteFailure>,
    /// The next created Bulk job fails with this message.
    pub bulk_fail_next: Option<String>,
    /// Bulk jobs stay `InProgress` while set.
    pub bulk_never_complete: bool,
    /// Polls answering `InProgress` before `JobComplete`.
    pub bulk_polls_until_complete: u32,
    /// Collections updates are refused whole (400) with this error code while set.
    pub refuse_collection_updates: Option<String>,
}

impl Faults {
    /// No faults; latency and bulk polls from the config.
    pub fn new(latency: Duration, bulk_polls: u32, seed: u64) -> Faults {
        Faults {
            latency,
            error_rate: 0.0,
            rng: Rng::new(seed ^ 0x5eed_f417),
            fail_next_calls: 0,
            expire_sessions_after_calls: None,
            jwt_refusal: None,
            write_failures: HashMap::new(),
            bulk_fail_next: None,
            bulk_never_complete: false,
            bulk_polls_until_complete: bulk_polls,
            refuse_collection_updates: None,
        }
    }

    /// Should this data call be answered with 503? (consumes `fail_next_calls`)
    pub fn take_unavailable(&mut self) -> bool {
        if self.fail_next_calls > 0 {
            self.fail_next_calls -= 1;
            return true;
        }
        self.error_rate > 0.0 && self.rng.chance(self.error_rate)
    }

    /// Counts one successful data call; true when every session must expire now.
    pub fn after_api_call(&mut self) -> bool {
        match self.expire_sessions_after_calls {
            Some(k) if k <= 1 => {
                self.expire_sessions_after_calls = None;
                true
            }
            Some(k) => {
                self.expire_sessions_after_calls = Some(k - 1);
                false
            }
            None => false,
        }
    }

    /// The injected failure for one write attempt on `id`, if any (consumes one attempt).
    pub fn take_write_failure(&mut self, id: &SfId) -> Option<(String, String)> {
        let f = self.write_failures.get_mut(id)?;
        if let Some(n) = &mut f.remaining {
            if *n == 0 {
                self.write_failures.remove(id);
                return None;
            }
            *n -= 1;
        }
        let code = f.code.clone();
        let message = f.message.clone().unwrap_or_else(|| stock_message(&code, id));
        if f.remaining == Some(0) {
            self.write_failures.remove(id);
        }
        Some((code, message))
    }

    /// A serializable view.
    pub fn snapshot(&self) -> FaultSnapshot {
        FaultSnapshot {
            latency_ms: self.latency.as_millis() as u64,
            error_rate: self.error_rate,
            fail_next_calls: self.fail_next_calls,
            expire_sessions_after_calls: self.expire_sessions_after_calls,
            jwt_refusal: self.jwt_refusal.clone(),
            write_failures: self.write_failures.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            bulk_fail_next: self.bulk_fail_next.clone(),
            bulk_never_complete: self.bulk_never_complete,
            bulk_polls_until_complete: self.bulk_polls_until_complete,
        }
    }

    /// Applies a partial update (absent fields unchanged, `null` clears optional knobs).
    pub fn apply(&mut self, u: FaultUpdate) {
        if let Some(ms) = u.latency_ms {
            self.latency = Duration::from_millis(ms);
        }
        if let Some(r) = u.error_rate {
            self.error_rate = r.clamp(0.0, 1.0);
        }
        if let Some(n) = u.fail_next_calls {
            self.fail_next_calls = n;
        }
        if let Some(k) = u.expire_sessions_after_calls {
            self.expire_sessions_after_calls = k;
        }
        if let Some(j) = u.jwt_refusal {
            self.jwt_refusal = j;
        }
        if let Some(b) = u.bulk_fail_next {
            self.bulk_fail_next = b;
        }
        if let Some(b) = u.bulk_never_complete {
            self.bulk_never_complete = b;
        }
        if let Some(n) = u.bulk_polls_until_complete {
            self.bulk_polls_until_complete = n;
        }
    }
}

fn stock_message(code: &str, id: &SfId) -> String {
    match code {
        "UNABLE_TO_LOCK_ROW" => "unable to obtain exclusive access to this record or 1 records".to_owned(),
        "INVALID_FIELD" => "No such column 'Injected__c' on sobject".to_owned(),
        "ENTITY_IS_DELETED" => "entity is deleted".to_owned(),
        "FIELD_CUSTOM_VALIDATION_EXCEPTION" => "Injected validation rule failed".to_owned(),
        _ => format!("injected failure for {id}"),
    }
}

/// Current fault settings (GET `/_sim/faults`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FaultSnapshot {
    /// Latency in ms.
    pub latency_ms: u64,
    /// 503 probability.
    pub error_rate: f64,
    /// Pending forced 503s.
    pub fail_next_calls: u32,
    /// Calls left before all sessions expire.
    pub expire_sessions_after_calls: Option<u64>,
    /// JWT refusal.
    pub jwt_refusal: Option<JwtRefusal>,
    /// Record write failures by id.
    pub write_failures: HashMap<String, WriteFailure>,
    /// Pending Bulk job failure message.
    pub bulk_fail_next: Option<String>,
    /// Bulk jobs never complete.
    pub bulk_never_complete: bool,
    /// Polls before JobComplete.
    pub bulk_polls_until_complete: u32,
}

fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A partial fault update (POST `/_sim/faults`): absent = unchanged, `null` = off.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FaultUpdate {
    /// Latency in ms.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// 503 probability (0..1).
    #[serde(default)]
    pub error_rate: Option<f64>,
    /// Force 503 on the next K data calls.
    #[serde(default)]
    pub fail_next_calls: Option<u32>,
    /// Expire all sessions after K more data calls (`null` = off).
    #[serde(default, deserialize_with = "double")]
    pub expire_sessions_after_calls: Option<Option<u64>>,
    /// JWT refusal (`null` = off).
    #[serde(default, deserialize_with = "double")]
    pub jwt_refusal: Option<Option<JwtRefusal>>,
    /// Fail the next Bulk job with this message (`null` = off).
    #[serde(default, deserialize_with = "double")]
    pub bulk_fail_next: Option<Option<String>>,
    /// Bulk jobs never complete.
    #[serde(default)]
    pub bulk_never_complete: Option<bool>,
    /// Polls before JobComplete.
    #[serde(default)]
    pub bulk_polls_until_complete: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_failures_count_down_and_503s_are_consumed() {
        let mut f = Faults::new(Duration::ZERO, 1, 1);
        let id = SfId::parse("0035g0000000001").unwrap();
        f.write_failures
            .insert(id, WriteFailure { code: "UNABLE_TO_LOCK_ROW".into(), message: None, remaining: Some(2) });
        assert!(f.take_write_failure(&id).is_some());
        assert!(f.take_write_failure(&id).is_some());
        assert!(f.take_write_failure(&id).is_none());
        f.fail_next_calls = 2;
        assert!(f.take_unavailable() && f.take_unavailable() && !f.take_unavailable());
        let u: FaultUpdate =
            serde_json::from_str(r#"{"jwt_refusal":"not_approved","expire_sessions_after_calls":null}"#).unwrap();
        assert_eq!(u.jwt_refusal, Some(Some(JwtRefusal::NotApproved)));
        assert_eq!(u.expire_sessions_after_calls, Some(None));
        assert_eq!(u.bulk_fail_next, None);
    }
}
