//! Secrets: a source trait with a Secrets Manager adapter and a local-file adapter, an in-memory
//! cache with a TTL, and the typed documents Outpost keeps. Values live in `secrecy` types that
//! cannot be printed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Why a secret could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {0} does not exist")]
    NotFound(String),
    #[error("secret {name} is not in the expected form: {reason}")]
    Malformed { name: String, reason: String },
    #[error("the secret store is unavailable: {0}")]
    Unavailable(String),
}

/// Where secret values come from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The current value of the secret called `name`.
    async fn fetch(&self, name: &str) -> Result<SecretString, SecretsError>;
}

/// Where secret values are written when an org is provisioned.
#[async_trait]
pub trait SecretSink: Send + Sync {
    /// Creates the secret, or replaces its value.
    async fn store(&self, name: &str, value: &str) -> Result<(), SecretsError>;
}

/// AWS Secrets Manager.
#[derive(Debug, Clone)]
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn fetch(&self, name: &str) -> Result<SecretString, SecretsError> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(output) => output.secret_string.map(SecretString::from).ok_or_else(|| SecretsError::Malformed {
                name: name.to_owned(),
                reason: "binary secrets are not used".into(),
            }),
            Err(SdkError::ServiceError(err))
                if matches!(err.err(), GetSecretValueError::ResourceNotFoundException(_)) =>
            {
                Err(SecretsError::NotFound(name.to_owned()))
            }
            Err(err) => Err(SecretsError::Unavailable(DisplayErrorContext(err).to_string())),
        }
    }
}

#[async_trait]
impl SecretSink for SecretsManagerSource {
    async fn store(&self, name: &str, value: &str) -> Result<(), SecretsError> {
        let unavailable = |err: String| SecretsError::Unavailable(err);
        match self.client.create_secret().name(name).secret_string(value).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(err))
                if matches!(
                    err.err(),
                    aws_sdk_secretsmanager::operation::create_secret::CreateSecretError::ResourceExistsException(_)
                ) =>
            {
                self.client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|err| unavailable(DisplayErrorContext(err).to_string()))
            }
            Err(err) => Err(unavailable(DisplayErrorContext(err).to_string())),
        }
    }
}

/// Secrets as files under a directory (the local stack): `outpost/app` is `<dir>/outpost/app`.
#[derive(Debug, Clone)]
pub struct LocalSecretFiles {
    dir: PathBuf,
}

impl LocalSecretFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file of `name`; names are `/`-separated segments of `[A-Za-z0-9._-]`, no `..`.
    fn path(&self, name: &str) -> Result<PathBuf, SecretsError> {
        let valid = !name.is_empty()
            && name.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        if valid { Ok(self.dir.join(name)) } else { Err(SecretsError::NotFound(name.to_owned())) }
    }

    /// Whether the secret exists.
    pub fn exists(&self, name: &str) -> bool {
        self.path(name).is_ok_and(|path| path.is_file())
    }

    /// Writes a secret readable by its owner only (mode 0600).
    pub fn write(&self, name: &str, value: &str) -> Result<(), SecretsError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.path(name)?;
        let unavailable = |err: std::io::Error| SecretsError::Unavailable(format!("{}: {err}", path.display()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(unavailable)?;
        }
        let temporary = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(unavailable)?;
        file.write_all(value.as_bytes()).map_err(unavailable)?;
        file.sync_all().map_err(unavailable)?;
        std::fs::rename(&temporary, &path).map_err(unavailable)
    }

    /// The directory the secrets live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl SecretSink for LocalSecretFiles {
    async fn store(&self, name: &str, value: &str) -> Result<(), SecretsError> {
        self.write(name, value)
    }
}

#[async_trait]
impl SecretSource for LocalSecretFiles {
    async fn fetch(&self, name: &str) -> Result<SecretString, SecretsError> {
        let path = self.path(name)?;
        match tokio::fs::read_to_string(&path).await {
            Ok(value) => Ok(SecretString::from(value)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(SecretsError::NotFound(name.to_owned())),
            Err(err) => Err(SecretsError::Unavailable(format!("{}: {err}", path.display()))),
        }
    }
}

/// Secrets cached in memory for a TTL, so a warm function reads each one once per TTL.
pub struct SecretCache {
    source: Arc<dyn SecretSource>,
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, SecretString)>>,
}

