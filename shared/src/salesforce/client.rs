//! The one HTTP client for every Salesforce call: pooled rustls connections, connect and request
//! timeouts, `Sforce-Limit-Info` on every response, and retries with jittered exponential backoff
//! for idempotent requests only.

use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use super::error::{SalesforceError, classify_oauth, classify_rest, classify_userinfo};
use super::usage::{ApiMeter, ApiUsage};
use crate::crypto;
use crate::tls::TrustRoots;
use crate::tokens::AccessToken;

/// How hard to retry idempotent requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff ceiling of the first retry; doubles each time.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 4, base_delay: Duration::from_millis(200), max_delay: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub const NONE: RetryPolicy =
        RetryPolicy { max_attempts: 1, base_delay: Duration::ZERO, max_delay: Duration::ZERO };

    /// Full jitter: a random delay up to `min(max, base·2^retry)`.
    fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.base_delay.saturating_mul(1u32 << retry.min(16)).min(self.max_delay);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        if ceiling_ms == 0 {
            return Duration::ZERO;
        }
        let random = u64::from_le_bytes(crypto::random_bytes::<8>());
        Duration::from_millis(random % (ceiling_ms + 1))
    }
}

/// Client settings, fixed at init.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(20),
            retry: RetryPolicy::default(),
        }
    }
}

/// Whether a request may be sent again after an answer was possibly produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// GET, and PATCH updates that set the same values again.
    Idempotent,
    /// Creates: only retried when the connection never opened, so nothing can be created twice.
    OnlyIfNotSent,
}

/// Which error shape the endpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Surface {
    Rest,
    UserInfo,
    OAuth,
}

/// A request body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Json(Bytes),
    Form(String),
}

/// One request to send.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: String,
    pub token: Option<&'a AccessToken>,
    pub body: Option<Body>,
    pub headers: Vec<(&'static str, String)>,
    /// The one `Accept` media type.
    pub accept: &'static str,
    pub surface: Surface,
    pub replay: Replay,
    pub meter: Option<&'a ApiMeter>,
    pub timeout: Option<Duration>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, url: String, surface: Surface) -> Self {
        Self {
            method,
            url,
            token: None,
            body: None,
            headers: Vec::new(),
            accept: "application/json",
            surface,
            replay: Replay::Idempotent,
            meter: None,
            timeout: None,
        }
    }
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The shared Salesforce client. Cheap to clone; every clone shares one connection pool.
#[derive(Debug, Clone)]
pub struct SalesforceClient {
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl SalesforceClient {
    /// Builds the client once at init.
    pub fn new(settings: &ClientSettings) -> Result<Self, SalesforceError> {
        let roots = TrustRoots::system().map_err(|err| SalesforceError::Protocol(err.to_string()))?;
        let tls = roots.client_config().map_err(|err| SalesforceError::Protocol(err.to_string()))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            // Salesforce never redirects API calls; following one could leak a bearer token.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Outpost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| SalesforceError::Protocol(format!("cannot build the HTTP client: {err}")))?;
        Ok(Self { http, retry: settings.retry })
    }

    /// Sends `call`, retrying what may be retried, and returns a 2xx/300-free success.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Reply, SalesforceError> {
        let mut retry = 0;
        loop {
            let (error, retry_after) = match self.attempt(&call).await {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            let may_retry = match call.replay {
                Replay::Idempotent => error.is_retryable(),
                Replay::OnlyIfNotSent => error == SalesforceError::Unreachable,
            };
            if !may_retry || retry + 1 >= self.retry.max_attempts {
                return Err(error);
            }
            let delay = retry_after.unwrap_or_else(|| self.retry.backoff(retry));
            tracing::debug!(code = error.code(), ?delay, "retrying Salesforce request");
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<Reply, (SalesforceError, Option<Duration>)> {
        let mut request = self.http.request(call.method.clone(), &call.url).header(ACCEPT, call.accept);
        if let Some(token) = call.token {
            request = request.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if let Some(timeout) = call.timeout {
            request = request.timeout(timeout);
        }
        request = match &call.body {
            Some(Body::Json(bytes)) => request.header(CONTENT_TYPE, "application/json").body(bytes.clone()),
            Some(Body::Form(form)) => {
                request.header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(form.clone())
            }
            None => request,
        };
        if let Some(meter) = call.meter {
            meter.count_call();
        }
        let response = request.send().await.map_err(|err| (transport_error(&err), None))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if let (Some(meter), Some(usage)) = (call.meter, limit_info(&headers)) {
            meter.record(usage);
        }
        let body = response.bytes().await.map_err(|err| (transport_error(&err), None))?;
        if (200..300).contains(&status) {
            return Ok(Reply { status, headers, body });
        }
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|seconds| Duration::from_secs(seconds.min(30)));
        let error = match call.surface {
            Surface::Rest => classify_rest(status, &body),
            Surface::UserInfo => classify_userinfo(status, &body),
            Surface::OAuth => classify_oauth(status, &body),
        };
        Err((error, retry_after))
    }
}

/// The `Sforce-Limit-Info` of a response.
fn limit_info(headers: &HeaderMap) -> Option<ApiUsage> {
    ApiUsage::parse(headers.get("sforce-limit-info")?.to_str().ok()?)
}

fn transport_error(err: &reqwest::Error) -> SalesforceError {
    if err.is_timeout() {
        SalesforceError::Timeout
    } else if err.is_connect() {
        SalesforceError::Unreachable
    } else {
        SalesforceError::Protocol(format!("transport error: {}", without_url(err)))
    }
}

/// reqwest's error text names the URL, which may carry query parameters; keep only the kind.
fn without_url(err: &reqwest::Error) -> String {
    let mut err = err.to_string();
    if let Some(start) = err.find(" for url (") {
        err.truncate(start);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_a_doubling_ceiling() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        for _ in 0..200 {
            assert!(policy.backoff(0) <= Duration::from_millis(100));
            assert!(policy.backoff(1) <= Duration::from_millis(200));
            assert!(policy.backoff(5) <= Duration::from_millis(350));
        }
        assert_eq!(RetryPolicy::NONE.backoff(3), Duration::ZERO);
    }
}
