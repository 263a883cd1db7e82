//! The embedded table: file-backed, surviving restarts, laid out like the DynamoDB table (`pk` and
//! `sk` joined by a unit separator, so a partition is a contiguous key range). Two engines share
//! the key space. Recipient partitions, which a sync fills 2,000 records at a time in modstamp
//! order (random in key order), live in [`SortedRuns`]: one sorted file per batch, merged by size.
//! Everything else (small, read-modify-write items) lives in an LSM tree (fjall).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode, Readable};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::keys;
use super::model::{EpochSeconds, now_epoch};
use super::runs::{Entries, SortedRuns, WriteTurn};
use super::table::{BatchItem, BatchPut, Condition, ConditionalPut, Key, KeyRef, Page, Table, Write};

/// Separates `pk` from `sk`; sorts below every printable character.
const SEPARATOR: char = '\u{1f}';
/// [`SEPARATOR`] as text, to join with the key's parts.
const SEPARATOR_TEXT: &str = "\u{1f}";
/// The character after [`SEPARATOR`]: the exclusive end of a partition's range.
const AFTER_SEPARATOR: char = '\u{20}';

/// Memory bounds: enough for hot items, small enough to keep RSS flat on big syncs.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;
const MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
const JOURNAL_BYTES: u64 = 64 * 1024 * 1024;

/// About what a recipient's key and value take, enough for most.
const ENCODED_RECIPIENT_BYTES: usize = 256;

/// A file-backed single table. One process opens a data directory at a time.
#[derive(Clone)]
pub struct EmbeddedTable {
    /// Dropped first: its merger finishes before the tree releases the directory lock.
    recipients: Arc<SortedRuns>,
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

/// A stored key: `pk`, the separator, `sk`.
fn key_parts(key: KeyRef<'_>) -> [&str; 3] {
    [key.pk, SEPARATOR_TEXT, key.sk]
}

fn encode_key<'a>(key: impl Into<KeyRef<'a>>) -> String {
    key_parts(key.into()).concat()
}

/// A stored value: the `ttl` (or `i64::MAX`) as 8 little-endian bytes, then the item as a
/// MessagePack map with its field names, so items read across versions as JSON ones do, at half
/// JSON's encoding cost and three quarters of its size. Items written by earlier versions are JSON.
/// Only structs and maps are stored: [`decode`] tells the two formats apart by their first byte.
pub(super) fn write_value<T: Serialize>(
    out: &mut Vec<u8>,
    ttl: Option<EpochSeconds>,
    item: &T,
) -> Result<(), StoreError> {
    out.extend_from_slice(&stored_ttl(ttl));
    let start = out.len();
    item.serialize(&mut rmp_serde::Serializer::new(&mut *out).with_struct_map().with_human_readable())
        .map_err(corrupt)?;
    match out.get(start) {
        Some(0x80..=0x8f | 0xde | 0xdf) => Ok(()),
        _ => Err(corrupt("only structs and maps are stored")),
    }
}

/// A value's first 8 bytes: its `ttl`, or `i64::MAX` for none.
fn stored_ttl(ttl: Option<EpochSeconds>) -> [u8; 8] {
    ttl.unwrap_or(i64::MAX).to_le_bytes()
}

/// An item as [`write_value`] stored it, or as JSON (an object, which starts with `{`, never a
/// MessagePack map's first byte) from a data directory an earlier version wrote.
fn decode<T: DeserializeOwned>(item: &[u8]) -> Result<T, StoreError> {
    if item.first() == Some(&b'{') {
        return serde_json::from_slice(item).map_err(corrupt);
    }
    T::deserialize(&mut rmp_serde::Deserializer::from_read_ref(item).with_human_readable()).map_err(corrupt)
}

fn encode_value<T: Serialize>(ttl: Option<EpochSeconds>, item: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::with_capacity(256);
    write_value(&mut bytes, ttl, item)?;
    Ok(bytes)
}

/// As [`write_value`], through the item's own MessagePack where it has one.
fn write_batch_value<T: BatchItem>(out: &mut Vec<u8>, ttl: Option<EpochSeconds>, item: &T) -> Result<(), StoreError> {
    let start = out.len();
    out.extend_from_slice(&stored_ttl(ttl));
    if item.write_msgpack(out) {
        return Ok(());
    }
    out.truncate(start);
    write_value(out, ttl, item)
}

