//! The single-table item layer both adapters implement: `pk`/`sk` string keys, an optional `ttl`
//! (epoch seconds; expired items read as absent because TTL deletion lags), conditional writes
//! and batches. The domain stores in `super` are written once on top of it.

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::model::EpochSeconds;

/// An item's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

/// When a conditional write may happen; expired items count as absent throughout.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Always.
    Always,
    /// Only if no live item has the key.
    Absent,
    /// Only if a live item has the key and its string attribute equals the value.
    Equals(&'static str, String),
    /// Only if no live item has the key, or its numeric attribute is below the value.
    AbsentOrBelow(&'static str, i64),
}

/// The result of a conditional write.
#[derive(Debug, Clone, PartialEq)]
pub enum Write<T> {
    Done,
    /// The condition failed; the live item that made it fail, if any.
    Refused(Option<T>),
}

/// One page of a query: live items with their sort keys, and where to continue.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    /// The sort key to pass as `start_after` for the next page; `None` at the end.
    pub next_after: Option<String>,
}

/// One item of a batch write.
#[derive(Debug, Clone)]
pub struct BatchPut<T> {
    pub key: Key,
    pub ttl: Option<EpochSeconds>,
    pub item: T,
}

/// One item of a conditional multi-write.
#[derive(Debug, Clone)]
pub struct ConditionalPut<T> {
    pub key: Key,
    pub ttl: Option<EpochSeconds>,
    pub item: T,
    pub condition: Condition,
}

/// A single DynamoDB-style table.
#[async_trait]
pub trait Table: Send + Sync + 'static {
    /// The live item under `key`.
    async fn get<T: DeserializeOwned + Send>(&self, key: &Key) -> Result<Option<T>, StoreError>;

    /// The live item under each key, in the keys' order.
    async fn get_batch<T: DeserializeOwned + Send>(&self, keys: &[Key]) -> Result<Vec<Option<T>>, StoreError>;

    /// Writes `item` under `key` if `condition` holds.
    async fn put<T: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        key: &Key,
        ttl: Option<EpochSeconds>,
        item: &T,
        condition: Condition,
    ) -> Result<Write<T>, StoreError>;

    /// Deletes `key` if `condition` holds; `Refused` when it did not.
    async fn delete(&self, key: &Key, condition: Condition) -> Result<Write<()>, StoreError>;

    /// Live items of partition `pk` whose sort key starts with `sk_prefix`, in sort-key order,
    /// after `start_after` (exclusive); reads at most `limit` items (expired ones included).
    async fn query<T: DeserializeOwned + Send>(
        &self,
        pk: &str,
        sk_prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page<T>, StoreError>;

    /// Writes each item whose condition holds; `true` where it was written. Each item is judged
    /// on its own (one bad or stale item never blocks the others).
    async fn put_each<T: Serialize + Send + Sync>(&self, items: &[ConditionalPut<T>]) -> Result<Vec<bool>, StoreError>;

    /// Writes every item unconditionally; returns only when all are durable.
    async fn put_batch<T: Serialize + Send + Sync>(&self, items: &[BatchPut<T>]) -> Result<(), StoreError>;

    /// Deletes every key; returns only when all are gone.
    async fn delete_batch(&self, keys: &[Key]) -> Result<(), StoreError>;

    /// Adds `delta` to the numeric `attribute` of `key` (a missing item or attribute counts as
    /// zero), atomically across writers; with `at_most`, only if the sum stays within it.
    /// Whether it was added.
    async fn add(
        &self,
        key: &Key,
        ttl: Option<EpochSeconds>,
        attribute: &'static str,
        delta: i64,
        at_most: Option<i64>,
    ) -> Result<bool, StoreError>;
}
