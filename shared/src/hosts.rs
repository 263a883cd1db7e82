//! The Salesforce API host allowlist (docs/salesforce.md#hosts): the only hosts Outpost ever
//! sends a session id, token or request to. A [`SalesforceHost`] can only be built by validation.

use std::fmt;

use url::Url;

use crate::namespace::{Namespace, visualforce_label};

/// Partitions that may sit between the My Domain name and `.my.salesforce.com`.
const PARTITIONS: &[&str] = &["sandbox", "develop", "scratch", "demo", "patch", "trailblaze", "free"];

/// API domains a My Domain name may live under.
const API_DOMAINS: &[&str] = &["my.salesforce.com", "my.salesforce.mil", "my.sfcrmproducts.cn"];

/// Longest DNS label.
const MAX_LABEL: usize = 63;

/// Why a URL or host is not an acceptable Salesforce API host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("not a URL")]
    NotAUrl,
    #[error("the URL must use https")]
    NotHttps,
    #[error("the URL must not carry a user name or password")]
    UserInfo,
    #[error("the URL must not name a port other than 443")]
    Port,
    #[error("an IP address is not a Salesforce host")]
    IpLiteral,
    #[error("{0} is not a Salesforce My Domain API host")]
    NotAllowed(String),
}

/// Which hosts a process admits. Production admits only Salesforce's API domains; the
/// development policy also admits plain-HTTP loopback hosts (the simulated org) and exists only
/// when the `dev-loopback` feature is on, which the local stack and tests enable and the Lambda
/// functions never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostPolicy {
    loopback: bool,
}

impl HostPolicy {
    /// Salesforce My Domain hosts only.
    pub const fn production() -> Self {
        Self { loopback: false }
    }

    /// Also admits `http://localhost:<port>` and `http://127.0.0.1:<port>`, for the simulated org.
    #[cfg(feature = "dev-loopback")]
    pub const fn dev_loopback() -> Self {
        Self { loopback: true }
    }

    /// Whether loopback hosts are admitted (for start-up banners).
    pub fn admits_loopback(&self) -> bool {
        self.loopback
    }
}

/// A validated Salesforce API origin (`https://acme.my.salesforce.com`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SalesforceHost {
    origin: String,
}

impl SalesforceHost {
    /// Validates a URL (a partner server URL, an `instance_url`, a My Domain URL) and keeps only
    /// its origin; the path is ignored because Outpost builds every request path itself.
    pub fn from_url(input: &str, policy: HostPolicy) -> Result<Self, HostError> {
        let url = Url::parse(input.trim()).map_err(|_| HostError::NotAUrl)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HostError::UserInfo);
        }
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.to_owned(),
            Some(url::Host::Ipv4(ip)) if policy.loopback && ip.is_loopback() => ip.to_string(),
            Some(_) => return Err(HostError::IpLiteral),
            None => return Err(HostError::NotAUrl),
        };
        if policy.loopback && url.scheme() == "http" && is_loopback_name(&host) {
            let port = url.port().ok_or(HostError::Port)?;
            return Ok(Self { origin: format!("http://{host}:{port}") });
        }
        if url.scheme() != "https" {
            return Err(HostError::NotHttps);
        }
        if url.port().is_some() {
            return Err(HostError::Port);
        }
        if !is_my_domain_host(&host) {
            return Err(HostError::NotAllowed(host));
        }
        Ok(Self { origin: format!("https://{host}") })
    }

    /// Validates a bare host name such as `acme.my.salesforce.com` (an `X-Salesforce-Instance`
    /// header or an org registration); a full URL is accepted too.
    pub fn from_host(input: &str, policy: HostPolicy) -> Result<Self, HostError> {
        if input.contains("://") {
            return Self::from_url(input, policy);
        }
        if policy.loopback && input.contains(':') {
            return Self::from_url(&format!("http://{input}"), policy);
        }
        Self::from_url(&format!("https://{input}"), policy)
    }

    /// `https://acme.my.salesforce.com` (no trailing slash).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The host name (with port for loopback development hosts).
    pub fn host(&self) -> &str {
        self.origin.split_once("://").map_or(self.origin.as_str(), |(_, host)| host)
    }

    /// An absolute URL on this host for a path that starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }

    /// Whether this is a plain-HTTP loopback host (the simulated org).
    pub fn is_loopback(&self) -> bool {
        self.origin.starts_with("http://")
    }

    /// The origins a page of this org may be framed by: the My Domain host and, for
    /// `*.my.salesforce.com`, its Lightning and Visualforce siblings (web tabs, VF launchers);
    /// the package's Visualforce pages are served on a host named after its namespace.
    pub fn frame_ancestors(&self, namespace: Option<&Namespace>) -> Vec<String> {
        let host = self.host();
        let mut origins = vec![self.origin.clone()];
        if let Some(prefix) = host.strip_suffix(".my.salesforce.com") {
            let (first, partition) = match prefix.split_once('.') {
                Some((first, partition)) => (first, format!(".{partition}")),
                None => (prefix, String::new()),
            };
            origins.push(format!("https://{first}{partition}.lightning.force.com"));
            origins.push(format!("https://{first}--{}{partition}.vf.force.com", visualforce_label(namespace)));
        }
        origins
    }
}

