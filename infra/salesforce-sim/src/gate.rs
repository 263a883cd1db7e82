//! The gate in front of every data-API, Bulk and Apex REST route: API version check, injected
//! 503s, session check, daily limit, `Sforce-Limit-Info`; plus the global latency knob.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::ids::SfId;
use crate::org::{ApiUsage, Org, limit_info, lock};
use crate::reply;
use crate::sessions::{SessionError, bearer};

/// The authenticated caller of a data-API request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The session's user.
    pub user: SfId,
}

/// `Sforce-Limit-Info`.
pub static LIMIT_INFO: HeaderName = HeaderName::from_static("sforce-limit-info");

/// `vNN.N` → `NN.N`.
pub fn parse_version(seg: &str) -> Option<&str> {
    let v = seg.strip_prefix('v')?;
    let (major, minor) = v.split_once('.')?;
    let ok = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    (ok(major) && ok(minor)).then_some(v)
}

fn with_usage(mut r: Response, usage: ApiUsage, org: &Org) -> Response {
    if let Ok(v) = HeaderValue::from_str(&limit_info(usage, org.app_usage())) {
        r.headers_mut().insert(LIMIT_INFO.clone(), v);
    }
    r
}

/// Middleware for data-API, Bulk and Apex REST routes.
pub async fn data_api(State(org): State<Arc<Org>>, mut req: Request, next: Next) -> Response {
    if let Some(rest) = req.uri().path().strip_prefix("/services/data/") {
        let seg = rest.split('/').next().unwrap_or("");
        if parse_version(seg).is_none() {
            return with_usage(reply::not_found(), org.usage(), &org);
        }
    }
    if lock(&org.faults).take_unavailable() {
        let r = reply::api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVER_UNAVAILABLE",
            "Server is temporarily unavailable. Please try again later.",
        );
        return with_usage(r, org.usage(), &org);
    }
    let checked = match bearer(req.headers()) {
        Some(token) => lock(&org.sessions).check_api(token, org.now()),
        None => Err(SessionError::Invalid),
    };
    let session = match checked {
        Ok(s) => s,
        Err(SessionError::Invalid) => return with_usage(reply::invalid_session(), org.usage(), &org),
        Err(SessionError::NotForApi) => {
            return with_usage(reply::session_not_for_api(), org.usage(), &org);
        }
    };
    let usage = match org.count_call() {
        Ok(u) => u,
        Err(u) => {
            let r = reply::api_error(StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.");
            return with_usage(r, u, &org);
        }
    };
    if lock(&org.faults).after_api_call() {
        // This call still completes; the next one finds every session gone.
        lock(&org.sessions).expire_all();
    }
    req.extensions_mut().insert(Caller { user: session.user });
    with_usage(next.run(req).await, usage, &org)
}

/// Adds the configured latency to every Salesforce-surface response (not `/_sim/*`).
pub async fn latency(State(org): State<Arc<Org>>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/_sim") {
        let d = lock(&org.faults).latency;
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
    next.run(req).await
}

/// The control endpoints mint sessions and read records: they answer only requests addressed to
/// a loopback name, so a page whose DNS name was rebound to 127.0.0.1 cannot reach them.
pub async fn loopback_host_only(req: Request, next: Next) -> Response {
    let authority = req.headers().get(axum::http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if is_loopback_authority(authority) {
        next.run(req).await
    } else {
        reply::api_error(
            StatusCode::MISDIRECTED_REQUEST,
            "MISDIRECTED",
            "the simulated org's controls answer on localhost only",
        )
    }
}

/// Whether a `Host` value names this machine: `localhost`, `127.0.0.1` or `[::1]`, any port.
pub fn is_loopback_authority(authority: &str) -> bool {
    let name = match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(name, _)| name),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(name.to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "::1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("v64.0"), Some("64.0"));
        assert_eq!(parse_version("v8.0"), Some("8.0"));
        assert_eq!(parse_version("64.0"), None);
        assert_eq!(parse_version("v64"), None);
        assert_eq!(parse_version("vx.0"), None);
    }
}
