//! OAuth 2.0: the token endpoint (JWT bearer, client credentials, authorization code + PKCE),
//! the authorize page (a login screen listing the org's active users) and revoke.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD, STANDARD_PAD_INDIFFERENT, URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT,
};
use serde::Serialize;

use crate::clock::SfDateTime;
use crate::data::User;
use crate::faults::JwtRefusal;
use crate::ids::{self, SfId};
use crate::org::{Org, lock};
use crate::reply::{self, esc};
use crate::sessions::SessionKind;

/// Authorization codes live 10 minutes.
const CODE_TTL_SECS: i64 = 600;
/// Clock skew allowed on JWT `exp`.
const JWT_SKEW_SECS: i64 = 180;

/// A pending authorization code.
#[derive(Clone, Debug)]
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    user: SfId,
    created: SfDateTime,
}

/// Outstanding authorization codes.
#[derive(Default)]
pub struct Codes {
    map: HashMap<String, Code>,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    scope: &'static str,
    instance_url: String,
    id: String,
    token_type: &'static str,
    issued_at: String,
}

type OAuthErr = (&'static str, &'static str);

fn ct_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Issues an access token for `user` and renders the token response.
fn issue(org: &Org, user: &User, scope: &'static str, id_base: &str, signed: bool) -> Response {
    let token = org.mint(user.id, SessionKind::Api);
    let issued_at = org.clock.now_ms().to_string();
    let id = format!("{id_base}/id/{}/{}", org.id, user.id);
    let signature = signed.then(|| {
        // base64(HMAC-SHA256(client_secret, id + issued_at)), as the web-server flow documents.
        let key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, org.config.oauth_client.client_secret.as_bytes());
        STANDARD.encode(aws_lc_rs::hmac::sign(&key, format!("{id}{issued_at}").as_bytes()))
    });
    reply::json(
        StatusCode::OK,
        &TokenResponse {
            access_token: token,
            signature,
            scope,
            instance_url: org.base_url.clone(),
            id,
            token_type: "Bearer",
            issued_at,
        },
    )
}

/// `POST /services/oauth2/token`.
pub async fn token(State(org): State<Arc<Org>>, headers: HeaderMap, body: Bytes) -> Response {
    let p = form(&body);
    let grant = p.get("grant_type").map(String::as_str).unwrap_or("");
    let result = match grant {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => jwt_bearer(&org, &p),
        "client_credentials" => client_credentials(&org, &headers, &p),
        "authorization_code" => authorization_code(&org, &p),
        _ => Err(("unsupported_grant_type", "grant type not supported")),
    };
    result.unwrap_or_else(|(e, d)| reply::oauth_error(e, d))
}

fn jwt_bearer(org: &Org, p: &HashMap<String, String>) -> Result<Response, OAuthErr> {
    const INVALID: OAuthErr = ("invalid_grant", "invalid assertion");
    let assertion = p.get("assertion").ok_or(INVALID)?;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h, c, s] = parts.as_slice() else {
        return Err(INVALID);
    };
    let decode = |x: &str| URL_SAFE_NO_PAD_INDIFFERENT.decode(x).map_err(|_| INVALID);
    let header: serde_json::Value = serde_json::from_slice(&decode(h)?).map_err(|_| INVALID)?;
    let claims: serde_json::Value = serde_json::from_slice(&decode(c)?).map_err(|_| INVALID)?;
    let app = &org.config.integration_app;
    if claims.get("iss").and_then(|v| v.as_str()) != Some(app.consumer_key.as_str()) {
        return Err(("invalid_client_id", "client identifier invalid"));
    }
    if header.get("alg").and_then(|v| v.as_str()) != Some("RS256") {
        return Err(INVALID);
    }
    let key = app.public_key.as_deref().and_then(public_key_der).ok_or(INVALID)?;
    let sig = decode(s)?;
    let signed = &assertion[..h.len() + 1 + c.len()];
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, &key)
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| INVALID)?;
    let aud_ok = claims.get("aud").and_then(|v| v.as_str()).is_some_and(|aud| {
        let aud = aud.trim_end_matches('/');
        aud == org.base_url || aud == org.login_url
    });
    if !aud_ok {
        return Err(("invalid_grant", "audience is invalid"));
    }
    let exp = claims.get("exp").and_then(|v| v.as_f64()).ok_or(INVALID)?;
    if (org.now().0 as f64) > exp + JWT_SKEW_SECS as f64 {
        return Err(INVALID);
    }
    // Legacy `prn` wins over `sub` when both are present.
    let sub = claims.get("prn").or_else(|| claims.get("sub")).and_then(|v| v.as_str()).ok_or(INVALID)?;
    let user = org.db().user_by_username(sub).cloned().ok_or(INVALID)?;
    let allowed = match &app.username {
        Some(u) => user.username.eq_ignore_ascii_case(u),
        None => user.integration,
    };
    if !allowed {
        return Err(("invalid_grant", "user hasn't approved this consumer"));
    }
    if !user.active {
        return Err(("invalid_grant", "inactive user"));
    }
    match lock(&org.faults).jwt_refusal.clone() {
        Some(JwtRefusal::NotApproved) => {
            return Err(("invalid_grant", "user hasn't approved this consumer"));
        }
        Some(JwtRefusal::Custom { error, description }) => {
            return Ok(reply::oauth_error(&error, &description));
        }
        None => {}
    }
    Ok(issue(org, &user, "api", &org.login_url, false))
}

