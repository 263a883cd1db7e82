//! The embedded table, for the local stack and tests (the `embedded` feature; Lambda binaries
//! never compile it): one fjall keyspace laid out like the DynamoDB table, `pk` and `sk` joined by
//! a unit separator so a partition is a contiguous key range. A value is the item's `ttl` (or
//! `i64::MAX`) as 8 little-endian bytes, then the item as JSON.
//!
//! A `FORMAT` file names the layout. A directory without it that holds anything was written by an
//! earlier build in another layout: it is refused with what to do, never read.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
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

/// The layout this build reads and writes, as the `FORMAT` file states it.
const FORMAT: &str = "outpost embedded store, format 2: fjall keyspace \"items\", JSON values\n";
const FORMAT_FILE: &str = "FORMAT";

/// Memory bounds: enough for hot items, small enough to keep RSS flat on big syncs (a memtable
/// takes about twice its size in memory, and one is written out while the next fills).
const CACHE_BYTES: u64 = 4 * 1024 * 1024;
const MEMTABLE_BYTES: u64 = 4 * 1024 * 1024;
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

fn encode_value<T: Serialize>(ttl: Option<EpochSeconds>, item: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(&ttl.unwrap_or(i64::MAX).to_le_bytes());
    serde_json::to_writer(&mut bytes, item).map_err(corrupt)?;
    Ok(bytes)
}

fn decode<T: DeserializeOwned>(item: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(item).map_err(corrupt)
}

/// The encoded item when it is still live at `now`.
fn live(value: &[u8], now: EpochSeconds) -> Result<Option<&[u8]>, StoreError> {
    let (ttl, item) = value.split_first_chunk::<8>().ok_or_else(|| corrupt("a stored value is too short"))?;
    Ok((i64::from_le_bytes(*ttl) > now).then_some(item))
}

fn holds(condition: &Condition, existing: Option<&[u8]>) -> Result<bool, StoreError> {
    let attribute = |item: &[u8], name: &str| -> Result<serde_json::Value, StoreError> {
        let mut value: serde_json::Value = decode(item)?;
        Ok(value.get_mut(name).map(serde_json::Value::take).unwrap_or_default())
    };
    Ok(match (condition, existing) {
        (Condition::Always, _) | (Condition::Absent | Condition::AbsentOrBelow(..), None) => true,
        (Condition::Absent, Some(_)) | (Condition::Equals(..), None) => false,
        (Condition::Equals(name, expected), Some(item)) => attribute(item, name)?.as_str() == Some(expected),
        (Condition::AbsentOrBelow(name, limit), Some(item)) => {
            attribute(item, name)?.as_i64().is_none_or(|value| value < *limit)
        }
    })
}

/// A write under way: one atomic batch, whose conditions are judged against the committed state
/// plus what the batch already holds.
struct Writing<'a> {
    batch: OwnedWriteBatch,
    items: &'a Keyspace,
    /// Keys this write changed, with their new values (`None`: removed).
    pending: HashMap<String, Option<Vec<u8>>>,
    now: EpochSeconds,
}

impl Writing<'_> {
    /// The live encoded item under `key`, if any.
    fn live_item(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = match self.pending.get(key) {
            Some(pending) => pending.clone(),
            None => self.items.get(key).map_err(corrupt)?.map(|value| value.to_vec()),
        };
        Ok(match value {
            Some(value) => live(&value, self.now)?.map(<[u8]>::to_vec),
            None => None,
        })
    }

    fn insert(&mut self, key: String, value: Vec<u8>) {
        self.batch.insert(self.items, key.as_str(), value.as_slice());
        self.pending.insert(key, Some(value));
    }

    fn remove(&mut self, key: String) {
        self.batch.remove(self.items, key.as_str());
        self.pending.insert(key, None);
    }

    /// Writes `value` under `key` if `condition` holds; otherwise the live encoded item that refused it.
    fn put(
        &mut self,
        key: String,
        value: Vec<u8>,
        condition: &Condition,
    ) -> Result<Result<(), Option<Vec<u8>>>, StoreError> {
        let existing = match condition {
            Condition::Always => None,
            _ => self.live_item(&key)?,
        };
        if !holds(condition, existing.as_deref())? {
            return Ok(Err(existing));
        }
        self.insert(key, value);
        Ok(Ok(()))
    }

    /// Removes `key` if `condition` holds.
    fn delete(&mut self, key: String, condition: &Condition) -> Result<Write<()>, StoreError> {
        let existing = match condition {
            Condition::Always => None,
            _ => self.live_item(&key)?,
        };
        if !holds(condition, existing.as_deref())? {
            return Ok(Write::Refused(None));
        }
        self.remove(key);
        Ok(Write::Done)
    }
}

