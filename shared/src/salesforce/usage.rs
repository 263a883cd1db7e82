//! `Sforce-Limit-Info` (`api-usage=25/5000; per-app-api-usage=17/250(appName=x)`), read on every
//! response, and a meter that counts the calls one piece of work made.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The org's API usage as of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUsage {
    pub used: u64,
    pub limit: u64,
}

impl ApiUsage {
    /// Parses a `Sforce-Limit-Info` header value; `None` when it carries no `api-usage`.
    pub fn parse(header: &str) -> Option<Self> {
        header.split(';').find_map(|part| {
            let value = part.trim().strip_prefix("api-usage=")?;
            let (used, limit) = value.split_once('/')?;
            Some(Self { used: used.trim().parse().ok()?, limit: limit.trim().parse().ok()? })
        })
    }

    /// Share of the daily allocation used, 0.0..=1.0+.
    pub fn fraction(&self) -> f64 {
        if self.limit == 0 { 1.0 } else { self.used as f64 / self.limit as f64 }
    }
}

impl std::fmt::Display for ApiUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.used, self.limit)
    }
}

/// Counts API calls and remembers the latest usage Salesforce reported.
#[derive(Debug, Default)]
pub struct ApiMeter {
    calls: AtomicU64,
    latest: Mutex<Option<ApiUsage>>,
}

impl ApiMeter {
    /// Requests sent (every attempt, including retries).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The latest `Sforce-Limit-Info` seen.
    pub fn latest(&self) -> Option<ApiUsage> {
        *self.latest.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn count_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record(&self, usage: ApiUsage) {
        *self.latest.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(usage);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_per_app_usage() {
        assert_eq!(ApiUsage::parse("api-usage=18/5000"), Some(ApiUsage { used: 18, limit: 5000 }));
        assert_eq!(
            ApiUsage::parse("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)"),
            Some(ApiUsage { used: 25, limit: 5000 })
        );
        assert_eq!(
            ApiUsage::parse("per-app-api-usage=17/250(appName=x); api-usage=3/15000"),
            Some(ApiUsage { used: 3, limit: 15000 })
        );
        assert_eq!(ApiUsage::parse("api-usage=x/5000"), None);
        assert_eq!(ApiUsage::parse(""), None);
    }

    #[test]
    fn meter_counts_and_keeps_the_latest_usage() {
        let meter = ApiMeter::default();
        meter.count_call();
        meter.count_call();
        meter.record(ApiUsage { used: 1, limit: 10 });
        meter.record(ApiUsage { used: 2, limit: 10 });
        assert_eq!(meter.calls(), 2);
        assert_eq!(meter.latest(), Some(ApiUsage { used: 2, limit: 10 }));
        assert!((meter.latest().unwrap().fraction() - 0.2).abs() < 1e-9);
    }
}