impl fmt::Display for SalesforceHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

impl fmt::Debug for SalesforceHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SalesforceHost({})", self.origin)
    }
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1"
}

/// `name[--sandbox][.partition].my.salesforce.com` and the Gov Cloud / China equivalents.
fn is_my_domain_host(host: &str) -> bool {
    let Some(prefix) = API_DOMAINS.iter().find_map(|domain| host.strip_suffix(domain)?.strip_suffix('.')) else {
        return false;
    };
    // Punycode labels are look-alike bait; no Salesforce My Domain uses them.
    if prefix.split('.').any(|label| label.starts_with("xn--")) {
        return false;
    }
    let (first, partition) = match prefix.split_once('.') {
        Some((first, partition)) => (first, Some(partition)),
        None => (prefix, None),
    };
    if let Some(partition) = partition
        && !PARTITIONS.contains(&partition)
    {
        return false;
    }
    let (name, sandbox) = match first.split_once("--") {
        Some((name, sandbox)) => (name, Some(sandbox)),
        None => (first, None),
    };
    // A `.sandbox.` host always names its sandbox after `--`.
    if partition == Some("sandbox") && sandbox.is_none() {
        return false;
    }
    first.len() <= MAX_LABEL && is_name_label(name) && sandbox.is_none_or(is_name_label)
}

