//! Everything the local stack sets up before it serves: secrets generated on first run (mode
//! 0600), the simulated demo orgs (or a real org from `--org-file`), their registrations with
//! pinned hosts, and the demo's known user.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use outpost_shared::crypto;
use outpost_shared::hosts::{HostPolicy, SalesforceHost};
use outpost_shared::ids::{OrgId, UserId};
use outpost_shared::namespace::Namespace;
use outpost_shared::salesforce::RsaSigningKey;
use outpost_shared::secrets::{AppSecret, SecretSink, SecretSource, SecretsError};
use outpost_shared::store::{
    ExtraFieldNames, MappingSource, OrgRegistration, OrgSecretNames, OrgSettings, OrgStatus, ProvisioningMode,
    SharedStore, UserMapping, Visibility, now_epoch,
};
use salesforce_sim::{SessionKind, Sim, SimConfig, SimHandle};
use secrecy::ExposeSecret;
use serde::Deserialize;

/// The prefix of every secret name, as on AWS.
pub const SECRET_PREFIX: &str = "outpost";

/// Where the local stack's secrets live: files under the data directory, or Secrets Manager.
pub trait SecretStore: SecretSource + SecretSink {}

impl<T: SecretSource + SecretSink> SecretStore for T {}

/// The app-wide secret's name under `prefix`, as template.yaml names it.
pub fn app_secret_name(prefix: &str) -> String {
    format!("{prefix}/app")
}

/// How a demo user shows up on the home page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    /// Already onboarded: goes straight in.
    Known,
    /// Active but never onboarded: sees onboarding (per_user orgs).
    New,
    /// Deactivated in Salesforce: refused.
    Inactive,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Known => "known",
            UserKind::New => "new",
            UserKind::Inactive => "inactive",
        }
    }
}

impl std::fmt::Display for UserKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user of a demo org.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub name: String,
    pub user_id: UserId,
    pub kind: UserKind,
}

/// An org the stack serves.
pub struct ProvisionedOrg {
    pub registration: OrgRegistration,
    /// The simulated org, when it is one.
    pub sim: Option<SimHandle>,
    pub callout_key: String,
    pub users: Vec<DemoUser>,
}

impl ProvisionedOrg {
    /// The exact custom link Salesforce would produce for `user` (a fresh session each call).
    pub fn entry_url(&self, user: &UserId) -> Option<String> {
        let sim = self.sim.as_ref()?;
        sim.custom_link(user.as_str(), None, SessionKind::Api).ok()
    }
}

/// The two demo orgs: Acme onboards each user, Globex lets every active user in.
pub struct DemoSpec {
    pub slug: &'static str,
    pub org_id: &'static str,
    pub name: &'static str,
    pub mode: ProvisioningMode,
    pub seed: u64,
    pub visibility: Visibility,
    /// The additional fields its lists filter on (the simulated org has them, one hidden from the
    /// integration user, one not filterable, to show what the sync does with those).
    pub contact_fields: &'static [&'static str],
    pub lead_fields: &'static [&'static str],
}

impl DemoSpec {
    fn settings(&self) -> OrgSettings {
        let names = |fields: &[&str]| fields.iter().map(|field| (*field).to_owned()).collect();
        OrgSettings {
            visibility: self.visibility,
            extra_fields: ExtraFieldNames { contact: names(self.contact_fields), lead: names(self.lead_fields) },
            allowed_senders: vec![format!("@{}.example", self.slug)],
            postal_address: format!("{}\n1 Market Street\nSan Francisco, CA 94105\nUnited States", self.name),
            record_tasks: false,
        }
    }
}

pub const DEMO_ORGS: [DemoSpec; 2] = [
    DemoSpec {
        slug: "acme",
        org_id: "00D5g0000SimOrg",
        name: "Acme Sim",
        mode: ProvisioningMode::PerUser,
        seed: 42,
        visibility: Visibility::AllUsers,
        contact_fields: &["Region__c", "Score__c", "Tier__c", "Notes__c", "Secret__c"],
        lead_fields: &["Region__c", "Score__c"],
    },
    DemoSpec {
        slug: "globex",
        org_id: "00D5g0000GlobEx",
        name: "Globex Sim",
        mode: ProvisioningMode::OrgWide,
        seed: 7,
        visibility: Visibility::Owner,
        contact_fields: &[],
        lead_fields: &[],
    },
];

