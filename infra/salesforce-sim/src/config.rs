//! Configuration of a simulated org: identity, data size, users, app registrations, knobs.

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

/// Default org id (15 chars; the 18-char form is derived).
pub const DEFAULT_ORG_ID: &str = "00D5g0000SimOrg";
/// Default consumer key of the integration (JWT bearer) app.
pub const DEFAULT_CONSUMER_KEY: &str = "3MVG9SimOutpostIntegrationConsumerKey";
/// Default OAuth client id (authorization code, client credentials, Canvas).
pub const DEFAULT_CLIENT_ID: &str = "3MVG9SimOutpostClientId";
/// Default OAuth client secret (also the Canvas HMAC key).
pub const DEFAULT_CLIENT_SECRET: &str = "sim-outpost-client-secret";
/// Default callout key Apex sends as `Authorization: Bearer …`.
pub const DEFAULT_CALLOUT_KEY: &str = "sim-outpost-callout-key";

/// Everything a [`crate::Sim`] needs; `SimConfig::default()` is a small, ready org.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Org id, 15 or 18 chars, prefix `00D`.
    pub org_id: String,
    /// Organization name.
    pub org_name: String,
    /// How many Contacts to generate.
    pub contacts: usize,
    /// How many Leads to generate.
    pub leads: usize,
    /// Seed of the deterministic data generator.
    pub seed: u64,
    /// Users of the org (ids assigned in this order).
    pub users: Vec<UserSpec>,
    /// Daily API request limit (`Sforce-Limit-Info: api-usage=N/<this>`).
    pub api_daily_limit: u64,
    /// TCP port on 127.0.0.1 (and best-effort [::1]); 0 = ephemeral.
    pub port: u16,
    /// Persist state under `<data_dir>/salesforce-sim/`; `None` = in memory.
    pub data_dir: Option<PathBuf>,
    /// The integration app (JWT bearer).
    pub integration_app: IntegrationApp,
    /// The OAuth client (authorization code + PKCE, client credentials, Canvas).
    pub oauth_client: OAuthClient,
    /// Where Outpost runs (custom links, Canvas, Apex callouts); settable later too.
    pub outpost: Option<OutpostTarget>,
    /// How many records of each object share one identical SystemModstamp (cursor ties).
    pub same_modstamp_block: usize,
    /// Bulk API 2.0 behaviour.
    pub bulk: BulkSettings,
    /// Session inactivity timeout (Salesforce's default is 2 hours).
    pub session_lifetime: Duration,
    /// Latency added to every Salesforce-surface response.
    pub latency: Duration,
    /// How long the delete log keeps entries (getDeleted window; Salesforce: 15 days).
    pub deleted_retention: Duration,
    /// How far back getUpdated answers (Salesforce: 30 days).
    pub updated_retention: Duration,
    /// The "now" generated timestamps are spread back from; `None` = the current time.
    /// Fix it to make generated data byte-identical across runs.
    pub anchor: Option<OffsetDateTime>,
}

/// A user to create in the org.
#[derive(Clone, Debug)]
pub struct UserSpec {
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Username; default `first.last@<org-slug>.example`.
    pub username: Option<String>,
    /// Email; default = username.
    pub email: Option<String>,
    /// Active?
    pub active: bool,
    /// The integration user (Run-As of client credentials, `sub` of the JWT bearer flow).
    pub integration: bool,
    /// Locale, e.g. `en_US`.
    pub locale: String,
    /// IANA time zone.
    pub zoneinfo: String,
}

impl UserSpec {
    /// An active, regular user.
    pub fn new(first: &str, last: &str) -> UserSpec {
        UserSpec {
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            username: None,
            email: None,
            active: true,
            integration: false,
            locale: "en_US".to_owned(),
            zoneinfo: "America/Los_Angeles".to_owned(),
        }
    }

    /// Marks the user inactive.
    pub fn inactive(mut self) -> UserSpec {
        self.active = false;
        self
    }

    /// Sets locale and time zone.
    pub fn locale(mut self, locale: &str, zoneinfo: &str) -> UserSpec {
        self.locale = locale.to_owned();
        self.zoneinfo = zoneinfo.to_owned();
        self
    }

    /// The default user set: three active people, one inactive, one integration user.
    pub fn defaults() -> Vec<UserSpec> {
        vec![
            UserSpec::new("Ada", "Lovelace").locale("en_GB", "Europe/London"),
            UserSpec::new("Grace", "Hopper").locale("en_US", "America/New_York"),
            UserSpec::new("Katherine", "Johnson").locale("en_US", "America/Chicago"),
            UserSpec::new("Alan", "Turing").locale("en_GB", "Europe/London").inactive(),
            UserSpec { integration: true, ..UserSpec::new("Outpost", "Integration").locale("en_US", "UTC") },
        ]
    }
}

