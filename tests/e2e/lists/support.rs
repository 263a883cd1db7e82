//! A synced stack, and the two ways into lists: the API (a Salesforce session as bearer) and the
//! pages (an Outpost session cookie, with the CSRF token the pages hand out).

use std::time::Duration;

use outpost_tests::outpost_local::provision::{DemoUser, ProvisionedOrg};
use outpost_tests::salesforce_sim::SessionKind;
use outpost_tests::{StackOptions, StoreKind, TestStack};
use serde_json::Value;

use crate::entry::reply::{JSON, Reply};

/// A stack on `store` whose orgs are synced once.
pub async fn synced(store: StoreKind) -> TestStack {
    let stack = TestStack::start_with(StackOptions { store, ..StackOptions::default() }).await;
    outpost_tests::outpost_local::sync_once(&stack.stack.sync, None, Duration::from_secs(120))
        .await
        .expect("the orgs sync");
    stack
}

/// Salesforce-side code calling `/api/v1` as `user`.
pub struct Api<'a> {
    stack: &'a TestStack,
    sid: String,
    instance: String,
}

impl<'a> Api<'a> {
    pub fn new(stack: &'a TestStack, org: &ProvisionedOrg, user: &DemoUser) -> Self {
        let sim = stack.sim(org);
        let sid = sim.mint_session(user.user_id.as_str(), SessionKind::Api).expect("the sim mints a session");
        let instance = sim.base_url().trim_start_matches("http://").to_owned();
        Self { stack, sid, instance }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.stack
            .http
            .request(method, self.stack.url(path))
            .header("authorization", format!("Bearer {}", self.sid))
            .header("x-salesforce-instance", &self.instance)
            .header("accept", JSON)
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> Reply {
        Reply::send(self.request(method, path).header("content-type", JSON).body(body.to_string())).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// `PATCH`, with `If-Match` when `revision` is given.
    pub async fn patch(&self, path: &str, body: &Value, revision: Option<&str>) -> Reply {
        let mut request =
            self.request(reqwest::Method::PATCH, path).header("content-type", JSON).body(body.to_string());
        if let Some(revision) = revision {
            request = request.header("if-match", format!("\"{revision}\""));
        }
        Reply::send(request).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        Reply::send(self.request(reqwest::Method::DELETE, path)).await
    }

    /// A raw body with its own content type.
    pub async fn raw(&self, method: reqwest::Method, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        Reply::send(self.request(method, path).header("content-type", content_type).body(body)).await
    }

    /// Creates a list; panics unless it is created.
    pub async fn create(&self, body: &Value) -> Value {
        let created = self.post("/api/v1/lists", body).await;
        assert_eq!(created.status, 201, "{created:?}");
        created.json()
    }

    /// What `body` selects now.
    pub async fn preview(&self, body: &Value) -> Value {
        let preview = self.post("/api/v1/lists/preview", body).await;
        assert_eq!(preview.status, 200, "{body}: {preview:?}");
        preview.json()
    }

    /// Every member id of a list, through the paged members API.
    pub async fn member_ids(&self, list: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.get(&format!("/api/v1/lists/{list}/members?limit=1000&cursor={after}")).await;
            assert_eq!(page.status, 200, "{page:?}");
            let page = page.json();
            ids.extend(page["members"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(next) => after = next.to_owned(),
                None => return ids,
            }
        }
    }
}

/// A person using the pages as `user`, with their session cookie.
pub struct Pages<'a> {
    stack: &'a TestStack,
    pub session: String,
}

impl<'a> Pages<'a> {
    pub async fn sign_in(stack: &'a TestStack, org: &ProvisionedOrg, user: &DemoUser) -> Self {
        Self { stack, session: stack.sign_in(org, user).await }
    }

    pub fn with_session(stack: &'a TestStack, session: String) -> Self {
        Self { stack, session }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::send(
            self.stack
                .http
                .get(self.stack.url(path))
                .header("cookie", format!("__Host-outpost_session={}", self.session)),
        )
        .await
    }

    /// The CSRF token the pages hand out for this session.
    pub async fn csrf(&self) -> String {
        self.get("/app/lists/new").await.hidden_input("csrf")
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        self.post_body(path, outpost_tests::url_encoded(fields)).await
    }

    /// A form body exactly as given, encoded or not.
    pub async fn post_body(&self, path: &str, body: String) -> Reply {
        Reply::send(
            self.stack
                .http
                .post(self.stack.url(path))
                .header("cookie", format!("__Host-outpost_session={}", self.session))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }
}

/// The list id a `303` to `/app/lists/{id}[/edit]` names.
pub fn list_id_of(reply: &Reply) -> String {
    assert_eq!(reply.status, 303, "{reply:?}");
    let location = reply.location().expect("a location");
    let id = location.trim_start_matches("/app/lists/").trim_end_matches("/edit");
    assert_eq!(id.len(), 16, "{location}");
    id.to_owned()
}