fn client_credentials(org: &Org, headers: &HeaderMap, p: &HashMap<String, String>) -> Result<Response, OAuthErr> {
    if org.is_login_host(headers) {
        return Err(("invalid_grant", "request not supported on this domain"));
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b| STANDARD_PAD_INDIFFERENT.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    let (id, secret) = match basic {
        Some(c) => c,
        None => (p.get("client_id").cloned().unwrap_or_default(), p.get("client_secret").cloned().unwrap_or_default()),
    };
    let client = &org.config.oauth_client;
    if id != client.client_id {
        return Err(("invalid_client_id", "client identifier invalid"));
    }
    if !ct_eq(&secret, &client.client_secret) {
        return Err(("invalid_client", "invalid client credentials"));
    }
    let user = org.integration_user().ok_or(("invalid_grant", "no client credentials user enabled"))?;
    if !user.active {
        return Err(("invalid_grant", "inactive user"));
    }
    Ok(issue(org, &user, "api", &org.base_url, true))
}

fn authorization_code(org: &Org, p: &HashMap<String, String>) -> Result<Response, OAuthErr> {
    let client = &org.config.oauth_client;
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != client.client_id {
        return Err(("invalid_client_id", "client identifier invalid"));
    }
    if !ct_eq(get("client_secret"), &client.client_secret) {
        return Err(("invalid_client", "invalid client credentials"));
    }
    // Single use: the code is gone whether or not the rest checks out.
    let code = lock(&org.codes).map.remove(get("code")).ok_or(("invalid_grant", "invalid authorization code"))?;
    if org.now().0 - code.created.0 > CODE_TTL_SECS {
        return Err(("invalid_grant", "expired authorization code"));
    }
    if code.client_id != client.client_id {
        return Err(("invalid_grant", "invalid authorization code"));
    }
    if code.redirect_uri != get("redirect_uri") {
        return Err(("invalid_grant", "redirect_uri must match configuration"));
    }
    if let Some(challenge) = &code.challenge {
        let verifier = get("code_verifier");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        if verifier.is_empty() || !ct_eq(&URL_SAFE_NO_PAD.encode(digest.as_ref()), challenge) {
            return Err(("invalid_grant", "invalid code verifier"));
        }
    }
    let user = org.db().user(&code.user).cloned().ok_or(("invalid_grant", "invalid authorization code"))?;
    if !user.active {
        return Err(("invalid_grant", "inactive user"));
    }
    Ok(issue(org, &user, "openid api", &org.login_url, true))
}

/// Decodes a registered key: PEM `PUBLIC KEY`/`RSA PUBLIC KEY`/`CERTIFICATE`, or raw DER.
pub fn public_key_der(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok().filter(|t| t.contains("-----BEGIN "));
    let Some(text) = text else {
        return Some(bytes.to_vec());
    };
    let start = text.find("-----BEGIN ")?;
    let label_end = text[start + 11..].find("-----")? + start + 11;
    let label = &text[start + 11..label_end];
    let body_start = label_end + 5;
    let end = text[body_start..].find("-----END ")? + body_start;
    let b64: String = text[body_start..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD_PAD_INDIFFERENT.decode(b64).ok()?;
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => Some(der),
        "CERTIFICATE" => spki_of_certificate(&der),
        _ => None,
    }
}

/// One DER TLV: (tag, content, total length).
fn der_tlv(b: &[u8]) -> Option<(u8, &[u8], usize)> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let content = b.get(hdr..hdr + len)?;
    Some((tag, content, hdr + len))
}

