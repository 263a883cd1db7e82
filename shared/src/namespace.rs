//! The namespace of the org's Outpost package, which moves the package's paths and hosts
//! (docs/salesforce.md#apex-rest): an unmanaged or unlocked package without one answers at
//! `/services/apexrest/outpost/...` and on `<name>--c.vf.force.com`; a managed package with
//! namespace `ns` at `/services/apexrest/ns/outpost/...` and on `<name>--ns.vf.force.com`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Salesforce namespace prefix: 1 to 15 letters, digits and underscores, starting with a
/// letter, not ending with an underscore, and without two underscores in a row.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Namespace(String);

/// Why a namespace prefix is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a namespace is 1 to 15 letters, digits and single underscores, starting with a letter: {0:?}")]
pub struct NamespaceError(String);

impl Namespace {
    pub fn parse(text: &str) -> Result<Self, NamespaceError> {
        let valid = (1..=15).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_alphabetic())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !text.ends_with('_')
            && !text.contains("__");
        if valid { Ok(Self(text.to_owned())) } else { Err(NamespaceError(text.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Namespace {
    type Error = NamespaceError;

    fn try_from(text: String) -> Result<Self, NamespaceError> {
        Namespace::parse(&text)
    }
}

impl From<Namespace> for String {
    fn from(namespace: Namespace) -> String {
        namespace.0
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Namespace({})", self.0)
    }
}

/// The path of the package's Apex REST resource `path` (such as `outpost/v1/activity`): a
/// managed package's classes answer under its namespace.
pub fn apex_rest_path(namespace: Option<&Namespace>, path: &str) -> String {
    match namespace {
        Some(namespace) => format!("/services/apexrest/{}/{path}", namespace.as_str()),
        None => format!("/services/apexrest/{path}"),
    }
}

/// What stands after `--` in the org's Visualforce host: the namespace in lower case, or `c`
/// for pages outside a namespace.
pub fn visualforce_label(namespace: Option<&Namespace>) -> String {
    namespace.map_or_else(|| "c".to_owned(), |namespace| namespace.as_str().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_prefixes_follow_salesforce_rules() {
        for good in ["outpost", "Outpost1", "a", "my_pkg", "abcdefghijklmno"] {
            assert!(Namespace::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "1outpost", "_outpost", "outpost_", "my__pkg", "out-post", "abcdefghijklmnop", "out post"] {
            assert!(Namespace::parse(bad).is_err(), "{bad}");
        }
        let parsed: Namespace = serde_json::from_str("\"outpost\"").unwrap();
        assert_eq!(parsed.as_str(), "outpost");
        assert!(serde_json::from_str::<Namespace>("\"my__pkg\"").is_err(), "refused when read, too");
    }

    #[test]
    fn paths_and_hosts_follow_the_namespace() {
        let namespace = Namespace::parse("OutPost").unwrap();
        assert_eq!(apex_rest_path(None, "outpost/v1/activity"), "/services/apexrest/outpost/v1/activity");
        assert_eq!(
            apex_rest_path(Some(&namespace), "outpost/v1/activity"),
            "/services/apexrest/OutPost/outpost/v1/activity"
        );
        assert_eq!(visualforce_label(None), "c");
        assert_eq!(visualforce_label(Some(&namespace)), "outpost", "host names are lower case");
    }
}
