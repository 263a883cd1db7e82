//! A small stand-in for DynamoDB, for the sync benchmark: moto spends about 340 µs of CPU on each
//! item written, far more than the sync itself, so it cannot be timed against. It speaks the
//! DynamoDB JSON protocol (`X-Amz-Target: DynamoDB_20120810.<Operation>`) for the calls
//! Outpost's DynamoDB adapter makes (BatchWriteItem, BatchGetItem, PutItem, GetItem, DeleteItem,
//! Query, DescribeTable), with a latency added to every call and a table-wide write capacity: items
//! past it come back as `UnprocessedItems` from BatchWriteItem, and as
//! `ProvisionedThroughputExceededException` from single writes, as DynamoDB answers a new
//! on-demand table (4,000 write units a second).
//!
//! It keeps one table of items in memory and judges exactly the condition expressions the
//! adapter sends; any other expression is refused, so drift shows up as an error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// How the stand-in behaves.
#[derive(Debug, Clone, Copy)]
pub struct StandInSettings {
    /// Added to every call.
    pub latency: Duration,
    /// Items written a second, table-wide (a burst of one second's worth is allowed).
    pub write_capacity: f64,
}

impl Default for StandInSettings {
    fn default() -> Self {
        Self { latency: Duration::from_millis(20), write_capacity: 4_000.0 }
    }
}

/// What the stand-in saw, for the benchmark's report.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct StandInStats {
    pub calls: u64,
    pub batch_calls: u64,
    pub items_written: u64,
    /// Items handed back as unprocessed (throttled).
    pub items_throttled: u64,
    /// The most BatchWriteItem calls under way at once.
    pub max_batches_in_flight: u64,
}

type Item = Map<String, Value>;

struct Table {
    settings: StandInSettings,
    items: Mutex<BTreeMap<(String, String), Item>>,
    bucket: Mutex<(f64, Instant)>,
    calls: AtomicU64,
    batch_calls: AtomicU64,
    items_written: AtomicU64,
    items_throttled: AtomicU64,
    batches_in_flight: AtomicU64,
    max_batches_in_flight: AtomicU64,
}

impl Table {
    /// Takes up to `wanted` write units; returns how many it got.
    fn take_capacity(&self, wanted: u64) -> u64 {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = &mut *bucket;
        let now = Instant::now();
        let capacity = self.settings.write_capacity;
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * capacity).min(capacity);
        *at = now;
        let granted = (*tokens as u64).min(wanted);
        *tokens -= granted as f64;
        granted
    }

    fn stats(&self) -> StandInStats {
        StandInStats {
            calls: self.calls.load(Ordering::Relaxed),
            batch_calls: self.batch_calls.load(Ordering::Relaxed),
            items_written: self.items_written.load(Ordering::Relaxed),
            items_throttled: self.items_throttled.load(Ordering::Relaxed),
            max_batches_in_flight: self.max_batches_in_flight.load(Ordering::Relaxed),
        }
    }
}

/// A running stand-in.
pub struct DynamoStandIn {
    pub endpoint: String,
    table: Arc<Table>,
    server: tokio::task::JoinHandle<()>,
}

impl DynamoStandIn {
    /// Serves on a free loopback port.
    pub async fn start(settings: StandInSettings) -> std::io::Result<Self> {
        let table = Arc::new(Table {
            settings,
            items: Mutex::new(BTreeMap::new()),
            bucket: Mutex::new((settings.write_capacity, Instant::now())),
            calls: AtomicU64::new(0),
            batch_calls: AtomicU64::new(0),
            items_written: AtomicU64::new(0),
            items_throttled: AtomicU64::new(0),
            batches_in_flight: AtomicU64::new(0),
            max_batches_in_flight: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/", axum::routing::post(call))
            .route("/_stats", axum::routing::get(stats))
            .with_state(Arc::clone(&table));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { endpoint, table, server })
    }

    /// What it has seen so far.
    pub fn stats(&self) -> StandInStats {
        self.table.stats()
    }
}

impl Drop for DynamoStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn stats(State(table): State<Arc<Table>>) -> axum::Json<StandInStats> {
    axum::Json(table.stats())
}

fn reply(body: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/x-amz-json-1.0")], body.to_string()).into_response()
}

fn error(kind: &str, message: &str, extra: Option<(&str, Value)>) -> Response {
    let mut body = json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message});
    if let Some((name, value)) = extra {
        body[name] = value;
    }
    let mut response = reply(body);
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

