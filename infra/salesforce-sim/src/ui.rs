//! The sim playing Salesforce's UI for browser tests: a web tab holding Outpost's custom link
//! in an iframe, a Canvas host page that auto-POSTs a signed request, the package's entry forms
//! (launcher and list button, posted to `<outpost>/entry`), and an index page with list views.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::canvas::{API_VERSION, signed_request};
use crate::data::User;
use crate::ids::SfId;
use crate::org::Org;
use crate::reply::{self, esc};
use crate::schema::SObject;
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

/// The fields every entry form posts, as `c:OutpostEntryForm` renders them: `uid`
/// (`{!$User.Id}`), `oid` (`{!$Organization.Id}`), both rendered 18 characters long, the
/// Visualforce request's session `sid`, and `srv`, built like `OutpostEntry.partnerServerUrl()`
/// from the My Domain URL (`URL.getOrgDomainUrl()`) and the 15-character org id.
pub fn entry_form(org: &Org, user: &SfId, sid: &str) -> Vec<(String, String)> {
    let srv = format!("{}/services/Soap/u/{API_VERSION}/{}", org.base_url, org.id.as15());
    vec![
        ("uid".to_owned(), user.to_string()),
        ("oid".to_owned(), org.id.to_string()),
        ("sid".to_owned(), sid.to_owned()),
        ("srv".to_owned(), srv),
    ]
}

/// `<input type="hidden">` for every field.
fn hidden_inputs(fields: &[(String, String)]) -> String {
    fields.iter().map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v))).collect()
}

/// What the package's `OutpostAutoSubmit` static resource does: submit the entry form on load.
/// Served as a script file, so the pages carry no inline script.
const AUTO_SUBMIT_JS: &str = "(function () {\n\
  \"use strict\";\n\
  function submitEntryForm() {\n\
    var form = document.getElementById(\"outpost-entry\");\n\
    if (form) { form.submit(); }\n\
  }\n\
  if (document.readyState === \"loading\") {\n\
    document.addEventListener(\"DOMContentLoaded\", submitEntryForm);\n\
  } else {\n\
    submitEntryForm();\n\
  }\n\
})();\n";

/// `GET /_sim/auto-submit.js`.
pub async fn auto_submit_js() -> Response {
    reply::bytes_with(StatusCode::OK, "application/javascript;charset=UTF-8", AUTO_SUBMIT_JS.as_bytes().to_vec())
}

/// `POST /_sim/list-button` (form: `user`, `object`, `ids` once per ticked row): the
/// `OutpostAddContacts` / `OutpostAddLeads` page the list button opens. It posts the list-button
/// entry form to `<outpost>/entry`, submitted on load by `/_sim/auto-submit.js`, with a Continue
/// button when scripts do not run.
pub async fn list_button(State(org): State<Arc<Org>>, body: axum::body::Bytes) -> Response {
    let mut user = None;
    let mut object = None;
    let mut ids = Vec::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "user" => user = Some(v.into_owned()),
            "object" => object = Some(v.into_owned()),
            "ids" => ids.push(v.into_owned()),
            _ => {}
        }
    }
    let Some(user) = user.and_then(|u| org.find_user(&u)) else {
        return problem(StatusCode::NOT_FOUND, "unknown user");
    };
    let Some(object) = object.as_deref().and_then(SObject::from_name) else {
        return problem(StatusCode::BAD_REQUEST, "object must be Contact or Lead");
    };
    let Some(outpost) = org.outpost() else {
        return problem(StatusCode::CONFLICT, "no Outpost URL configured (set_outpost / --outpost-url)");
    };
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let form = match org.ctl_list_button_form(user.id.as_str(), object, &ids, SessionKind::Api) {
        Ok(f) => f,
        // The Visualforce page explains instead of posting.
        Err(e) => {
            let msg = match e {
                crate::control::SimError::InvalidSelection(m) => m,
                other => other.to_string(),
            };
            return reply::html(
                StatusCode::OK,
                chrome(&org, &user, "Add to Outpost list", &format!("<p id=\"error\">{}</p>", esc(&msg))),
            );
        }
    };
    let inner = format!(
        "<h1>Add to Outpost list</h1><form id=\"outpost-entry\" method=\"post\" action=\"{}/entry\">{}\
         <p>Opening Outpost…</p><button type=\"submit\">Continue to Outpost</button></form>\
         <script src=\"/_sim/auto-submit.js\"></script>",
        esc(outpost.base_url.trim_end_matches('/')),
        hidden_inputs(&form)
    );
    reply::html(StatusCode::OK, chrome(&org, &user, "Add to Outpost list", &inner))
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

