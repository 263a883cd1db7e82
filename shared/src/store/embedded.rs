//! The embedded table: an LSM tree on local disk (fjall) that survives restarts, laid out like the
//! DynamoDB table (`pk` and `sk` joined by a unit separator, so a partition is a contiguous key
//! range). An LSM tree because the sync writes recipients in modstamp order, which is random in
//! key order: a B-tree rewrites a page per record, an LSM tree appends.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode, Readable};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::model::{EpochSeconds, now_epoch};
use super::table::{BatchPut, Condition, ConditionalPut, Key, Page, Table, Write};

/// Separates `pk` from `sk`; sorts below every printable character.
const SEPARATOR: char = '\u{1f}';
/// The character after [`SEPARATOR`]: the exclusive end of a partition's range.
const AFTER_SEPARATOR: char = '\u{20}';

/// Memory bounds: enough for hot items, small enough to keep RSS flat on big syncs.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;
const MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
const JOURNAL_BYTES: u64 = 64 * 1024 * 1024;

/// A file-backed single table. One process opens a data directory at a time.
#[derive(Clone)]
pub struct EmbeddedTable {
    db: Database,
    items: Keyspace,
    /// Writers take turns, so a conditional write's read and write see no other write between.
    writer: Arc<Mutex<()>>,
}

impl std::fmt::Debug for EmbeddedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmbeddedTable")
    }
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

fn encode_key(key: &Key) -> String {
    format!("{}{SEPARATOR}{}", key.pk, key.sk)
}

/// A stored value: the `ttl` (or `i64::MAX`) as 8 little-endian bytes, then the item's JSON.
fn encode_value<T: Serialize>(ttl: Option<EpochSeconds>, item: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = ttl.unwrap_or(i64::MAX).to_le_bytes().to_vec();
    serde_json::to_writer(&mut bytes, item).map_err(corrupt)?;
    Ok(bytes)
}

fn encode_puts<T: Serialize>(items: &[BatchPut<T>]) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    items.iter().map(|put| Ok((encode_key(&put.key), encode_value(put.ttl, &put.item)?))).collect()
}

/// The item's JSON when it is still live at `now`.
fn live(value: &[u8], now: EpochSeconds) -> Result<Option<&[u8]>, StoreError> {
    let (ttl, json) = value.split_at_checked(8).ok_or_else(|| corrupt("short value"))?;
    let ttl = i64::from_le_bytes(ttl.try_into().map_err(corrupt)?);
    Ok((ttl > now).then_some(json))
}

fn holds(condition: &Condition, existing: Option<&[u8]>) -> Result<bool, StoreError> {
    let attribute = |json: &[u8], name: &str| -> Result<serde_json::Value, StoreError> {
        let mut value: serde_json::Value = serde_json::from_slice(json).map_err(corrupt)?;
        Ok(value.get_mut(name).map(serde_json::Value::take).unwrap_or_default())
    };
    Ok(match (condition, existing) {
        (Condition::Always, _) | (Condition::Absent | Condition::AbsentOrBelow(..), None) => true,
        (Condition::Absent, Some(_)) | (Condition::Equals(..), None) => false,
        (Condition::Equals(name, expected), Some(json)) => attribute(json, name)?.as_str() == Some(expected),
        (Condition::AbsentOrBelow(name, limit), Some(json)) => {
            attribute(json, name)?.as_i64().is_none_or(|value| value < *limit)
        }
    })
}

/// A write under way: an atomic batch, and conditions judged against the committed state plus
/// what the batch already holds.
struct Writing<'a> {
    batch: OwnedWriteBatch,
    items: &'a Keyspace,
    /// Keys this batch wrote, with their new values (`None`: removed).
    pending: std::collections::HashMap<String, Option<Vec<u8>>>,
    now: EpochSeconds,
}

impl Writing<'_> {
    /// The live JSON under `key`, if any.
    fn live_json(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = match self.pending.get(key) {
            Some(pending) => pending.clone(),
            None => self.items.get(key).map_err(unavailable)?.map(|value| value.to_vec()),
        };
        Ok(match value {
            Some(value) => live(&value, self.now)?.map(<[u8]>::to_vec),
            None => None,
        })
    }

    fn insert(&mut self, key: &str, value: &[u8]) {
        self.batch.insert(self.items, key, value);
        self.pending.insert(key.to_owned(), Some(value.to_vec()));
    }

    /// Unconditional inserts: nothing reads them back within this batch.
    fn insert_all(&mut self, encoded: &[(String, Vec<u8>)]) {
        for (key, value) in encoded {
            self.batch.insert(self.items, key.as_str(), value.as_slice());
        }
    }

    fn remove(&mut self, key: &str) {
        self.batch.remove(self.items, key);
        self.pending.insert(key.to_owned(), None);
    }

    /// Writes `value` under `key` if `condition` holds; otherwise the live JSON that refused it.
    fn put(
        &mut self,
        key: &str,
        value: &[u8],
        condition: &Condition,
    ) -> Result<Result<(), Option<Vec<u8>>>, StoreError> {
        let existing = match condition {
            Condition::Always => None,
            _ => self.live_json(key)?,
        };
        if !holds(condition, existing.as_deref())? {
            return Ok(Err(existing));
        }
        self.insert(key, value);
        Ok(Ok(()))
    }
}

