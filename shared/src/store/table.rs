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

/// An item's key, borrowed: a batch's keys need not own their parts (a page of recipients
/// shares a few partitions, and each sort key is the record's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef<'a> {
    pub pk: &'a str,
    pub sk: &'a str,
}

impl<'a> From<&'a Key> for KeyRef<'a> {
    fn from(key: &'a Key) -> Self {
        Self { pk: &key.pk, sk: &key.sk }
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
pub struct BatchPut<'a, T> {
    pub key: KeyRef<'a>,
    pub ttl: Option<EpochSeconds>,
    pub item: T,
}

/// An item of a batch write. Every store writes it through `Serialize`; the embedded one takes
/// the item's own MessagePack where it has one, for items written by the hundred thousand.
pub trait BatchItem: Serialize {
    /// Appends what the embedded store's serde encoding gives (MessagePack, a struct as a map of
    /// its fields by name), or nothing, returning `false`, to leave it to serde.
    fn write_msgpack(&self, _out: &mut Vec<u8>) -> bool {
        false
    }
}

impl<T: BatchItem + ?Sized> BatchItem for &T {
    fn write_msgpack(&self, out: &mut Vec<u8>) -> bool {
        (**self).write_msgpack(out)
    }
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
    /// Unconditional batch writes worth having under way at once (a sync's pages): the embedded
    /// store writes one page's file while others fsync; DynamoDB already spreads a page over
    /// parallel batches.
    const OVERLAPPING_BATCHES: usize;

    /// The live item under `key`.
    async fn get<T: DeserializeOwned + Send>(&self, key: &Key) -> Result<Option<T>, StoreError>;

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
    async fn put_batch<T: BatchItem + Send + Sync>(&self, items: &[BatchPut<'_, T>]) -> Result<(), StoreError>;

    /// Writes one item unconditionally; it survives this process at once, and reaches the disk
    /// without being waited for where the store allows (the embedded one). For items whose loss
    /// in a power cut is harmless, such as a sync checkpoint past records already durable.
    async fn put_buffered<T: Serialize + Send + Sync>(&self, put: &BatchPut<'_, T>) -> Result<(), StoreError>;

    /// Deletes every key; returns only when all are gone.
    async fn delete_batch(&self, keys: &[Key]) -> Result<(), StoreError>;
}
