//! `/entry`: the custom link, web tab and formula-field link (`GET ?uid=&oid=&sid=&srv=[&rid=]`),
//! and the Visualforce hand-over (`POST` of the same fields, optionally with the records selected
//! in a list view as `ids` and `object`), which keeps the session id out of URLs. Everything about
//! the request is checked before any network call; then userinfo on the pinned host and the
//! user-mapping read run concurrently.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use outpost_shared::crypto;
use outpost_shared::hosts::{HostPolicy, SalesforceHost};
use outpost_shared::identity;
use outpost_shared::ids::{OrgId, RecipientObject, RecordId, UserId};
use outpost_shared::store::{PendingSelection, now_epoch};
use outpost_shared::tokens::SessionId;

use crate::EntryState;
use crate::admission::{Landing, admit, store_failed};
use crate::error::{EntryError, Wants};
use crate::forms;

/// A custom link may be up to 3,000 bytes before substitution; the session id adds ~120.
const MAX_QUERY_BYTES: usize = 4096;
/// How long a selection waits for the user to choose a list (onboarding included).
const SELECTION_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// A parameter's value, which must be present and non-empty.
fn present<'a>(value: Option<Cow<'a, str>>, what: &'static str) -> Result<Cow<'a, str>, EntryError> {
    value.filter(|v| !v.is_empty()).ok_or(EntryError::InvalidLink(what))
}

/// Where an admitted user goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Home,
    /// The record the link was on.
    Record(RecordId),
    /// Records selected in a list view, all of one object.
    Selection {
        object: RecipientObject,
        ids: Vec<RecordId>,
    },
}

/// An entry whose every part has been validated, but whose session nobody has confirmed yet.
#[derive(Debug)]
pub struct EntryLink {
    pub user: UserId,
    pub org: OrgId,
    pub sid: SessionId,
    /// The partner server URL's host; must equal the org's pinned host.
    pub server: SalesforceHost,
    pub target: Target,
}

/// The fields of an entry, each at most once.
#[derive(Default)]
struct Fields<'a> {
    uid: Option<Cow<'a, str>>,
    oid: Option<Cow<'a, str>>,
    sid: Option<Cow<'a, str>>,
    srv: Option<Cow<'a, str>>,
    rid: Option<Cow<'a, str>>,
    ids: Option<Cow<'a, str>>,
    object: Option<Cow<'a, str>>,
}

/// The ids of a list-view selection: comma-separated, all of `object`, at most [`PendingSelection::MAX_RECORDS`].
fn selection(object: &str, ids: &str) -> Result<Target, EntryError> {
    let object =
        RecipientObject::from_api_name(object).ok_or(EntryError::InvalidLink("object is neither Contact nor Lead"))?;
    let mut records = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        let record =
            RecordId::parse(id).map_err(|_| EntryError::InvalidLink("ids holds something other than record ids"))?;
        if record.object() != object {
            return Err(EntryError::InvalidLink("ids holds records of another object"));
        }
        if !records.contains(&record) {
            records.push(record);
        }
        if records.len() > PendingSelection::MAX_RECORDS {
            return Err(EntryError::InvalidLink("select at most 1,000 records at a time"));
        }
    }
    if records.is_empty() {
        return Err(EntryError::InvalidLink("no records were selected"));
    }
    Ok(Target::Selection { object, ids: records })
}

impl EntryLink {
    /// Parses and checks a link's query string (parameters it does not know are ignored, as
    /// custom links may carry their own); nothing here touches the network.
    pub fn parse(query: Option<&str>, policy: HostPolicy) -> Result<Self, EntryError> {
        let query = query.unwrap_or_default();
        if query.len() > MAX_QUERY_BYTES {
            return Err(EntryError::InvalidLink("the link is too long"));
        }
        let mut fields = Fields::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "uid" => &mut fields.uid,
                "oid" => &mut fields.oid,
                "sid" => &mut fields.sid,
                "srv" => &mut fields.srv,
                "rid" => &mut fields.rid,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(EntryError::InvalidLink("a parameter appears twice"));
            }
        }
        Self::check(fields, policy)
    }

    /// Parses and checks a posted hand-over: only its fields, each once.
    pub fn parse_form(body: &[u8], policy: HostPolicy) -> Result<Self, EntryError> {
        // A malformed hand-over is refused as a malformed link is: the same fields, the same answer.
        let mut form = forms::parse(body, &["uid", "oid", "sid", "srv", "rid", "ids", "object"])
            .map_err(|_| EntryError::InvalidLink("the entry form holds unknown, repeated or oversized fields"))?;
        let mut take = |name: &str| form.remove(name).map(Cow::Owned);
        let fields = Fields {
            uid: take("uid"),
            oid: take("oid"),
            sid: take("sid"),
            srv: take("srv"),
            rid: take("rid"),
            ids: take("ids"),
            object: take("object"),
        };
        Self::check(fields, policy)
    }

    fn check(fields: Fields<'_>, policy: HostPolicy) -> Result<Self, EntryError> {
        let user = UserId::parse(&present(fields.uid, "uid is missing")?)
            .map_err(|_| EntryError::InvalidLink("uid is not a Salesforce user id"))?;
        let org = OrgId::parse(&present(fields.oid, "oid is missing")?)
            .map_err(|_| EntryError::InvalidLink("oid is not a Salesforce organization id"))?;
        let sid = SessionId::parse(&present(fields.sid, "sid is missing")?, &org)
            .map_err(|_| EntryError::InvalidLink("sid is not a session of this organization"))?;
        let server = SalesforceHost::from_url(&present(fields.srv, "srv is missing")?, policy)
            .map_err(|_| EntryError::HostNotAllowed)?;
        let rid = fields.rid.filter(|rid| !rid.is_empty());
        let target = match (rid, fields.ids, fields.object) {
            (None, None, None) => Target::Home,
            (Some(rid), None, None) => Target::Record(
                RecordId::parse(&rid).map_err(|_| EntryError::InvalidLink("rid is not a Contact or Lead id"))?,
            ),
            (None, Some(ids), Some(object)) => selection(&object, &ids)?,
            (None, _, _) => return Err(EntryError::InvalidLink("ids and object come together")),
            (Some(_), _, _) => return Err(EntryError::InvalidLink("a record and a selection cannot come together")),
        };
        Ok(Self { user, org, sid, server, target })
    }
}

