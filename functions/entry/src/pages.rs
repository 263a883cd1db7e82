//! Server-rendered pages (askama escapes every value), each sent with the shared page headers:
//! a per-response CSP nonce for the inline stylesheet and `frame-ancestors` limited to the org's
//! Salesforce domains, because Outpost lives in web-tab iframes.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use outpost_shared::web::{self, Scripts};
pub use outpost_shared::web::{Framing, Page};

/// Renders `template` as an HTML response with the page's CSP.
pub fn html<T: Template>(status: StatusCode, template: &T, page: &Page, framing: &Framing) -> Response {
    web::html(status, template.render(), page, framing, Scripts::None)
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

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage {
    pub page: Page,
}