/// The SubjectPublicKeyInfo of an X.509 certificate (the registered "digital signature").
fn spki_of_certificate(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert, _) = der_tlv(der)?;
    let (_, tbs, _) = der_tlv(cert)?;
    let mut rest = tbs;
    // Optional [0] version, then serial, signature alg, issuer, validity, subject, SPKI.
    if rest.first() == Some(&0xa0) {
        let (_, _, n) = der_tlv(rest)?;
        rest = &rest[n..];
    }
    for _ in 0..5 {
        let (_, _, n) = der_tlv(rest)?;
        rest = &rest[n..];
    }
    let (_, _, n) = der_tlv(rest)?;
    Some(rest[..n].to_vec())
}

// ---- authorize page ----

/// Parameters carried through the login form.
const CARRIED: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "login_hint",
    "prompt",
];

fn error_page(status: StatusCode, error: &str, description: &str) -> Response {
    reply::html(
        status,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>OAuth Error</title>{STYLE}</head>\
             <body><div class=\"card\"><h1>OAuth Error</h1><p>We can't authorize you because of an OAuth error. \
             For more information, contact your Salesforce administrator.</p>\
             <p id=\"error\"><b>{}</b>: {}</p></div></body></html>",
            esc(error),
            esc(description)
        ),
    )
}

const STYLE: &str = "<style>body{font-family:Salesforce Sans,Arial,sans-serif;background:#f3f2f2;margin:0}\
.card{max-width:420px;margin:40px auto;background:#fff;border:1px solid #ddd;border-radius:4px;padding:24px}\
h1{font-size:20px;color:#032d60}.user{display:flex;justify-content:space-between;align-items:center;\
border-top:1px solid #eee;padding:8px 0}button{background:#0176d3;color:#fff;border:0;border-radius:4px;\
padding:6px 14px;cursor:pointer}button.deny{background:#fff;color:#0176d3;border:1px solid #0176d3}\
.hint{font-weight:bold}</style>";

fn redirect(to: &str) -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => base.to_owned(),
    }
}

/// Validates client and redirect URI; failures are pages, never redirects.
fn check_client(org: &Org, p: &HashMap<String, String>) -> Result<String, Response> {
    let client = &org.config.oauth_client;
    if p.get("client_id").map(String::as_str) != Some(client.client_id.as_str()) {
        return Err(error_page(StatusCode::BAD_REQUEST, "invalid_client_id", "client identifier invalid"));
    }
    let redirect_uri = p.get("redirect_uri").cloned().unwrap_or_default();
    if !client.redirect_uris.contains(&redirect_uri) {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        ));
    }
    Ok(redirect_uri)
}

fn error_redirect(redirect_uri: &str, p: &HashMap<String, String>, error: &str, desc: &str) -> Response {
    let mut params = vec![("error", error), ("error_description", desc)];
    if let Some(s) = p.get("state") {
        params.push(("state", s));
    }
    redirect(&with_params(redirect_uri, &params))
}

fn check_request(org: &Org, p: &HashMap<String, String>) -> Result<String, Response> {
    let redirect_uri = check_client(org, p)?;
    if p.get("response_type").map(String::as_str) != Some("code") {
        return Err(error_redirect(&redirect_uri, p, "unsupported_response_type", "response type not supported"));
    }
    if let Some(m) = p.get("code_challenge_method")
        && m != "S256"
    {
        return Err(error_redirect(&redirect_uri, p, "invalid_request", "code_challenge_method not supported"));
    }
    Ok(redirect_uri)
}

