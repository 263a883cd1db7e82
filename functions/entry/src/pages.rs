//! Server-rendered pages (askama escapes every value) and the security headers each carries:
//! a per-response CSP nonce for the inline stylesheet and `frame-ancestors` limited to the org's
//! Salesforce domains, because Outpost lives in web-tab iframes.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use outpost_shared::crypto;
use outpost_shared::hosts::{HostPolicy, SalesforceHost};

/// Fields every page's layout reads.
pub struct Page {
    pub title: String,
    pub nonce: String,
}

impl Page {
    pub fn new(title: impl Into<String>) -> Self {
        Self { title: title.into(), nonce: crypto::random_token() }
    }
}

/// Who may frame a page.
#[derive(Debug, Clone)]
pub enum Framing {
    /// The org's own Salesforce origins.
    Org(Vec<String>),
    /// Any Salesforce origin: error pages shown before the org is known.
    AnySalesforce { loopback: bool },
}

impl Framing {
    pub fn org(host: &SalesforceHost) -> Self {
        Framing::Org(host.frame_ancestors())
    }

    pub fn any(policy: HostPolicy) -> Self {
        Framing::AnySalesforce { loopback: policy.admits_loopback() }
    }

    fn sources(&self) -> String {
        match self {
            Framing::Org(origins) => origins.join(" "),
            Framing::AnySalesforce { loopback } => {
                let mut sources = String::from(
                    "https://*.my.salesforce.com https://*.lightning.force.com https://*.vf.force.com \
                     https://*.my.salesforce.mil https://*.my.sfcrmproducts.cn",
                );
                if *loopback {
                    sources.push_str(" http://localhost:* http://127.0.0.1:*");
                }
                sources
            }
        }
    }
}

/// Renders `template` as an HTML response with the page's CSP.
pub fn html<T: Template>(status: StatusCode, template: &T, page: &Page, framing: &Framing) -> Response {
    let body = match template.render() {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "template failed to render");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Outpost could not render this page.").into_response();
        }
    };
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{}'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors {}",
        page.nonce,
        framing.sources()
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// A link offered on a page.
pub struct Action {
    pub label: String,
    pub href: String,
    /// Salesforce's login refuses to be framed, so sign-in links open a top-level window.
    pub new_window: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub page: Page,
    pub message: String,
    pub hint: Option<String>,
    pub actions: Vec<Action>,
    pub code: &'static str,
}

/// Field errors of the onboarding form.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OnboardingErrors {
    pub display_name: Option<&'static str>,
    pub reply_to: Option<&'static str>,
    pub consent: Option<&'static str>,
}

impl OnboardingErrors {
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.reply_to.is_none() && self.consent.is_none()
    }
}

#[derive(Template)]
#[template(path = "onboarding.html")]
pub struct OnboardingPage {
    pub page: Page,
    pub salesforce_name: String,
    pub username: Option<String>,
    pub org_name: String,
    pub csrf: String,
    pub display_name: String,
    pub reply_to: String,
    pub consent: bool,
    pub errors: OnboardingErrors,
}

/// The record a link opened Outpost from.
pub struct RecordContext {
    pub object: &'static str,
    pub id: String,
}

#[derive(Template)]
#[template(path = "app.html")]
pub struct AppPage {
    pub page: Page,
    pub display_name: String,
    pub user_id: String,
    pub org_name: String,
    pub org_id: String,
    pub mode: &'static str,
    pub record: Option<RecordContext>,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage {
    pub page: Page,
}
