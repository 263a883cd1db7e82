//! `GET`/`POST /onboarding`: new users of a `per_user` org say how their mail is signed, once.
//! The identity comes from the signed pending cookie, never from form fields.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use outpost_shared::cookies::{self, Site};
use outpost_shared::signed::Signer;
use outpost_shared::store::{Created, MappingSource, UserMapping, now_epoch};

use crate::EntryState;
use crate::admission::{PENDING_COOKIE, PENDING_PURPOSE, PendingIdentity, sign_in};
use crate::error::{EntryError, Wants};
use crate::forms;
use crate::pages::{self, Framing, OnboardingErrors, OnboardingPage, Page};

const CSRF_PURPOSE: &str = "onboarding";

/// What the form collects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Answers {
    display_name: String,
    reply_to: String,
    consent: bool,
}

impl Answers {
    fn validate(&self) -> OnboardingErrors {
        OnboardingErrors {
            display_name: display_name_error(&self.display_name),
            reply_to: (!is_email(&self.reply_to)).then_some("Enter an email address like name@example.com."),
            consent: (!self.consent).then_some("You need to accept the terms to use Outpost."),
        }
    }
}

fn display_name_error(name: &str) -> Option<&'static str> {
    let length = name.chars().count();
    if length == 0 {
        Some("Enter the name your recipients will see.")
    } else if length > 80 {
        Some("Use at most 80 characters.")
    } else if name.chars().any(char::is_control) {
        Some("Use letters, digits and punctuation only.")
    } else {
        None
    }
}

/// A pragmatic address check: one `@`, a plausible local part and a dotted domain of DNS labels.
fn is_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    address.len() <= 254 && local_ok && domain_ok
}

/// The pending identity of this browser, if it is still valid.
fn pending(headers: &HeaderMap, signer: &Signer) -> Result<PendingIdentity, EntryError> {
    let values = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
    let sealed = cookies::find(values, PENDING_COOKIE).ok_or(EntryError::OnboardingExpired)?;
    signer.open(PENDING_PURPOSE, sealed).map_err(|_| EntryError::OnboardingExpired)
}

async fn render_form(
    state: &EntryState,
    identity: &PendingIdentity,
    signer: &Signer,
    answers: &Answers,
    errors: OnboardingErrors,
) -> Result<Response, EntryError> {
    let org = state.active_org(&identity.org).await?;
    let host = org.host(state.services.config.host_policy).map_err(|_| EntryError::HostNotAllowed)?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = OnboardingPage {
        page: Page::new("Welcome"),
        salesforce_name: identity.name.clone(),
        username: identity.username.clone(),
        org_name: org.name.clone(),
        csrf: signer.csrf_token(CSRF_PURPOSE, &identity.nonce),
        display_name: answers.display_name.clone(),
        reply_to: answers.reply_to.clone(),
        consent: answers.consent,
        errors,
    };
    Ok(pages::html(status, &page, &page.page, &Framing::org(&host, org.namespace.as_ref())))
}

/// `GET /onboarding`: the form, prefilled with what Salesforce said.
pub async fn show(State(state): State<Arc<EntryState>>, headers: HeaderMap) -> Response {
    let result = async {
        let signer = state.signer().await?;
        let identity = pending(&headers, &signer)?;
        let answers = Answers {
            display_name: identity.name.clone(),
            reply_to: identity.email.clone().unwrap_or_default(),
            consent: false,
        };
        render_form(&state, &identity, &signer, &answers, OnboardingErrors::default()).await
    }
    .await;
    result.unwrap_or_else(|err| err.render(Wants::from_headers(&headers), state.services.config.host_policy))
}

/// `POST /onboarding`: validates, creates the mapping once, signs the user in.
pub async fn submit(
    State(state): State<Arc<EntryState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let signer = state.signer().await?;
        let identity = pending(&headers, &signer)?;
        let mut fields = forms::parse_body(body, &["csrf", "display_name", "reply_to", "consent"])?;
        let csrf = fields.remove("csrf").unwrap_or_default();
        if !signer.verify_csrf(CSRF_PURPOSE, &identity.nonce, &csrf) {
            return Err(EntryError::Csrf);
        }
        let answers = Answers {
            display_name: fields.remove("display_name").unwrap_or_default().trim().to_owned(),
            reply_to: fields.remove("reply_to").unwrap_or_default().trim().to_owned(),
            consent: fields.remove("consent").as_deref() == Some("yes"),
        };
        let errors = answers.validate();
        if !errors.is_empty() {
            return render_form(&state, &identity, &signer, &answers, errors).await;
        }
        let org = state.active_org(&identity.org).await?;
        let now = now_epoch();
        let mapping = UserMapping {
            org_id: identity.org,
            user_id: identity.user,
            display_name: answers.display_name,
            reply_to: answers.reply_to,
            source: MappingSource::Onboarding,
            consented_at: Some(now),
            created_at: now,
        };
        let created = state.services.store.create_user(&mapping).await.map_err(|err| {
            tracing::error!(error = %err, "could not create the user mapping");
            EntryError::StoreUnavailable
        })?;
        // Single use: once a mapping exists, the pending cookie and its token (valid for minutes
        // after every Salesforce session may have ended) never mint another session.
        if created == Created::AlreadyExists {
            tracing::info!(org = %org.org_id, user = %identity.user, "onboarding submitted again: refused");
            return Err(EntryError::OnboardingUsed);
        }
        tracing::info!(org = %org.org_id, user = %identity.user, "onboarding submitted");
        let clear = cookies::clear(PENDING_COOKIE, "/onboarding", Site::CrossSite);
        sign_in(&state, &org, identity.user, &identity.landing, &[clear]).await
    }
    .await;
    result.unwrap_or_else(|err| err.render(Wants::from_headers(&headers), state.services.config.host_policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_email_addresses_pragmatically() {
        for good in ["ada@example.com", "a.b+tag@mail.example.co.uk", "x@a-b.io"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@exa mple.com",
            "ada@@example.com",
            ".ada@example.com",
            "ada@-example.com",
            "<script>@x.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn validates_every_field() {
        let errors = Answers::default().validate();
        assert!(errors.display_name.is_some() && errors.reply_to.is_some() && errors.consent.is_some());
        let good = Answers { display_name: "Ada Lovelace".into(), reply_to: "ada@example.com".into(), consent: true };
        assert!(good.validate().is_empty());
        assert!(display_name_error(&"x".repeat(81)).is_some());
        assert!(display_name_error("tab\there").is_some());
    }
}