fn login_page(org: &Org, p: &HashMap<String, String>, notice: Option<&str>) -> Response {
    let hidden: String = CARRIED
        .iter()
        .filter_map(|k| p.get(*k).map(|v| (k, v)))
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v)))
        .collect();
    let hint = p.get("login_hint").map(String::as_str).unwrap_or("");
    let users: Vec<User> = org.db().users.iter().filter(|u| u.active).cloned().collect();
    let rows: String = users
        .iter()
        .map(|u| {
            let cls = if u.username.eq_ignore_ascii_case(hint) { " hint" } else { "" };
            format!(
                "<form class=\"user{cls}\" method=\"post\" action=\"/services/oauth2/authorize\" data-username=\"{u}\">\
                 {hidden}<input type=\"hidden\" name=\"username\" value=\"{u}\">\
                 <span>{name}<br><small>{u}</small></span>\
                 <button type=\"submit\" name=\"action\" value=\"approve\">Log in as {first}</button></form>",
                u = esc(&u.username),
                name = esc(&u.name()),
                first = esc(&u.first_name),
            )
        })
        .collect();
    let notice = notice.map(|n| format!("<p id=\"notice\" role=\"alert\">{}</p>", esc(n))).unwrap_or_default();
    reply::html(
        StatusCode::OK,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Login | Salesforce</title>{STYLE}</head>\
             <body><div class=\"card\"><h1>{org_name}</h1><p>Choose a user to log in as and allow access.</p>{notice}\
             {rows}<form method=\"post\" action=\"/services/oauth2/authorize\" class=\"user\">{hidden}\
             <span>Don't allow access</span><button class=\"deny\" type=\"submit\" name=\"action\" value=\"deny\">Deny</button>\
             </form></div></body></html>",
            org_name = esc(&org.name)
        ),
    )
}

/// `GET /services/oauth2/authorize`: the login / consent page.
pub async fn authorize_page(State(org): State<Arc<Org>>, RawQuery(raw): RawQuery) -> Response {
    let p = form(raw.unwrap_or_default().as_bytes());
    match check_request(&org, &p) {
        Ok(_) => login_page(&org, &p, None),
        Err(r) => r,
    }
}

/// `POST /services/oauth2/authorize`: approve (→ code) or deny.
pub async fn authorize_submit(State(org): State<Arc<Org>>, body: Bytes) -> Response {
    let p = form(&body);
    let redirect_uri = match check_request(&org, &p) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if p.get("action").map(String::as_str) != Some("approve") {
        return error_redirect(&redirect_uri, &p, "access_denied", "end-user denied authorization");
    }
    let user = p.get("username").and_then(|u| org.db().user_by_username(u).cloned());
    let user = match user {
        Some(u) if u.active => u,
        Some(_) => return login_page(&org, &p, Some("This user is inactive.")),
        None => return login_page(&org, &p, Some("Unknown username.")),
    };
    let code = format!("aPrx{}", ids::random_chars(ids::ALNUM, 60));
    lock(&org.codes).map.insert(
        code.clone(),
        Code {
            client_id: org.config.oauth_client.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge: p.get("code_challenge").filter(|c| !c.is_empty()).cloned(),
            user: user.id,
            created: org.now(),
        },
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = p.get("state") {
        params.push(("state", s));
    }
    redirect(&with_params(&redirect_uri, &params))
}

/// `POST|GET /services/oauth2/revoke` (`token=`): ends the session; always 200 for known ones.
pub async fn revoke(State(org): State<Arc<Org>>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let mut p = form(&body);
    p.extend(form(raw.unwrap_or_default().as_bytes()));
    let revoked = p.get("token").is_some_and(|t| lock(&org.sessions).revoke(t));
    if revoked {
        reply::bytes_with(StatusCode::OK, "text/plain;charset=UTF-8", Vec::new())
    } else {
        reply::oauth_error("unsupported_token_type", "this token type is not supported")
    }
}

/// A fresh 2048-bit RSA key pair as (`PRIVATE KEY` PEM, `PUBLIC KEY` PEM): what an admin makes for
/// a development org's JWT bearer app, the public half uploaded to the app, the private half kept
/// by the integration.
pub fn generate_integration_key_pair() -> anyhow::Result<(String, String)> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)?;
    let private = pair.as_der()?;
    let public = pair.public_key().as_der()?;
    Ok((to_pem("PRIVATE KEY", private.as_ref()), to_pem("PUBLIC KEY", public.as_ref())))
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let lines: Vec<&str> = encoded.as_bytes().chunks(64).filter_map(|line| std::str::from_utf8(line).ok()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_decoding_accepts_spki_and_der() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x05];
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(&der));
        assert_eq!(public_key_der(pem.as_bytes()), Some(der.clone()));
        assert_eq!(public_key_der(&der), Some(der));
        assert!(public_key_der(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_none());
    }
}