impl EmbeddedTable {
    /// Opens (or creates) the table in directory `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path).map_err(unavailable)?;
        let db = Database::builder(path)
            .cache_size(CACHE_BYTES)
            .max_journaling_size(JOURNAL_BYTES)
            .open()
            .map_err(|err| StoreError::Unavailable(format!("{}: {err}", path.display())))?;
        let items = db
            .keyspace("items", || KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES))
            .map_err(unavailable)?;
        Ok(Self { db, items, writer: Arc::new(Mutex::new(())) })
    }

    /// Runs a durable write off the async runtime: committed atomically and fsynced, or nothing.
    async fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Writing<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.write_persisting(PersistMode::SyncAll, work).await
    }

    /// Runs a write that is committed atomically, or nothing, and persisted as `mode` says.
    async fn write_persisting<R: Send + 'static>(
        &self,
        mode: PersistMode,
        work: impl FnOnce(&mut Writing<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let table = self.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = table.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut writing = Writing {
                batch: table.db.batch().durability(Some(mode)),
                items: &table.items,
                pending: std::collections::HashMap::new(),
                now: now_epoch(),
            };
            let result = work(&mut writing)?;
            writing.batch.commit().map_err(unavailable)?;
            Ok(result)
        })
        .await
        .map_err(unavailable)?
    }
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get<T: DeserializeOwned + Send>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let Some(value) = self.items.get(encode_key(key)).map_err(unavailable)? else {
            return Ok(None);
        };
        live(&value, now_epoch())?.map(|json| serde_json::from_slice(json).map_err(corrupt)).transpose()
    }

    async fn put<T: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        key: &Key,
        ttl: Option<EpochSeconds>,
        item: &T,
        condition: Condition,
    ) -> Result<Write<T>, StoreError> {
        let key = encode_key(key);
        let value = encode_value(ttl, item)?;
        match self.write(move |writing| writing.put(&key, &value, &condition)).await? {
            Ok(()) => Ok(Write::Done),
            Err(json) => {
                Ok(Write::Refused(json.map(|json| serde_json::from_slice(&json).map_err(corrupt)).transpose()?))
            }
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<Write<()>, StoreError> {
        let key = encode_key(key);
        self.write(move |writing| {
            let existing = writing.live_json(&key)?;
            if !holds(&condition, existing.as_deref())? {
                return Ok(Write::Refused(None));
            }
            writing.remove(&key);
            Ok(Write::Done)
        })
        .await
    }

    async fn query<T: DeserializeOwned + Send>(
        &self,
        pk: &str,
        sk_prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page<T>, StoreError> {
        let prefix = format!("{pk}{SEPARATOR}{sk_prefix}");
        let start = match start_after {
            Some(after) => format!("{pk}{SEPARATOR}{after}"),
            None => prefix.clone(),
        };
        let end = format!("{pk}{AFTER_SEPARATOR}");
        let snapshot = self.db.snapshot();
        let now = now_epoch();
        let sk_start = pk.len() + SEPARATOR.len_utf8();
        let mut items = Vec::new();
        let mut read = 0;
        let mut last_sk = None;
        for entry in snapshot.range(&self.items, start.as_str()..end.as_str()) {
            let (key, value) = entry.into_inner().map_err(unavailable)?;
            let key = std::str::from_utf8(&key).map_err(corrupt)?;
            if !key.starts_with(&prefix) {
                break;
            }
            let sk = &key[sk_start..];
            if start_after == Some(sk) {
                continue;
            }
            if read == limit {
                return Ok(Page { items, next_after: last_sk });
            }
            read += 1;
            last_sk = Some(sk.to_owned());
            if let Some(json) = live(&value, now)? {
                items.push((sk.to_owned(), serde_json::from_slice(json).map_err(corrupt)?));
            }
        }
        Ok(Page { items, next_after: None })
    }

    async fn put_each<T: Serialize + Send + Sync>(&self, items: &[ConditionalPut<T>]) -> Result<Vec<bool>, StoreError> {
        let encoded = items
            .iter()
            .map(|put| Ok((encode_key(&put.key), encode_value(put.ttl, &put.item)?, put.condition.clone())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // One transaction, one fsync, for the whole set; each item judged on its own.
        self.write(move |writing| {
            encoded.iter().map(|(key, value, condition)| Ok(writing.put(key, value, condition)?.is_ok())).collect()
        })
        .await
    }

    async fn put_batch<T: Serialize + Send + Sync>(&self, items: &[BatchPut<T>]) -> Result<(), StoreError> {
        let encoded = encode_puts(items)?;
        self.write(move |writing| {
            writing.insert_all(&encoded);
            Ok(())
        })
        .await
    }

    async fn put_batch_then<T: Serialize + Send + Sync, U: Serialize + Send + Sync>(
        &self,
        items: &[BatchPut<T>],
        last: &BatchPut<U>,
    ) -> Result<(), StoreError> {
        let mut encoded = encode_puts(items)?;
        encoded.push((encode_key(&last.key), encode_value(last.ttl, &last.item)?));
        // One atomic transaction, so `last` can never be ahead of the items. Handed to the OS but
        // not fsynced: a killed process loses nothing, and a power loss rolls items and
        // checkpoint back together (a sync then re-reads the page). An fsync per 2,000-record
        // page would cost more than fetching it.
        self.write_persisting(PersistMode::Buffer, move |writing| {
            writing.insert_all(&encoded);
            Ok(())
        })
        .await
    }

    async fn delete_batch(&self, keys: &[Key]) -> Result<(), StoreError> {
        let keys: Vec<String> = keys.iter().map(encode_key).collect();
        self.write(move |writing| {
            for key in &keys {
                writing.batch.remove(writing.items, key.as_str());
            }
            Ok(())
        })
        .await
    }
}
