//! A synced stack with a list to send to, and the campaign API.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::{StackOptions, TestStack};
use serde_json::{Value, json};

use crate::lists::Api;

/// A stack of `contacts` Contacts (and a few Leads), synced.
pub async fn stack(options: StackOptions) -> TestStack {
    let stack = TestStack::start_with(options).await;
    outpost_tests::outpost_local::sync_once(&stack.stack.sync, None, Duration::from_secs(300))
        .await
        .expect("the orgs sync");
    stack
}

/// The known user of Acme, calling the API.
pub fn api(stack: &TestStack) -> Api<'_> {
    let acme = stack.acme();
    Api::new(stack, acme, stack.user(acme, UserKind::Known))
}

/// A list of every Contact and Lead with an address; its id and member count.
pub async fn everyone(api: &Api<'_>) -> (String, u64) {
    let list = api.create(&json!({"name": "Everyone", "objects": ["Contact", "Lead"], "conditions": []})).await;
    (list["id"].as_str().unwrap().to_owned(), list["count"].as_u64().unwrap())
}

/// A campaign body to `list` with merge fields, a fallback and the unsubscribe link.
pub fn body(list: &str) -> Value {
    json!({
        "list_id": list,
        "subject": "Spring news for {{FirstName|you}}",
        "from": "news@acme.example",
        "reply_to": "team@acme.example",
        "html": "<html><body><p>Hello {{FirstName|there}} {{LastName}} of {{Company}},</p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p></body></html>",
        "text": "Hello {{FirstName|there}},\n\nUnsubscribe: {{unsubscribe_url}}\n",
    })
}

/// Creates a campaign; its id.
pub async fn create(api: &Api<'_>, body: &Value) -> String {
    let created = api.post("/api/v1/campaigns", body).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json()["status"], "draft");
    created.json()["id"].as_str().unwrap().to_owned()
}

pub async fn campaign(api: &Api<'_>, id: &str) -> Value {
    let read = api.get(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(read.status, 200, "{read:?}");
    read.json()
}

/// Waits until `done` holds for the campaign (at most `within`); the campaign then.
pub async fn wait_for(api: &Api<'_>, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    wait_every(api, id, within, Duration::from_millis(50), done).await
}

/// [`wait_for`], reading the campaign every `interval`: a store on moto serves every test of the
/// run one request at a time, and tests that time their own runs share it.
pub async fn wait_every(
    api: &Api<'_>,
    id: &str,
    within: Duration,
    interval: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let campaign = campaign(api, id).await;
        if done(&campaign) {
            return campaign;
        }
        assert!(started.elapsed() < within, "the campaign did not get there in {within:?}: {campaign:#}");
        tokio::time::sleep(interval).await;
    }
}

pub fn sent(campaign: &Value) -> bool {
    campaign["status"] == "sent"
}

/// The campaign's messages in the outbox.
pub async fn outbox(stack: &TestStack, id: &str) -> Vec<Value> {
    let reply = stack.get(&stack.url(&format!("/_local/outbox?campaign={id}"))).await;
    assert_eq!(reply.status(), 200);
    reply.json::<Vec<Value>>().await.unwrap()
}

/// Every recipient of a campaign as the status search lists them.
pub async fn recipients(api: &Api<'_>, id: &str) -> Vec<Value> {
    let found = api.get(&format!("/api/v1/campaigns/{id}/recipients?limit=1000")).await;
    assert_eq!(found.status, 200, "{found:?}");
    let found = found.json();
    let mut all: Vec<Value> = found["recipients"].as_array().unwrap().clone();
    let total = found["total"].as_u64().unwrap() as usize;
    while all.len() < total {
        let page = api.get(&format!("/api/v1/campaigns/{id}/recipients?limit=1000&offset={}", all.len())).await;
        all.extend(page.json()["recipients"].as_array().unwrap().iter().cloned());
    }
    all
}

/// The header `name` of an outbox message.
pub fn header<'a>(message: &'a Value, name: &str) -> Option<&'a str> {
    message["headers"].as_array()?.iter().find(|header| header["name"] == name)?["value"].as_str()
}

/// Asserts no address got two messages; the addresses.
pub fn once_each(messages: &[Value]) -> HashSet<String> {
    let mut seen = HashSet::new();
    for message in messages {
        let to = message["to"].as_str().unwrap().to_lowercase();
        assert!(seen.insert(to.clone()), "{to} got the campaign twice");
    }
    seen
}
