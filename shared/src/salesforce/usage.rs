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
    /// Whether this is the app's own share (`per-app-api-usage`) rather than the org's.
    #[serde(default)]
    pub per_app: bool,
}

impl ApiUsage {
    /// Parses a `Sforce-Limit-Info` header value: the org's `api-usage` or, when it is the
    /// tighter of the two, this app's `per-app-api-usage`. `None` when it carries neither.
    pub fn parse(header: &str) -> Option<Self> {
        header
            .split(';')
            .filter_map(|part| {
                let part = part.trim();
                let (value, per_app) = match part.strip_prefix("api-usage=") {
                    Some(value) => (value, false),
                    None => (part.strip_prefix("per-app-api-usage=")?, true),
                };
                // `per-app-api-usage=17/250(appName=x)`: the app's name follows the numbers.
                let value = value.split_once('(').map_or(value, |(numbers, _)| numbers);
                let (used, limit) = value.split_once('/')?;
                Some(Self { used: used.trim().parse().ok()?, limit: limit.trim().parse().ok()?, per_app })
            })
            .max_by(|a, b| a.fraction().total_cmp(&b.fraction()))
    }

    /// Share of the daily allocation used, 0.0..=1.0+.
    pub fn fraction(&self) -> f64 {
        if self.limit == 0 { 1.0 } else { self.used as f64 / self.limit as f64 }
    }
}

/// `used/limit`, and ` per app` for the app's own share.
impl std::fmt::Display for ApiUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}{}", self.used, self.limit, if self.per_app { " per app" } else { "" })
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
    fn parses_plain_usage_and_takes_the_per_app_share_when_it_is_tighter() {
        let org = |used, limit| ApiUsage { used, limit, per_app: false };
        let app = |used, limit| ApiUsage { used, limit, per_app: true };
        assert_eq!(ApiUsage::parse("api-usage=18/5000"), Some(org(18, 5000)));
        let tighter = ApiUsage::parse("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)");
        assert_eq!(tighter, Some(app(17, 250)));
        assert_eq!(tighter.unwrap().to_string(), "17/250 per app");
        assert_eq!(ApiUsage::parse("per-app-api-usage=1/250(appName=x); api-usage=3000/15000"), Some(org(3000, 15000)));
        assert_eq!(ApiUsage::parse("per-app-api-usage=240/250(appName=x)"), Some(app(240, 250)));
        assert_eq!(ApiUsage::parse("api-usage=x/5000"), None);
        assert_eq!(ApiUsage::parse(""), None);
    }

    #[test]
    fn meter_counts_and_keeps_the_latest_usage() {
        let meter = ApiMeter::default();
        meter.count_call();
        meter.count_call();
        meter.record(ApiUsage { used: 1, limit: 10, per_app: false });
        meter.record(ApiUsage { used: 2, limit: 10, per_app: false });
        assert_eq!(meter.calls(), 2);
        assert_eq!(meter.latest(), Some(ApiUsage { used: 2, limit: 10, per_app: false }));
        assert!((meter.latest().unwrap().fraction() - 0.2).abs() < 1e-9);
    }
}