/// A small list view of `obj` (first 10 live records, checkboxes) whose "Add to Outpost list"
/// button plays the package's list button.
fn list_view(org: &Org, obj: SObject, users: &[User]) -> String {
    let db = org.db();
    let Some(table) = db.table(obj) else {
        return String::new();
    };
    let rows: String = table
        .records()
        .iter()
        .filter(|r| !r.is_deleted && !r.purged)
        .take(10)
        .map(|r| {
            let row = crate::query::RowRef::rec(&db, r);
            let extra = match obj {
                SObject::Contact => row.account().map(|a| a.name.clone()),
                _ => r.company.clone(),
            };
            format!(
                "<tr><td><input type=\"checkbox\" name=\"ids\" value=\"{id}\" aria-label=\"Select {name}\"></td>\
                 <td>{name}</td><td>{email}</td><td>{extra}</td></tr>",
                id = esc(r.id.as_str()),
                name = esc(&r.name()),
                email = esc(r.email.as_deref().unwrap_or("")),
                extra = esc(extra.as_deref().unwrap_or("")),
            )
        })
        .collect();
    let options: String = users
        .iter()
        .filter(|u| u.active)
        .map(|u| format!("<option value=\"{}\">{}</option>", esc(u.id.as_str()), esc(&u.name())))
        .collect();
    let plural = obj.label_plural();
    let extra_head = if obj == SObject::Contact { "Account Name" } else { "Company" };
    format!(
        "<h2>{plural}</h2><form class=\"list-view\" id=\"list-{name}\" method=\"post\" action=\"/_sim/list-button\">\
         <input type=\"hidden\" name=\"object\" value=\"{name}\">\
         <label>View as <select name=\"user\">{options}</select></label>\
         <table><tr><th></th><th>Name</th><th>Email</th><th>{extra_head}</th></tr>{rows}</table>\
         <button type=\"submit\">Add to Outpost list</button></form>",
        name = obj.name(),
    )
}

/// `GET /_sim`: an index of users with their tab, Canvas and launcher entries, and a list view
/// per object.
pub async fn index(State(org): State<Arc<Org>>) -> Response {
    let users = org.db().users.clone();
    let outpost = org.outpost().map(|o| o.base_url);
    let rows: String = users
        .iter()
        .map(|u| {
            let id = enc(u.id.as_str());
            // Like the Visualforce launcher: each render gets the user's session into the form.
            let launcher = match &outpost {
                Some(base) => format!(
                    "<form class=\"launcher\" data-user-id=\"{uid}\" method=\"post\" action=\"{action}/entry\">{fields}\
                     <button type=\"submit\">Launcher (POST)</button></form>",
                    uid = esc(u.id.as_str()),
                    action = esc(base.trim_end_matches('/')),
                    fields = hidden_inputs(&entry_form(&org, &u.id, &org.mint(u.id, SessionKind::Api))),
                ),
                None => String::new(),
            };
            format!(
                "<tr><td>{name}</td><td>{un}</td><td>{active}</td><td>\
                 <a href=\"/_sim/tab?user={id}\">web tab</a> · \
                 <a href=\"/_sim/tab?user={id}&amp;session=lightning\">tab (Lightning session)</a> · \
                 <a href=\"/_sim/tab?user={id}&amp;session=ip_locked\">tab (IP-locked)</a> · \
                 <a href=\"/_sim/canvas?user={id}\">Canvas</a></td><td>{launcher}</td></tr>",
                name = esc(&u.name()),
                un = esc(&u.username),
                active = if u.active { "active" } else { "inactive" },
            )
        })
        .collect();
    let lists: String = [SObject::Contact, SObject::Lead].into_iter().map(|o| list_view(&org, o, &users)).collect();
    let outpost = outpost.unwrap_or_else(|| "(not configured)".to_owned());
    reply::html(
        StatusCode::OK,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Salesforce sim</title>{CHROME_STYLE}</head>\
             <body><header><span>☁ {name} — simulated org {id}</span></header><main>\
             <p>My Domain: {base} · login host: {login} · Outpost: {outpost}</p>\
             <table><tr><th>User</th><th>Username</th><th>Status</th><th>Open Outpost as…</th><th>Entry form</th></tr>{rows}</table>\
             {lists}</main></body></html>",
            name = esc(&org.name),
            id = esc(org.id.as_str()),
            base = esc(&org.base_url),
            login = esc(&org.login_url),
            outpost = esc(&outpost),
        ),
    )
}