/// Encodes an entry straight into a run's entries: `key`, then the value `value` appends.
fn push_put(
    entries: &mut Entries,
    key: KeyRef<'_>,
    value: impl FnOnce(&mut Vec<u8>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    entries.push_with(|out| key_parts(key).iter().for_each(|part| out.extend_from_slice(part.as_bytes())), value)
}

/// What a removal leaves in the sorted runs: a value that expired at the start of time.
const REMOVED: [u8; 8] = i64::MIN.to_le_bytes();

/// The encoded item when it is still live at `now`.
fn live(value: &[u8], now: EpochSeconds) -> Result<Option<&[u8]>, StoreError> {
    let (ttl, item) = value.split_at_checked(8).ok_or_else(|| corrupt("short value"))?;
    let ttl = i64::from_le_bytes(ttl.try_into().map_err(corrupt)?);
    Ok((ttl > now).then_some(item))
}

/// Whether a stored value reads as absent at `now` (a malformed one does not: merges keep it).
pub(super) fn expired(value: &[u8], now: EpochSeconds) -> bool {
    matches!(live(value, now), Ok(None))
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

/// Where a write's changes go: the LSM tree's atomic batch, or a run being gathered.
trait Sink {
    /// The committed value under `key`.
    fn committed(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn insert(&mut self, key: String, value: Vec<u8>);
    fn remove(&mut self, key: &str);
    /// Makes the write durable, all of it or nothing.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// The LSM tree's side of a write.
struct TreeBatch<'a> {
    batch: OwnedWriteBatch,
    items: &'a Keyspace,
}

impl Sink for TreeBatch<'_> {
    fn committed(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.items.get(key).map_err(unavailable)?.map(|value| value.to_vec()))
    }

    fn insert(&mut self, key: String, value: Vec<u8>) {
        self.batch.insert(self.items, key, value);
    }

    fn remove(&mut self, key: &str) {
        self.batch.remove(self.items, key);
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.batch.commit().map_err(unavailable)
    }
}

/// The sorted runs' side of a write: one run, written when the write ends.
struct RunBatch<'a> {
    turn: WriteTurn<'a>,
    entries: Entries,
}

impl Sink for RunBatch<'_> {
    fn committed(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.turn.get(key.as_bytes())
    }

    fn insert(&mut self, key: String, value: Vec<u8>) {
        self.entries.push(key.as_bytes(), &value);
    }

    fn remove(&mut self, key: &str) {
        self.entries.push(key.as_bytes(), &REMOVED);
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let entries = std::mem::take(&mut self.entries);
        self.turn.write(entries)
    }
}

/// A write under way: conditions are judged against the committed state plus what the write
/// already holds.
struct Writing<'a> {
    sink: Box<dyn Sink + 'a>,
    /// Keys this write changed, with their new values (`None`: removed).
    pending: HashMap<String, Option<Vec<u8>>>,
    now: EpochSeconds,
}

impl<'a> Writing<'a> {
    fn new(sink: Box<dyn Sink + 'a>) -> Self {
        Self { sink, pending: HashMap::new(), now: now_epoch() }
    }

    /// The live encoded item under `key`, if any.
    fn live_item(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = match self.pending.get(key) {
            Some(pending) => pending.clone(),
            None => self.sink.committed(key)?,
        };
        Ok(match value {
            Some(value) => live(&value, self.now)?.map(<[u8]>::to_vec),
            None => None,
        })
    }

    fn insert(&mut self, key: &str, value: &[u8]) {
        self.sink.insert(key.to_owned(), value.to_vec());
        self.pending.insert(key.to_owned(), Some(value.to_vec()));
    }

    /// Unconditional inserts: nothing reads them back within this write.
    fn insert_all(&mut self, encoded: Vec<(String, Vec<u8>)>) {
        for (key, value) in encoded {
            self.sink.insert(key, value);
        }
    }

