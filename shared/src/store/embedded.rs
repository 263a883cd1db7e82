//! The embedded table: one redb file that survives restarts, laid out like the DynamoDB table
//! (`pk` and `sk` joined by a unit separator, so a partition is a contiguous key range).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{ConcurrencyMode, Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::model::{EpochSeconds, now_epoch};
use super::table::{BatchPut, Condition, ConditionalPut, Key, Page, Table, Write};

const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");

/// Separates `pk` from `sk`; sorts below every printable character.
const SEPARATOR: char = '\u{1f}';
/// The character after [`SEPARATOR`]: the exclusive end of a partition's range.
const AFTER_SEPARATOR: char = '\u{20}';

/// Pages kept in memory: enough for hot items, small enough to keep RSS flat on big syncs.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// A file-backed single table.
#[derive(Clone)]
pub struct EmbeddedTable {
    db: Arc<Database>,
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

impl EmbeddedTable {
    /// Opens (or creates) the table file; several processes may share it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(unavailable)?;
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .create(path)
            .map_err(unavailable)?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(ITEMS).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Runs a write transaction off the async runtime.
    async fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut redb::Table<'_, &'static str, &'static [u8]>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(unavailable)?;
            let result = {
                let mut table = txn.open_table(ITEMS).map_err(unavailable)?;
                work(&mut table)?
            };
            txn.commit().map_err(unavailable)?;
            Ok(result)
        })
        .await
        .map_err(unavailable)?
    }
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get<T: DeserializeOwned + Send>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(ITEMS).map_err(unavailable)?;
        let Some(value) = table.get(encode_key(key).as_str()).map_err(unavailable)? else {
            return Ok(None);
        };
        live(value.value(), now_epoch())?.map(|json| serde_json::from_slice(json).map_err(corrupt)).transpose()
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
        let refused = self
            .write(move |table| {
                let existing = table.get(key.as_str()).map_err(unavailable)?.map(|guard| guard.value().to_vec());
                let live_json = match &existing {
                    Some(bytes) => live(bytes, now_epoch())?,
                    None => None,
                };
                if !holds(&condition, live_json)? {
                    return Ok(Some(live_json.map(<[u8]>::to_vec)));
                }
                table.insert(key.as_str(), value.as_slice()).map_err(unavailable)?;
                Ok(None)
            })
            .await?;
        match refused {
            None => Ok(Write::Done),
            Some(json) => {
                Ok(Write::Refused(json.map(|json| serde_json::from_slice(&json).map_err(corrupt)).transpose()?))
            }
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<Write<()>, StoreError> {
        let key = encode_key(key);
        self.write(move |table| {
            let existing = table.get(key.as_str()).map_err(unavailable)?.map(|guard| guard.value().to_vec());
            let live_json = match &existing {
                Some(bytes) => live(bytes, now_epoch())?,
                None => None,
            };
            if !holds(&condition, live_json)? {
                return Ok(Write::Refused(None));
            }
            table.remove(key.as_str()).map_err(unavailable)?;
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
        let end = format!("{pk}{AFTER_SEPARATOR}");
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(ITEMS).map_err(unavailable)?;
        let range = match start_after {
            Some(after) => table.range(format!("{pk}{SEPARATOR}{after}").as_str()..end.as_str()),
            None => table.range(prefix.as_str()..end.as_str()),
        }
        .map_err(unavailable)?;
        let now = now_epoch();
        let sk_start = pk.len() + SEPARATOR.len_utf8();
        let mut items = Vec::new();
        let mut read = 0;
        let mut last_sk = None;
        for entry in range {
            let (key, value) = entry.map_err(unavailable)?;
            let key = key.value();
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
            if let Some(json) = live(value.value(), now)? {
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
        // One transaction, one fsync, for the whole set.
        self.write(move |table| {
            let now = now_epoch();
            let mut written = Vec::with_capacity(encoded.len());
            for (key, value, condition) in &encoded {
                let existing = table.get(key.as_str()).map_err(unavailable)?.map(|guard| guard.value().to_vec());
                let live_json = match &existing {
                    Some(bytes) => live(bytes, now)?,
                    None => None,
                };
                let holds = holds(condition, live_json)?;
                if holds {
                    table.insert(key.as_str(), value.as_slice()).map_err(unavailable)?;
                }
                written.push(holds);
            }
            Ok(written)
        })
        .await
    }

    async fn put_batch<T: Serialize + Send + Sync>(&self, items: &[BatchPut<T>]) -> Result<(), StoreError> {
        let encoded = items
            .iter()
            .map(|put| Ok((encode_key(&put.key), encode_value(put.ttl, &put.item)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write(move |table| {
            for (key, value) in &encoded {
                table.insert(key.as_str(), value.as_slice()).map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_batch(&self, keys: &[Key]) -> Result<(), StoreError> {
        let keys: Vec<String> = keys.iter().map(encode_key).collect();
        self.write(move |table| {
            for key in &keys {
                table.remove(key.as_str()).map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }
}