fn validation(message: &str) -> Response {
    error("ValidationException", message, None)
}

async fn call(State(table): State<Arc<Table>>, headers: HeaderMap, body: Bytes) -> Response {
    table.calls.fetch_add(1, Ordering::Relaxed);
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|target| target.strip_prefix("DynamoDB_20120810."))
        .unwrap_or_default()
        .to_owned();
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return validation("the body is not JSON");
    };
    let batch = operation == "BatchWriteItem";
    if batch {
        table.batch_calls.fetch_add(1, Ordering::Relaxed);
        let now = table.batches_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        table.max_batches_in_flight.fetch_max(now, Ordering::Relaxed);
    }
    tokio::time::sleep(table.settings.latency).await;
    let response = match operation.as_str() {
        "DescribeTable" => reply(json!({"Table": {"TableName": request["TableName"], "TableStatus": "ACTIVE"}})),
        "GetItem" => get_item(&table, &request),
        "BatchGetItem" => batch_get(&table, &request),
        "PutItem" => put_item(&table, &request),
        "DeleteItem" => delete_item(&table, &request),
        "Query" => query(&table, &request),
        "BatchWriteItem" => batch_write(&table, &request),
        other => validation(&format!("the stand-in does not serve {other:?}")),
    };
    if batch {
        table.batches_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
    response
}

/// The `(pk, sk)` of an item or key.
fn key_of(item: &Value) -> Option<(String, String)> {
    Some((item["pk"]["S"].as_str()?.to_owned(), item["sk"]["S"].as_str()?.to_owned()))
}

fn get_item(table: &Table, request: &Value) -> Response {
    let Some(key) = key_of(&request["Key"]) else {
        return validation("Key needs pk and sk");
    };
    let items = table.items.lock().unwrap_or_else(|p| p.into_inner());
    match items.get(&key) {
        Some(item) => reply(json!({"Item": item})),
        None => reply(json!({})),
    }
}

fn batch_get(table: &Table, request: &Value) -> Response {
    let Some(tables) = request["RequestItems"].as_object() else {
        return validation("RequestItems is required");
    };
    let items = table.items.lock().unwrap_or_else(|p| p.into_inner());
    let mut responses = Map::new();
    for (name, wanted) in tables {
        let keys = wanted["Keys"].as_array().cloned().unwrap_or_default();
        if keys.len() > 100 {
            return validation("Too many items requested for the BatchGetItem call");
        }
        let found: Vec<Value> = keys
            .iter()
            .filter_map(key_of)
            .filter_map(|key| items.get(&key))
            .map(|item| Value::Object(item.clone()))
            .collect();
        responses.insert(name.clone(), Value::Array(found));
    }
    reply(json!({"Responses": responses, "UnprocessedKeys": {}}))
}

/// A number attribute's value.
fn number(value: &Value) -> Option<f64> {
    value["N"].as_str()?.parse().ok()
}

/// Judges one of the adapter's condition expressions against the stored item.
fn holds(request: &Value, existing: Option<&Item>) -> Result<bool, String> {
    let Some(expression) = request["ConditionExpression"].as_str() else {
        return Ok(true);
    };
    let names = &request["ExpressionAttributeNames"];
    let values = &request["ExpressionAttributeValues"];
    let attribute = |alias: &str| existing.and_then(|item| item.get(names[alias].as_str()?));
    let now = number(&values[":now"]).ok_or("no :now")?;
    let expired = attribute("#ttl").and_then(number).is_some_and(|ttl| ttl <= now);
    let live = existing.is_some() && !expired;
    Ok(match expression {
        "attribute_not_exists(pk) OR #ttl <= :now" => !live,
        "attribute_exists(pk) AND #a = :v AND (attribute_not_exists(#ttl) OR #ttl > :now)" => {
            live && attribute("#a") == Some(&values[":v"])
        }
        "attribute_not_exists(pk) OR #ttl <= :now OR #a < :v" => {
            let below = match (attribute("#a").and_then(number), number(&values[":v"])) {
                (Some(stored), Some(limit)) => stored < limit,
                _ => false,
            };
            !live || below
        }
        other => return Err(format!("the stand-in does not judge {other:?}")),
    })
}