/// The integration app: JWT bearer assertions are verified against its public key.
#[derive(Clone, Debug)]
pub struct IntegrationApp {
    /// Consumer key = the JWT `iss`.
    pub consumer_key: String,
    /// RSA public key: PEM (`PUBLIC KEY` SPKI or `RSA PUBLIC KEY`) or DER bytes.
    /// `None` refuses every assertion (`invalid assertion`).
    pub public_key: Option<Vec<u8>>,
    /// The username allowed as JWT `sub`; `None` = the integration user's.
    pub username: Option<String>,
}

/// The OAuth client registration.
#[derive(Clone, Debug)]
pub struct OAuthClient {
    /// client_id (consumer key).
    pub client_id: String,
    /// client_secret (consumer secret; also the Canvas HMAC key).
    pub client_secret: String,
    /// Exact redirect URIs accepted by the authorize endpoint.
    pub redirect_uris: Vec<String>,
}

/// Where Outpost listens, and the key Apex callouts carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutpostTarget {
    /// Base URL, e.g. `http://127.0.0.1:3000` (no trailing slash needed).
    pub base_url: String,
    /// Sent as `Authorization: Bearer <callout_key>` on callouts.
    pub callout_key: String,
}

/// Bulk API 2.0 knobs.
#[derive(Clone, Debug)]
pub struct BulkSettings {
    /// How many status polls answer `InProgress` before the job is `JobComplete`.
    pub polls_until_complete: u32,
    /// Rows per results page when `maxRecords` is absent.
    pub page_size: usize,
}

impl Default for BulkSettings {
    fn default() -> Self {
        BulkSettings { polls_until_complete: 1, page_size: 10_000 }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            org_id: DEFAULT_ORG_ID.to_owned(),
            org_name: "Acme Sim".to_owned(),
            contacts: 200,
            leads: 100,
            seed: 42,
            users: UserSpec::defaults(),
            api_daily_limit: 15_000,
            port: 0,
            data_dir: None,
            integration_app: IntegrationApp {
                consumer_key: DEFAULT_CONSUMER_KEY.to_owned(),
                public_key: None,
                username: None,
            },
            oauth_client: OAuthClient {
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
                redirect_uris: vec![
                    "http://127.0.0.1:3000/sso/callback".to_owned(),
                    "http://localhost:3000/sso/callback".to_owned(),
                ],
            },
            outpost: None,
            same_modstamp_block: 0,
            bulk: BulkSettings::default(),
            session_lifetime: Duration::from_secs(2 * 3600),
            latency: Duration::ZERO,
            deleted_retention: Duration::from_secs(15 * 86_400),
            updated_retention: Duration::from_secs(30 * 86_400),
            anchor: None,
        }
    }
}

impl SimConfig {
    /// Sets the generated data size.
    pub fn with_records(mut self, contacts: usize, leads: usize) -> Self {
        self.contacts = contacts;
        self.leads = leads;
        self
    }

    /// Sets the generator seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the port (0 = ephemeral).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Persists state under `dir/salesforce-sim/`.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Points custom links, Canvas and callouts at Outpost.
    pub fn with_outpost(mut self, base_url: &str, callout_key: &str) -> Self {
        self.outpost = Some(OutpostTarget {
            base_url: base_url.trim_end_matches('/').to_owned(),
            callout_key: callout_key.to_owned(),
        });
        self
    }

    /// Registers the integration app's RSA public key (PEM or DER).
    pub fn with_jwt_public_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.integration_app.public_key = Some(key.into());
        self
    }

    /// Allows one more OAuth redirect URI.
    pub fn with_redirect_uri(mut self, uri: &str) -> Self {
        self.oauth_client.redirect_uris.push(uri.to_owned());
        self
    }

    /// Sets the daily API limit.
    pub fn with_api_limit(mut self, limit: u64) -> Self {
        self.api_daily_limit = limit;
        self
    }

    /// Makes `n` records of each object share one SystemModstamp.
    pub fn with_same_modstamp_block(mut self, n: usize) -> Self {
        self.same_modstamp_block = n;
        self
    }

    /// A URL-safe slug of the org name, used in generated usernames.
    pub fn org_slug(&self) -> String {
        let mut s: String = self
            .org_name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect();
        while s.contains("--") {
            s = s.replace("--", "-");
        }
        let s = s.trim_matches('-').to_owned();
        if s.is_empty() { "org".to_owned() } else { s }
    }
}
