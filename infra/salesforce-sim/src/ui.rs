//! The sim playing Salesforce's UI for browser tests: a web tab holding Outpost's custom link
//! in an iframe, a Canvas host page that auto-POSTs a signed request, and an index page.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::canvas::{API_VERSION, signed_request};
use crate::data::User;
use crate::ids::SfId;
use crate::org::Org;
use crate::reply::{self, esc};
use crate::sessions::SessionKind;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The exact URL a custom link / web tab produces:
/// `<outpost>/entry?uid=<user15>&oid=<org15>&sid=<sid>&srv=<base>/services/Soap/u/64.0/<org15>[&rid=<record15>]`,
/// values form-encoded like a URL-content custom link (`!` → `%21`, `/` → `%2F`).
pub fn custom_link(org: &Org, outpost: &str, user: &SfId, record: Option<&SfId>, sid: &str) -> String {
    let srv = format!("{}/services/Soap/u/{API_VERSION}/{}", org.base_url, org.id.as15());
    let mut url = format!(
        "{}/entry?uid={}&oid={}&sid={}&srv={}",
        outpost.trim_end_matches('/'),
        enc(user.as15()),
        enc(org.id.as15()),
        enc(sid),
        enc(&srv)
    );
    if let Some(r) = record {
        url.push_str("&rid=");
        url.push_str(&enc(r.as15()));
    }
    url
}

fn params(raw: Option<&str>) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn problem(status: StatusCode, msg: &str) -> Response {
    reply::html(
        status,
        format!("<!doctype html><html><body><h1>Salesforce sim</h1><p id=\"error\">{}</p></body></html>", esc(msg)),
    )
}

const CHROME_STYLE: &str = "<style>body{margin:0;font-family:Salesforce Sans,Arial,sans-serif;background:#f3f2f2}\
header{background:#032d60;color:#fff;padding:10px 16px;display:flex;justify-content:space-between}\
nav{background:#fff;border-bottom:1px solid #ddd;padding:0 16px;display:flex;gap:20px}\
nav a{display:inline-block;padding:10px 0;color:#181818;text-decoration:none}\
nav a.active{border-bottom:3px solid #0176d3}main{padding:12px}\
iframe{width:100%;height:80vh;border:1px solid #ddd;background:#fff}\
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:6px 10px;text-align:left}</style>";

fn chrome(org: &Org, user: &User, title: &str, inner: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title} | Salesforce</title>{CHROME_STYLE}</head>\
         <body><header><span>☁ {org_name}</span><span id=\"current-user\" data-user-id=\"{uid}\">{uname}</span></header>\
         <nav><a href=\"#\">Home</a><a href=\"#\">Contacts</a><a href=\"#\">Leads</a><a class=\"active\" href=\"#\">Outpost</a></nav>\
         <main>{inner}</main></body></html>",
        title = esc(title),
        org_name = esc(&org.name),
        uid = esc(user.id.as_str()),
        uname = esc(&user.name()),
    )
}

/// `GET /_sim/tab?user=<id|username>[&record=<id>][&session=api|lightning|ip_locked]`.
pub async fn tab(State(org): State<Arc<Org>>, RawQuery(raw): RawQuery) -> Response {
    let p = params(raw.as_deref());
    let Some(user) = p.get("user").and_then(|u| org.find_user(u)) else {
        return problem(StatusCode::NOT_FOUND, "unknown user (pass ?user=<id or username>)");
    };
    let kind = match p.get("session").map(|s| SessionKind::parse(s)) {
        None => SessionKind::Api,
        Some(Some(k)) => k,
        Some(None) => {
            return problem(StatusCode::BAD_REQUEST, "session must be api, lightning or ip_locked");
        }
    };
    let record = match p.get("record").filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => match SfId::parse(r) {
            Some(id) => Some(id),
            None => return problem(StatusCode::BAD_REQUEST, "record is not a Salesforce id"),
        },
    };
    let Some(outpost) = org.outpost() else {
        return problem(StatusCode::CONFLICT, "no Outpost URL configured (set_outpost / --outpost-url)");
    };
    let sid = org.mint(user.id, kind);
    let link = custom_link(&org, &outpost.base_url, &user.id, record.as_ref(), &sid);
    let inner = format!("<iframe id=\"outpost-frame\" title=\"Outpost\" src=\"{}\"></iframe>", esc(&link));
    reply::html(StatusCode::OK, chrome(&org, &user, "Outpost", &inner))
}

/// `GET /_sim/canvas?user=<id|username>`: auto-POSTs a signed request to `<outpost>/canvas`.
pub async fn canvas(State(org): State<Arc<Org>>, RawQuery(raw): RawQuery) -> Response {
    let p = params(raw.as_deref());
    let Some(user) = p.get("user").and_then(|u| org.find_user(u)) else {
        return problem(StatusCode::NOT_FOUND, "unknown user (pass ?user=<id or username>)");
    };
    let Some(outpost) = org.outpost() else {
        return problem(StatusCode::CONFLICT, "no Outpost URL configured (set_outpost / --outpost-url)");
    };
    let sr = signed_request(&org, &user);
    let inner = format!(
        "<form id=\"canvas-form\" method=\"post\" target=\"canvas-frame\" action=\"{}/canvas\">\
         <input type=\"hidden\" name=\"signed_request\" value=\"{}\"></form>\
         <iframe id=\"outpost-frame\" name=\"canvas-frame\" title=\"Outpost\"></iframe>\
         <script>document.getElementById('canvas-form').submit();</script>",
        esc(outpost.base_url.trim_end_matches('/')),
        esc(&sr)
    );
    reply::html(StatusCode::OK, chrome(&org, &user, "Outpost (Canvas)", &inner))
}

/// `GET /_sim`: an index of users with their tab and Canvas links.
pub async fn index(State(org): State<Arc<Org>>) -> Response {
    let rows: String = org
        .db()
        .users
        .iter()
        .map(|u| {
            let id = enc(u.id.as_str());
            format!(
                "<tr><td>{name}</td><td>{un}</td><td>{active}</td><td>\
                 <a href=\"/_sim/tab?user={id}\">web tab</a> · \
                 <a href=\"/_sim/tab?user={id}&amp;session=lightning\">tab (Lightning session)</a> · \
                 <a href=\"/_sim/tab?user={id}&amp;session=ip_locked\">tab (IP-locked)</a> · \
                 <a href=\"/_sim/canvas?user={id}\">Canvas</a></td></tr>",
                name = esc(&u.name()),
                un = esc(&u.username),
                active = if u.active { "active" } else { "inactive" },
            )
        })
        .collect();
    let outpost = org.outpost().map(|o| o.base_url).unwrap_or_else(|| "(not configured)".to_owned());
    reply::html(
        StatusCode::OK,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Salesforce sim</title>{CHROME_STYLE}</head>\
             <body><header><span>☁ {name} — simulated org {id}</span></header><main>\
             <p>My Domain: {base} · login host: {login} · Outpost: {outpost}</p>\
             <table><tr><th>User</th><th>Username</th><th>Status</th><th>Open Outpost as…</th></tr>{rows}</table>\
             </main></body></html>",
            name = esc(&org.name),
            id = esc(org.id.as_str()),
            base = esc(&org.base_url),
            login = esc(&org.login_url),
            outpost = esc(&outpost),
        ),
    )
}