/// The demo's known user: onboarded on first run.
const KNOWN_USER_FIRST_NAME: &str = "Ada";

/// Writes `value` under `name` unless the secret exists; returns the stored value.
async fn ensure_secret(
    secrets: &dyn SecretStore,
    name: &str,
    value: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    match secrets.fetch(name).await {
        Ok(stored) => return Ok(stored.expose_secret().to_owned()),
        Err(SecretsError::NotFound(_)) => {}
        Err(err) => return Err(err).with_context(|| format!("reading the secret {name}")),
    }
    let value = value()?;
    secrets.store(name, &value).await?;
    Ok(value)
}

/// The app secret: a random signing key and the simulated orgs' OAuth client. One that exists
/// but cannot be read is an error, never replaced: cookies signed with it would stop working.
pub async fn ensure_app_secret(
    secrets: &dyn SecretStore,
    name: &str,
    oauth_client_id: &str,
    oauth_client_secret: &str,
) -> anyhow::Result<()> {
    let value = ensure_secret(secrets, name, || {
        Ok(serde_json::json!({
            "signing_key": URL_SAFE_NO_PAD.encode(crypto::random_bytes::<32>()),
            "oauth_client_id": oauth_client_id,
            "oauth_client_secret": oauth_client_secret,
        })
        .to_string())
    })
    .await?;
    serde_json::from_str::<AppSecret>(&value).with_context(|| format!("the secret {name} is damaged"))?;
    Ok(())
}

/// The callout key of an org: the one given, else the stored one, else a new random one.
async fn ensure_callout_key<S: SecretSource + SecretSink + ?Sized>(
    secrets: &S,
    names: &OrgSecretNames,
    given: Option<&str>,
) -> anyhow::Result<String> {
    let key = match (given, secrets.fetch(&names.callout_key).await) {
        (Some(given), _) => given.to_owned(),
        (None, Ok(stored)) => {
            let parsed: serde_json::Value = serde_json::from_str(stored.expose_secret())?;
            return parsed["key"].as_str().map(str::to_owned).context("callout key secret without a key");
        }
        (None, Err(SecretsError::NotFound(_))) => crypto::random_token(),
        (None, Err(err)) => return Err(err.into()),
    };
    secrets.store(&names.callout_key, &serde_json::json!({ "key": key }).to_string()).await?;
    Ok(key)
}

/// An active org registered now with its pinned host, default settings and no namespace.
fn active_org(
    org_id: OrgId,
    name: &str,
    pinned_host: &str,
    mode: ProvisioningMode,
    secrets: OrgSecretNames,
) -> OrgRegistration {
    OrgRegistration {
        org_id,
        name: name.to_owned(),
        pinned_host: pinned_host.to_owned(),
        mode,
        status: OrgStatus::Active,
        secrets,
        registered_at: now_epoch(),
        settings: OrgSettings::default(),
        namespace: None,
    }
}

/// Registers (or re-registers) `registration`.
async fn register(store: &SharedStore, registration: OrgRegistration) -> anyhow::Result<OrgRegistration> {
    store.put_org(&registration).await?;
    Ok(registration)
}

