//! `GET /entry?uid=&oid=&sid=&srv=[&rid=]`: the custom link, web tab and formula-field link.
//! Everything about the link is checked before any network call; then userinfo on the pinned host
//! and the user-mapping read run concurrently.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use outpost_shared::hosts::{HostPolicy, SalesforceHost};
use outpost_shared::identity;
use outpost_shared::ids::{OrgId, RecordId, UserId};
use outpost_shared::tokens::SessionId;

use crate::EntryState;
use crate::admission::admit;
use crate::error::{EntryError, Wants};

/// A custom link may be up to 3,000 bytes before substitution; the session id adds ~120.
const MAX_QUERY_BYTES: usize = 4096;

/// A parameter's value, which must be present and non-empty.
fn present<'a>(value: Option<Cow<'a, str>>, what: &'static str) -> Result<Cow<'a, str>, EntryError> {
    value.filter(|v| !v.is_empty()).ok_or(EntryError::InvalidLink(what))
}

/// A link whose every part has been validated, but whose session nobody has confirmed yet.
#[derive(Debug)]
pub struct EntryLink {
    pub user: UserId,
    pub org: OrgId,
    pub sid: SessionId,
    /// The partner server URL's host; must equal the org's pinned host.
    pub server: SalesforceHost,
    pub record: Option<RecordId>,
}

impl EntryLink {
    /// Parses and checks the query string; nothing here touches the network.
    pub fn parse(query: Option<&str>, policy: HostPolicy) -> Result<Self, EntryError> {
        let query = query.unwrap_or_default();
        if query.len() > MAX_QUERY_BYTES {
            return Err(EntryError::InvalidLink("the link is too long"));
        }
        let (mut uid, mut oid, mut sid, mut srv, mut rid) = (None, None, None, None, None);
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "uid" => &mut uid,
                "oid" => &mut oid,
                "sid" => &mut sid,
                "srv" => &mut srv,
                "rid" => &mut rid,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(EntryError::InvalidLink("a parameter appears twice"));
            }
        }

        let user = UserId::parse(&present(uid, "uid is missing")?)
            .map_err(|_| EntryError::InvalidLink("uid is not a Salesforce user id"))?;
        let org = OrgId::parse(&present(oid, "oid is missing")?)
            .map_err(|_| EntryError::InvalidLink("oid is not a Salesforce organization id"))?;
        let sid = SessionId::parse(&present(sid, "sid is missing")?, &org)
            .map_err(|_| EntryError::InvalidLink("sid is not a session of this organization"))?;
        let server = SalesforceHost::from_url(&present(srv, "srv is missing")?, policy)
            .map_err(|_| EntryError::HostNotAllowed)?;
        let record = rid
            .filter(|v| !v.is_empty())
            .map(|rid| RecordId::parse(&rid).map_err(|_| EntryError::InvalidLink("rid is not a Contact or Lead id")))
            .transpose()?;
        Ok(Self { user, org, sid, server, record })
    }
}

/// The `/entry` handler.
pub async fn entry(State(state): State<Arc<EntryState>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let policy = state.services.config.host_policy;
    match enter(&state, query.as_deref(), policy).await {
        Ok(response) => response,
        Err(err) => err.render(Wants::from_headers(&headers), policy),
    }
}

#[tracing::instrument(skip_all, fields(org, user))]
async fn enter(state: &EntryState, query: Option<&str>, policy: HostPolicy) -> Result<Response, EntryError> {
    let link = EntryLink::parse(query, policy)?;
    let span = tracing::Span::current();
    span.record("org", tracing::field::display(&link.org));
    span.record("user", tracing::field::display(&link.user));
    let org = state.active_org(&link.org).await?;
    let pinned = org.host(policy).map_err(|_| EntryError::HostNotAllowed)?;
    if link.server != pinned {
        return Err(EntryError::HostNotAllowed);
    }
    let services = &state.services;
    let (confirmed, mapping) = tokio::join!(
        identity::confirm(&services.salesforce, &pinned, link.sid.token(), &link.org, Some(&link.user)),
        services.store.get_user(&link.org, &link.user),
    );
    let info = confirmed.map_err(|err| EntryError::from_identity(err, link.org))?;
    let mapping = mapping.map_err(|err| {
        tracing::error!(error = %err, "user mapping lookup failed");
        EntryError::StoreUnavailable
    })?;
    admit(state, &org, &info, mapping, link.record).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "00Dx0000000BV7z!AQ0AQH0dMHZfz972Szmpkb58urFRkgeBGsxL";

    fn query(parts: &[(&str, &str)]) -> String {
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(parts).finish()
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("uid", "005x00000012Q9P"),
            ("oid", "00Dx0000000BV7z"),
            ("sid", SID),
            ("srv", "https://acme.my.salesforce.com/services/Soap/u/64.0/00Dx0000000BV7z"),
        ]
    }

    fn parse(parts: &[(&str, &str)]) -> Result<EntryLink, EntryError> {
        EntryLink::parse(Some(&query(parts)), HostPolicy::production())
    }

    #[test]
    fn parses_a_real_link_and_normalises_ids() {
        let link = parse(&good()).unwrap();
        assert_eq!(link.user.as_str(), "005x00000012Q9PAAU");
        assert_eq!(link.org.as_str(), "00Dx0000000BV7zEAG");
        assert_eq!(link.server.origin(), "https://acme.my.salesforce.com");
        assert!(link.record.is_none());
    }

    #[test]
    fn decodes_form_style_encoding_of_the_session_id() {
        let raw = "uid=005x00000012Q9P&oid=00Dx0000000BV7z&sid=00Dx0000000BV7z%21AQ0AQ.x_y&srv=https%3A%2F%2Facme.my.salesforce.com%2Fservices%2FSoap%2Fu%2F64.0%2F00Dx0000000BV7z&rid=003q000000KvQ1t";
        let link = EntryLink::parse(Some(raw), HostPolicy::production()).unwrap();
        assert_eq!(link.record.unwrap().as_str(), "003q000000KvQ1tAAF");
    }

    #[test]
    fn refuses_bad_links_before_any_network_call() {
        let mut twice = good();
        twice.push(("uid", "005x00000012Q9P"));
        assert_eq!(parse(&twice).err(), Some(EntryError::InvalidLink("a parameter appears twice")));
        let mut foreign_sid = good();
        foreign_sid[2] = ("sid", "00Dy0000000BV7z!AQ0AQH0dMHZ");
        assert!(matches!(parse(&foreign_sid), Err(EntryError::InvalidLink(_))));
        let mut evil_host = good();
        evil_host[3] = ("srv", "https://acme.my.salesforce.com.evil.example/services/Soap/u/64.0/00D");
        assert_eq!(parse(&evil_host).err(), Some(EntryError::HostNotAllowed));
        let mut bad_checksum = good();
        bad_checksum[0] = ("uid", "005x00000012Q9PAAV");
        assert!(matches!(parse(&bad_checksum), Err(EntryError::InvalidLink(_))));
        let mut record_of_account = good();
        record_of_account.push(("rid", "001q000000KvQ1t"));
        assert!(matches!(parse(&record_of_account), Err(EntryError::InvalidLink(_))));
        assert!(matches!(EntryLink::parse(None, HostPolicy::production()), Err(EntryError::InvalidLink(_))));
        let long = format!("{}&pad={}", query(&good()), "x".repeat(5000));
        assert!(matches!(EntryLink::parse(Some(&long), HostPolicy::production()), Err(EntryError::InvalidLink(_))));
    }
}