    /// Unconditional removals.
    fn remove_all(&mut self, keys: &[String]) {
        for key in keys {
            self.sink.remove(key);
        }
    }

    /// Writes `value` under `key` if `condition` holds; otherwise the live encoded item that refused it.
    fn put(
        &mut self,
        key: &str,
        value: &[u8],
        condition: &Condition,
    ) -> Result<Result<(), Option<Vec<u8>>>, StoreError> {
        let existing = match condition {
            Condition::Always => None,
            _ => self.live_item(key)?,
        };
        if !holds(condition, existing.as_deref())? {
            return Ok(Err(existing));
        }
        self.insert(key, value);
        Ok(Ok(()))
    }

    /// Removes `key` if `condition` holds.
    fn delete(&mut self, key: &str, condition: &Condition) -> Result<Write<()>, StoreError> {
        let existing = self.live_item(key)?;
        if !holds(condition, existing.as_deref())? {
            return Ok(Write::Refused(None));
        }
        self.sink.remove(key);
        self.pending.insert(key.to_owned(), None);
        Ok(Write::Done)
    }
}

/// The engine a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Tree,
    Runs,
}

impl Engine {
    fn of(pk: &str) -> Self {
        if keys::is_recipient_partition(pk) { Engine::Runs } else { Engine::Tree }
    }
}

/// Encoded keys and values, grouped by the engine that stores them.
struct ByEngine<T> {
    tree: Vec<T>,
    runs: Vec<T>,
}

impl<T> ByEngine<T> {
    fn split(items: impl IntoIterator<Item = (Engine, T)>) -> Self {
        let mut grouped = Self { tree: Vec::new(), runs: Vec::new() };
        for (engine, item) in items {
            grouped.take(engine).push(item);
        }
        grouped
    }

    fn take(&mut self, engine: Engine) -> &mut Vec<T> {
        match engine {
            Engine::Tree => &mut self.tree,
            Engine::Runs => &mut self.runs,
        }
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
        let recipients = Arc::new(SortedRuns::open(&path.join("recipients"))?);
        let table = Self { recipients, db, items, writer: Arc::new(Mutex::new(())) };
        table.move_recipients_out_of_the_tree()?;
        Ok(table)
    }

    /// Finishes the merges of recipient runs that are due (they otherwise run in the background).
    pub fn settle(&self) -> Result<(), StoreError> {
        self.recipients.settle()
    }

    /// Data directories from before the sorted runs kept recipients in the tree: they move over
    /// once, written to the runs before they leave the tree.
    fn move_recipients_out_of_the_tree(&self) -> Result<(), StoreError> {
        const CHUNK: usize = 20_000;
        loop {
            let (mut moving, mut batch) = (Entries::default(), self.db.batch().durability(Some(PersistMode::SyncAll)));
            for entry in self.items.prefix("ORG#") {
                let (key, value) = entry.into_inner().map_err(unavailable)?;
                let pk = key.split(|byte| *byte == SEPARATOR as u8).next().unwrap_or_default();
                if Engine::of(&String::from_utf8_lossy(pk)) == Engine::Runs {
                    moving.push(&key, &value);
                    batch.remove(&self.items, key);
                    if moving.len() == CHUNK {
                        break;
                    }
                }
            }
            if moving.is_empty() {
                return Ok(());
            }
            tracing::info!(count = moving.len(), "moving recipients to the sorted runs");
            self.recipients.turn().write(moving)?;
            batch.commit().map_err(unavailable)?;
        }
    }

    /// Runs a write on one engine off the async runtime: committed atomically, or nothing. The
    /// tree persists as `mode` says; a run is always fsynced.
    async fn write_on<R: Send + 'static>(
        &self,
        engine: Engine,
        mode: PersistMode,
        work: impl FnOnce(&mut Writing<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let table = self.clone();
        tokio::task::spawn_blocking(move || {
            let _turn;
            let sink: Box<dyn Sink> = match engine {
                Engine::Tree => {
                    _turn = table.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    Box::new(TreeBatch { batch: table.db.batch().durability(Some(mode)), items: &table.items })
                }
                Engine::Runs => Box::new(RunBatch { turn: table.recipients.turn(), entries: Entries::default() }),
            };
            let mut writing = Writing::new(sink);
            let result = work(&mut writing)?;
            writing.sink.commit()?;
            Ok(result)
        })
        .await
        .map_err(unavailable)?
    }