/// A label of lower-case letters, digits and single inner hyphens; no punycode (`xn--`).
fn is_name_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
        && !label.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str) -> Result<String, HostError> {
        SalesforceHost::from_url(input, HostPolicy::production()).map(|h| h.origin().to_owned())
    }

    #[test]
    fn admits_my_domain_api_hosts() {
        let good = [
            ("https://acme.my.salesforce.com", "https://acme.my.salesforce.com"),
            ("https://acme.my.salesforce.com/services/Soap/u/64.0/00Dx0000000BV7z", "https://acme.my.salesforce.com"),
            ("https://ACME.My.Salesforce.COM/", "https://acme.my.salesforce.com"),
            ("https://acme.my.salesforce.com:443/x", "https://acme.my.salesforce.com"),
            ("https://acme--uat.sandbox.my.salesforce.com", "https://acme--uat.sandbox.my.salesforce.com"),
            ("https://acme-dev-ed.develop.my.salesforce.com", "https://acme-dev-ed.develop.my.salesforce.com"),
            ("https://site-fun-3277.scratch.my.salesforce.com", "https://site-fun-3277.scratch.my.salesforce.com"),
            ("https://acme.demo.my.salesforce.com", "https://acme.demo.my.salesforce.com"),
            ("https://acme.patch.my.salesforce.com", "https://acme.patch.my.salesforce.com"),
            ("https://acme-dev-ed.trailblaze.my.salesforce.com", "https://acme-dev-ed.trailblaze.my.salesforce.com"),
            ("https://acme.free.my.salesforce.com", "https://acme.free.my.salesforce.com"),
            ("https://agency.my.salesforce.mil", "https://agency.my.salesforce.mil"),
            ("https://agency--qa.sandbox.my.salesforce.mil", "https://agency--qa.sandbox.my.salesforce.mil"),
            ("https://acme.my.sfcrmproducts.cn", "https://acme.my.sfcrmproducts.cn"),
            ("https://a1.my.salesforce.com", "https://a1.my.salesforce.com"),
            ("https://acme--uat.my.salesforce.com", "https://acme--uat.my.salesforce.com"),
        ];
        for (input, origin) in good {
            assert_eq!(check(input).as_deref(), Ok(origin), "{input}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let bad = [
            "http://acme.my.salesforce.com",
            "https://acme.lightning.force.com",
            "https://acme--c.vf.force.com",
            "https://acme.my.site.com",
            "https://acme.my.salesforce-setup.com",
            "https://acme.my.salesforce-sites.com",
            "https://acme.file.force.com",
            "https://login.salesforce.com",
            "https://na44.salesforce.com",
            "https://my.salesforce.com",
            "https://.my.salesforce.com",
            "https://acme.my.salesforce.com.evil.example",
            "https://acme.my.salesforce.com.",
            "https://x.my.salesforce.com@evil.example",
            "https://user:pw@acme.my.salesforce.com",
            "https://evil.example/?x=.my.salesforce.com",
            "https://evil.example/acme.my.salesforce.com",
            "https://evil.example#.my.salesforce.com",
            "https://evil.example\\@acme.my.salesforce.com",
            "https://acme.my.salesforce.com:8443",
            "https://acme.my.salesforce.com:80",
            "https://169.254.169.254",
            "https://169.254.169.254/latest/meta-data",
            "https://127.0.0.1",
            "https://[::1]",
            "https://localhost",
            "http://localhost:8080",
            "https://10.0.0.1.my.salesforce.com.evil",
            "https://xn--acm-1la.my.salesforce.com",
            "https://acmé.my.salesforce.com",
            "https://acme.sandbox.my.salesforce.com",
            "https://acme--uat.unknown.my.salesforce.com",
            "https://a.b.develop.my.salesforce.com",
            "https://-acme.my.salesforce.com",
            "https://acme-.my.salesforce.com",
            "https://acme---uat.sandbox.my.salesforce.com",
            "https://acme--uat--x.sandbox.my.salesforce.com",
            "https://acme_corp.my.salesforce.com",
            "ftp://acme.my.salesforce.com",
            "javascript:alert(1)",
            "acme.my.salesforce.com",
            "",
            "https://",
        ];
        for input in bad {
            assert!(check(input).is_err(), "{input} must be refused");
        }
    }

    #[test]
    fn reports_why() {
        assert_eq!(check("http://acme.my.salesforce.com"), Err(HostError::NotHttps));
        assert_eq!(check("https://x.my.salesforce.com@evil.example"), Err(HostError::UserInfo));
        assert_eq!(check("https://acme.my.salesforce.com:8443"), Err(HostError::Port));
        assert_eq!(check("https://169.254.169.254"), Err(HostError::IpLiteral));
    }

    #[test]
    fn production_policy_refuses_loopback_development_hosts() {
        assert!(SalesforceHost::from_host("localhost:8080", HostPolicy::production()).is_err());
        assert!(SalesforceHost::from_url("http://127.0.0.1:8080", HostPolicy::production()).is_err());
    }

    #[test]
    fn a_bare_host_name_is_validated_like_a_url() {
        let host = SalesforceHost::from_host("Acme.my.salesforce.com", HostPolicy::production()).unwrap();
        assert_eq!(host.host(), "acme.my.salesforce.com");
        assert!(SalesforceHost::from_host("acme.lightning.force.com", HostPolicy::production()).is_err());
    }

    #[test]
    fn equality_compares_normalised_origins() {
        let pinned = SalesforceHost::from_host("acme.my.salesforce.com", HostPolicy::production()).unwrap();
        let link = SalesforceHost::from_url(
            "https://ACME.my.salesforce.com:443/services/Soap/u/64.0/00D",
            HostPolicy::production(),
        )
        .unwrap();
        assert_eq!(pinned, link);
        let other = SalesforceHost::from_host("other.my.salesforce.com", HostPolicy::production()).unwrap();
        assert_ne!(pinned, other);
    }

    #[test]
    fn frame_ancestors_cover_lightning_and_visualforce() {
        let host = SalesforceHost::from_host("acme--uat.sandbox.my.salesforce.com", HostPolicy::production()).unwrap();
        assert_eq!(
            host.frame_ancestors(None),
            vec![
                "https://acme--uat.sandbox.my.salesforce.com",
                "https://acme--uat.sandbox.lightning.force.com",
                "https://acme--uat--c.sandbox.vf.force.com",
            ]
        );
        let production = SalesforceHost::from_host("acme.my.salesforce.com", HostPolicy::production()).unwrap();
        let namespace = Namespace::parse("Outpost").unwrap();
        assert_eq!(production.frame_ancestors(Some(&namespace))[2], "https://acme--outpost.vf.force.com");
    }

    #[cfg(feature = "dev-loopback")]
    #[test]
    fn development_policy_admits_loopback_with_a_port_only() {
        let policy = HostPolicy::dev_loopback();
        let host = SalesforceHost::from_url("http://localhost:4100/services/Soap/u/64.0/x", policy).unwrap();
        assert_eq!(host.origin(), "http://localhost:4100");
        assert!(host.is_loopback());
        assert!(SalesforceHost::from_url("http://localhost", policy).is_err());
        assert!(SalesforceHost::from_url("http://evil.example:80", policy).is_err());
        assert!(SalesforceHost::from_url("http://169.254.169.254:80", policy).is_err());
        assert!(SalesforceHost::from_url("https://acme.my.salesforce.com", policy).is_ok());
    }
}
