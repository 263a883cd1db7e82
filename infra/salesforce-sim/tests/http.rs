//! Black-box round trips over real HTTP against `Sim::spawn` on an ephemeral port.

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use salesforce_sim::{CalloutOptions, JwtRefusal, SObject, SessionKind, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    salesforce_sim::install_tls_provider();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn spawn(cfg: SimConfig) -> SimHandle {
    Sim::spawn(cfg).await.unwrap()
}

fn user_id(sim: &SimHandle, first: &str) -> String {
    sim.users().into_iter().find(|u| u.first_name == first).unwrap().id.to_string()
}

fn limit_info(h: &HeaderMap) -> String {
    h.get("sforce-limit-info").unwrap().to_str().unwrap().to_owned()
}

fn is_sf_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 28 && s.ends_with(".000+0000") && b[10] == b'T'
}

#[tokio::test]
async fn userinfo_answers_like_salesforce() {
    let sim = spawn(SimConfig::default().with_records(10, 10)).await;
    let http = client();
    let url = format!("{}/services/oauth2/userinfo", sim.base_url());
    let ada = user_id(&sim, "Ada");
    let sid = sim.mint_session(&ada, SessionKind::Api).unwrap();
    assert!(sid.starts_with(&format!("{}!", sim.org_id15())));

    let r = http.get(&url).bearer_auth(&sid).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("sforce-limit-info").is_none(), "userinfo does not count");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["user_id"], ada.as_str());
    assert_eq!(v["organization_id"], sim.org_id());
    assert_eq!(v["active"], true);
    assert_eq!(v["urls"]["rest"], format!("{}/services/data/v{{version}}/", sim.base_url()));
    assert_eq!(v["urls"]["custom_domain"], sim.base_url());
    assert_eq!(v["sub"], format!("{}/id/{}/{}", sim.login_url(), sim.org_id(), ada));

    let r = http.get(&url).bearer_auth("00Dbogus!abc").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(r.text().await.unwrap(), "Bad_OAuth_Token");

    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.text().await.unwrap(), "Missing_OAuth_Token");

    let lex = sim.mint_session(&ada, SessionKind::Lightning).unwrap();
    let r = http.get(&url).bearer_auth(&lex).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["message"], "This session is not valid for use with the REST API");

    let alan = user_id(&sim, "Alan");
    let inactive = sim.mint_session(&alan, SessionKind::Api).unwrap();
    let v: Value = http.get(&url).bearer_auth(&inactive).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["active"], false);

    sim.advance_clock(Duration::from_secs(3 * 3600));
    let r = http.get(&url).bearer_auth(&sid).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.text().await.unwrap(), "Bad_OAuth_Token");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn data_api_counts_calls_and_enforces_the_limit() {
    let sim = spawn(SimConfig::default().with_records(10, 10).with_api_limit(3)).await;
    let http = client();
    let versions: Value =
        http.get(format!("{}/services/data/", sim.base_url())).send().await.unwrap().json().await.unwrap();
    assert!(versions.as_array().unwrap().iter().any(|v| v["version"] == "64.0" && v["label"] == "Summer '25"));

    let ada = user_id(&sim, "Ada");
    let sid = sim.mint_session(&ada, SessionKind::Api).unwrap();
    let res_url = format!("{}/services/data/v64.0/", sim.base_url());
    let r = http.get(&res_url).bearer_auth(&sid).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(limit_info(r.headers()), "api-usage=1/3");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["identity"], format!("{}/id/{}/{}", sim.base_url(), sim.org_id(), ada));

    let r = http.get(&res_url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]));

    let ip = sim.mint_session(&ada, SessionKind::IpLocked).unwrap();
    let r = http.get(&res_url).bearer_auth(&ip).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    for expected in ["api-usage=2/3", "api-usage=3/3"] {
        let r = http.get(&res_url).bearer_auth(&sid).send().await.unwrap();
        assert_eq!(limit_info(r.headers()), expected);
    }
    let r = http.get(&res_url).bearer_auth(&sid).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(v[0]["message"], "TotalRequests Limit exceeded.");

    sim.set_api_limit(100);
    sim.fail_next_calls(1);
    let r = http.get(&res_url).bearer_auth(&sid).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "SERVER_UNAVAILABLE");

    sim.expire_sessions_after_calls(Some(1));
    assert_eq!(http.get(&res_url).bearer_auth(&sid).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(http.get(&res_url).bearer_auth(&sid).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    sim.shutdown().await.unwrap();
}

async fn get_json(http: &reqwest::Client, url: &str, sid: &str, batch: Option<usize>) -> (StatusCode, Value) {
    let mut req = http.get(url).bearer_auth(sid);
    if let Some(b) = batch {
        req = req.header("Sforce-Query-Options", format!("batchSize={b}"));
    }
    let r = req.send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn post_json(http: &reqwest::Client, url: &str, sid: &str, body: &Value) -> (StatusCode, Value) {
    let r = http.post(url).bearer_auth(sid).json(body).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn sync_query_pages_through_every_record_in_cursor_order() {
    let sim = spawn(SimConfig::default().with_records(700, 50).with_same_modstamp_block(30)).await;
    let http = client();
    let sid = sim.mint_session(&user_id(&sim, "Outpost"), SessionKind::Api).unwrap();
    let soql = "SELECT Id, FirstName, LastName, Email, HasOptedOutOfEmail, IsEmailBounced, EmailBouncedReason, \
                EmailBouncedDate, SystemModstamp, IsDeleted FROM Contact WHERE SystemModstamp > 2020-01-01T00:00:00Z \
                OR (SystemModstamp = 2020-01-01T00:00:00Z AND Id > '003000000000000') ORDER BY SystemModstamp, Id";

    let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
    let (status, mut page) =
        get_json(&http, &format!("{}/services/data/v64.0/queryAll/?q={q}", sim.base_url()), &sid, Some(250)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["totalSize"], 700);
    let mut rows: Vec<Value> = Vec::new();
    let mut versions = ["v63.0", "v64.0"].iter().cycle();
    loop {
        rows.extend(page["records"].as_array().unwrap().iter().cloned());
        if page["done"] == true {
            assert!(page.get("nextRecordsUrl").is_none());
            break;
        }
        let next = page["nextRecordsUrl"].as_str().unwrap().to_owned();
        assert!(next.starts_with("/services/data/v6") && next.contains("/query/0r8"), "{next}");
        // Follow under another version and under /queryAll/, both must work.
        let next = next
            .replace("/v64.0/", &format!("/{}/", versions.next().unwrap()))
            .replace("/v63.0/", &format!("/{}/", versions.next().unwrap()))
            .replace("/query/", "/queryAll/");
        let (s, p) = get_json(&http, &format!("{}{next}", sim.base_url()), &sid, None).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        page = p;
    }
    assert_eq!(rows.len(), 700);
    let first = &rows[0];
    assert_eq!(first["attributes"]["type"], "Contact");
    assert!(first["attributes"]["url"].as_str().unwrap().starts_with("/services/data/v64.0/sobjects/Contact/003"));
    assert!(is_sf_datetime(first["SystemModstamp"].as_str().unwrap()), "{first}");
    assert!(first.as_object().unwrap().contains_key("EmailBouncedDate"), "nulls are rendered");
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["SystemModstamp"].as_str().unwrap().to_owned(), r["Id"].as_str().unwrap().to_owned()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "ordered by (SystemModstamp, Id)");
    let deleted = rows.iter().filter(|r| r["IsDeleted"] == true).count();
    assert_eq!(deleted, sim.records(SObject::Contact).iter().filter(|r| r.is_deleted).count());
    assert!(deleted > 0);

    // query (not queryAll) hides the recycle bin; COUNT() and errors.
    let count = |soql: &str| {
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        format!("{}/services/data/v64.0/query?q={q}", sim.base_url())
    };
    let (_, v) = get_json(&http, &count("SELECT COUNT() FROM Contact"), &sid, None).await;
    assert_eq!(v["totalSize"], 700 - deleted);
    assert_eq!(v["records"], json!([]));
    let (s, v) = get_json(&http, &count("SELECT Foo FROM Contact"), &sid, None).await;
    assert_eq!((s, v[0]["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!("INVALID_FIELD")));
    let (s, v) = get_json(&http, &count("SELECT Id FROM Nope"), &sid, None).await;
    assert_eq!((s, v[0]["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!("INVALID_TYPE")));
    let (s, v) = get_json(&http, &count("SELECT Id Contact"), &sid, None).await;
    assert_eq!((s, v[0]["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!("MALFORMED_QUERY")));
    let (s, v) =
        get_json(&http, &format!("{}/services/data/v64.0/query/0r8000000000000AAA-2000", sim.base_url()), &sid, None)
            .await;
    assert_eq!((s, v[0]["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!("INVALID_QUERY_LOCATOR")));
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn collections_update_upsert_and_roll_back() {
    let sim = spawn(SimConfig::default().with_records(20, 40)).await;
    let http = client();
    let sid = sim.mint_session(&user_id(&sim, "Outpost"), SessionKind::Api).unwrap();
    let contacts: Vec<_> = sim.records(SObject::Contact).into_iter().filter(|r| !r.is_deleted).collect();
    let (a, b) = (contacts[0].id.to_string(), contacts[1].id.to_string());
    let converted =
        sim.records(SObject::Lead).into_iter().find(|r| r.is_converted && !r.is_deleted).unwrap().id.to_string();
    let url = format!("{}/services/data/v64.0/composite/sobjects", sim.base_url());
    let body = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "id": a, "HasOptedOutOfEmail": true},
        {"attributes": {"type": "Lead"}, "id": converted, "HasOptedOutOfEmail": true},
        {"attributes": {"type": "Contact"}, "id": b, "Nope__c": 1},
    ]});
    let before = sim.record(&a).unwrap().system_modstamp;
    let r = http.patch(&url).bearer_auth(&sid).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0], json!({"id": a, "success": true, "errors": []}));
    assert_eq!(v[1]["errors"][0]["statusCode"], "CANNOT_UPDATE_CONVERTED_LEAD");
    assert_eq!(v[2]["errors"][0]["statusCode"], "INVALID_FIELD");
    let after = sim.record(&a).unwrap();
    assert!(after.has_opted_out_of_email && after.system_modstamp >= before);

    // allOrNone: one failure rolls the others back.
    sim.fail_record_writes(&b, "UNABLE_TO_LOCK_ROW", Some(1)).unwrap();
    let body = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Contact"}, "id": a, "FirstName": "Changed"},
        {"attributes": {"type": "Contact"}, "id": b, "FirstName": "Changed"},
    ]});
    let v: Value = http.patch(&url).bearer_auth(&sid).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(v[0]["errors"][0]["statusCode"], "ALL_OR_NONE_OPERATION_ROLLED_BACK");
    assert_eq!(v[1]["errors"][0]["statusCode"], "UNABLE_TO_LOCK_ROW");
    assert_ne!(sim.record(&a).unwrap().first_name.as_deref(), Some("Changed"));
    // The injected failure was for one attempt only.
    let v: Value = http.patch(&url).bearer_auth(&sid).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(v[1]["success"], true, "{v}");

    // Upsert by external id: create, then update.
    let up = format!("{}/services/data/v64.0/composite/sobjects/Contact/Outpost_External_Id__c", sim.base_url());
    let body = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "Outpost_External_Id__c": "ext-1", "LastName": "New", "Email": "new@example.com"},
    ]});
    let v: Value = http.patch(&up).bearer_auth(&sid).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(v[0]["created"], true, "{v}");
    let v: Value = http.patch(&up).bearer_auth(&sid).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(v[0]["created"], false, "{v}");

    // Single-record upsert: 300 when the value matches several records, 404 for unknown fields.
    sim.update_record(&a, json!({"Outpost_External_Id__c": "dup"})).unwrap();
    sim.update_record(&b, json!({"Outpost_External_Id__c": "dup"})).unwrap();
    let one = format!("{}/services/data/v64.0/sobjects/Contact/Outpost_External_Id__c/dup", sim.base_url());
    let r = http.patch(&one).bearer_auth(&sid).json(&json!({"FirstName": "X"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTIPLE_CHOICES);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    let one_new = format!("{}/services/data/v64.0/sobjects/Contact/Outpost_External_Id__c/solo", sim.base_url());
    let r = http.patch(&one_new).bearer_auth(&sid).json(&json!({"LastName": "Solo"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = http.patch(&one_new).bearer_auth(&sid).json(&json!({"FirstName": "Han"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let bad = format!("{}/services/data/v64.0/sobjects/Contact/Nope__c/x", sim.base_url());
    let r = http.patch(&bad).bearer_auth(&sid).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn get_deleted_reports_recycle_bin_and_purges() {
    let sim = spawn(SimConfig::default().with_records(30, 5)).await;
    let http = client();
    let sid = sim.mint_session(&user_id(&sim, "Outpost"), SessionKind::Api).unwrap();
    let live: Vec<String> =
        sim.records(SObject::Contact).into_iter().filter(|r| !r.is_deleted).map(|r| r.id.to_string()).collect();
    sim.soft_delete(&live[0]).unwrap();
    sim.hard_delete(&live[1]).unwrap();
    sim.advance_clock(Duration::from_secs(120));
    let now = sim.now();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339).unwrap().replace('Z', "+00:00")
    };
    let start = fmt(now - Duration::from_secs(14 * 86_400));
    let end = fmt(now);
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let url = format!(
        "{}/services/data/v64.0/sobjects/Contact/deleted/?start={}&end={}",
        sim.base_url(),
        enc(&start),
        enc(&end)
    );
    let (s, v) = get_json(&http, &url, &sid, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ids: Vec<&str> = v["deletedRecords"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&live[0].as_str()) && ids.contains(&live[1].as_str()));
    assert!(v["latestDateCovered"].as_str().unwrap().ends_with(":00.000+0000"));
    // queryAll still sees the soft-deleted row, never the purged one.
    let q: String = url::form_urlencoded::byte_serialize(
        format!("SELECT Id, IsDeleted FROM Contact WHERE Id IN ('{}', '{}')", live[0], live[1]).as_bytes(),
    )
    .collect();
    let (_, v) = get_json(&http, &format!("{}/services/data/v64.0/queryAll?q={q}", sim.base_url()), &sid, None).await;
    assert_eq!(v["totalSize"], 1);
    assert_eq!(v["records"][0]["IsDeleted"], true);

    let old = fmt(now - Duration::from_secs(20 * 86_400));
    let url = format!(
        "{}/services/data/v64.0/sobjects/Contact/deleted/?start={}&end={}",
        sim.base_url(),
        enc(&old),
        enc(&end)
    );
    let (s, v) = get_json(&http, &url, &sid, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v[0]["errorCode"], "INVALID_REPLICATION_DATE");
    sim.shutdown().await.unwrap();
}

fn sign_jwt(key: &aws_lc_rs::rsa::KeyPair, claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    let msg = format!("{h}.{c}");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, msg.as_bytes(), &mut sig).unwrap();
    format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig))
}

async fn token(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let body = serde_urlencoded::to_string(form).unwrap();
    let r = http
        .post(format!("{url}/services/oauth2/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn oauth_jwt_bearer_and_client_credentials() {
    use aws_lc_rs::encoding::AsDer;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let spki = aws_lc_rs::signature::KeyPair::public_key(&key).as_der().unwrap();
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(spki.as_ref()));
    let sim = spawn(SimConfig::default().with_records(5, 5).with_jwt_public_key(pem)).await;
    let http = client();
    let integration = sim.integration_user().unwrap();
    let exp = sim.now().unix_timestamp() + 120;
    let claims =
        |aud: &str, iss: &str, exp: i64| json!({"iss": iss, "sub": integration.username, "aud": aud, "exp": exp});
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";

    let jwt = sign_jwt(&key, &claims(sim.base_url(), sim.consumer_key(), exp));
    let (s, v) = token(&http, sim.login_url(), &[("grant_type", grant), ("assertion", &jwt)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["access_token"].as_str().unwrap().starts_with(&format!("{}!", sim.org_id15())));
    assert_eq!(v["instance_url"], sim.base_url());
    assert_eq!(v["id"], format!("{}/id/{}/{}", sim.login_url(), sim.org_id(), integration.id));
    assert!(v.get("refresh_token").is_none());
    let info = http
        .get(format!("{}/services/oauth2/userinfo", sim.base_url()))
        .bearer_auth(v["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);

    for (jwt, error, desc) in [
        (
            sign_jwt(&key, &claims("https://login.salesforce.com", sim.consumer_key(), exp)),
            "invalid_grant",
            "audience is invalid",
        ),
        (
            sign_jwt(&key, &claims(sim.login_url(), "someone-else", exp)),
            "invalid_client_id",
            "client identifier invalid",
        ),
        (sign_jwt(&key, &claims(sim.login_url(), sim.consumer_key(), exp - 600)), "invalid_grant", "invalid assertion"),
        (
            format!("{}x", sign_jwt(&key, &claims(sim.login_url(), sim.consumer_key(), exp)).trim_end_matches('A')),
            "invalid_grant",
            "invalid assertion",
        ),
    ] {
        let (s, v) = token(&http, sim.login_url(), &[("grant_type", grant), ("assertion", &jwt)]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v, json!({"error": error, "error_description": desc}));
    }
    sim.set_jwt_refusal(Some(JwtRefusal::NotApproved));
    let jwt = sign_jwt(&key, &claims(sim.login_url(), sim.consumer_key(), exp));
    let (_, v) = token(&http, sim.login_url(), &[("grant_type", grant), ("assertion", &jwt)]).await;
    assert_eq!(v["error_description"], "user hasn't approved this consumer");

    let cc =
        [("grant_type", "client_credentials"), ("client_id", sim.client_id()), ("client_secret", sim.client_secret())];
    let (s, v) = token(&http, sim.login_url(), &cc).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"error": "invalid_grant", "error_description": "request not supported on this domain"}));
    let (s, v) = token(&http, sim.base_url(), &cc).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["signature"].is_string());
    let (_, v) = token(
        &http,
        sim.base_url(),
        &[("grant_type", "client_credentials"), ("client_id", sim.client_id()), ("client_secret", "wrong")],
    )
    .await;
    assert_eq!(v["error"], "invalid_client");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn oauth_authorization_code_with_pkce() {
    let redirect = "http://127.0.0.1:9/cb";
    let sim = spawn(SimConfig::default().with_records(1, 1).with_redirect_uri(redirect)).await;
    let http = client();
    let verifier = "a-very-long-code-verifier-0123456789-abcdefghijklmnop";
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
    let params = [
        ("response_type", "code"),
        ("client_id", sim.client_id()),
        ("redirect_uri", redirect),
        ("scope", "openid api"),
        ("state", "st8"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let q = serde_urlencoded::to_string(params).unwrap();
    let page = http.get(format!("{}/services/oauth2/authorize?{q}", sim.base_url())).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let grace = sim.user(&user_id(&sim, "Grace")).unwrap();
    assert!(html.contains(&grace.username) && !html.contains("alan.turing"), "inactive users are not listed");

    // Unknown redirect URIs get an error page, never a redirect.
    let bad = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", sim.client_id()),
        ("redirect_uri", "http://evil.example/cb"),
    ])
    .unwrap();
    let r = http.get(format!("{}/services/oauth2/authorize?{bad}", sim.base_url())).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());

    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("username", &grace.username));
    form.push(("action", "approve"));
    let r = http
        .post(format!("{}/services/oauth2/authorize", sim.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&form).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let qp: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
    assert_eq!(qp["state"], "st8");
    let code = qp["code"].clone();

    let exchange = |verifier: &'static str, code: String| {
        let http = http.clone();
        let url = sim.base_url().to_owned();
        let (id, secret) = (sim.client_id().to_owned(), sim.client_secret().to_owned());
        async move {
            token(
                &http,
                &url,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("redirect_uri", redirect),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let (s, v) = exchange(verifier, code.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["scope"], "openid api");
    assert_eq!(v["id"], format!("{}/id/{}/{}", sim.login_url(), sim.org_id(), grace.id));
    let (s, v) = exchange(verifier, code).await;
    assert_eq!((s, v["error"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_grant")), "single use");

    let mut deny: Vec<(&str, &str)> = params.to_vec();
    deny.push(("action", "deny"));
    let r = http
        .post(format!("{}/services/oauth2/authorize", sim.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&deny).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{redirect}?error=access_denied&error_description=end-user+denied+authorization&state=st8")
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn bulk_query_job_runs_to_csv_pages() {
    let sim = spawn(SimConfig::default().with_records(25, 3)).await;
    let http = client();
    let sid = sim.mint_session(&user_id(&sim, "Outpost"), SessionKind::Api).unwrap();
    let base = format!("{}/services/data/v64.0/jobs/query", sim.base_url());
    let r = http
        .post(&base)
        .bearer_auth(&sid)
        .json(&json!({"operation": "queryAll", "query": "SELECT Id, FirstName, Email, SystemModstamp FROM Contact", "columnDelimiter": "COMMA", "lineEnding": "LF"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("sforce-limit-info").is_some());
    let job: Value = r.json().await.unwrap();
    assert_eq!(job["state"], "UploadComplete");
    let id = job["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("750"));
    let poll = |http: reqwest::Client| {
        let url = format!("{base}/{id}");
        let sid = sid.clone();
        async move { http.get(url).bearer_auth(sid).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(poll(http.clone()).await["state"], "InProgress");
    let done = poll(http.clone()).await;
    assert_eq!(done["state"], "JobComplete");
    assert_eq!(done["numberRecordsProcessed"], 25);

    // Results are CSV: a request that also accepts JSON is refused.
    let both = http
        .get(format!("{base}/{id}/results?maxRecords=10"))
        .bearer_auth(&sid)
        .header("Accept", "application/json")
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), StatusCode::NOT_ACCEPTABLE);
    let csv_only = |url: String| http.get(url).bearer_auth(&sid).header("Accept", "text/csv").send();
    let r = csv_only(format!("{base}/{id}/results?maxRecords=10")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv");
    assert_eq!(r.headers()["sforce-numberofrecords"], "10");
    let mut locator = r.headers()["sforce-locator"].to_str().unwrap().to_owned();
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("\"Id\",\"FirstName\",\"Email\",\"SystemModstamp\"\n"), "{csv}");
    let mut lines = csv.lines().count() - 1;
    while locator != "null" {
        let r = csv_only(format!("{base}/{id}/results?maxRecords=10&locator={locator}")).await.unwrap();
        locator = r.headers()["sforce-locator"].to_str().unwrap().to_owned();
        lines += r.text().await.unwrap().lines().count() - 1;
    }
    assert_eq!(lines, 25);

    let r = csv_only(format!("{}/services/data/v63.0/jobs/query/{id}/results", sim.base_url())).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    sim.fail_next_bulk_job("boom");
    let (_, job) = post_json(&http, &base, &sid, &json!({"operation": "query", "query": "SELECT Id FROM Lead"})).await;
    let v: Value = http
        .get(format!("{base}/{}", job["id"].as_str().unwrap()))
        .bearer_auth(&sid)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((v["state"].clone(), v["errorMessage"].clone()), (json!("Failed"), json!("boom")));
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn apex_rest_logs_tasks_per_who_id() {
    let sim = spawn(SimConfig::default().with_records(5, 5)).await;
    let http = client();
    let sid = sim.mint_session(&user_id(&sim, "Outpost"), SessionKind::Api).unwrap();
    let recs = sim.records(SObject::Contact);
    let live = recs.iter().find(|r| !r.is_deleted).unwrap().id.to_string();
    let gone = sim.records(SObject::Lead).into_iter().find(|r| !r.is_deleted).unwrap().id.to_string();
    sim.soft_delete(&gone).unwrap();
    let url = format!("{}/services/apexrest/outpost/v1/activity", sim.base_url());
    let r = http
        .post(&url)
        .bearer_auth(&sid)
        .json(&json!({"subject": "Email: Spring promo", "description": null, "activityDate": "2026-03-01", "whoIds": [live, gone]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("sforce-limit-info").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["results"][0]["success"], true);
    assert!(v["results"][0]["taskId"].as_str().unwrap().starts_with("00T"));
    assert!(v["results"][1]["error"].as_str().unwrap().starts_with("ENTITY_IS_DELETED"));
    assert_eq!(sim.tasks().len(), 1);
    let r = http.post(&url).bearer_auth(&sid).body("{nope").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "JSON_PARSER_ERROR");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn callouts_web_tab_and_canvas_target_outpost() {
    use std::sync::{Arc, Mutex};
    // A stand-in Outpost that records what Apex sends.
    let seen: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/apex/v1/records",
        axum::routing::post(move |h: axum::http::HeaderMap, body: axum::body::Bytes| {
            let s2 = s2.clone();
            async move {
                let mut hm = HeaderMap::new();
                for (k, v) in h.iter() {
                    hm.insert(
                        reqwest::header::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                        reqwest::header::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
                    );
                }
                s2.lock().unwrap().push((hm, serde_json::from_slice(&body).unwrap()));
                "{\"ok\":true}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let outpost = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let sim = spawn(SimConfig::default().with_records(250, 5).with_outpost(&outpost, "k3y")).await;
    let ids: Vec<String> = sim.records(SObject::Contact).iter().map(|r| r.id.to_string()).collect();
    let attempts = sim
        .fire_callouts(
            SObject::Contact,
            &ids,
            &ids[..3],
            CalloutOptions { retry_as_if_timed_out: true, key_salt: None },
        )
        .await
        .unwrap();
    assert_eq!(attempts.len(), 4, "2 batches × 2 sends");
    assert!(attempts.iter().all(|a| a.status == 200));
    assert_eq!(attempts[0].idempotency_key, attempts[1].idempotency_key);
    assert_ne!(attempts[0].idempotency_key, attempts[2].idempotency_key);
    let seen = seen.lock().unwrap().clone();
    let (h, body) = &seen[0];
    assert_eq!(h["authorization"], "Bearer k3y");
    assert_eq!(h["x-outpost-org"], sim.org_id());
    assert_eq!(body["records"].as_array().unwrap().len(), 200);
    assert_eq!(body["deleted"].as_array().unwrap().len(), 3);
    assert!(body["records"][0]["SystemModstamp"].as_str().unwrap().ends_with(".000Z"));
    assert_eq!(seen[2].1["records"].as_array().unwrap().len(), 50);

    let http = client();
    let ada = user_id(&sim, "Ada");
    let html = http.get(sim.tab_url(&ada, Some(&ids[0]), SessionKind::Api)).send().await.unwrap().text().await.unwrap();
    let prefix =
        format!("{outpost}/entry?uid={}&amp;oid={}&amp;sid={}%21AQ", &ada[..15], sim.org_id15(), sim.org_id15());
    assert!(html.contains(&prefix), "{html}");
    let srv: String = url::form_urlencoded::byte_serialize(
        format!("{}/services/Soap/u/64.0/{}", sim.base_url(), sim.org_id15()).as_bytes(),
    )
    .collect();
    assert!(html.contains(&format!("&amp;srv={srv}&amp;rid={}", &ids[0][..15])), "{html}");

    let sr = sim.signed_request(&ada).unwrap();
    let (sig, payload) = sr.split_once('.').unwrap();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, sim.client_secret().as_bytes());
    aws_lc_rs::hmac::verify(&key, payload.as_bytes(), &STANDARD.decode(sig).unwrap()).unwrap();
    let req: Value = serde_json::from_slice(&STANDARD.decode(payload).unwrap()).unwrap();
    assert_eq!(req["algorithm"], "HMACSHA256");
    assert_eq!(req["context"]["user"]["userId"], ada.as_str());
    assert_eq!(req["context"]["organization"]["organizationId"], sim.org_id());
    let token = req["client"]["oauthToken"].as_str().unwrap();
    let r = http.get(format!("{}/services/oauth2/userinfo", sim.base_url())).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = http.get(sim.canvas_url(&ada)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("action=\"{outpost}/canvas\"")) && page.contains("name=\"signed_request\""));
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn persisted_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig::default().with_records(40, 10).with_data_dir(dir.path());
    let sim = spawn(cfg.clone()).await;
    let id = sim.records(SObject::Contact)[0].id.to_string();
    sim.update_record(&id, json!({"FirstName": "Persisted", "HasOptedOutOfEmail": true})).unwrap();
    let created = sim.create_record(SObject::Lead, json!({"LastName": "Fresh", "Company": "Acme"})).unwrap();
    sim.set_api_usage(77);
    sim.shutdown().await.unwrap();
    assert!(dir.path().join("salesforce-sim/state.json").exists());

    // A different seed proves nothing is regenerated when saved state exists.
    let sim = spawn(cfg.with_seed(999)).await;
    let r = sim.record(&id).unwrap();
    assert_eq!(r.first_name.as_deref(), Some("Persisted"));
    assert!(r.has_opted_out_of_email);
    assert_eq!(sim.record(created.id.as_str()).unwrap().last_name, "Fresh");
    assert_eq!(sim.api_usage().used, 77);
    let next = sim.create_record(SObject::Lead, json!({"LastName": "Later", "Company": "Acme"})).unwrap();
    assert!(next.id > created.id, "ids keep sorting in creation order across restarts");
    sim.shutdown().await.unwrap();
}

// ---- recipient-list fields: describe, SOQL, Bulk, retrieve, writes, email variety, forms ----

fn query_url(sim: &SimHandle, soql: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
    format!("{}/services/data/v64.0/query?q={q}", sim.base_url())
}

fn query_all_url(sim: &SimHandle, soql: &str) -> String {
    query_url(sim, soql).replacen("/query?", "/queryAll?", 1)
}

fn field<'a>(describe: &'a Value, name: &str) -> Option<&'a Value> {
    describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == name)
}

fn json_or_null<S: AsRef<str>>(v: &Option<S>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.as_ref().to_owned()))
}

/// A minimal RFC 4180 reader: quoted cells, doubled quotes, newlines inside quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

#[tokio::test]
async fn describe_answers_salesforce_shape_with_field_level_security() {
    let sim = spawn(SimConfig::default().with_records(10, 10)).await;
    let http = client();
    let integration = sim.mint_session(&user_id(&sim, "Outpost"), SessionKind::Api).unwrap();
    let ada = sim.mint_session(&user_id(&sim, "Ada"), SessionKind::Api).unwrap();
    let url = |obj: &str| format!("{}/services/data/v64.0/sobjects/{obj}/describe", sim.base_url());

    let r = http.get(url("Contact")).bearer_auth(&integration).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(limit_info(r.headers()), "api-usage=1/15000", "describe is an API call");
    let d: Value = r.json().await.unwrap();
    assert_eq!(
        (&d["name"], &d["label"], &d["labelPlural"], &d["keyPrefix"], &d["custom"], &d["queryable"]),
        (&json!("Contact"), &json!("Contact"), &json!("Contacts"), &json!("003"), &json!(false), &json!(true))
    );
    let keys = [
        "name",
        "label",
        "type",
        "length",
        "filterable",
        "custom",
        "nillable",
        "calculated",
        "picklistValues",
        "referenceTo",
        "relationshipName",
        "extraTypeInfo",
        "sortable",
        "groupable",
        "updateable",
        "createable",
    ];
    for f in d["fields"].as_array().unwrap() {
        for k in keys {
            assert!(f.get(k).is_some(), "{k} missing on {f}");
        }
    }
    assert!(field(&d, "Secret__c").is_none(), "hidden from the integration user by FLS");
    let notes = field(&d, "Notes__c").unwrap();
    assert_eq!(
        (&notes["type"], &notes["extraTypeInfo"], &notes["length"], &notes["filterable"], &notes["custom"]),
        (&json!("textarea"), &json!("plaintextarea"), &json!(32768), &json!(false), &json!(true))
    );
    let region = field(&d, "Region__c").unwrap();
    assert_eq!((&region["type"], &region["filterable"]), (&json!("picklist"), &json!(true)));
    assert_eq!(
        region["picklistValues"][0],
        json!({"value": "EMEA", "label": "EMEA", "active": true, "defaultValue": false, "validFor": null})
    );
    let values = |f: &Value| -> Vec<String> {
        f["picklistValues"].as_array().unwrap().iter().map(|v| v["value"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(values(region), ["EMEA", "AMER", "APAC"]);
    assert_eq!(values(field(&d, "Tier__c").unwrap()), ["Gold", "Silver", "Bronze"]);
    assert_eq!(
        values(field(&d, "LeadSource").unwrap()),
        ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
    );
    let score = field(&d, "Score__c").unwrap();
    assert_eq!(
        (&score["type"], &score["filterable"], &score["custom"]),
        (&json!("double"), &json!(true), &json!(true))
    );
    let account = field(&d, "AccountId").unwrap();
    assert_eq!(
        (&account["type"], &account["referenceTo"], &account["relationshipName"], &account["nillable"]),
        (&json!("reference"), &json!(["Account"]), &json!("Account"), &json!(true))
    );
    let owner = field(&d, "OwnerId").unwrap();
    assert_eq!((&owner["referenceTo"], &owner["relationshipName"]), (&json!(["User"]), &json!("Owner")));
    for (name, ty) in [
        ("Id", "id"),
        ("Email", "email"),
        ("HasOptedOutOfEmail", "boolean"),
        ("CreatedDate", "datetime"),
        ("EmailBouncedDate", "datetime"),
        ("Title", "string"),
        ("Department", "string"),
        ("MailingCountry", "string"),
        ("MailingState", "string"),
        ("MailingCity", "string"),
    ] {
        assert_eq!(field(&d, name).unwrap()["type"], ty, "{name}");
    }
    assert!(field(&d, "Account.Name").is_none() && field(&d, "Company").is_none());

    // A demo user's profile can read Secret__c.
    let (s, d) = get_json(&http, &url("Contact"), &ada, None).await;
    assert_eq!(s, StatusCode::OK);
    let secret = field(&d, "Secret__c").unwrap();
    assert_eq!((&secret["type"], &secret["custom"]), (&json!("string"), &json!(true)));

    let (_, d) = get_json(&http, &format!("{}/", url("Lead")), &integration, None).await;
    assert_eq!((&d["name"], &d["keyPrefix"]), (&json!("Lead"), &json!("00Q")));
    assert_eq!(
        values(field(&d, "Status").unwrap()),
        ["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
    );
    assert_eq!(
        values(field(&d, "Industry").unwrap()),
        ["Technology", "Finance", "Healthcare", "Manufacturing", "Retail", "Education", "Government", "Other"]
    );
    assert_eq!(field(&d, "OwnerId").unwrap()["referenceTo"], json!(["Group", "User"]));
    for name in ["Company", "Country", "State", "City", "IsConverted", "Region__c", "Score__c", "Notes__c"] {
        assert!(field(&d, name).is_some(), "{name}");
    }
    for name in ["Tier__c", "AccountId", "Secret__c", "MailingCity"] {
        assert!(field(&d, name).is_none(), "{name}");
    }

    let r = http.get(url("Nope")).bearer_auth(&ada).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["errorCode"], "NOT_FOUND");
    let r = http.get(url("Contact")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "gated like the data API");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn new_fields_round_trip_through_query_bulk_and_retrieve() {
    let sim = spawn(SimConfig::default().with_records(120, 60)).await;
    let http = client();
    let sid = sim.mint_session(&user_id(&sim, "Outpost"), SessionKind::Api).unwrap();
    let accounts: std::collections::HashMap<String, String> =
        sim.accounts().into_iter().map(|a| (a.id.to_string(), a.name)).collect();
    let contacts: std::collections::HashMap<String, salesforce_sim::Record> =
        sim.records(SObject::Contact).into_iter().map(|r| (r.id.to_string(), r)).collect();
    let custom = |r: &salesforce_sim::Record, name: &str| r.custom.get(name).cloned().unwrap_or(Value::Null);

    let soql = "SELECT Id, OwnerId, Title, LeadSource, AccountId, Account.Name, Department, MailingCountry, \
                MailingState, MailingCity, Region__c, Score__c, Tier__c, Notes__c FROM Contact ORDER BY Id";
    let (s, page) = get_json(&http, &query_all_url(&sim, soql), &sid, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let rows = page["records"].as_array().unwrap();
    assert_eq!(rows.len(), 120);
    let (mut with_account, mut without_account) = (0, 0);
    for row in rows {
        let r = &contacts[row["Id"].as_str().unwrap()];
        assert_eq!(row["OwnerId"], r.owner_id.as_str());
        assert_eq!(row["Title"], json_or_null(&r.title));
        assert_eq!(row["LeadSource"], json_or_null(&r.lead_source));
        assert_eq!(row["Department"], json_or_null(&r.department));
        assert_eq!(row["MailingCountry"], json_or_null(&r.mailing_country));
        assert_eq!(row["MailingState"], json_or_null(&r.mailing_state));
        assert_eq!(row["MailingCity"], json_or_null(&r.mailing_city));
        for name in ["Region__c", "Score__c", "Tier__c", "Notes__c"] {
            assert_eq!(row[name], custom(r, name), "{name}");
        }
        assert!(row.get("Account.Name").is_none() && row.get("Secret__c").is_none());
        match r.account_id {
            Some(id) => {
                with_account += 1;
                assert_eq!(row["AccountId"], id.as_str());
                assert_eq!(
                    row["Account"],
                    json!({"attributes": {"type": "Account", "url": format!("/services/data/v64.0/sobjects/Account/{id}")},
                           "Name": accounts[id.as_str()]})
                );
            }
            None => {
                without_account += 1;
                assert_eq!((&row["AccountId"], &row["Account"]), (&Value::Null, &Value::Null));
            }
        }
    }
    assert!(with_account > 0 && without_account > 0);
    assert!(rows.iter().any(|r| r["Notes__c"].is_string()) && rows.iter().any(|r| r["Score__c"].is_f64()));

    let leads: std::collections::HashMap<String, salesforce_sim::Record> =
        sim.records(SObject::Lead).into_iter().map(|r| (r.id.to_string(), r)).collect();
    let soql = "SELECT Id, OwnerId, Title, LeadSource, Industry, Country, State, City, Company, Status, \
                IsConverted, Region__c, Score__c FROM Lead";
    let (s, page) = get_json(&http, &query_all_url(&sim, soql), &sid, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    for row in page["records"].as_array().unwrap() {
        let r = &leads[row["Id"].as_str().unwrap()];
        assert_eq!(row["OwnerId"], r.owner_id.as_str());
        assert_eq!(row["Industry"], json_or_null(&r.industry));
        assert_eq!(row["Country"], json_or_null(&r.country));
        assert_eq!(row["State"], json_or_null(&r.state));
        assert_eq!(row["City"], json_or_null(&r.city));
        assert_eq!(row["Status"], json_or_null(&r.status));
        assert_eq!(row["Region__c"], custom(r, "Region__c"));
        assert_eq!(row["Score__c"], custom(r, "Score__c"));
    }

    // Bulk API 2.0: `Account.Name` is a column of its own, empty for a null account.
    let base = format!("{}/services/data/v64.0/jobs/query", sim.base_url());
    let soql = "SELECT Id, Account.Name, OwnerId, Score__c, Region__c, Notes__c, MailingCity FROM Contact";
    let (_, job) = post_json(&http, &base, &sid, &json!({"operation": "queryAll", "query": soql})).await;
    let job_url = format!("{base}/{}", job["id"].as_str().unwrap());
    for _ in 0..2 {
        http.get(&job_url).bearer_auth(&sid).send().await.unwrap();
    }
    let csv = http
        .get(format!("{job_url}/results"))
        .bearer_auth(&sid)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let table = parse_csv(&csv);
    assert_eq!(table[0], ["Id", "Account.Name", "OwnerId", "Score__c", "Region__c", "Notes__c", "MailingCity"]);
    assert_eq!(table.len(), 121);
    for cells in &table[1..] {
        let r = &contacts[cells[0].as_str()];
        let account = r.account_id.map(|id| accounts[id.as_str()].clone()).unwrap_or_default();
        assert_eq!(cells[1], account);
        assert_eq!(cells[2], r.owner_id.as_str());
        let score = custom(r, "Score__c").as_f64();
        assert_eq!(cells[3].parse::<f64>().ok(), score, "{cells:?}");
        assert_eq!(cells[4], custom(r, "Region__c").as_str().unwrap_or(""));
        assert_eq!(cells[5], custom(r, "Notes__c").as_str().unwrap_or(""));
        assert_eq!(cells[6], r.mailing_city.as_deref().unwrap_or_default());
    }

    // Retrieve: every readable field, FLS-hidden ones left out.
    let secretive = contacts.values().find(|r| !r.is_deleted && r.custom.contains_key("Secret__c")).unwrap();
    let url = format!("{}/services/data/v64.0/sobjects/Contact/{}", sim.base_url(), secretive.id);
    let (s, v) = get_json(&http, &url, &sid, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.get("Secret__c").is_none(), "{v}");
    assert_eq!(v["OwnerId"], secretive.owner_id.as_str());
    assert_eq!(v["Region__c"], custom(secretive, "Region__c"));
    for name in ["AccountId", "Title", "Department", "MailingCountry", "Tier__c", "Notes__c", "Score__c", "LeadSource"]
    {
        assert!(v.get(name).is_some(), "{name}");
    }
    let ada = sim.mint_session(&user_id(&sim, "Ada"), SessionKind::Api).unwrap();
    let (_, v) = get_json(&http, &url, &ada, None).await;
    assert_eq!(v["Secret__c"], custom(secretive, "Secret__c"));
    let account = sim.accounts()[0].clone();
    let url = format!("{}/services/data/v64.0/sobjects/Account/{}", sim.base_url(), account.id);
    let (s, v) = get_json(&http, &url, &sid, None).await;
    assert_eq!((s, &v["Name"]), (StatusCode::OK, &json!(account.name)));
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn count_queries_on_new_fields_match_the_ground_truth() {
    let sim = spawn(SimConfig::default().with_records(1500, 600)).await;
    let http = client();
    let sid = sim.mint_session(&user_id(&sim, "Outpost"), SessionKind::Api).unwrap();
    let ada = sim.user(&user_id(&sim, "Ada")).unwrap().id;
    let accounts: std::collections::HashMap<salesforce_sim::SfId, String> =
        sim.accounts().into_iter().map(|a| (a.id, a.name)).collect();
    let today = sim.now().unix_timestamp().div_euclid(86_400);
    type Check = Box<dyn Fn(&salesforce_sim::Record) -> bool>;
    fn is<S: AsRef<str>>(v: &Option<S>, want: &str) -> bool {
        v.as_ref().is_some_and(|s| s.as_ref().eq_ignore_ascii_case(want))
    }
    fn custom_str(r: &salesforce_sim::Record, n: &str) -> Option<String> {
        r.custom.get(n).and_then(|v| v.as_str()).map(str::to_owned)
    }
    fn score(r: &salesforce_sim::Record) -> Option<f64> {
        r.custom.get("Score__c").and_then(Value::as_f64)
    }
    let account_name = {
        let accounts = accounts.clone();
        move |r: &salesforce_sim::Record| r.account_id.map(|id| accounts[&id].clone())
    };
    let an = account_name.clone();
    let contact_cases: Vec<(&str, Check)> = vec![
        (
            "MailingCountry = 'united states' AND HasOptedOutOfEmail = false",
            Box::new(move |r| is(&r.mailing_country, "United States") && !r.has_opted_out_of_email),
        ),
        (
            "(Region__c IN ('EMEA', 'apac') OR Score__c >= 90)",
            Box::new(move |r| {
                custom_str(r, "Region__c").is_some_and(|g| g == "EMEA" || g == "APAC")
                    || score(r).is_some_and(|s| s >= 90.0)
            }),
        ),
        ("Score__c > 50.5 AND Score__c <= 75", Box::new(move |r| score(r).is_some_and(|s| s > 50.5 && s <= 75.0))),
        ("Score__c = null", Box::new(move |r| score(r).is_none())),
        (
            "Title LIKE '%manager%'",
            Box::new(|r| r.title.as_deref().is_some_and(|t| t.to_lowercase().contains("manager"))),
        ),
        ("Account.Name LIKE 'north%'", Box::new(move |r| an(r).is_some_and(|n| n.to_lowercase().starts_with("north")))),
        ("Account.Name = null", Box::new(|r| r.account_id.is_none())),
        (
            "AccountId != null AND Tier__c = 'gold'",
            Box::new(move |r| r.account_id.is_some() && custom_str(r, "Tier__c").as_deref() == Some("Gold")),
        ),
        (
            &*Box::leak(format!("OwnerId = '{}'", &ada.as_str()[..15]).into_boxed_str()),
            Box::new(move |r| r.owner_id == ada),
        ),
        (
            "LeadSource NOT IN ('Web', 'Other')",
            Box::new(|r| !matches!(r.lead_source.as_deref(), Some("Web" | "Other"))),
        ),
        (
            "MailingState = null AND MailingCountry != null",
            Box::new(|r| r.mailing_state.is_none() && r.mailing_country.is_some()),
        ),
        (
            "Email LIKE '%@EXAMPLE.com'",
            Box::new(|r| r.email.as_deref().is_some_and(|e| e.to_lowercase().ends_with("@example.com"))),
        ),
        (
            "NOT (Department IN ('Sales', 'marketing'))",
            Box::new(|r| !matches!(r.department.as_deref(), Some("Sales" | "Marketing"))),
        ),
        ("CreatedDate = LAST_N_DAYS:200", Box::new(move |r| r.created_date.0 >= (today - 200) * 86_400)),
        ("CreatedDate < LAST_N_DAYS:300", Box::new(move |r| r.created_date.0 < (today - 300) * 86_400)),
        (
            "Account.Name != null AND (MailingCity LIKE 'San%' OR MailingCity = 'london')",
            Box::new(move |r| {
                account_name(r).is_some()
                    && r.mailing_city.as_deref().is_some_and(|c| c.starts_with("San") || c == "London")
            }),
        ),
    ];
    let lead_cases: Vec<(&str, Check)> = vec![
        (
            "Industry = 'healthcare' AND IsConverted = false",
            Box::new(|r| is(&r.industry, "Healthcare") && !r.is_converted),
        ),
        (
            "Country IN ('Germany', 'FRANCE') AND Status != 'Closed - Converted'",
            Box::new(|r| {
                matches!(r.country.as_deref(), Some("Germany" | "France"))
                    && r.status.as_deref() != Some("Closed - Converted")
            }),
        ),
        ("State = 'California'", Box::new(|r| is(&r.state, "California"))),
        ("City LIKE 'san%'", Box::new(|r| r.city.as_deref().is_some_and(|c| c.to_lowercase().starts_with("san")))),
        (
            "Region__c = 'AMER' AND Score__c < 20",
            Box::new(move |r| {
                custom_str(r, "Region__c").as_deref() == Some("AMER") && score(r).is_some_and(|s| s < 20.0)
            }),
        ),
    ];
    for (obj, cases) in [(SObject::Contact, contact_cases), (SObject::Lead, lead_cases)] {
        let live: Vec<salesforce_sim::Record> = sim.records(obj).into_iter().filter(|r| !r.is_deleted).collect();
        for (condition, check) in cases {
            let soql = format!("SELECT COUNT() FROM {obj} WHERE {condition}");
            let (s, v) = get_json(&http, &query_url(&sim, &soql), &sid, None).await;
            assert_eq!(s, StatusCode::OK, "{soql}: {v}");
            let expected = live.iter().filter(|r| check(r)).count();
            assert_eq!(v, json!({"totalSize": expected, "done": true, "records": []}), "{soql}");
            assert!(expected > 0 || condition.contains("= null"), "{soql} should match something");
        }
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn filter_and_field_level_security_errors() {
    let sim = spawn(SimConfig::default().with_records(40, 20)).await;
    let http = client();
    let integration = sim.mint_session(&user_id(&sim, "Outpost"), SessionKind::Api).unwrap();
    let grace = sim.mint_session(&user_id(&sim, "Grace"), SessionKind::Api).unwrap();

    let (s, v) =
        get_json(&http, &query_url(&sim, "SELECT Id FROM Contact WHERE Notes__c = 'x'"), &integration, None).await;
    assert_eq!((s, &v[0]["errorCode"]), (StatusCode::BAD_REQUEST, &json!("INVALID_FIELD")));
    assert!(v[0]["message"].as_str().unwrap().ends_with("field 'Notes__c' can not be filtered in a query call"), "{v}");

    let secret = "SELECT Id, Secret__c FROM Contact WHERE Secret__c != null";
    let (s, v) = get_json(&http, &query_url(&sim, secret), &integration, None).await;
    assert_eq!((s, &v[0]["errorCode"]), (StatusCode::BAD_REQUEST, &json!("INVALID_FIELD")));
    assert!(v[0]["message"].as_str().unwrap().contains("No such column 'Secret__c' on entity 'Contact'"), "{v}");
    let (s, v) = get_json(&http, &query_url(&sim, secret), &grace, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let expected =
        sim.records(SObject::Contact).iter().filter(|r| !r.is_deleted && r.custom.contains_key("Secret__c")).count();
    assert_eq!(v["totalSize"], expected);
    assert!(v["records"][0]["Secret__c"].as_str().unwrap().starts_with("SEC-"));

    let jobs = format!("{}/services/data/v64.0/jobs/query", sim.base_url());
    let body = json!({"operation": "query", "query": "SELECT Id, Secret__c FROM Lead"});
    let (status, v) = post_json(&http, &jobs, &integration, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v[0]["errorCode"], "INVALID_FIELD");

    for (soql, code) in [
        ("SELECT Account.Name FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE Score__c = '5'", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE CreatedDate > 2026-01-01", "INVALID_FIELD"),
        ("SELECT Id FROM Contact ORDER BY Notes__c", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS", "MALFORMED_QUERY"),
    ] {
        let (s, v) = get_json(&http, &query_url(&sim, soql), &grace, None).await;
        assert_eq!((s, &v[0]["errorCode"]), (StatusCode::BAD_REQUEST, &json!(code)), "{soql}: {v}");
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn email_variety_for_list_exclusions() {
    let sim = spawn(SimConfig::default()).await;
    let http = client();
    let sid = sim.mint_session(&user_id(&sim, "Outpost"), SessionKind::Api).unwrap();
    let soql = "SELECT Id, Email, HasOptedOutOfEmail, IsEmailBounced, IsDeleted FROM Contact \
                WHERE Email LIKE '%@simulator.amazonses.com' ORDER BY Email";
    let (s, v) = get_json(&http, &query_all_url(&sim, soql), &sid, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let emails: Vec<&str> = v["records"].as_array().unwrap().iter().map(|r| r["Email"].as_str().unwrap()).collect();
    assert_eq!(
        emails,
        ["bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com", "success@simulator.amazonses.com"]
    );
    for r in v["records"].as_array().unwrap() {
        assert_eq!(
            (&r["HasOptedOutOfEmail"], &r["IsEmailBounced"], &r["IsDeleted"]),
            (&json!(false), &json!(false), &json!(false))
        );
    }

    let contacts = sim.records(SObject::Contact);
    let leads = sim.records(SObject::Lead);
    let lower = |r: &salesforce_sim::Record| r.email.as_deref().map(str::to_lowercase);
    let shared = leads.iter().find(|l| lower(l).is_some() && contacts.iter().any(|c| lower(c) == lower(l))).unwrap();
    let in_contacts = contacts.iter().filter(|c| lower(c) == lower(shared)).count();
    // SOQL compares email case-insensitively: the Lead's address, upper-cased, finds the Contacts.
    let upper = shared.email.as_deref().unwrap().to_uppercase();
    let count = format!("SELECT COUNT() FROM Contact WHERE Email = '{upper}'");
    let (_, v) = get_json(&http, &query_all_url(&sim, &count), &sid, None).await;
    assert_eq!(v["totalSize"], in_contacts);
    let cased = contacts
        .iter()
        .find(|a| contacts.iter().any(|b| b.email != a.email && lower(a).is_some() && lower(b) == lower(a)))
        .unwrap();
    let count = format!("SELECT COUNT() FROM Contact WHERE Email = '{}'", lower(cased).unwrap());
    let (_, v) = get_json(&http, &query_all_url(&sim, &count), &sid, None).await;
    assert!(v["totalSize"].as_u64().unwrap() >= 2, "{v}");

    let all: Vec<&str> = contacts.iter().chain(&leads).filter_map(|r| r.email.as_deref()).collect();
    let odd = all
        .iter()
        .filter(|e| e.contains("..") || e.contains(".@") || e.split_once('@').is_some_and(|(_, d)| !d.contains('.')))
        .count();
    assert!((3..=10).contains(&odd), "{odd} of {}", all.len());

    // Salesforce's validation lets these through the API as well.
    let target = contacts.iter().find(|r| !r.is_deleted).unwrap().id.to_string();
    for e in ["first..last@example.com", "trailing.@example.com", "someone@intranet"] {
        let url = format!("{}/services/data/v64.0/sobjects/Contact/{target}", sim.base_url());
        let r = http.patch(&url).bearer_auth(&sid).json(&json!({"Email": e})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{e}");
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn new_fields_are_writable_with_salesforces_checks() {
    let sim = spawn(SimConfig::default().with_records(30, 10)).await;
    let http = client();
    let integration = sim.user(&user_id(&sim, "Outpost")).unwrap();
    let sid = sim.mint_session(integration.id.as_str(), SessionKind::Api).unwrap();
    let grace = user_id(&sim, "Grace");
    let alan = user_id(&sim, "Alan");
    let account = sim.accounts()[1].id.to_string();
    let live: Vec<String> =
        sim.records(SObject::Contact).into_iter().filter(|r| !r.is_deleted).map(|r| r.id.to_string()).collect();
    let lead =
        sim.records(SObject::Lead).into_iter().find(|r| !r.is_deleted && !r.is_converted).unwrap().id.to_string();
    let url = format!("{}/services/data/v64.0/composite/sobjects", sim.base_url());
    let body = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "id": live[0], "OwnerId": grace, "AccountId": account, "Title": "CFO",
         "Region__c": "APAC", "Score__c": 12.5, "Notes__c": "line one\nline \"two\"", "MailingCity": "Osaka"},
        {"attributes": {"type": "Contact"}, "id": live[1], "Region__c": "Mars"},
        {"attributes": {"type": "Contact"}, "id": live[2], "OwnerId": alan},
        {"attributes": {"type": "Contact"}, "id": live[3], "AccountId": "001000000000000"},
        {"attributes": {"type": "Contact"}, "id": live[4], "Secret__c": "peek"},
        {"attributes": {"type": "Lead"}, "id": lead, "Industry": "Retail", "Country": "Japan", "Tier__c": "Gold"},
    ]});
    let v: Value = http.patch(&url).bearer_auth(&sid).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(v[0]["success"], true, "{v}");
    assert_eq!(v[1]["errors"][0]["statusCode"], "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
    assert_eq!(v[2]["errors"][0]["statusCode"], "INACTIVE_OWNER_OR_USER");
    assert_eq!(v[3]["errors"][0]["statusCode"], "INVALID_CROSS_REFERENCE_KEY");
    assert_eq!(v[3]["errors"][0]["fields"], json!(["AccountId"]));
    assert_eq!(v[4]["errors"][0]["statusCode"], "INVALID_FIELD", "FLS: no such column for the integration user");
    assert_eq!(v[5]["errors"][0]["statusCode"], "INVALID_FIELD", "Tier__c is on Contact only");
    let r = sim.record(&live[0]).unwrap();
    assert_eq!((r.owner_id.to_string(), r.account_id.map(|a| a.to_string())), (grace.clone(), Some(account.clone())));
    assert_eq!((r.title.as_deref(), r.mailing_city.as_deref()), (Some("CFO"), Some("Osaka")));
    assert_eq!(r.custom["Region__c"], "APAC");
    assert_eq!(r.custom["Score__c"], 12.5);
    assert_eq!(r.custom["Notes__c"], "line one\nline \"two\"");

    // A bad reference is the field's fault (400), not an unknown record (404).
    let one = format!("{}/services/data/v64.0/sobjects/Contact/{}", sim.base_url(), live[5]);
    let r = http.patch(&one).bearer_auth(&sid).json(&json!({"AccountId": "001000000000000"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r =
        http.patch(&one).bearer_auth(&sid).json(&json!({"AccountId": null, "Score__c": null})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = sim.record(&live[5]).unwrap();
    assert!(after.account_id.is_none() && !after.custom.contains_key("Score__c"));

    // Records created through the API belong to the caller unless they name an owner.
    let created: Value = http
        .post(&url)
        .bearer_auth(&sid)
        .json(&json!({"records": [{"attributes": {"type": "Lead"}, "LastName": "New", "Company": "Acme", "LeadSource": "Web"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = sim.record(created[0]["id"].as_str().unwrap()).unwrap();
    assert_eq!((new.owner_id, new.lead_source.as_deref()), (integration.id, Some("Web")));

    // The control API writes anything, the hidden field included; creates default to Ada.
    let r =
        sim.update_record(&live[6], json!({"Secret__c": "s3cret", "Tier__c": "Silver", "Department": "IT"})).unwrap();
    assert_eq!((r.custom["Secret__c"].as_str(), r.department.as_deref()), (Some("s3cret"), Some("IT")));
    let c = sim.create_record(SObject::Contact, json!({"LastName": "Solo", "Region__c": "EMEA"})).unwrap();
    assert_eq!(c.owner_id.to_string(), user_id(&sim, "Ada"));
    assert!(sim.update_record(&live[6], json!({"OwnerId": alan})).is_err());
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn generated_org_is_deterministic_and_persists_new_fields() {
    let anchor = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
    let mut cfg = SimConfig::default().with_records(300, 100);
    cfg.anchor = Some(anchor);
    let a = spawn(cfg.clone()).await;
    let b = spawn(cfg.clone()).await;
    let c = spawn(cfg.clone().with_seed(43)).await;
    assert_eq!(a.records(SObject::Contact), b.records(SObject::Contact));
    assert_eq!(a.records(SObject::Lead), b.records(SObject::Lead));
    assert_eq!(a.accounts(), b.accounts());
    assert_ne!(a.records(SObject::Contact), c.records(SObject::Contact));
    for sim in [a, b, c] {
        sim.shutdown().await.unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg.with_data_dir(dir.path());
    let sim = spawn(cfg.clone()).await;
    let id = sim.records(SObject::Contact)[3].id.to_string();
    let account = sim.accounts()[2].id.to_string();
    sim.update_record(
        &id,
        json!({"AccountId": account, "OwnerId": user_id(&sim, "Katherine"), "Score__c": 99.5, "Notes__c": "kept",
               "Secret__c": "x", "MailingCountry": "Japan", "Title": null}),
    )
    .unwrap();
    sim.create_record(
        SObject::Lead,
        json!({"LastName": "Fresh", "Company": "Acme", "Industry": "Retail", "Region__c": "APAC"}),
    )
    .unwrap();
    let (contacts, leads, accounts) = (sim.records(SObject::Contact), sim.records(SObject::Lead), sim.accounts());
    sim.shutdown().await.unwrap();
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("salesforce-sim/state.json")).unwrap()).unwrap();
    assert_eq!(state["format"], 2);

    let sim = spawn(cfg.with_seed(999)).await;
    assert_eq!(sim.records(SObject::Contact), contacts);
    assert_eq!(sim.records(SObject::Lead), leads);
    assert_eq!(sim.accounts(), accounts);
    let r = sim.record(&id).unwrap();
    assert_eq!((r.custom["Score__c"].as_f64(), r.title.as_deref()), (Some(99.5), None));
    sim.shutdown().await.unwrap();

    // A state saved in the previous format is set aside, not misread.
    let old = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(old.path().join("salesforce-sim")).unwrap();
    let v1 = json!({"format": 1, "org_id": sim_org_id(), "contacts": [], "leads": [], "users": [], "tasks": [],
                    "deleted_log": [], "counters": {}, "pod": "5g"});
    std::fs::write(old.path().join("salesforce-sim/state.json"), v1.to_string()).unwrap();
    let sim = spawn(SimConfig::default().with_records(12, 3).with_data_dir(old.path())).await;
    assert_eq!(sim.records(SObject::Contact).len(), 12);
    sim.shutdown().await.unwrap();
}

fn sim_org_id() -> String {
    salesforce_sim::SfId::parse(salesforce_sim::config::DEFAULT_ORG_ID).unwrap().to_string()
}

#[tokio::test]
async fn launcher_and_list_button_forms() {
    let sim = spawn(SimConfig::default().with_records(30, 12)).await;
    let http = client();
    let ada = user_id(&sim, "Ada");
    let contacts: Vec<String> = sim.records(SObject::Contact).iter().map(|r| r.id.to_string()).collect();
    let lead = sim.records(SObject::Lead)[0].id.to_string();
    let srv = format!("{}/services/Soap/u/64.0/{}", sim.base_url(), sim.org_id15());
    let userinfo = |sid: String| {
        let http = http.clone();
        let url = format!("{}/services/oauth2/userinfo", sim.base_url());
        async move { http.get(url).bearer_auth(sid).send().await.unwrap().status() }
    };

    let form = sim.launcher_form(&ada, None, SessionKind::Api).unwrap();
    let keys: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["uid", "oid", "sid", "srv"]);
    assert_eq!(
        (form[0].1.as_str(), form[1].1.as_str(), form[3].1.as_str()),
        (ada.as_str(), sim.org_id(), srv.as_str())
    );
    assert!(form[2].1.starts_with(&format!("{}!", sim.org_id15())));
    assert_eq!(userinfo(form[2].1.clone()).await, StatusCode::OK);

    let form =
        sim.launcher_form("ada.lovelace@acme-sim.example", Some(&contacts[0][..15]), SessionKind::Lightning).unwrap();
    assert_eq!(form.last().unwrap(), &("rid".to_owned(), contacts[0].clone()), "rid is 18 characters");
    assert_eq!(userinfo(form[2].1.clone()).await, StatusCode::UNAUTHORIZED, "a Lightning session");
    assert!(sim.launcher_form(&ada, Some(&ada), SessionKind::Api).is_err(), "only Contacts and Leads");
    assert!(sim.launcher_form("nobody", None, SessionKind::Api).is_err());

    let picked = [&contacts[1][..15], contacts[2].as_str()];
    let form = sim.list_button_form(&ada, SObject::Contact, &picked, SessionKind::Api).unwrap();
    let keys: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["uid", "oid", "sid", "srv", "ids", "object"]);
    assert_eq!(form[4].1, format!("{},{}", contacts[1], contacts[2]));
    assert_eq!(form[5].1, "Contact");
    let form = sim.list_button_form(&ada, SObject::Lead, &[lead.as_str()], SessionKind::Api).unwrap();
    assert_eq!((form[4].1.as_str(), form[5].1.as_str()), (lead.as_str(), "Lead"));
    assert!(sim.list_button_form(&ada, SObject::Contact, &[], SessionKind::Api).is_err());
    assert!(sim.list_button_form(&ada, SObject::Contact, &[lead.as_str()], SessionKind::Api).is_err());
    let many = vec![contacts[0].as_str(); 1001];
    assert!(sim.list_button_form(&ada, SObject::Contact, &many, SessionKind::Api).is_err());
    assert!(sim.list_button_form(&ada, SObject::Task, &[contacts[0].as_str()], SessionKind::Api).is_err());

    // The /_sim page: a launcher form per user and list views whose button plays the package's.
    let outpost = "http://127.0.0.1:9";
    sim.set_outpost(outpost, "k");
    let page = http.get(format!("{}/_sim", sim.base_url())).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("<script"), "no script on the index");
    assert_eq!(page.matches(&format!("action=\"{outpost}/entry\"")).count(), sim.users().len());
    assert!(page.contains("Launcher (POST)") && page.contains("name=\"sid\"") && page.contains(&srv));
    assert!(page.contains("id=\"list-Contact\"") && page.contains("id=\"list-Lead\""));
    assert_eq!(page.matches("type=\"checkbox\" name=\"ids\"").count(), 20, "10 rows per object");
    assert!(page.matches("Add to Outpost list").count() == 2);

    let body = format!("user={ada}&object=Contact&ids={}&ids={}", contacts[1], &contacts[2][..15]);
    let r = http
        .post(format!("{}/_sim/list-button", sim.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("<form id=\"outpost-entry\" method=\"post\" action=\"{outpost}/entry\">")),
        "{html}"
    );
    assert!(html.contains(&format!("name=\"ids\" value=\"{},{}\"", contacts[1], contacts[2])), "{html}");
    assert!(html.contains("name=\"object\" value=\"Contact\"") && html.contains("Continue to Outpost"));
    assert!(html.contains("<script src=\"/_sim/auto-submit.js\"></script>"));
    let sid = html.split("name=\"sid\" value=\"").nth(1).unwrap().split('"').next().unwrap().replace("&#39;", "'");
    assert_eq!(userinfo(sid).await, StatusCode::OK);
    let r = http
        .post(format!("{}/_sim/list-button", sim.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("user={ada}&object=Lead"))
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"error\"") && html.contains("Select the records") && !html.contains("outpost-entry"));
    let js = http.get(format!("{}/_sim/auto-submit.js", sim.base_url())).send().await.unwrap();
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("application/javascript"));
    assert!(js.text().await.unwrap().contains("getElementById(\"outpost-entry\")"));
    sim.shutdown().await.unwrap();
}
