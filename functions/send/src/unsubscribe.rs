//! `/u/{token}`: the link every campaign message carries (RFC 8058). `GET` asks to confirm (mail
//! scanners follow links; they must not unsubscribe anyone); `POST` with
//! `List-Unsubscribe=One-Click`, as mailbox providers send it, unsubscribes at once. No login:
//! the token is signed.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use outpost_shared::campaigns::Unsubscribe;
use outpost_shared::services::Services;
use outpost_shared::web::{self, Framing, Page, Scripts};

use crate::feedback::{Feedback, Unsubscribed};
use crate::sender::SendFailure;

/// The field and value RFC 8058 has mailbox providers post.
const FIELD: &str = "List-Unsubscribe";
const VALUE: &str = "One-Click";
/// The largest body the endpoint reads (a multipart body's boundaries included).
const MAX_BODY: usize = 4096;

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    page: Page,
    heading: &'static str,
    message: &'static str,
    confirm: bool,
}

fn page(status: StatusCode, heading: &'static str, message: &'static str, confirm: bool) -> Response {
    let page = UnsubscribePage { page: Page::new(heading), heading, message, confirm };
    web::html(status, page.render(), &page.page, &Framing::Nowhere, Scripts::None)
}

fn invalid() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        "The unsubscribe link is incomplete or was changed. Use the link in the message exactly as it came.",
        false,
    )
}

fn unavailable(err: &SendFailure) -> Response {
    tracing::error!(error = %err, "unsubscribe failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "Your request could not be recorded just now. Nothing was changed; please try again in a minute.",
        false,
    )
}

async fn opened(services: &Services, token: &str) -> Result<Unsubscribe, Response> {
    let signer = crate::sender::signer(services).await.map_err(|err| unavailable(&err))?;
    Unsubscribe::open(&signer, token).map_err(|_| invalid())
}

async fn confirm(State(services): State<Arc<Services>>, Path(token): Path<String>) -> Response {
    if token == crate::sender::TEST_LINK {
        return page(StatusCode::OK, "This was a test message", "Its link unsubscribes no one.", false);
    }
    match opened(&services, &token).await {
        Ok(_) => page(
            StatusCode::OK,
            "Unsubscribe",
            "Stop receiving these emails? You will not get mail from this sender's campaigns again.",
            true,
        ),
        Err(response) => response,
    }
}

/// Whether the body says `List-Unsubscribe=One-Click`: as `multipart/form-data`, which RFC 8058
/// has mailbox providers send, or as a URL-encoded form (which it allows, and our page posts).
async fn says_one_click(headers: &HeaderMap, body: Bytes) -> bool {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if let Ok(boundary) = multer::parse_boundary(content_type) {
        let stream = futures::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
        let mut parts = multer::Multipart::new(stream, boundary);
        while let Ok(Some(part)) = parts.next_field().await {
            if part.name() == Some(FIELD) {
                return part.text().await.is_ok_and(|value| value.trim() == VALUE);
            }
        }
        return false;
    }
    let fields = web::form_fields(&body, &[FIELD], &[]);
    fields.as_ref().and_then(|fields| fields.get(FIELD)).is_some_and(|values| values.iter().any(|v| v == VALUE))
}

async fn one_click(
    State(services): State<Arc<Services>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !says_one_click(&headers, body).await {
        return page(
            StatusCode::BAD_REQUEST,
            "Nothing was changed",
            "An unsubscribe request carries List-Unsubscribe=One-Click.",
            false,
        );
    }
    if token == crate::sender::TEST_LINK {
        return page(StatusCode::OK, "This was a test message", "Its link unsubscribes no one.", false);
    }
    let link = match opened(&services, &token).await {
        Ok(link) => link,
        Err(response) => return response,
    };
    match (Feedback { services: &services }).unsubscribe(&link).await {
        Ok(Unsubscribed::Done) => page(
            StatusCode::OK,
            "You are unsubscribed",
            "You will not receive these emails again. It can take a moment to reach every list.",
            false,
        ),
        Ok(Unsubscribed::UnknownOrg) => invalid(),
        Err(err) => unavailable(&err),
    }
}

/// The endpoint's routes.
pub fn router(services: Arc<Services>) -> Router {
    Router::new()
        .route("/u/{token}", get(confirm).post(one_click))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(web::private_answers))
        .with_state(services)
}