    /// Writes every entry unconditionally in the tree (nothing when there are none).
    async fn insert_in_tree(&self, mode: PersistMode, encoded: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        if encoded.is_empty() {
            return Ok(());
        }
        self.write_on(Engine::Tree, mode, move |writing| {
            writing.insert_all(encoded);
            Ok(())
        })
        .await
    }

    /// Writes `entries` as one run (nothing when there are none), without a turn: unconditional
    /// writes overlap, one's run written while another's fsyncs.
    async fn write_to_runs(&self, entries: Entries) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        // The whole table goes along: its tree outlives the runs' merger however drops go.
        let table = self.clone();
        tokio::task::spawn_blocking(move || table.recipients.write(entries)).await.map_err(unavailable)?
    }
}

fn encode_put<T: Serialize>(put: &BatchPut<'_, T>) -> Result<(String, Vec<u8>), StoreError> {
    Ok((encode_key(put.key), encode_value(put.ttl, &put.item)?))
}

#[async_trait]
impl Table for EmbeddedTable {
    /// A page's write takes about three fetches' time at low priority (its fsyncs included), and
    /// a full pipeline holds the next fetch back: eight keep it flowing, for about 8 MiB.
    const OVERLAPPING_BATCHES: usize = 8;

    async fn get<T: DeserializeOwned + Send>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let encoded = encode_key(key);
        let value = match Engine::of(&key.pk) {
            Engine::Tree => self.items.get(&encoded).map_err(unavailable)?.map(|value| value.to_vec()),
            Engine::Runs => self.recipients.get(encoded.as_bytes())?,
        };
        let Some(value) = value else {
            return Ok(None);
        };
        live(&value, now_epoch())?.map(decode).transpose()
    }

    async fn put<T: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        key: &Key,
        ttl: Option<EpochSeconds>,
        item: &T,
        condition: Condition,
    ) -> Result<Write<T>, StoreError> {
        let engine = Engine::of(&key.pk);
        let key = encode_key(key);
        let value = encode_value(ttl, item)?;
        match self.write_on(engine, PersistMode::SyncAll, move |writing| writing.put(&key, &value, &condition)).await? {
            Ok(()) => Ok(Write::Done),
            Err(item) => Ok(Write::Refused(item.as_deref().map(decode).transpose()?)),
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<Write<()>, StoreError> {
        let engine = Engine::of(&key.pk);
        let key = encode_key(key);
        self.write_on(engine, PersistMode::SyncAll, move |writing| writing.delete(&key, &condition)).await
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
        let sk_start = pk.len() + SEPARATOR.len_utf8();
        match Engine::of(pk) {
            Engine::Tree => {
                let snapshot = self.db.snapshot();
                let entries = snapshot
                    .range(&self.items, start.as_str()..end.as_str())
                    .map(|entry| entry.into_inner().map_err(unavailable));
                page_of(entries, sk_start, &prefix, start_after, limit)
            }
            Engine::Runs => {
                // The page, the `start_after` item it skips, and one more to tell whether it is the last.
                // Removals are left out, as deleted keys are absent from the tree.
                let entries =
                    self.recipients
                        .range(start.as_bytes(), end.as_bytes(), limit.saturating_add(2), |value| value != REMOVED)?;
                page_of(entries.into_iter().map(Ok), sk_start, &prefix, start_after, limit)
            }
        }
    }

    async fn put_each<T: Serialize + Send + Sync>(&self, items: &[ConditionalPut<T>]) -> Result<Vec<bool>, StoreError> {
        let encoded = items.iter().enumerate().map(|(index, put)| {
            let value = encode_value(put.ttl, &put.item)?;
            Ok((Engine::of(&put.key.pk), (index, encode_key(&put.key), value, put.condition.clone())))
        });
        let mut grouped = ByEngine::split(encoded.collect::<Result<Vec<_>, StoreError>>()?);
        let mut written = vec![false; items.len()];
        for engine in [Engine::Tree, Engine::Runs] {
            let group = std::mem::take(grouped.take(engine));
            if group.is_empty() {
                continue;
            }
            // One atomic write, one fsync, per engine; each item judged on its own.
            let results = self
                .write_on(engine, PersistMode::SyncAll, move |writing| {
                    group
                        .iter()
                        .map(|(index, key, value, condition)| Ok((*index, writing.put(key, value, condition)?.is_ok())))
                        .collect::<Result<Vec<_>, StoreError>>()
                })
                .await?;
            for (index, done) in results {
                written[index] = done;
            }
        }
        Ok(written)
    }

    async fn put_batch<T: BatchItem + Send + Sync>(&self, items: &[BatchPut<'_, T>]) -> Result<(), StoreError> {
        let (mut tree, mut runs) = (Vec::new(), Entries::default());
        for put in items {
            match Engine::of(put.key.pk) {
                Engine::Tree => tree.push(encode_put(put)?),
                Engine::Runs => {
                    // Sized for a page of recipients at once: one allocation, not a dozen regrowths.
                    if runs.is_empty() {
                        runs = Entries::with_capacity(items.len(), items.len() * ENCODED_RECIPIENT_BYTES);
                    }
                    push_put(&mut runs, put.key, |out| write_batch_value(out, put.ttl, &put.item))?;
                }
            }
        }
        self.insert_in_tree(PersistMode::SyncAll, tree).await?;
        self.write_to_runs(runs).await
    }

    async fn put_buffered<T: Serialize + Send + Sync>(&self, put: &BatchPut<'_, T>) -> Result<(), StoreError> {
        // Handed to the OS, not fsynced (a run is fsynced regardless): a killed process loses
        // nothing; a power loss may lose it.
        match Engine::of(put.key.pk) {
            Engine::Tree => self.insert_in_tree(PersistMode::Buffer, vec![encode_put(put)?]).await,
            Engine::Runs => {
                let mut entries = Entries::default();
                push_put(&mut entries, put.key, |out| write_value(out, put.ttl, &put.item))?;
                self.write_to_runs(entries).await
            }
        }
    }

    async fn delete_batch(&self, keys: &[Key]) -> Result<(), StoreError> {
        let mut grouped = ByEngine::split(keys.iter().map(|key| (Engine::of(&key.pk), encode_key(key))));
        for engine in [Engine::Tree, Engine::Runs] {
            let keys = std::mem::take(grouped.take(engine));
            if keys.is_empty() {
                continue;
            }
            self.write_on(engine, PersistMode::SyncAll, move |writing| {
                writing.remove_all(&keys);
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrgId, RecordId};

    /// Puts 137 items in partition `pk`, deletes every third, and reads them back 25 at a time.
    async fn paged_after_deletes(table: &EmbeddedTable, pk: &str) -> Vec<(String, serde_json::Value)> {
        for n in 0..137 {
            let key = Key::new(pk, format!("item{n:03}"));
            table.put(&key, None, &serde_json::json!({"n": n}), Condition::Always).await.unwrap();
            if n % 3 == 0 {
                assert_eq!(table.delete(&key, Condition::Always).await.unwrap(), Write::Done);
            }
        }
        let (mut all, mut after) = (Vec::new(), None::<String>);
        loop {
            let page: Page<serde_json::Value> = table.query(pk, "item", after.as_deref(), 25).await.unwrap();
            assert!(page.items.len() == 25 || page.next_after.is_none(), "a short page before the end");
            all.extend(page.items);
            match page.next_after {
                Some(next) => after = Some(next),
                None => return all,
            }
        }
    }

    #[tokio::test]
    async fn both_engines_page_the_same_way_around_deleted_items() {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(dir.path()).unwrap();
        let org = OrgId::parse("00Dx0000000BV7z").unwrap();
        let recipients = keys::recipient_partition(&org, 3);
        assert_eq!(Engine::of(&recipients), Engine::Runs);
        let in_tree = paged_after_deletes(&table, "TEST#paging").await;
        let in_runs = paged_after_deletes(&table, &recipients).await;
        assert_eq!(in_tree.len(), 91);
        assert_eq!(in_tree, in_runs);
    }

    #[test]
    fn only_maps_are_stored_so_json_and_messagepack_tell_apart() {
        let stored = encode_value(Some(7), &serde_json::json!({"n": 123})).unwrap();
        assert_eq!(stored[..8], 7i64.to_le_bytes());
        assert_eq!(decode::<serde_json::Value>(&stored[8..]).unwrap(), serde_json::json!({"n": 123}));
        // 123 would encode as 0x7b, JSON's `{`.
        assert!(matches!(encode_value(None, &123), Err(StoreError::Corrupt(_))));
        assert!(matches!(encode_value(None, &"text"), Err(StoreError::Corrupt(_))));
    }

    /// A value as versions before MessagePack stored it: the ttl, then JSON.
    fn json_value(item: &serde_json::Value) -> Vec<u8> {
        [i64::MAX.to_le_bytes().as_slice(), item.to_string().as_bytes()].concat()
    }

    #[tokio::test]
    async fn items_an_earlier_version_stored_as_json_read_and_meet_conditions_in_both_engines() {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(dir.path()).unwrap();
        let org = OrgId::parse("00Dx0000000BV7z").unwrap();
        let old = serde_json::json!({"id": "003x0000004TmiQAAS", "email": "ada@example.com", "opted_out": false,
            "bounced": false, "converted": false, "deleted": false, "modstamp": 5});
        let in_runs = keys::recipient(&org, &RecordId::parse("003x0000004TmiQ").unwrap());
        let in_tree = Key::new("TEST#legacy", "item");
        table.recipients.turn().write([(encode_key(&in_runs), json_value(&old))].into_iter().collect()).unwrap();
        table.items.insert(encode_key(&in_tree), json_value(&old)).unwrap();
        for key in [&in_runs, &in_tree] {
            let read: Option<serde_json::Value> = table.get(key).await.unwrap();
            assert_eq!(read.as_ref(), Some(&old));
            let page: Page<serde_json::Value> = table.query(&key.pk, "", None, 10).await.unwrap();
            assert_eq!(page.items, vec![(key.sk.clone(), old.clone())]);
            // The stored JSON's modstamp is read: an older write is refused with it, a newer one lands.
            let mut newer = old.clone();
            newer["modstamp"] = 4.into();
            let refused = table.put(key, None, &newer, Condition::AbsentOrBelow("modstamp", 4)).await.unwrap();
            assert_eq!(refused, Write::Refused(Some(old.clone())));
            newer["modstamp"] = 6.into();
            let written = table.put(key, None, &newer, Condition::AbsentOrBelow("modstamp", 6)).await.unwrap();
            assert_eq!(written, Write::Done);
            let read: Option<serde_json::Value> = table.get(key).await.unwrap();
            assert_eq!(read, Some(newer));
        }
    }

    #[tokio::test]
    async fn recipients_kept_in_the_tree_by_an_older_version_move_to_the_runs_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let org = OrgId::parse("00Dx0000000BV7z").unwrap();
        let id = RecordId::parse("003x0000004TmiQ").unwrap();
        let (recipient, checkpoint) =
            (keys::recipient(&org, &id), keys::checkpoint(&org, crate::ids::RecipientObject::Contact));
        {
            let table = EmbeddedTable::open(dir.path()).unwrap();
            for key in [&recipient, &checkpoint] {
                table.items.insert(encode_key(key), json_value(&serde_json::json!({"pk": key.pk}))).unwrap();
            }
            table.db.persist(PersistMode::SyncAll).unwrap();
        }
        let table = EmbeddedTable::open(dir.path()).unwrap();
        assert!(table.items.get(encode_key(&recipient)).unwrap().is_none());
        assert!(table.recipients.get(encode_key(&recipient).as_bytes()).unwrap().is_some());
        let moved: Option<serde_json::Value> = table.get(&recipient).await.unwrap();
        assert_eq!(moved, Some(serde_json::json!({"pk": recipient.pk})));
        let stayed: Option<serde_json::Value> = table.get(&checkpoint).await.unwrap();
        assert_eq!(stayed, Some(serde_json::json!({"pk": checkpoint.pk})));
    }
}
