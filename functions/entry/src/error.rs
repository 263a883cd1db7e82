//! Every way entry can fail, with a stable code, an HTTP status and a page that tells a person
//! what to do next; `Accept: application/json` gets `{"error": {"code", "message"}}` instead.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use outpost_shared::hosts::HostPolicy;
use outpost_shared::identity::IdentityError;
use outpost_shared::ids::OrgId;

pub use outpost_shared::web::Wants;

use crate::pages::{self, Action, ErrorPage, Framing, Page};

/// A failed entry request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// The link's parameters are missing, malformed or inconsistent.
    InvalidLink(&'static str),
    /// `srv` (or an instance URL) is not the org's Salesforce API host.
    HostNotAllowed,
    OrgNotRegistered,
    OrgInactive,
    /// Salesforce said the session is expired or invalid.
    SessionExpired {
        org: OrgId,
    },
    /// Salesforce will not accept the session from a server (Lightning context, IP lock, policy).
    SessionNotApiEnabled {
        org: OrgId,
    },
    IdentityMismatch,
    UserInactive,
    SalesforceUnavailable,
    StoreUnavailable,
    Csrf,
    /// The pending onboarding identity is missing or expired.
    OnboardingExpired,
    /// The pending identity already created its mapping: it never signs anyone in again.
    OnboardingUsed,
    /// The SSO state cookie is missing, expired or does not match.
    SsoState,
    /// Salesforce answered the authorize request with an error (`access_denied`, …).
    SsoDenied,
    /// Salesforce refused the code (invented, replayed, another org's) or its identity check.
    SsoFailed,
    /// Salesforce could not be reached to exchange the code.
    SsoUnreachable,
    /// A Canvas signed request that does not verify.
    CanvasInvalid(&'static str),
    /// A malformed form post.
    InvalidForm,
    /// Outpost's own configuration is incomplete (a secret is missing).
    Misconfigured,
}

impl EntryError {
    /// The error for a session Salesforce did not confirm for `org`.
    pub fn from_identity(err: IdentityError, org: OrgId) -> Self {
        match err {
            IdentityError::SessionExpired => EntryError::SessionExpired { org },
            IdentityError::SessionNotApiEnabled(_) => EntryError::SessionNotApiEnabled { org },
            IdentityError::Mismatch => EntryError::IdentityMismatch,
            IdentityError::Inactive => EntryError::UserInactive,
            IdentityError::Unavailable(_) => EntryError::SalesforceUnavailable,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            EntryError::InvalidLink(_)
            | EntryError::HostNotAllowed
            | EntryError::SsoState
            | EntryError::CanvasInvalid(_)
            | EntryError::InvalidForm => StatusCode::BAD_REQUEST,
            EntryError::SessionExpired { .. }
            | EntryError::SessionNotApiEnabled { .. }
            | EntryError::OnboardingExpired
            | EntryError::OnboardingUsed => StatusCode::UNAUTHORIZED,
            EntryError::OrgNotRegistered
            | EntryError::OrgInactive
            | EntryError::IdentityMismatch
            | EntryError::UserInactive
            | EntryError::Csrf
            | EntryError::SsoDenied => StatusCode::FORBIDDEN,
            EntryError::SsoFailed => StatusCode::BAD_REQUEST,
            EntryError::SsoUnreachable => StatusCode::BAD_GATEWAY,
            EntryError::SalesforceUnavailable | EntryError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            EntryError::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EntryError::InvalidLink(_) => "invalid_link",
            EntryError::HostNotAllowed => "host_not_allowed",
            EntryError::OrgNotRegistered => "org_not_registered",
            EntryError::OrgInactive => "org_inactive",
            EntryError::SessionExpired { .. } => "session_expired",
            EntryError::SessionNotApiEnabled { .. } => "session_not_api_enabled",
            EntryError::IdentityMismatch => "identity_mismatch",
            EntryError::UserInactive => "user_inactive",
            EntryError::SalesforceUnavailable => "salesforce_unavailable",
            EntryError::StoreUnavailable => "store_unavailable",
            EntryError::Csrf => "csrf",
            EntryError::OnboardingExpired => "onboarding_expired",
            EntryError::OnboardingUsed => "onboarding_used",
            EntryError::SsoState => "sso_state",
            EntryError::SsoDenied => "sso_denied",
            EntryError::SsoFailed => "sso_failed",
            EntryError::SsoUnreachable => "sso_unreachable",
            EntryError::CanvasInvalid(_) => "canvas_invalid",
            EntryError::InvalidForm => "invalid_form",
            EntryError::Misconfigured => "misconfigured",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            EntryError::InvalidLink(_) | EntryError::HostNotAllowed => "This Outpost link is not valid",
            EntryError::OrgNotRegistered => "Your organization is not registered with Outpost",
            EntryError::OrgInactive => "Outpost is switched off for your organization",
            EntryError::SessionExpired { .. } => "Your Salesforce session has expired",
            EntryError::SessionNotApiEnabled { .. } => "Salesforce did not let Outpost confirm your session",
            EntryError::IdentityMismatch => "This link belongs to someone else",
            EntryError::UserInactive => "Your Salesforce user is not active",
            EntryError::SalesforceUnavailable => "Salesforce is not answering",
            EntryError::StoreUnavailable => "Outpost is having trouble",
            EntryError::Csrf => "This form has expired",
            EntryError::OnboardingExpired => "Your sign-up has timed out",
            EntryError::OnboardingUsed => "This sign-up is already complete",
            EntryError::SsoState => "This sign-in attempt has expired",
            EntryError::SsoDenied => "Sign-in with Salesforce was cancelled",
            EntryError::SsoFailed => "Sign-in with Salesforce did not complete",
            EntryError::SsoUnreachable => "Salesforce did not answer the sign-in",
            EntryError::CanvasInvalid(_) => "Outpost could not verify this Canvas request",
            EntryError::InvalidForm => "This form could not be read",
            EntryError::Misconfigured => "Outpost is not fully set up",
        }
    }

    fn message(&self) -> String {
        match self {
            EntryError::InvalidLink(reason) => format!(
                "The link that opened Outpost is incomplete or altered ({reason}). Open Outpost again from Salesforce."
            ),
            EntryError::HostNotAllowed => "The link names a server that is not your organization's Salesforce. \
                Outpost only ever talks to the Salesforce host registered for your organization."
                .into(),
            EntryError::OrgNotRegistered => "Outpost does not know this Salesforce organization yet.".into(),
            EntryError::OrgInactive => "Your organization's Outpost access is currently inactive.".into(),
            EntryError::SessionExpired { .. } => {
                "Salesforce says your session is no longer valid. Sign in with Salesforce to continue.".into()
            }
            EntryError::SessionNotApiEnabled { .. } => "Your session is valid in your browser, but Salesforce refused \
                to confirm it to Outpost. This happens when a link is opened from Lightning Experience, when sessions \
                are locked to your IP address, or when API access is restricted. Sign in with Salesforce instead: \
                it works in every case."
                .into(),
            EntryError::IdentityMismatch => "Salesforce says this session belongs to a different user or \
                organization than the link claims. Open Outpost from your own Salesforce page."
                .into(),
            EntryError::UserInactive => "Salesforce reports your user as inactive.".into(),
            EntryError::SalesforceUnavailable => {
                "Outpost could not reach Salesforce to confirm who you are. Please try again in a moment.".into()
            }
            EntryError::StoreUnavailable => "Outpost could not reach its storage. Please try again in a moment.".into(),
            EntryError::Csrf => "The form was not submitted from this Outpost page, or it is too old. \
                Reload the page and try again."
                .into(),
            EntryError::OnboardingUsed => "Each sign-up signs you in once. You are signed up: open Outpost from \
                Salesforce again to continue."
                .into(),
            EntryError::OnboardingExpired => "For your security, sign-up must be finished within 15 minutes of \
                opening Outpost. Go back to Salesforce and open Outpost again to start over."
                .into(),
            EntryError::SsoState => "The sign-in took too long or was started in another browser window. \
                Start the sign-in again."
                .into(),
            EntryError::SsoDenied => "Salesforce reported that access was not granted.".into(),
            EntryError::SsoFailed => "Salesforce did not confirm the sign-in. Try again, and if it keeps failing \
                ask your Salesforce admin to check Outpost's External Client App."
                .into(),
            EntryError::SsoUnreachable => "Outpost could not reach Salesforce to finish the sign-in. Try again.".into(),
            EntryError::CanvasInvalid(reason) => {
                format!("The Canvas request from Salesforce did not verify ({reason}).")
            }
            EntryError::InvalidForm => "The submitted form was malformed.".into(),
            EntryError::Misconfigured => "A secret Outpost needs is missing or unreadable.".into(),
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            EntryError::OrgNotRegistered => Some(
                "Salesforce admins: install the Outpost package and register the org with its My Domain host \
                 (see the Salesforce setup section of Outpost's README)."
                    .into(),
            ),
            EntryError::OrgInactive => {
                Some("Salesforce admins: reactivate the org's Outpost registration to restore access.".into())
            }
            EntryError::SessionNotApiEnabled { .. } => Some(
                "Salesforce admins: the Outpost launcher tab (a Visualforce page) hands over an API-enabled session."
                    .into(),
            ),
            EntryError::Misconfigured | EntryError::SsoFailed => {
                Some("Outpost operators: check the function logs for details.".into())
            }
            _ => None,
        }
    }

    fn actions(&self) -> Vec<Action> {
        match self {
            EntryError::SessionExpired { org } | EntryError::SessionNotApiEnabled { org } => vec![Action {
                label: "Sign in with Salesforce".into(),
                href: format!("/sso/start?org={org}"),
                new_window: true,
            }],
            // An empty href reloads the current address without Outpost ever writing the sid out.
            EntryError::SalesforceUnavailable | EntryError::StoreUnavailable => {
                vec![Action { label: "Try again".into(), href: String::new(), new_window: false }]
            }
            _ => Vec::new(),
        }
    }

    /// The response for a person or a machine.
    pub fn render(&self, wants: Wants, policy: HostPolicy) -> Response {
        if self.status().is_server_error() {
            tracing::warn!(code = self.code(), "entry failed");
        } else {
            tracing::info!(code = self.code(), "entry refused");
        }
        match wants {
            Wants::Json => (
                self.status(),
                Json(serde_json::json!({ "error": { "code": self.code(), "message": self.message() } })),
            )
                .into_response(),
            Wants::Html => {
                let page = ErrorPage {
                    page: Page::new(self.title()),
                    message: self.message(),
                    hint: self.hint(),
                    actions: self.actions(),
                    code: self.code(),
                };
                pages::html(self.status(), &page, &page.page, &Framing::any(policy))
            }
        }
    }
}