/// Starts (or reloads) a simulated demo org and registers it.
#[allow(clippy::too_many_arguments)] // The demo org's whole setting, each part from the caller.
pub async fn simulated_org(
    spec: &DemoSpec,
    store: &SharedStore,
    secrets: &dyn SecretStore,
    secret_prefix: &str,
    base_url: &str,
    sizes: (usize, usize),
    data_dir: Option<&Path>,
) -> anyhow::Result<ProvisionedOrg> {
    let org_id = OrgId::parse(spec.org_id)?;
    let names = OrgSecretNames::conventional(secret_prefix, &org_id);
    let callout_key = ensure_callout_key(secrets, &names, None).await?;
    let public_key_name = integration_public_key(&names);
    let mut public_pem = None;
    let integration = ensure_secret(secrets, &names.integration, || {
        let (private_pem, public) = salesforce_sim::oauth::generate_integration_key_pair()?;
        public_pem = Some(public);
        Ok(serde_json::json!({
            "kind": "jwt_bearer",
            "consumer_key": salesforce_sim::config::DEFAULT_CONSUMER_KEY,
            // Both filled in below once the simulated org runs.
            "username": "",
            "private_key_pem": private_pem,
            "my_domain_url": "",
        })
        .to_string())
    })
    .await?;
    if let Some(public_pem) = public_pem {
        secrets.store(&public_key_name, &public_pem).await?;
    }
    let public_key = secrets
        .fetch(&public_key_name)
        .await
        .with_context(|| format!("reading the secret {public_key_name}"))?
        .expose_secret()
        .as_bytes()
        .to_vec();
    let mut config = SimConfig {
        org_id: spec.org_id.to_owned(),
        org_name: spec.name.to_owned(),
        seed: spec.seed,
        ..SimConfig::default()
    }
    .with_records(sizes.0, sizes.1)
    .with_jwt_public_key(public_key)
    .with_outpost(base_url, &callout_key)
    .with_redirect_uri(&format!("{base_url}/sso/callback"));
    if let Some(dir) = data_dir {
        config = config.with_data_dir(dir.join("sim").join(spec.slug));
    }
    let sim = Sim::spawn(config).await.map_err(|err| anyhow::anyhow!("starting the simulated org: {err}"))?;
    // The simulated org's port can change between runs: re-pin its host every start.
    let mut document: serde_json::Value = serde_json::from_str(&integration)?;
    document["my_domain_url"] = serde_json::Value::String(sim.base_url().to_owned());
    let integration_user = sim.integration_user().context("the simulated org has no integration user")?;
    document["username"] = serde_json::Value::String(integration_user.username);
    secrets.store(&names.integration, &document.to_string()).await?;
    let registration = OrgRegistration {
        settings: spec.settings(),
        ..active_org(org_id, spec.name, sim.base_url(), spec.mode, names)
    };
    let registration = register(store, registration).await?;
    let users = demo_users(&sim, spec.mode)?;
    if let Some(known) = users.iter().find(|u| u.kind == UserKind::Known && spec.mode == ProvisioningMode::PerUser) {
        let sim_user = sim.user(known.user_id.as_str()).context("known user vanished")?;
        store
            .create_user(&UserMapping {
                org_id,
                user_id: known.user_id,
                display_name: known.name.clone(),
                reply_to: sim_user.email.clone(),
                source: MappingSource::Onboarding,
                consented_at: Some(now_epoch()),
                created_at: now_epoch(),
            })
            .await?;
    }
    Ok(ProvisionedOrg { registration, sim: Some(sim), callout_key, users })
}

/// The secret holding the public half of an org's integration key: the simulated org trusts it.
pub fn integration_public_key(names: &OrgSecretNames) -> String {
    format!("{}.public.pem", names.integration)
}

fn demo_users(sim: &SimHandle, mode: ProvisioningMode) -> anyhow::Result<Vec<DemoUser>> {
    sim.users()
        .into_iter()
        .filter(|user| !user.integration)
        .map(|user| {
            let kind = if !user.active {
                UserKind::Inactive
            } else if mode == ProvisioningMode::OrgWide || user.first_name == KNOWN_USER_FIRST_NAME {
                UserKind::Known
            } else {
                UserKind::New
            };
            Ok(DemoUser {
                name: format!("{} {}", user.first_name, user.last_name),
                user_id: UserId::parse(&user.id.to_string())?,
                kind,
            })
        })
        .collect()
}