/// Live items of a key-ordered scan of one partition, as [`Table::query`] pages them.
fn page_of<T: DeserializeOwned>(
    entries: impl Iterator<Item = Result<(impl AsRef<[u8]>, impl AsRef<[u8]>), StoreError>>,
    sk_start: usize,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> Result<Page<T>, StoreError> {
    let now = now_epoch();
    let mut items = Vec::new();
    let mut read = 0;
    let mut last_sk = None;
    for entry in entries {
        let (key, value) = entry?;
        let key = std::str::from_utf8(key.as_ref()).map_err(corrupt)?;
        if !key.starts_with(prefix) {
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
        if let Some(item) = live(value.as_ref(), now)? {
            items.push((sk.to_owned(), decode(item)?));
        }
    }
    Ok(Page { items, next_after: None })
}

/// Checks that `dir` holds this build's layout, or nothing yet (then claims it for this layout).
fn claim_format(dir: &Path) -> Result<(), StoreError> {
    let marker = dir.join(FORMAT_FILE);
    match std::fs::read_to_string(&marker) {
        Ok(format) if format == FORMAT => return Ok(()),
        Ok(_) => return Err(foreign_layout(dir)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(StoreError::Unavailable(format!("{}: {err}", marker.display()))),
    }
    std::fs::create_dir_all(dir).map_err(|err| StoreError::Unavailable(format!("{}: {err}", dir.display())))?;
    let holds_anything = std::fs::read_dir(dir)
        .map_err(|err| StoreError::Unavailable(format!("{}: {err}", dir.display())))?
        .next()
        .is_some();
    if holds_anything {
        return Err(foreign_layout(dir));
    }
    // Written whole or not at all: a crash here leaves an empty directory, claimed on the next open.
    let partial = dir.join(format!("{FORMAT_FILE}.partial"));
    let written = std::fs::File::create(&partial)
        .and_then(|mut file| file.write_all(FORMAT.as_bytes()).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&partial, &marker));
    written.map_err(|err| StoreError::Unavailable(format!("{}: {err}", marker.display())))
}

fn foreign_layout(dir: &Path) -> StoreError {
    StoreError::Unavailable(format!(
        "{} holds an embedded store that an earlier Outpost build wrote in a layout this build does not read. \
         Start with a fresh data directory (--data-dir), or run `outpost-local resync` to move the old store \
         aside and sync again from Salesforce",
        dir.display()
    ))
}

impl EmbeddedTable {
    /// Opens (or creates) the table in directory `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        claim_format(path)?;
        let named = |err: fjall::Error| match err {
            fjall::Error::Locked => StoreError::Unavailable(format!(
                "the embedded store in {} is open in another process: one process owns a data directory",
                path.display()
            )),
            err => StoreError::Corrupt(format!(
                "the embedded store in {} cannot be read ({err}); move it aside with `outpost-local resync` \
                 (or start with a fresh --data-dir)",
                path.display()
            )),
        };
        let db =
            Database::builder(path).cache_size(CACHE_BYTES).max_journaling_size(JOURNAL_BYTES).open().map_err(named)?;
        let items = db
            .keyspace("items", || KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES))
            .map_err(named)?;
        Ok(Self { db, items, writer: Arc::new(Mutex::new(())) })
    }

    /// Where a table's `FORMAT` file lives, for a directory at `path`.
    pub fn format_file(path: &Path) -> PathBuf {
        path.join(FORMAT_FILE)
    }

    /// Runs one atomic, fsynced write off the async runtime: all of it or nothing.
    async fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Writing<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let table = self.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = table.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut writing = Writing {
                batch: table.db.batch().durability(Some(PersistMode::SyncAll)),
                items: &table.items,
                pending: HashMap::new(),
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
        let Some(value) = self.items.get(encode_key(key)).map_err(corrupt)? else {
            return Ok(None);
        };
        live(&value, now_epoch())?.map(decode).transpose()
    }

    async fn get_batch<T: DeserializeOwned + Send>(&self, keys: &[Key]) -> Result<Vec<Option<T>>, StoreError> {
        let snapshot = self.db.snapshot();
        let now = now_epoch();
        keys.iter()
            .map(|key| match snapshot.get(&self.items, encode_key(key)).map_err(corrupt)? {
                Some(value) => live(&value, now)?.map(decode).transpose(),
                None => Ok(None),
            })
            .collect()
    }

    async fn put<T: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        key: &Key,
        ttl: Option<EpochSeconds>,
        item: &T,
        condition: Condition,
    ) -> Result<Write<T>, StoreError> {
        let (key, value) = (encode_key(key), encode_value(ttl, item)?);
        match self.write(move |writing| writing.put(key, value, &condition)).await? {
            Ok(()) => Ok(Write::Done),
            Err(item) => Ok(Write::Refused(item.as_deref().map(decode).transpose()?)),
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<Write<()>, StoreError> {
        let key = encode_key(key);
        self.write(move |writing| writing.delete(key, &condition)).await
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
        let entries =
            snapshot.range(&self.items, start.as_str()..end.as_str()).map(|entry| entry.into_inner().map_err(corrupt));
        page_of(entries, pk.len() + SEPARATOR.len_utf8(), &prefix, start_after, limit)
    }

    async fn put_each<T: Serialize + Send + Sync>(&self, items: &[ConditionalPut<T>]) -> Result<Vec<bool>, StoreError> {
        let encoded = items
            .iter()
            .map(|put| Ok((encode_key(&put.key), encode_value(put.ttl, &put.item)?, put.condition.clone())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // One atomic write, one fsync; each item judged on its own.
        self.write(move |writing| {
            encoded
                .into_iter()
                .map(|(key, value, condition)| Ok(writing.put(key, value, &condition)?.is_ok()))
                .collect()
        })
        .await
    }

    async fn put_batch<T: Serialize + Send + Sync>(&self, items: &[BatchPut<T>]) -> Result<(), StoreError> {
        let encoded = items
            .iter()
            .map(|put| Ok((encode_key(&put.key), encode_value(put.ttl, &put.item)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write(move |writing| {
            encoded.into_iter().for_each(|(key, value)| writing.insert(key, value));
            Ok(())
        })
        .await
    }

    async fn delete_batch(&self, keys: &[Key]) -> Result<(), StoreError> {
        let keys: Vec<String> = keys.iter().map(encode_key).collect();
        self.write(move |writing| {
            keys.into_iter().for_each(|key| writing.remove(key));
            Ok(())
        })
        .await
    }

    async fn add(
        &self,
        key: &Key,
        ttl: Option<EpochSeconds>,
        attribute: &'static str,
        delta: i64,
        at_most: Option<i64>,
    ) -> Result<bool, StoreError> {
        let key = encode_key(key);
        self.write(move |writing| {
            let mut item = match writing.live_item(&key)? {
                Some(existing) => decode::<serde_json::Map<String, serde_json::Value>>(&existing)?,
                None => serde_json::Map::new(),
            };
            let sum = item.get(attribute).and_then(serde_json::Value::as_i64).unwrap_or(0).saturating_add(delta);
            if at_most.is_some_and(|at_most| sum > at_most) {
                return Ok(false);
            }
            item.insert(attribute.to_owned(), sum.into());
            writing.insert(key, encode_value(ttl, &item)?);
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Puts 137 items in partition `pk`, deletes every third, and reads them back 25 at a time.
    #[tokio::test]
    async fn pages_around_deleted_items() {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(dir.path()).unwrap();
        for n in 0..137 {
            let key = Key::new("TEST#paging", format!("item{n:03}"));
            table.put(&key, None, &serde_json::json!({"n": n}), Condition::Always).await.unwrap();
            if n % 3 == 0 {
                assert_eq!(table.delete(&key, Condition::Always).await.unwrap(), Write::Done);
            }
        }
        let (mut all, mut after) = (Vec::<(String, serde_json::Value)>::new(), None::<String>);
        loop {
            let page: Page<serde_json::Value> = table.query("TEST#paging", "item", after.as_deref(), 25).await.unwrap();
            assert!(page.items.len() == 25 || page.next_after.is_none(), "a short page before the end");
            all.extend(page.items);
            match page.next_after {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(all.len(), 91);
        assert!(all.iter().all(|(_, item)| item["n"].as_i64().is_some_and(|n| n % 3 != 0)));
    }

    #[test]
    fn a_directory_an_earlier_build_wrote_is_refused_by_name_and_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir_all(store.join("recipients")).unwrap();
        std::fs::write(store.join("recipients").join("00000001-00000001.run"), b"sorted run").unwrap();
        let err = EmbeddedTable::open(&store).unwrap_err().to_string();
        assert!(err.contains(&store.display().to_string()), "{err}");
        assert!(err.contains("--data-dir") && err.contains("outpost-local resync"), "{err}");
        // Nothing was claimed or written over.
        assert!(!EmbeddedTable::format_file(&store).exists());
        assert_eq!(std::fs::read(store.join("recipients").join("00000001-00000001.run")).unwrap(), b"sorted run");

        std::fs::write(EmbeddedTable::format_file(&store), "outpost embedded store, format 1\n").unwrap();
        assert!(EmbeddedTable::open(&store).unwrap_err().to_string().contains("outpost-local resync"));
    }

    #[tokio::test]
    async fn a_new_directory_is_claimed_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        {
            let table = EmbeddedTable::open(&store).unwrap();
            table.put(&Key::new("P", "S"), None, &serde_json::json!({"a": 1}), Condition::Always).await.unwrap();
        }
        let table = EmbeddedTable::open(&store).unwrap();
        let read: Option<serde_json::Value> = table.get(&Key::new("P", "S")).await.unwrap();
        assert_eq!(read, Some(serde_json::json!({"a": 1})));
    }
}
