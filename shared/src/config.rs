//! Typed configuration, read once at init. On Lambda it comes from the environment that
//! template.yaml sets; the local stack builds the same struct from its command line.

use std::time::Duration;

use crate::hosts::{HostPolicy, SalesforceHost};

/// A configuration value is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Settings every function shares.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table (`OUTPOST_TABLE`).
    pub table_name: String,
    /// The app-wide secret (`OUTPOST_APP_SECRET`).
    pub app_secret_name: String,
    /// Prefix of per-org secret names (`OUTPOST_SECRET_PREFIX`, default `outpost`).
    pub secret_prefix: String,
    /// Outpost's public base URL (`OUTPOST_PUBLIC_URL`), e.g. `https://outpost.example.com`:
    /// the SSO redirect URI is built from it. When unset, the request's host is used.
    pub public_url: Option<String>,
    /// How long secrets stay cached (`OUTPOST_SECRET_TTL_SECONDS`, default 300).
    pub secret_ttl: Duration,
    /// Which Salesforce hosts may be contacted. Always production on Lambda.
    pub host_policy: HostPolicy,
}

fn required(name: &'static str, lookup: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    lookup(name).filter(|value| !value.trim().is_empty()).ok_or(ConfigError::Missing(name))
}

impl Config {
    /// Reads the Lambda environment. There is no variable that admits loopback hosts.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret_ttl = match lookup("OUTPOST_SECRET_TTL_SECONDS") {
            None => Duration::from_secs(300),
            Some(raw) => Duration::from_secs(raw.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "OUTPOST_SECRET_TTL_SECONDS",
                reason: "not a whole number of seconds".into(),
            })?),
        };
        let public_url = lookup("OUTPOST_PUBLIC_URL")
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .filter(|url| !url.is_empty());
        if let Some(url) = &public_url
            && !url.starts_with("https://")
        {
            return Err(ConfigError::Invalid { name: "OUTPOST_PUBLIC_URL", reason: "must be an https URL".into() });
        }
        Ok(Self {
            table_name: required("OUTPOST_TABLE", &lookup)?,
            app_secret_name: required("OUTPOST_APP_SECRET", &lookup)?,
            secret_prefix: lookup("OUTPOST_SECRET_PREFIX").unwrap_or_else(|| "outpost".into()),
            public_url,
            secret_ttl,
            host_policy: HostPolicy::production(),
        })
    }

    /// Validates a host under this process's policy.
    pub fn salesforce_host(&self, host: &str) -> Result<SalesforceHost, crate::hosts::HostError> {
        SalesforceHost::from_host(host, self.host_policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_required_and_default_values() {
        let config = Config::from_lookup(lookup(&[
            ("OUTPOST_TABLE", "outpost"),
            ("OUTPOST_APP_SECRET", "outpost/app"),
            ("OUTPOST_PUBLIC_URL", "https://outpost.example.com/"),
        ]))
        .unwrap();
        assert_eq!(config.table_name, "outpost");
        assert_eq!(config.public_url.as_deref(), Some("https://outpost.example.com"));
        assert_eq!(config.secret_ttl, Duration::from_secs(300));
        assert_eq!(config.secret_prefix, "outpost");
        assert!(!config.host_policy.admits_loopback());
    }

    #[test]
    fn names_what_is_missing_or_wrong() {
        assert_eq!(
            Config::from_lookup(lookup(&[("OUTPOST_APP_SECRET", "x")])).err(),
            Some(ConfigError::Missing("OUTPOST_TABLE"))
        );
        let bad_ttl = Config::from_lookup(lookup(&[
            ("OUTPOST_TABLE", "t"),
            ("OUTPOST_APP_SECRET", "x"),
            ("OUTPOST_SECRET_TTL_SECONDS", "soon"),
        ]));
        assert!(matches!(bad_ttl, Err(ConfigError::Invalid { name: "OUTPOST_SECRET_TTL_SECONDS", .. })));
        let plain_http = Config::from_lookup(lookup(&[
            ("OUTPOST_TABLE", "t"),
            ("OUTPOST_APP_SECRET", "x"),
            ("OUTPOST_PUBLIC_URL", "http://outpost.example.com"),
        ]));
        assert!(plain_http.is_err());
    }

    #[test]
    fn the_environment_can_never_admit_loopback_hosts() {
        let config = Config::from_lookup(lookup(&[
            ("OUTPOST_TABLE", "t"),
            ("OUTPOST_APP_SECRET", "x"),
            ("OUTPOST_HOST_POLICY", "dev"),
            ("OUTPOST_DEV_LOOPBACK", "1"),
        ]))
        .unwrap();
        assert!(config.salesforce_host("localhost:4100").is_err());
    }
}