/// `GET /entry`.
pub async fn entry(State(state): State<Arc<EntryState>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let policy = state.services.config.host_policy;
    let result = async { enter(&state, EntryLink::parse(query.as_deref(), policy)?, policy).await }.await;
    result.unwrap_or_else(|err| err.render(Wants::from_headers(&headers), policy))
}

/// `POST /entry`.
pub async fn entry_form(
    State(state): State<Arc<EntryState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let policy = state.services.config.host_policy;
    let result = async {
        let body = body.map_err(|_| EntryError::InvalidLink("the entry form is too large"))?;
        enter(&state, EntryLink::parse_form(&body, policy)?, policy).await
    }
    .await;
    result.unwrap_or_else(|err| err.render(Wants::from_headers(&headers), policy))
}

#[tracing::instrument(skip_all, fields(org, user))]
async fn enter(state: &EntryState, link: EntryLink, policy: HostPolicy) -> Result<Response, EntryError> {
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
    let landing = match link.target {
        Target::Home => Landing::Home,
        Target::Record(record) => Landing::Record(record),
        // The selection waits in the store, for this user only: it is too large for a URL or a cookie.
        Target::Selection { object, ids } => {
            let selection = PendingSelection {
                token: crypto::random_token(),
                org_id: link.org,
                user_id: info.user_id,
                object,
                ids,
                expires_at: now_epoch() + i64::try_from(SELECTION_LIFETIME.as_secs()).unwrap_or(i64::MAX),
            };
            services.store.put_selection(&selection).await.map_err(store_failed)?;
            Landing::Selection(selection.token)
        }
    };
    admit(state, &org, &info, mapping, landing).await
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
        assert_eq!(link.target, Target::Home);
    }

    #[test]
    fn decodes_form_style_encoding_of_the_session_id() {
        let raw = "uid=005x00000012Q9P&oid=00Dx0000000BV7z&sid=00Dx0000000BV7z%21AQ0AQ.x_y&srv=https%3A%2F%2Facme.my.salesforce.com%2Fservices%2FSoap%2Fu%2F64.0%2F00Dx0000000BV7z&rid=003q000000KvQ1t";
        let link = EntryLink::parse(Some(raw), HostPolicy::production()).unwrap();
        assert_eq!(link.target, Target::Record(RecordId::parse("003q000000KvQ1tAAF").unwrap()));
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

    #[test]
    fn a_posted_hand_over_carries_a_selection() {
        let mut selected = good();
        selected.push(("ids", "003q000000KvQ1t, 003q000000KvQ2t,003q000000KvQ1tAAF,"));
        selected.push(("object", "Contact"));
        let link = EntryLink::parse_form(query(&selected).as_bytes(), HostPolicy::production()).unwrap();
        let Target::Selection { object, ids } = link.target else { panic!("a selection") };
        assert_eq!(object, RecipientObject::Contact);
        assert_eq!(ids.len(), 2, "the same record twice is once");
        let form = |extra: &[(&'static str, &'static str)]| {
            let mut parts = good();
            parts.extend_from_slice(extra);
            EntryLink::parse_form(query(&parts).as_bytes(), HostPolicy::production())
        };
        for (extra, why) in [
            (&[("ids", "003q000000KvQ1t")][..], "ids without object"),
            (&[("ids", "00Qq000000KvQ1t"), ("object", "Contact")][..], "a Lead among Contacts"),
            (&[("ids", "001q000000KvQ1t"), ("object", "Account")][..], "an Account"),
            (&[("ids", " , "), ("object", "Lead")][..], "nothing selected"),
            (&[("ids", "003q000000KvQ1t"), ("object", "Contact"), ("rid", "003q000000KvQ1t")][..], "both"),
            (&[("surprise", "1")][..], "an unknown field"),
        ] {
            assert!(form(extra).is_err(), "{why}");
        }
        let many: Vec<String> = (0..1001).map(|n| format!("003q0000000{n:04}")).collect();
        let joined = many.join(",");
        let mut too_many: Vec<(&str, &str)> = good();
        too_many.push(("ids", &joined));
        too_many.push(("object", "Contact"));
        assert!(EntryLink::parse_form(query(&too_many).as_bytes(), HostPolicy::production()).is_err());
    }
}