/// `--org-file`: a real org (or a recorded/mock one) instead of the simulated ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgFile {
    pub org_id: String,
    pub name: String,
    /// The My Domain URL, e.g. `https://acme--dev.sandbox.my.salesforce.com`.
    pub my_domain: String,
    pub mode: ProvisioningMode,
    /// Admits a plain-HTTP loopback `my_domain` (recorded or mock orgs). Local stack only.
    #[serde(default)]
    pub insecure_dev_host: bool,
    pub integration: OrgFileIntegration,
    #[serde(default)]
    pub oauth_client: Option<OrgFileOAuthClient>,
    #[serde(default)]
    pub callout_key: Option<String>,
    /// Who sees which records, and the additional fields lists filter on.
    #[serde(default)]
    pub settings: OrgSettings,
    /// The namespace of the org's Outpost package, when installed as a managed package.
    #[serde(default)]
    pub namespace: Option<Namespace>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OrgFileIntegration {
    JwtBearer { consumer_key: String, username: String, private_key_file: PathBuf },
    ClientCredentials { client_id: String, client_secret: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgFileOAuthClient {
    pub client_id: String,
    pub client_secret: String,
}

impl OrgFile {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The policy this org needs: production, or loopback when explicitly asked for.
    pub fn host_policy(&self) -> HostPolicy {
        if self.insecure_dev_host { HostPolicy::dev_loopback() } else { HostPolicy::production() }
    }

    /// Writes the org's secrets and registration: to the local stack's files and store, or to
    /// Secrets Manager and DynamoDB (`outpost-local register-org`).
    pub async fn provision<S: SecretSource + SecretSink + ?Sized>(
        &self,
        store: &SharedStore,
        secrets: &S,
        secret_prefix: &str,
        base: &Path,
    ) -> anyhow::Result<ProvisionedOrg> {
        let org_id = OrgId::parse(&self.org_id).context("org_id is not a Salesforce organization id")?;
        self.settings.extra_fields.check().map_err(|err| anyhow::anyhow!("settings.extra_fields: {err}"))?;
        let host = SalesforceHost::from_url(&self.my_domain, self.host_policy())
            .map_err(|err| anyhow::anyhow!("my_domain {}: {err}", self.my_domain))?;
        if host.is_loopback() && !self.insecure_dev_host {
            bail!("my_domain is a loopback host: set insecure_dev_host = true for recorded or mock orgs");
        }
        let mut names = OrgSecretNames::conventional(secret_prefix, &org_id);
        let integration = match &self.integration {
            OrgFileIntegration::JwtBearer { consumer_key, username, private_key_file } => {
                let path =
                    if private_key_file.is_absolute() { private_key_file.clone() } else { base.join(private_key_file) };
                let pem = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                RsaSigningKey::from_pem(&pem)
                    .with_context(|| format!("{} is not an RSA private key", path.display()))?;
                serde_json::json!({"kind": "jwt_bearer", "consumer_key": consumer_key, "username": username,
                    "private_key_pem": pem, "my_domain_url": host.origin()})
            }
            OrgFileIntegration::ClientCredentials { client_id, client_secret } => serde_json::json!({
                "kind": "client_credentials", "client_id": client_id, "client_secret": client_secret,
                "my_domain_url": host.origin()}),
        };
        secrets.store(&names.integration, &integration.to_string()).await?;
        if let Some(client) = &self.oauth_client {
            let name = format!("{secret_prefix}/org/{org_id}/oauth-client");
            let document = serde_json::json!({"client_id": client.client_id, "client_secret": client.client_secret});
            secrets.store(&name, &document.to_string()).await?;
            names.oauth_client = Some(name);
        }
        let callout_key = ensure_callout_key(secrets, &names, self.callout_key.as_deref()).await?;
        let registration = OrgRegistration {
            settings: self.settings.clone(),
            namespace: self.namespace.clone(),
            ..active_org(org_id, &self.name, host.origin(), self.mode, names)
        };
        let registration = register(store, registration).await?;
        Ok(ProvisionedOrg { registration, sim: None, callout_key, users: Vec::new() })
    }
}