fn put_item(table: &Table, request: &Value) -> Response {
    let Some(item) = request["Item"].as_object().cloned() else {
        return validation("Item is required");
    };
    let Some(key) = key_of(&request["Item"]) else {
        return validation("Item needs pk and sk");
    };
    if table.take_capacity(1) == 0 {
        table.items_throttled.fetch_add(1, Ordering::Relaxed);
        return error(
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded",
            None,
        );
    }
    let mut items = table.items.lock().unwrap_or_else(|p| p.into_inner());
    match holds(request, items.get(&key)) {
        Ok(true) => {
            items.insert(key, item);
            table.items_written.fetch_add(1, Ordering::Relaxed);
            reply(json!({}))
        }
        Ok(false) => {
            let old = (request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD")
                .then(|| items.get(&key).map(|old| ("Item", Value::Object(old.clone()))))
                .flatten();
            error("ConditionalCheckFailedException", "The conditional request failed", old)
        }
        Err(message) => validation(&message),
    }
}

fn delete_item(table: &Table, request: &Value) -> Response {
    let Some(key) = key_of(&request["Key"]) else {
        return validation("Key needs pk and sk");
    };
    let mut items = table.items.lock().unwrap_or_else(|p| p.into_inner());
    match holds(request, items.get(&key)) {
        Ok(true) => {
            items.remove(&key);
            reply(json!({}))
        }
        Ok(false) => error("ConditionalCheckFailedException", "The conditional request failed", None),
        Err(message) => validation(&message),
    }
}

fn query(table: &Table, request: &Value) -> Response {
    let values = &request["ExpressionAttributeValues"];
    let prefix = match request["KeyConditionExpression"].as_str() {
        Some("pk = :pk") => "",
        Some("pk = :pk AND begins_with(sk, :prefix)") => match values[":prefix"]["S"].as_str() {
            Some(prefix) => prefix,
            None => return validation(":prefix is a string"),
        },
        _ => return validation("the stand-in serves only pk = :pk [AND begins_with(sk, :prefix)]"),
    };
    let Some(pk) = values[":pk"]["S"].as_str() else {
        return validation(":pk is a string");
    };
    let limit = request["Limit"].as_u64().unwrap_or(u64::MAX) as usize;
    let after = key_of(&request["ExclusiveStartKey"]).map(|(_, sk)| sk);
    let items = table.items.lock().unwrap_or_else(|p| p.into_inner());
    let start = (pk.to_owned(), after.clone().unwrap_or_else(|| prefix.to_owned()));
    let matching = items
        .range(start..)
        .take_while(|((item_pk, sk), _)| item_pk == pk && sk.starts_with(prefix))
        .filter(|((_, sk), _)| after.as_ref() != Some(sk))
        .map(|(_, item)| Value::Object(item.clone()));
    let page: Vec<Value> = matching.take(limit.saturating_add(1)).collect();
    let more = page.len() > limit;
    let page: Vec<Value> = page.into_iter().take(limit).collect();
    let mut body = json!({"Count": page.len(), "ScannedCount": page.len()});
    if more && let Some(last) = page.last() {
        body["LastEvaluatedKey"] = json!({"pk": last["pk"], "sk": last["sk"]});
    }
    body["Items"] = Value::Array(page);
    reply(body)
}

fn batch_write(table: &Table, request: &Value) -> Response {
    let Some(tables) = request["RequestItems"].as_object() else {
        return validation("RequestItems is required");
    };
    let mut unprocessed = Map::new();
    for (name, requests) in tables {
        let requests = requests.as_array().cloned().unwrap_or_default();
        if requests.len() > 25 {
            return validation("Too many items requested for the BatchWriteItem call");
        }
        let granted = table.take_capacity(requests.len() as u64) as usize;
        let (done, left) = requests.split_at(granted);
        let mut items = table.items.lock().unwrap_or_else(|p| p.into_inner());
        for write in done {
            if let Some(item) = write["PutRequest"]["Item"].as_object()
                && let Some(key) = key_of(&write["PutRequest"]["Item"])
            {
                items.insert(key, item.clone());
            } else if let Some(key) = key_of(&write["DeleteRequest"]["Key"]) {
                items.remove(&key);
            } else {
                return validation("each request is a PutRequest with pk and sk, or a DeleteRequest");
            }
        }
        table.items_written.fetch_add(done.len() as u64, Ordering::Relaxed);
        table.items_throttled.fetch_add(left.len() as u64, Ordering::Relaxed);
        if !left.is_empty() {
            unprocessed.insert(name.clone(), Value::Array(left.to_vec()));
        }
    }
    reply(json!({"UnprocessedItems": unprocessed}))
}