impl std::fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCache").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl SecretCache {
    pub fn new(source: Arc<dyn SecretSource>, ttl: Duration) -> Self {
        Self { source, ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The secret's value, from the cache while fresh.
    pub async fn get(&self, name: &str) -> Result<SecretString, SecretsError> {
        if let Some(value) = self.cached(name) {
            return Ok(value);
        }
        let value = self.source.fetch(name).await?;
        self.lock().insert(name.to_owned(), (Instant::now(), value.clone()));
        Ok(value)
    }

    /// The secret parsed as a JSON document.
    pub async fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T, SecretsError> {
        let value = self.get(name).await?;
        serde_json::from_str(value.expose_secret()).map_err(|err| SecretsError::Malformed {
            name: name.to_owned(),
            // serde's message names the field, never the value.
            reason: err.to_string(),
        })
    }

    /// Drops a cached value (after a credential was refused, say).
    pub fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    fn cached(&self, name: &str) -> Option<SecretString> {
        let entries = self.lock();
        let (fetched, value) = entries.get(name)?;
        (fetched.elapsed() < self.ttl).then(|| value.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, SecretString)>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The app-wide secret: the key that signs cookies and CSRF tokens, and the OAuth client of the
/// packaged External Client App (SSO and Canvas).
#[derive(Deserialize)]
pub struct AppSecret {
    /// At least 32 characters of random text: the HMAC key itself.
    pub signing_key: SecretString,
    pub oauth_client_id: String,
    pub oauth_client_secret: SecretString,
}

impl AppSecret {
    /// The signer of cookies, CSRF tokens and unsubscribe links: every function keys it alike.
    pub fn signer(&self) -> crate::signed::Signer {
        crate::signed::Signer::new(self.signing_key.expose_secret().as_bytes())
    }
}

/// An org's own OAuth client, when it does not use the app-wide one.
#[derive(Deserialize)]
pub struct OAuthClientSecret {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// What template.yaml puts in the app secret until an admin enters the External Client App's.
pub const PLACEHOLDER: &str = "SET-ME";

impl OAuthClientSecret {
    /// Whether a real key and secret were entered: the placeholder or an empty value is no key,
    /// and must never verify a Canvas request (anyone can sign with a published placeholder).
    pub fn is_configured(&self) -> bool {
        let real = |value: &str| !value.trim().is_empty() && value.trim() != PLACEHOLDER;
        real(&self.client_id) && real(self.client_secret.expose_secret())
    }
}

/// How the integration user logs in.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntegrationCredentials {
    /// OAuth 2.0 JWT bearer: no secret on the wire.
    JwtBearer { consumer_key: String, username: String, private_key_pem: SecretString, my_domain_url: String },
    /// OAuth 2.0 client credentials (the app's Run As user).
    ClientCredentials { client_id: String, client_secret: SecretString, my_domain_url: String },
}

/// The key an org's Apex callouts present as `Authorization: Bearer`.
#[derive(Deserialize)]
pub struct CalloutKey {
    pub key: SecretString,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_placeholder_is_no_oauth_client() {
        let client = |id: &str, secret: &str| OAuthClientSecret {
            client_id: id.to_owned(),
            client_secret: SecretString::from(secret.to_owned()),
        };
        assert!(client("3MVG9abc", "s3cr3t").is_configured());
        assert!(!client(PLACEHOLDER, PLACEHOLDER).is_configured());
        assert!(!client("3MVG9abc", PLACEHOLDER).is_configured());
        assert!(!client("3MVG9abc", " ").is_configured());
    }
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        calls: AtomicUsize,
    }

    #[async_trait]
    impl SecretSource for Counting {
        async fn fetch(&self, name: &str) -> Result<SecretString, SecretsError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(SecretString::from(format!("{{\"key\":\"value-of-{name}\"}}")))
        }
    }

    #[tokio::test]
    async fn the_cache_reads_each_secret_once_per_ttl() {
        let source = Arc::new(Counting { calls: AtomicUsize::new(0) });
        let cache = SecretCache::new(source.clone(), Duration::from_secs(60));
        let first: CalloutKey = cache.json("a").await.unwrap();
        let _again: CalloutKey = cache.json("a").await.unwrap();
        assert_eq!(first.key.expose_secret(), "value-of-a");
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);
        cache.forget("a");
        cache.get("a").await.unwrap();
        assert_eq!(source.calls.load(Ordering::SeqCst), 2);

        let expiring = SecretCache::new(source.clone(), Duration::ZERO);
        expiring.get("b").await.unwrap();
        expiring.get("b").await.unwrap();
        assert_eq!(source.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn local_files_are_private_and_refuse_path_tricks() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let files = LocalSecretFiles::new(dir.path());
        files.write("outpost/org/00D/callout-key", r#"{"key":"k"}"#).unwrap();
        let mode = std::fs::metadata(dir.path().join("outpost/org/00D/callout-key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(files.fetch("outpost/org/00D/callout-key").await.unwrap().expose_secret(), r#"{"key":"k"}"#);
        for bad in ["../etc/passwd", "/etc/passwd", "a//b", "a/./b", ""] {
            assert!(files.fetch(bad).await.is_err(), "{bad}");
        }
        assert_eq!(files.fetch("missing").await.err(), Some(SecretsError::NotFound("missing".into())));
    }

    #[test]
    fn malformed_documents_name_the_field_not_the_value() {
        let err = serde_json::from_str::<IntegrationCredentials>(r#"{"kind":"jwt_bearer","consumer_key":"c"}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("username"), "{err}");
    }

    #[test]
    fn secret_documents_do_not_print_their_values() {
        let credentials: IntegrationCredentials = serde_json::from_str(
            r#"{"kind":"client_credentials","client_id":"id","client_secret":"TOPSECRET","my_domain_url":"https://a.my.salesforce.com"}"#,
        )
        .unwrap();
        let IntegrationCredentials::ClientCredentials { client_secret, .. } = credentials else {
            panic!("wrong kind");
        };
        assert!(!format!("{client_secret:?}").contains("TOPSECRET"));
    }
}
