//! Sorted runs: the embedded table's engine for recipient partitions, which a sync fills a page
//! (2,000 records, random in key order) at a time. Writes become immutable files sorted by
//! key; runs of a similar size are merged, sixteen or more at a time, on a background thread, so a
//! record is rewritten about log₁₆(N/8,192) times at most. A stream of unconditional writes (a
//! sync) is merged once it pauses, unless its runs pile up; a conditional write (a callout) wakes
//! the merger at once. Newer runs win. A read of one key reads one block of the run that holds it:
//! a Bloom filter per run rules out the others.
//!
//! A run is written to a temporary name, fsynced and renamed, then the directory is fsynced: it
//! exists whole or not at all. Its name is the range of write sequence numbers it holds. A merge
//! writes its output the same way before it deletes its inputs; on open, a run whose range lies
//! inside another's is the leftover input of a merge that finished, and is removed. Every block,
//! and the index with the filter, carries a CRC-32: a damaged run is an error, never served as
//! data nor merged into a new run.
//!
//! Unconditional writes (sync pages) take the next sequence number and queue: one file is written
//! at a time, for every write queued when it began, so writes that arrive while a file is written
//! and fsynced share the next one (a run named by their range of numbers). Runs publish in
//! sequence order, so readers always see them newest first. A crash loses only writes whose call
//! never returned: nothing acknowledged is lost. A conditional writer takes a turn: it waits for
//! the writes under way, and new ones wait for it.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use super::StoreError;

/// Entries per block: a read fetches one block per run it looks into.
const BLOCK_ENTRIES: usize = 64;
/// Runs merged at once; also the size ratio between tiers.
const FANOUT: usize = 16;
/// Runs below this many entries are all of the lowest tier.
const TIER_BASE: u64 = 512;
const MAGIC: u64 = 0x4f55_5450_4f53_5452; // "OUTPOSTR"
const FOOTER_BYTES: u64 = 48;
/// A stream of unconditional writes (a sync's pages) is merged once it pauses this long, as bulk
/// loads are: merging under it would slow every page and merge the same records no less.
const STREAM_PAUSE: Duration = Duration::from_millis(250);
/// Runs at which the merger stops waiting for a stream to pause: each is a file every range read
/// looks into.
const STREAM_RUNS: usize = 8 * FANOUT;
/// Bloom filter bits per key (at least: a filter is rounded up to a power of two bits) and probes
/// per lookup: about 1 % false positives or fewer, so a read of an absent key skips almost every
/// run without reading a block.
const FILTER_BITS_PER_KEY: u64 = 10;
const FILTER_PROBES: u64 = 7;

/// A stable 64-bit hash of a key (FNV-1a, then a SplitMix64 finish to spread similar keys).
fn key_hash(key: &[u8]) -> u64 {
    let fnv = key
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3));
    let mut mixed = fnv ^ (fnv >> 30);
    mixed = mixed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed ^= mixed >> 27;
    mixed = mixed.wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^ (mixed >> 31)
}

/// The filter bits a key sets (double hashing). Filters written now are a power of two bits long,
/// where the remainder is a mask rather than a division per probe; earlier runs' are not.
fn filter_bits(hash: u64, bit_count: u64) -> impl Iterator<Item = u64> {
    let step = hash.rotate_left(32) | 1;
    let mask = bit_count.is_power_of_two().then(|| bit_count - 1);
    (0..FILTER_PROBES).map(move |probe| {
        let spot = hash.wrapping_add(probe.wrapping_mul(step));
        mask.map_or_else(|| spot % bit_count, |mask| spot & mask)
    })
}

/// Makes a directory's entries (new, renamed or removed files) durable.
fn sync_directory(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|dir| dir.sync_all()).map_err(unavailable)
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The entries of one write, keys and values side by side in one buffer: a 2,000-record page is
/// two allocations, not two per record, and is freed at once by whichever thread writes it.
#[derive(Debug, Default)]
pub struct Entries {
    bytes: Vec<u8>,
    /// Where each entry's key starts, where its value starts, and where its value ends.
    spans: Vec<[usize; 3]>,
}

impl Entries {
    pub fn with_capacity(entries: usize, bytes: usize) -> Self {
        Self { bytes: Vec::with_capacity(bytes), spans: Vec::with_capacity(entries) }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn push(&mut self, key: &[u8], value: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(value);
        self.spans.push([start, start + key.len(), self.bytes.len()]);
    }

    /// Appends an entry written in place: `key` appends the key's bytes, then `value` the value's.
    /// When `value` fails, nothing of the entry is left.
    pub fn push_with(
        &mut self,
        key: impl FnOnce(&mut Vec<u8>),
        value: impl FnOnce(&mut Vec<u8>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let start = self.bytes.len();
        key(&mut self.bytes);
        let value_start = self.bytes.len();
        if let Err(err) = value(&mut self.bytes) {
            self.bytes.truncate(start);
            return Err(err);
        }
        self.spans.push([start, value_start, self.bytes.len()]);
        Ok(())
    }
}

/// The entries of `writes` (oldest first) in key order; of equal keys, the last pushed alone.
fn in_key_order(writes: &[Entries]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let entry = |write: usize, span: usize| {
        let entries = &writes[write];
        let [start, value_start, end] = entries.spans[span];
        (&entries.bytes[start..value_start], &entries.bytes[value_start..end])
    };
    // An entry's place is its write, then its place in that write: later pushes come later.
    let places = || {
        writes.iter().enumerate().flat_map(|(write, entries)| (0..entries.spans.len()).map(move |span| (write, span)))
    };
    let telling = telling_positions(places().map(|(write, span)| entry(write, span).0));
    let mut order: Vec<(u128, usize, usize)> = places()
        .map(|(write, span)| {
            let key = entry(write, span).0;
            let mut head = [0u8; 16];
            head.iter_mut().zip(&telling).for_each(|(byte, &at)| *byte = key[at]);
            (u128::from_be_bytes(head), write, span)
        })
        .collect();
    // By head as plain numbers; keys equal in every telling byte are then compared whole, and
    // among equal keys the later push sorts first, and stays.
    order.sort_unstable();
    for tied in order.chunk_by_mut(|a, b| a.0 == b.0).filter(|tied| tied.len() > 1) {
        tied.sort_unstable_by(|a, b| entry(a.1, a.2).0.cmp(entry(b.1, b.2).0).then((b.1, b.2).cmp(&(a.1, a.2))));
    }
    order.dedup_by(|later, kept| later.0 == kept.0 && entry(later.1, later.2).0 == entry(kept.1, kept.2).0);
    order.into_iter().map(move |(_, write, span)| entry(write, span))
}

/// Up to 16 byte positions that tell keys apart: the first ones, short of the shortest key, where
/// not every key has the same byte. A page's keys agree on most bytes (the org's partition, the
/// ids' prefix) and differ near their ends, so these bytes read as one number order two keys
/// whenever they differ there; keys equal in all of them are compared whole.
fn telling_positions<'a>(mut keys: impl Iterator<Item = &'a [u8]> + Clone) -> Vec<usize> {
    let shortest = keys.clone().map(<[u8]>::len).min().unwrap_or(0);
    let Some(first) = keys.next() else {
        return Vec::new();
    };
    let mut differs = vec![0u8; shortest];
    for key in keys {
        differs.iter_mut().zip(first.iter().zip(key)).for_each(|(differ, (a, b))| *differ |= a ^ b);
    }
    differs.iter().enumerate().filter(|(_, differ)| **differ != 0).map(|(at, _)| at).take(16).collect()
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(K, V)> for Entries {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut packed = Self::default();
        for (key, value) in entries {
            packed.push(key.as_ref(), value.as_ref());
        }
        packed
    }
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

fn corrupt(path: &Path, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{}: {what}", path.display()))
}

/// One immutable sorted file. Its handle stays readable after a merge unlinks it.
#[derive(Debug)]
struct Run {
    /// The oldest and newest write sequence numbers it holds.
    lo: u64,
    hi: u64,
    path: PathBuf,
    file: File,
    meta: RunMeta,
}

/// What a reader keeps of a run in memory: read from its file when it is opened, or handed over
/// by the writer that made it.
#[derive(Debug)]
#[cfg_attr(test, derive(PartialEq))]
struct RunMeta {
    entries: u64,
    /// The Bloom filter of its keys.
    filter: Vec<u64>,
    /// First key and byte offset of each block, then the end of the data as a last offset.
    block_keys: Vec<Box<[u8]>>,
    block_offsets: Vec<u64>,
}

fn file_name(lo: u64, hi: u64) -> String {
    format!("{lo:020}-{hi:020}.run")
}

fn parse_name(name: &str) -> Option<(u64, u64)> {
    let (lo, hi) = name.strip_suffix(".run")?.split_once('-')?;
    Some((lo.parse().ok()?, hi.parse().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

impl Run {
    fn open(path: PathBuf, lo: u64, hi: u64) -> Result<Self, StoreError> {
        let file = File::open(&path).map_err(unavailable)?;
        let len = file.metadata().map_err(unavailable)?.len();
        let mut footer = [0u8; FOOTER_BYTES as usize];
        if len < FOOTER_BYTES {
            return Err(corrupt(&path, "shorter than its footer"));
        }
        file.read_exact_at(&mut footer, len - FOOTER_BYTES).map_err(unavailable)?;
        let [index_at, filter_at, entries, blocks, metadata_crc, magic] =
            [0, 8, 16, 24, 32, 40].map(|at| read_u64(&footer, at).unwrap_or_default());
        let filter_end = len - FOOTER_BYTES;
        if magic != MAGIC
            || index_at > filter_at
            || filter_at > filter_end
            || !(filter_end - filter_at).is_multiple_of(8)
        {
            return Err(corrupt(&path, "bad footer"));
        }
        let mut index = vec![0u8; usize::try_from(filter_at - index_at).map_err(unavailable)?];
        file.read_exact_at(&mut index, index_at).map_err(unavailable)?;
        let mut filter_bytes = vec![0u8; usize::try_from(filter_end - filter_at).map_err(unavailable)?];
        file.read_exact_at(&mut filter_bytes, filter_at).map_err(unavailable)?;
        if u64::from(metadata_checksum(&index, &filter_bytes)) != metadata_crc {
            return Err(corrupt(&path, "index or filter checksum mismatch"));
        }
        let filter: Vec<u64> = filter_bytes.chunks_exact(8).map(|word| read_u64(word, 0).unwrap_or_default()).collect();
        if filter.is_empty() {
            return Err(corrupt(&path, "no filter"));
        }
        let (mut block_keys, mut block_offsets) = (Vec::new(), Vec::new());
        let mut at = 0;
        for _ in 0..blocks {
            let parsed = read_u64(&index, at).zip(read_u32(&index, at + 8)).and_then(|(offset, key_len)| {
                let key = index.get(at + 12..at + 12 + key_len as usize)?;
                Some((offset, key))
            });
            let (offset, key) = parsed.ok_or_else(|| corrupt(&path, "bad index"))?;
            block_offsets.push(offset);
            block_keys.push(key.into());
            at += 12 + key.len();
        }
        block_offsets.push(index_at);
        // Blocks start at 0 and follow one another up to the index: every block read stays in bounds.
        let ordered = block_offsets.first() == Some(&0) && block_offsets.windows(2).all(|pair| pair[0] < pair[1]);
        if at != index.len() || !(ordered || blocks == 0) {
            return Err(corrupt(&path, "bad index"));
        }
        Ok(Self { lo, hi, path, file, meta: RunMeta { entries, filter, block_keys, block_offsets } })
    }

    fn tier(&self) -> u32 {
        (self.meta.entries / TIER_BASE).max(1).ilog(FANOUT as u64)
    }

    /// The bytes of block `index`.
    fn block(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        let (start, end) = (self.meta.block_offsets[index], self.meta.block_offsets[index + 1]);
        let mut bytes = vec![0u8; usize::try_from(end - start).map_err(unavailable)?];
        self.file.read_exact_at(&mut bytes, start).map_err(unavailable)?;
        Ok(bytes)
    }

    /// The block that would hold `key`.
    fn block_for(&self, key: &[u8]) -> usize {
        self.meta.block_keys.partition_point(|first| &**first <= key).saturating_sub(1)
    }

    /// Whether the run may hold `key` (never `false` when it does).
    fn may_hold(&self, key: &[u8]) -> bool {
        let filter = &self.meta.filter;
        filter_bits(key_hash(key), filter.len() as u64 * 64)
            .all(|bit| filter[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    fn get(self: &Arc<Self>, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if !self.may_hold(key) {
            return Ok(None);
        }
        let cursor = Cursor::new(Arc::clone(self), key)?;
        Ok(cursor.current().filter(|(found, _)| *found == key).map(|(_, value)| value.to_vec()))
    }
}

/// Reads one run in key order from a starting key on, a block at a time, without copying entries.
struct Cursor {
    run: Arc<Run>,
    next_block: usize,
    block: Vec<u8>,
    /// The current block's entries as (key start, value start, value end) in `block`.
    entries: Vec<(usize, usize, usize)>,
    at: usize,
}

impl Cursor {
    fn new(run: Arc<Run>, from: &[u8]) -> Result<Self, StoreError> {
        let next_block = run.block_for(from);
        let mut cursor = Self { run, next_block, block: Vec::new(), entries: Vec::new(), at: 0 };
        cursor.fill()?;
        while cursor.peek().is_some_and(|key| key < from) {
            cursor.advance()?;
        }
        Ok(cursor)
    }

    /// Loads blocks until one has an entry left, or the run ends.
    fn fill(&mut self) -> Result<(), StoreError> {
        while self.at == self.entries.len() && self.next_block < self.run.meta.block_keys.len() {
            self.block = self.run.block(self.next_block)?;
            let data_len = self.block.len().checked_sub(4).ok_or_else(|| corrupt(&self.run.path, "bad block"))?;
            let stored = read_u32(&self.block, data_len).unwrap_or_default();
            if crc32fast::hash(&self.block[..data_len]) != stored {
                return Err(corrupt(&self.run.path, "block checksum mismatch"));
            }
            self.entries.clear();
            self.at = 0;
            let mut at = 0;
            while at < data_len {
                let parsed = read_u32(&self.block, at).zip(read_u32(&self.block, at + 4));
                let (key_len, value_len) = parsed.ok_or_else(|| corrupt(&self.run.path, "bad block"))?;
                let (key_at, value_at) = (at + 8, at + 8 + key_len as usize);
                let end = value_at + value_len as usize;
                if end > data_len {
                    return Err(corrupt(&self.run.path, "bad block"));
                }
                self.entries.push((key_at, value_at, end));
                at = end;
            }
            self.next_block += 1;
        }
        Ok(())
    }

    fn current(&self) -> Option<(&[u8], &[u8])> {
        let (key_at, value_at, end) = *self.entries.get(self.at)?;
        Some((&self.block[key_at..value_at], &self.block[value_at..end]))
    }

    fn peek(&self) -> Option<&[u8]> {
        self.current().map(|(key, _)| key)
    }

    fn advance(&mut self) -> Result<(), StoreError> {
        self.at += 1;
        self.fill()
    }
}

/// Merges cursors (newest run first) into one key-ordered stream where the newest version wins.
struct Merge {
    cursors: Vec<Cursor>,
    /// The cursors with entries left, as a binary min-heap on (key, cursor index): among equal
    /// keys the newest run's comes first.
    heap: Vec<usize>,
    /// The key just visited, to skip its older versions.
    last_key: Vec<u8>,
}

impl Merge {
    fn new(runs: &[Arc<Run>], from: &[u8]) -> Result<Self, StoreError> {
        let cursors: Vec<Cursor> =
            runs.iter().map(|run| Cursor::new(Arc::clone(run), from)).collect::<Result<_, _>>()?;
        let heap = (0..cursors.len()).filter(|&index| cursors[index].peek().is_some()).collect();
        let mut merge = Self { cursors, heap, last_key: Vec::new() };
        for at in (0..merge.heap.len() / 2).rev() {
            merge.sift_down(at);
        }
        Ok(merge)
    }

    /// Whether cursor `a`'s entry comes before cursor `b`'s.
    fn before(&self, a: usize, b: usize) -> bool {
        (self.cursors[a].peek(), a) < (self.cursors[b].peek(), b)
    }

    fn sift_down(&mut self, mut at: usize) {
        loop {
            let (left, right) = (2 * at + 1, 2 * at + 2);
            let mut first = at;
            for child in [left, right] {
                if child < self.heap.len() && self.before(self.heap[child], self.heap[first]) {
                    first = child;
                }
            }
            if first == at {
                return;
            }
            self.heap.swap(at, first);
            at = first;
        }
    }

    /// Visits the next entry; `false` at the end.
    fn visit(&mut self, visit: impl FnOnce(&[u8], &[u8]) -> Result<(), StoreError>) -> Result<bool, StoreError> {
        let Some((key, value)) = self.heap.first().and_then(|&top| self.cursors[top].current()) else {
            return Ok(false);
        };
        visit(key, value)?;
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        // The visited entry and every older version of its key.
        while let Some(&top) = self.heap.first()
            && self.cursors[top].peek() == Some(self.last_key.as_slice())
        {
            self.cursors[top].advance()?;
            if self.cursors[top].peek().is_none() {
                self.heap.swap_remove(0);
            }
            self.sift_down(0);
        }
        Ok(true)
    }
}

/// Writes a run file: blocks of entries, the block index, the footer.
struct RunWriter {
    out: RunFile,
    written: u64,
    entries: u64,
    block_keys: Vec<Box<[u8]>>,
    block_offsets: Vec<u64>,
    key_hashes: Vec<u64>,
    /// The block being gathered: checksummed and written whole, in one call each.
    block: Vec<u8>,
}

/// A length as the 4 bytes the format stores it in.
fn length(bytes: &[u8]) -> Result<[u8; 4], StoreError> {
    u32::try_from(bytes.len()).map(u32::to_le_bytes).map_err(|_| StoreError::Corrupt("an entry over 4 GiB".into()))
}

impl RunWriter {
    fn create(path: &Path) -> Result<Self, StoreError> {
        let out = RunFile::create(path, true)?;
        Ok(Self {
            out,
            written: 0,
            entries: 0,
            block_keys: Vec::new(),
            block_offsets: Vec::new(),
            key_hashes: Vec::new(),
            block: Vec::with_capacity(32 * 1024),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.out.write(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes the block gathered so far, ended by its checksum.
    fn end_block(&mut self) -> Result<(), StoreError> {
        let mut block = std::mem::take(&mut self.block);
        block.extend_from_slice(&crc32fast::hash(&block).to_le_bytes());
        self.write(&block)?;
        block.clear();
        self.block = block;
        Ok(())
    }

    fn push(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if self.entries.is_multiple_of(BLOCK_ENTRIES as u64) {
            if self.entries > 0 {
                self.end_block()?;
            }
            self.block_offsets.push(self.written);
            self.block_keys.push(key.into());
        }
        // The lengths as arrays: their copies are a store each, not a call to `memcpy`.
        let lengths = [length(key)?, length(value)?];
        self.block.extend_from_slice(lengths.as_flattened());
        self.block.extend_from_slice(key);
        self.block.extend_from_slice(value);
        self.entries += 1;
        self.key_hashes.push(key_hash(key));
        Ok(())
    }

    /// Writes the last block's checksum, the index, the filter and the footer, and flushes to disk.
    /// Its reader needs nothing read back: the writer hands over what it knows.
    fn finish(mut self) -> Result<RunMeta, StoreError> {
        if self.entries > 0 {
            self.end_block()?;
        }
        let index_at = self.written;
        let mut index = Vec::new();
        for (offset, key) in self.block_offsets.iter().zip(&self.block_keys) {
            index.extend_from_slice(&offset.to_le_bytes());
            index.extend_from_slice(&length(key)?);
            index.extend_from_slice(key);
        }
        let words = (self.entries * FILTER_BITS_PER_KEY).div_ceil(64).max(1).next_power_of_two();
        let mut filter = vec![0u64; usize::try_from(words).map_err(unavailable)?];
        for hash in &self.key_hashes {
            for bit in filter_bits(*hash, words * 64) {
                filter[(bit / 64) as usize] |= 1 << (bit % 64);
            }
        }
        let filter_bytes: Vec<u8> = filter.iter().flat_map(|word| word.to_le_bytes()).collect();
        let metadata_crc = metadata_checksum(&index, &filter_bytes);
        self.write(&index)?;
        let filter_at = self.written;
        self.write(&filter_bytes)?;
        let blocks = self.block_keys.len() as u64;
        let footer: Vec<u8> = [index_at, filter_at, self.entries, blocks, u64::from(metadata_crc), MAGIC]
            .iter()
            .flat_map(|word| word.to_le_bytes())
            .collect();
        self.write(&footer)?;
        self.out.finish()?;
        self.block_offsets.push(index_at);
        Ok(RunMeta { entries: self.entries, filter, block_keys: self.block_keys, block_offsets: self.block_offsets })
    }
}

/// Direct I/O's unit: a direct write's buffer address, file offset and length are multiples of it.
const DIRECT_ALIGN: usize = 4096;
/// Bytes gathered before each write to the file.
const WRITE_CHUNK: usize = 256 * 1024;

/// A new run's file. Its bytes are gathered a chunk at a time and, where the file system allows
/// (Linux's `O_DIRECT`), written past the page cache: a sync's pages cost no copy into kernel
/// memory and no writeback afterwards, which would take CPU from the fetches. Elsewhere each
/// chunk is one ordinary write.
struct RunFile {
    file: File,
    direct: bool,
    /// The chunk being gathered, from `start` on, where it is aligned for direct I/O. It never
    /// grows past the capacity it was made with, so it never moves.
    buffer: Vec<u8>,
    start: usize,
    flushed: u64,
}

impl RunFile {
    fn create(path: &Path, direct: bool) -> Result<Self, StoreError> {
        let direct_file = if direct { open_direct(path) } else { None };
        let direct = direct_file.is_some();
        let file = match direct_file {
            Some(file) => file,
            None => File::create(path).map_err(unavailable)?,
        };
        let mut buffer: Vec<u8> = Vec::with_capacity(WRITE_CHUNK + DIRECT_ALIGN);
        let start = buffer.as_ptr().align_offset(DIRECT_ALIGN);
        buffer.resize(start, 0);
        Ok(Self { file, direct, buffer, start, flushed: 0 })
    }

    fn write(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        while !bytes.is_empty() {
            let room = self.start + WRITE_CHUNK - self.buffer.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.buffer.extend_from_slice(now);
            bytes = later;
            if self.buffer.len() == self.start + WRITE_CHUNK {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Writes the gathered chunk; a direct write's last one is padded to the alignment, and
    /// [`RunFile::finish`] cuts the file back to its length.
    fn flush(&mut self) -> Result<(), StoreError> {
        let gathered = self.buffer.len() - self.start;
        if self.direct {
            self.buffer.resize(self.start + gathered.next_multiple_of(DIRECT_ALIGN), 0);
        }
        self.file.write_all_at(&self.buffer[self.start..], self.flushed).map_err(unavailable)?;
        self.flushed += gathered as u64;
        self.buffer.truncate(self.start);
        Ok(())
    }

    /// Writes what is left and makes the file durable at its exact length.
    fn finish(mut self) -> Result<(), StoreError> {
        if self.buffer.len() > self.start {
            self.flush()?;
        }
        if self.direct {
            self.file.set_len(self.flushed).map_err(unavailable)?;
        }
        self.file.sync_data().map_err(unavailable)
    }
}

/// A new file opened for direct I/O, or `None` where the file system or the OS has none.
#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).custom_flags(libc::O_DIRECT).open(path).ok()
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> Option<File> {
    None
}

/// The checksum over a run's index and filter.
fn metadata_checksum(index: &[u8], filter: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(index);
    crc.update(filter);
    crc.finalize()
}

/// Why the merger is woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// Runs may be due: merge them.
    Now,
    /// An unconditional write published: merge once the writes pause.
    Stream,
}

/// The merger thread: merges what is due when woken (after a stream of writes, once it pauses),
/// until the runs are dropped. Runs left unmerged then are merged when the directory is reopened.
fn merge_when_woken(shared: &Shared, woken: &Receiver<Wake>) {
    while let Ok(mut wake) = woken.recv() {
        while wake == Wake::Stream && shared.snapshot().len() < STREAM_RUNS {
            wake = match woken.recv_timeout(shared.stream_pause) {
                Ok(next) => next,
                Err(RecvTimeoutError::Timeout) => Wake::Now,
                Err(RecvTimeoutError::Disconnected) => return,
            };
        }
        while woken.try_recv().is_ok() {}
        if let Err(err) = shared.merge_tiers() {
            // The runs stay as they are (reads remain right); the next write retries.
            tracing::error!(error = %err, "merging sorted runs failed");
        }
    }
}

/// The runs of one directory, and the thread that merges them.
#[derive(Debug)]
pub struct SortedRuns {
    shared: Arc<Shared>,
    /// Wakes the merger after a write; dropping it stops the merger, which is then joined.
    merger: Option<(Sender<Wake>, std::thread::JoinHandle<()>)>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    /// Newest first; readers take a snapshot and never block writers or the merger.
    runs: RwLock<Arc<Vec<Arc<Run>>>>,
    /// Write sequence numbers; runs are published in their order.
    sequence: Mutex<Sequence>,
    /// Signalled when a write is published (or given up) and when a turn ends.
    sequence_changed: Condvar,
    /// Unconditional writes waiting for their file.
    queue: Mutex<Queue>,
    /// Signalled when a queued write has ended, and when no file is being written for the queue.
    queue_changed: Condvar,
    /// One merge at a time.
    merging: Mutex<()>,
    /// How long a stream of unconditional writes must pause before its runs are merged.
    stream_pause: Duration,
}

/// Write sequence numbers: handed out in order, and published in the same order, so a newer run
/// always sits in front of an older one even when their files are written side by side.
#[derive(Debug)]
struct Sequence {
    next: u64,
    /// Every number below this one is published, or its write failed.
    published: u64,
    /// Conditional writers waiting for their turn: new unconditional writes wait for them, so a
    /// stream of sync pages cannot starve a callout.
    turns_waiting: usize,
}

/// Unconditional writes queue for their file: while one writer writes a file for the writes
/// queued before it, those that arrive meanwhile queue up, and the first of them to wake writes
/// them all as one run (one file created, renamed and fsynced with its directory), under the range
/// of their sequence numbers.
#[derive(Debug, Default)]
struct Queue {
    /// Ascending and contiguous sequence numbers: each is taken and queued under one lock.
    waiting: Vec<(u64, Entries)>,
    /// Whether a file is being written for writes taken from the queue.
    writing: bool,
    /// How taken writes ended, until each writer reads its own.
    ended: BTreeMap<u64, Result<(), StoreError>>,
}

fn following(seq: u64) -> Result<u64, StoreError> {
    seq.checked_add(1).ok_or_else(|| StoreError::Unavailable("no sequence number left".into()))
}

/// The turn of one writer: no other write is under way or happens until it ends.
pub struct WriteTurn<'a> {
    runs: &'a SortedRuns,
    sequence: MutexGuard<'a, Sequence>,
}

/// Queued writes taken to be written as one run, their sequence numbers `lo..=hi`. Dropping it,
/// however the write ended, lets the writes behind it publish and tells each writer its outcome
/// (a failure, unless [`Batch::publish`] recorded success).
struct Batch<'a> {
    shared: &'a Shared,
    lo: u64,
    hi: u64,
    outcome: Result<(), StoreError>,
}

impl SortedRuns {
    /// Opens (or creates) the runs in `dir`, removing what an interrupted write or merge left,
    /// and starts the merger.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_stream_pause(dir, STREAM_PAUSE)
    }

    fn open_with_stream_pause(dir: &Path, stream_pause: Duration) -> Result<Self, StoreError> {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(unavailable)?;
            if let Some(parent) = dir.parent() {
                sync_directory(parent)?;
            }
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(unavailable)? {
            let path = entry.map_err(unavailable)?.path();
            match path.file_name().and_then(|name| name.to_str()).and_then(parse_name) {
                Some((lo, hi)) if lo <= hi => found.push((lo, hi, path)),
                _ if path.extension().is_some_and(|ext| ext == "tmp") => {
                    std::fs::remove_file(&path).map_err(unavailable)?;
                }
                _ => {}
            }
        }
        // Widest first among equal ends, so a merge's output is kept and its inputs dropped.
        found.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut runs: Vec<Arc<Run>> = Vec::new();
        for (lo, hi, path) in found {
            if runs.iter().any(|kept| kept.lo <= lo && hi <= kept.hi) {
                std::fs::remove_file(&path).map_err(unavailable)?;
                continue;
            }
            runs.push(Arc::new(Run::open(path, lo, hi)?));
        }
        let next_seq = match runs.first() {
            Some(newest) => newest.hi.checked_add(1).ok_or_else(|| corrupt(&newest.path, "no sequence number left"))?,
            None => 1,
        };
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            runs: RwLock::new(Arc::new(runs)),
            sequence: Mutex::new(Sequence { next: next_seq, published: next_seq, turns_waiting: 0 }),
            sequence_changed: Condvar::new(),
            queue: Mutex::new(Queue::default()),
            queue_changed: Condvar::new(),
            merging: Mutex::new(()),
            stream_pause,
        });
        let (wake, woken) = std::sync::mpsc::channel();
        let merging = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("outpost-merge".into())
            .spawn(move || merge_when_woken(&merging, &woken))
            .map_err(unavailable)?;
        if !shared.snapshot().is_empty() {
            // Runs a stream left behind, or a merge that fell short, are merged now.
            let _ = wake.send(Wake::Now);
        }
        Ok(Self { shared, merger: Some((wake, thread)) })
    }

    /// The newest value under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        for run in self.shared.snapshot().iter() {
            if let Some(value) = run.get(key)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// Entries with `from <= key < to` whose value `keep` accepts, in key order, at most `limit`.
    pub fn range(
        &self,
        from: &[u8],
        to: &[u8],
        limit: usize,
        keep: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut merge = Merge::new(&self.shared.snapshot(), from)?;
        let mut entries = Vec::new();
        let mut past_end = false;
        while entries.len() < limit
            && !past_end
            && merge.visit(|key, value| {
                past_end = key >= to;
                if !past_end && keep(value) {
                    entries.push((key.to_vec(), value.to_vec()));
                }
                Ok(())
            })?
        {}
        Ok(entries)
    }

    /// Waits for this writer's turn: every write under way is published first, so a conditional
    /// write reads what it may overwrite.
    pub fn turn(&self) -> WriteTurn<'_> {
        let mut sequence = self.shared.sequence();
        sequence.turns_waiting += 1;
        let mut sequence = self.shared.wait_until(sequence, |sequence| sequence.published == sequence.next);
        sequence.turns_waiting -= 1;
        WriteTurn { runs: self, sequence }
    }

    /// Writes `entries`, durable when this returns, without taking a turn. Writes that arrive
    /// while a file is being written queue up and share the next file (and its fsyncs): a sync's
    /// pages cost fewer files than pages. Runs publish in the order their writes began. For
    /// writes that read nothing back.
    pub fn write(&self, entries: Entries) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let seq = {
            let mut sequence = self.shared.wait_until(self.shared.sequence(), |sequence| sequence.turns_waiting == 0);
            let seq = sequence.next;
            sequence.next = following(seq)?;
            self.shared.queue().waiting.push((seq, entries));
            seq
        };
        let mut queue = self.shared.queue();
        loop {
            if let Some(outcome) = queue.ended.remove(&seq) {
                self.wake_merger(Wake::Stream);
                return outcome;
            }
            if queue.writing {
                queue = self.shared.queue_changed.wait(queue).unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            // No file is being written: this writer writes every queued write, its own among them.
            queue.writing = true;
            let taken = std::mem::take(&mut queue.waiting);
            drop(queue);
            self.shared.write_batch(taken);
            queue = self.shared.queue();
        }
    }

    fn wake_merger(&self, wake: Wake) {
        if let Some((merger, _)) = &self.merger {
            let _ = merger.send(wake);
        }
    }

    /// Runs every merge that is due now, waiting for one under way.
    pub fn settle(&self) -> Result<(), StoreError> {
        self.shared.merge_tiers()
    }
}

impl Drop for SortedRuns {
    fn drop(&mut self) {
        if let Some((wake, thread)) = self.merger.take() {
            drop(wake);
            // A merge under way finishes first, so no file is left half-replaced by this process.
            let _ = thread.join();
        }
    }
}

impl Batch<'_> {
    /// Puts `run` in front once every earlier write is published.
    fn publish(&mut self, run: Arc<Run>) {
        let _sequence = self.shared.wait_until(self.shared.sequence(), |sequence| sequence.published == self.lo);
        self.outcome = self.shared.publish_newest(run);
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        let mut sequence = self.shared.wait_until(self.shared.sequence(), |sequence| sequence.published == self.lo);
        sequence.published = self.hi + 1;
        drop(sequence);
        self.shared.sequence_changed.notify_all();
        let mut queue = self.shared.queue();
        for seq in self.lo..=self.hi {
            // Every write that shared the file gets its outcome.
            queue.ended.insert(seq, self.outcome.clone());
        }
        queue.writing = false;
        drop(queue);
        self.shared.queue_changed.notify_all();
    }
}

impl Shared {
    fn sequence(&self) -> MutexGuard<'_, Sequence> {
        self.sequence.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits, with `sequence` locked, until `done` holds (a poisoned lock is waited on all the same).
    fn wait_until<'a>(
        &self,
        mut sequence: MutexGuard<'a, Sequence>,
        done: impl Fn(&Sequence) -> bool,
    ) -> MutexGuard<'a, Sequence> {
        while !done(&sequence) {
            sequence = self.sequence_changed.wait(sequence).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        sequence
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes queued writes (contiguous, oldest first) as one run and publishes it in order.
    fn write_batch(&self, taken: Vec<(u64, Entries)>) {
        let (Some(&(lo, _)), Some(&(hi, _))) = (taken.first(), taken.last()) else {
            self.queue().writing = false;
            self.queue_changed.notify_all();
            return;
        };
        let mut batch =
            Batch { shared: self, lo, hi, outcome: Err(StoreError::Unavailable("the write stopped".into())) };
        let writes: Vec<Entries> = taken.into_iter().map(|(_, entries)| entries).collect();
        match self.write_run(lo, hi, &writes) {
            Ok(run) => {
                // Durable now: the pages' memory goes before this waits to publish behind older writes.
                drop(writes);
                batch.publish(run);
            }
            Err(err) => batch.outcome = Err(err),
        }
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Run>>> {
        Arc::clone(&self.runs.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn publish(&self, update: impl FnOnce(&mut Vec<Arc<Run>>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let mut runs = self.runs.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = runs.as_ref().clone();
        update(&mut next)?;
        *runs = Arc::new(next);
        Ok(())
    }

    /// Puts a newly written run in front of the others.
    fn publish_newest(&self, run: Arc<Run>) -> Result<(), StoreError> {
        self.publish(|runs| {
            runs.insert(0, run);
            Ok(())
        })
    }

    /// Writes `writes` (oldest first, each in any order; the last of equal keys wins) as one
    /// durable run holding sequence numbers `lo..=hi`.
    fn write_run(&self, lo: u64, hi: u64, writes: &[Entries]) -> Result<Arc<Run>, StoreError> {
        self.write_file(lo, hi, |writer| in_key_order(writes).try_for_each(|(key, value)| writer.push(key, value)))
    }

    /// Writes a run file under a temporary name, then makes it durable under its own.
    fn write_file(
        &self,
        lo: u64,
        hi: u64,
        fill: impl FnOnce(&mut RunWriter) -> Result<(), StoreError>,
    ) -> Result<Arc<Run>, StoreError> {
        let path = self.dir.join(file_name(lo, hi));
        let temporary = path.with_extension("tmp");
        let written = RunWriter::create(&temporary).and_then(|mut writer| {
            fill(&mut writer)?;
            writer.finish()
        });
        let meta = match written.and_then(|meta| std::fs::rename(&temporary, &path).map(|()| meta).map_err(unavailable))
        {
            Ok(meta) => meta,
            Err(err) => {
                let _ = std::fs::remove_file(&temporary);
                return Err(err);
            }
        };
        // Durable under its name, or gone: a failed write never reappears after a restart.
        match sync_directory(&self.dir).and_then(|()| File::open(&path).map_err(unavailable)) {
            Ok(file) => Ok(Arc::new(Run { lo, hi, path, file, meta })),
            Err(err) => {
                let _ = std::fs::remove_file(&path);
                Err(err)
            }
        }
    }

    /// Merges each group of at least [`FANOUT`] neighbouring runs of one tier (all of them, when
    /// merging fell behind) until none is left. Writes go on meanwhile: they only add runs in
    /// front of the group.
    fn merge_tiers(&self) -> Result<(), StoreError> {
        let _merging = self.merging.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            let runs = self.snapshot();
            let Some(group) = runs
                .chunk_by(|a, b| a.tier() == b.tier())
                .find(|group| group.len() >= FANOUT)
                .map(<[Arc<Run>]>::to_vec)
            else {
                return Ok(());
            };
            let oldest = runs.last().is_some_and(|last| group.iter().any(|run| Arc::ptr_eq(run, last)));
            let (lo, hi) = (group.iter().map(|r| r.lo).min().unwrap_or(0), group[0].hi);
            let now = super::model::now_epoch();
            let merged = self.write_file(lo, hi, |writer| {
                let mut merge = Merge::new(&group, &[])?;
                // Expired entries go only when no older run could hold a version they hide.
                while merge.visit(|key, value| {
                    if oldest && super::embedded::expired(value, now) { Ok(()) } else { writer.push(key, value) }
                })? {}
                Ok(())
            })?;
            self.publish(|runs| {
                let at = runs
                    .iter()
                    .position(|run| Arc::ptr_eq(run, &group[0]))
                    .ok_or_else(|| StoreError::Unavailable("a merged run vanished".into()))?;
                runs.splice(at..at + group.len(), [merged]);
                Ok(())
            })?;
            for run in &group {
                std::fs::remove_file(&run.path).map_err(unavailable)?;
            }
        }
    }
}

impl WriteTurn<'_> {
    /// The newest value under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.runs.get(key)
    }

    /// Writes `entries` as one run, durable when this returns; merging follows in the background.
    pub fn write(&mut self, entries: Entries) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let seq = self.sequence.next;
        let next = following(seq)?;
        let run = self.runs.shared.write_run(seq, seq, std::slice::from_ref(&entries))?;
        (self.sequence.next, self.sequence.published) = (next, next);
        self.runs.shared.publish_newest(run)?;
        self.runs.wake_merger(Wake::Now);
        Ok(())
    }
}

impl Drop for WriteTurn<'_> {
    fn drop(&mut self) {
        // Writes held off for this turn wake, and go once its lock is released.
        self.runs.shared.sequence_changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A small deterministic generator (xorshift), so failures replay.
    struct Numbers(u64);

    impl Numbers {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn key(n: u64) -> Vec<u8> {
        format!("k{n:06}").into_bytes()
    }

    fn run_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    fn assert_matches(runs: &SortedRuns, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
        let all = runs.range(b"", b"~", usize::MAX, |_| true).unwrap();
        assert_eq!(all, model.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>());
        for (k, v) in model.iter().step_by(97) {
            assert_eq!(runs.get(k).unwrap().as_ref(), Some(v));
        }
        assert_eq!(runs.get(b"absent").unwrap(), None);
        let runs_list = runs.shared.snapshot();
        let false_positives = (0..10_000u64)
            .filter(|n| runs_list.iter().any(|run| run.may_hold(format!("absent{n}").as_bytes())))
            .count();
        // About 1 % per run: far below one block read per run and absent key.
        assert!(false_positives < 10_000 * runs_list.len() / 30, "{false_positives} over {} runs", runs_list.len());
    }

    #[test]
    fn a_run_file_holds_exactly_its_bytes_written_directly_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut numbers = Numbers(0x2545_f491_4f6c_dd1d);
        // Empty, under one alignment unit, on and around its edges, and over several chunks.
        for len in [0, 1, 4095, 4096, 4097, WRITE_CHUNK - 1, WRITE_CHUNK, 3 * WRITE_CHUNK + 4099] {
            let bytes: Vec<u8> = (0..len).map(|_| numbers.next() as u8).collect();
            for direct in [true, false] {
                let path = dir.path().join(format!("{len}-{direct}"));
                let mut file = RunFile::create(&path, direct).unwrap();
                if cfg!(target_os = "linux") && direct {
                    // The test directory's file system takes direct I/O (ext4, xfs and btrfs do).
                    assert!(file.direct, "direct I/O was refused");
                }
                // In uneven pieces, as a writer's blocks arrive.
                for piece in bytes.chunks(1 + len / 7) {
                    file.write(piece).unwrap();
                }
                file.finish().unwrap();
                assert_eq!(std::fs::read(&path).unwrap(), bytes, "{len} bytes, direct {direct}");
            }
        }
    }

    #[test]
    fn a_filter_reads_the_same_bits_whether_its_length_is_a_power_of_two_or_not() {
        let mut numbers = Numbers(0x1234_5678_9abc_def1);
        for _ in 0..10_000 {
            let hash = numbers.next();
            let step = hash.rotate_left(32) | 1;
            // Earlier runs' filters are any multiple of 64 bits long; newer ones a power of two.
            for bit_count in [64, 640, 4_096, 20_032, 1 << 20] {
                let by_division: Vec<u64> =
                    (0..FILTER_PROBES).map(|probe| hash.wrapping_add(probe.wrapping_mul(step)) % bit_count).collect();
                assert_eq!(filter_bits(hash, bit_count).collect::<Vec<_>>(), by_division, "{bit_count} bits");
            }
        }
    }

    #[test]
    fn a_new_run_holds_in_memory_what_its_file_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut numbers = Numbers(0x2545_f491_4f6c_dd1d);
        let runs = SortedRuns::open(dir.path()).unwrap();
        // No entry, one, a block and one over, many blocks; then a merge's output.
        for count in [0, 1, BLOCK_ENTRIES, BLOCK_ENTRIES + 1, 2_000] {
            let entries: Vec<Entry> = (0..count)
                .map(|_| (key(numbers.next() % 100_000), vec![b'v'; (numbers.next() % 300) as usize]))
                .collect();
            runs.turn().write(entries.into_iter().collect()).unwrap();
        }
        for _ in 0..FANOUT {
            runs.turn().write((0..50).map(|n| (key(n), b"m".to_vec())).collect()).unwrap();
        }
        runs.settle().unwrap();
        let written = runs.shared.snapshot();
        assert!(written.iter().any(|run| run.lo < run.hi), "no merge output among {written:?}");
        for run in written.iter() {
            let read = Run::open(run.path.clone(), run.lo, run.hi).unwrap();
            assert_eq!(read.meta, run.meta, "{}", run.path.display());
        }
    }

    #[test]
    fn the_newest_write_wins_through_merges_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut model = BTreeMap::new();
        let mut numbers = Numbers(0x9e37_79b9_7f4a_7c15);
        {
            let runs = SortedRuns::open(dir.path()).unwrap();
            for batch in 0..70u64 {
                let entries: Vec<Entry> = (0..300)
                    .map(|_| (key(numbers.next() % 5_000), format!("v{batch}-{}", numbers.next() % 100).into_bytes()))
                    .collect();
                for (k, v) in &entries {
                    model.insert(k.clone(), v.clone());
                }
                runs.turn().write(entries.into_iter().collect()).unwrap();
                if batch % 10 == 9 {
                    assert_matches(&runs, &model);
                }
            }
            // 70 writes of one tier merge a group at a time: far fewer files than writes.
            runs.settle().unwrap();
            assert!(run_files(dir.path()).len() < 16, "{:?}", run_files(dir.path()));
        }
        let reopened = SortedRuns::open(dir.path()).unwrap();
        assert_matches(&reopened, &model);
    }

    #[test]
    fn readers_see_whole_writes_while_merges_replace_files() {
        let dir = tempfile::tempdir().unwrap();
        let runs = SortedRuns::open(dir.path()).unwrap();
        let version = |v: u32| v.to_le_bytes().to_vec();
        runs.turn().write((0..500).map(|n| (key(n), version(0))).collect()).unwrap();
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let started = std::time::Instant::now();
                let mut newest_seen = 0;
                while newest_seen < 40 && started.elapsed() < std::time::Duration::from_secs(60) {
                    let all = runs.range(b"", b"~", usize::MAX, |_| true).unwrap();
                    assert_eq!(all.len(), 500);
                    // One snapshot: every key at the version of one and the same write.
                    assert!(all.iter().all(|(_, v)| *v == all[0].1), "a torn read");
                    let seen = u32::from_le_bytes(all[0].1.as_slice().try_into().unwrap());
                    assert!(seen >= newest_seen, "went back from {newest_seen} to {seen}");
                    newest_seen = seen;
                }
            });
            for v in 1..=40 {
                runs.turn().write((0..500).map(|n| (key(n), version(v))).collect()).unwrap();
            }
            reader.join().unwrap();
        });
        runs.settle().unwrap();
        assert_eq!(runs.get(&key(7)).unwrap(), Some(version(40)));
        assert!(run_files(dir.path()).len() < 41, "merges ran meanwhile: {:?}", run_files(dir.path()));
    }

    #[test]
    fn writes_that_arrive_while_a_file_is_written_share_the_next_one_and_publish_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let runs = SortedRuns::open(dir.path()).unwrap();
        std::thread::scope(|scope| {
            // A big write takes sequence number 1 and is slow to sort and write.
            let big = scope.spawn(|| runs.write((0..200_000).map(|n| (key(n), b"big".to_vec())).collect()));
            while !runs.shared.queue().writing {
                std::thread::yield_now();
            }
            let runs = &runs;
            let small: Vec<_> = [1, 2]
                .map(|n| {
                    scope.spawn(move || runs.write([(key(n), format!("small{n}").into_bytes())].into_iter().collect()))
                })
                .into();
            while runs.shared.sequence().next < 4 {
                std::thread::yield_now();
            }
            let seen = runs.get(&key(1)).unwrap();
            assert!(!big.is_finished(), "the big write should still be under way; make it bigger");
            assert_eq!(seen, None, "published ahead of an older write");
            big.join().unwrap().unwrap();
            small.into_iter().for_each(|write| write.join().unwrap().unwrap());
        });
        // The two small writes queued behind the big one: one file holds both.
        let mut expected = [file_name(1, 1), file_name(2, 3)];
        expected.sort();
        assert_eq!(run_files(dir.path()), expected);
        assert_eq!(runs.get(&key(1)).unwrap(), Some(b"small1".to_vec()), "the newer write wins");
        assert_eq!(runs.get(&key(2)).unwrap(), Some(b"small2".to_vec()));
        assert_eq!(runs.get(&key(3)).unwrap(), Some(b"big".to_vec()));
    }

    #[test]
    fn a_turn_goes_ahead_of_a_stream_of_writes() {
        let dir = tempfile::tempdir().unwrap();
        let runs = SortedRuns::open(dir.path()).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..8u64)
                .map(|writer| {
                    let (runs, stop) = (&runs, &stop);
                    scope.spawn(move || {
                        for n in 0..500u64 {
                            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                                break;
                            }
                            runs.write([(key(writer * 10_000 + n), b"page".to_vec())].into_iter().collect()).unwrap();
                        }
                    })
                })
                .collect();
            for n in 0..5 {
                runs.turn().write([(key(99_000 + n), b"callout".to_vec())].into_iter().collect()).unwrap();
                assert!(
                    !writers.iter().all(std::thread::ScopedJoinHandle::is_finished),
                    "turn {n} waited for the whole stream"
                );
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }

    #[test]
    fn a_stream_of_writes_is_merged_once_it_pauses() {
        let dir = tempfile::tempdir().unwrap();
        // A pause far longer than any one write here, so the stream cannot seem to pause.
        let pause = Duration::from_secs(2);
        let runs = SortedRuns::open_with_stream_pause(dir.path(), pause).unwrap();
        let count = 2 * FANOUT as u64;
        for n in 0..count {
            runs.write([(key(n), b"page".to_vec())].into_iter().collect()).unwrap();
        }
        let paused = std::time::Instant::now();
        assert_eq!(runs.shared.snapshot().len(), 2 * FANOUT, "merged under the stream");
        while runs.shared.snapshot().len() >= FANOUT {
            assert!(paused.elapsed() < Duration::from_secs(60), "no merge after the stream paused");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(paused.elapsed() >= pause - Duration::from_millis(100), "merged before the pause");
        for n in 0..count {
            assert_eq!(runs.get(&key(n)).unwrap(), Some(b"page".to_vec()), "key {n}");
        }
    }

    #[test]
    fn a_turn_write_wakes_the_merger_at_once_and_reopening_merges_what_a_stream_left() {
        let dir = tempfile::tempdir().unwrap();
        let pause = Duration::from_secs(600);
        {
            let runs = SortedRuns::open_with_stream_pause(dir.path(), pause).unwrap();
            for n in 0..FANOUT as u64 {
                runs.write([(key(n), b"page".to_vec())].into_iter().collect()).unwrap();
            }
            assert_eq!(runs.shared.snapshot().len(), FANOUT);
        }
        // Dropped mid-stream: nothing merged, nothing lost; the reopened store merges it.
        assert_eq!(run_files(dir.path()).len(), FANOUT);
        let runs = SortedRuns::open_with_stream_pause(dir.path(), pause).unwrap();
        let reopened = std::time::Instant::now();
        while runs.shared.snapshot().len() >= FANOUT {
            assert!(reopened.elapsed() < Duration::from_secs(60), "no merge on reopening");
            std::thread::sleep(Duration::from_millis(20));
        }
        for n in 0..FANOUT as u64 {
            runs.write([(key(100 + n), b"page".to_vec())].into_iter().collect()).unwrap();
        }
        runs.turn().write([(key(999), b"callout".to_vec())].into_iter().collect()).unwrap();
        let turned = std::time::Instant::now();
        while runs.shared.snapshot().len() > 2 {
            assert!(turned.elapsed() < Duration::from_secs(60), "the turn write did not wake the merger");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(runs.get(&key(3)).unwrap(), Some(b"page".to_vec()));
        assert_eq!(runs.get(&key(999)).unwrap(), Some(b"callout".to_vec()));
    }

    #[test]
    fn a_failed_write_lets_the_writes_behind_it_publish() {
        let dir = tempfile::tempdir().unwrap();
        let runs = Arc::new(SortedRuns::open(dir.path()).unwrap());
        runs.write([(key(1), b"a".to_vec())].into_iter().collect()).unwrap();
        // Sequence number 2 cannot write: its temporary name is taken by a directory.
        std::fs::create_dir(dir.path().join(file_name(2, 2)).with_extension("tmp")).unwrap();
        assert!(runs.write([(key(2), b"b".to_vec())].into_iter().collect()).is_err());
        let (done, finished) = std::sync::mpsc::channel();
        let writer = Arc::clone(&runs);
        std::thread::spawn(move || done.send(writer.write([(key(3), b"c".to_vec())].into_iter().collect())));
        let third = finished.recv_timeout(std::time::Duration::from_secs(60)).expect("the third write hung");
        assert!(third.is_ok());
        assert_eq!(runs.get(&key(3)).unwrap(), Some(b"c".to_vec()));
        assert_eq!(runs.get(&key(2)).unwrap(), None);
    }

    #[test]
    fn overlapping_writes_and_turns_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let runs = SortedRuns::open(dir.path()).unwrap();
        let newest_first = |runs: &SortedRuns| runs.shared.snapshot().windows(2).all(|pair| pair[0].lo > pair[1].hi);
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..4u64)
                .map(|writer| {
                    let runs = &runs;
                    scope.spawn(move || {
                        for n in 0..40u64 {
                            runs.write([(key(n % 5), format!("{writer}-{n}").into_bytes())].into_iter().collect())
                                .unwrap();
                        }
                    })
                })
                .collect();
            // A conditional writer's turn holds off new writes while it reads and writes.
            for _ in 0..10 {
                let mut turn = runs.turn();
                let before = turn.get(&key(0)).unwrap();
                assert!(newest_first(&runs));
                turn.write([(key(99), b"turn".to_vec())].into_iter().collect()).unwrap();
                assert_eq!(turn.get(&key(0)).unwrap(), before, "no other write landed during the turn");
            }
            while !writers.iter().all(std::thread::ScopedJoinHandle::is_finished) {
                assert!(newest_first(&runs), "a run published ahead of an older one");
            }
        });
        runs.settle().unwrap();
        // Every write published: the runs' sequence ranges cover 1..=170 without a gap.
        let mut ranges: Vec<(u64, u64)> = runs.shared.snapshot().iter().map(|run| (run.lo, run.hi)).collect();
        ranges.sort_unstable();
        assert_eq!(ranges.first().map(|r| r.0), Some(1));
        assert_eq!(ranges.last().map(|r| r.1), Some(170));
        assert!(ranges.windows(2).all(|pair| pair[0].1 + 1 == pair[1].0), "{ranges:?}");
    }

    #[test]
    fn entries_come_out_in_key_order_with_the_last_of_equal_keys() {
        let mut numbers = Numbers(0x2545_f491_4f6c_dd1d);
        let mut model = BTreeMap::new();
        let mut entries = Entries::default();
        for n in 0..3_000u64 {
            // A long shared prefix, then keys that differ early, late (past 16 bytes), or only in
            // length, with zero bytes that the sort's padding must not confuse.
            let tail: Vec<u8> =
                (0..numbers.next() % 24).map(|_| [0, b'a', b'b'][(numbers.next() % 3) as usize]).collect();
            let key = [b"ORG#00D000000000001#R07\x1f".as_slice(), &tail].concat();
            let value = n.to_le_bytes();
            model.insert(key.clone(), value.to_vec());
            entries.push(&key, &value);
        }
        let sorted: Vec<(Vec<u8>, Vec<u8>)> = in_key_order(&[entries]).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        assert_eq!(sorted, model.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn keys_that_differ_in_scattered_bytes_come_out_in_key_order() {
        let mut numbers = Numbers(0x9e37_79b9_7f4a_7c15);
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        // Several writes sorted together, as queued pages are: a key pushed again in a later write
        // wins over the earlier one as it does within a write.
        let mut writes = vec![Entries::default()];
        let mut previous = Vec::new();
        for n in 0..3_000u64 {
            if numbers.next().is_multiple_of(400) {
                writes.push(Entries::default());
                // The new write begins with keys an earlier one holds.
                for again in 0..10 {
                    let at = numbers.next().checked_rem(model.len() as u64);
                    let Some(key) = at.and_then(|at| model.keys().nth(at as usize)).cloned() else {
                        break;
                    };
                    let value = (n << 8 | again).to_be_bytes();
                    model.insert(key.clone(), value.to_vec());
                    writes.last_mut().expect("one write at least").push(&key, &value);
                }
            }
            // Like a page's keys: a shard digit inside the shared prefix, then ids that differ in
            // more than 16 bytes; now and then a key cut short, run long, pushed again, or the one
            // before it changed past the bytes the sort reads first.
            let mut key = b"ORG#00D000000000001#R0?\x1f003".to_vec();
            key[22] = b'0' + (numbers.next() % 3) as u8;
            key.extend((0..30).map(|_| [0, b'a', b'b'][(numbers.next() % 3) as usize]));
            match numbers.next() % 10 {
                0 => key.truncate(45 + (numbers.next() % 12) as usize),
                1 => key.extend_from_slice(&numbers.next().to_be_bytes()[..(numbers.next() % 8) as usize]),
                2 => key.clone_from(&previous),
                3 if previous.len() > 45 => {
                    key.clone_from(&previous);
                    key[45] ^= 1;
                }
                _ => {}
            }
            let value = n.to_le_bytes();
            model.insert(key.clone(), value.to_vec());
            writes.last_mut().expect("one write at least").push(&key, &value);
            previous = key;
        }
        assert!(writes.len() > 3, "{} writes", writes.len());
        let telling = telling_positions(model.keys().map(Vec::as_slice));
        assert!(telling.len() == 16 && telling.iter().all(|&at| at < 45), "{telling:?}");
        let sorted: Vec<(Vec<u8>, Vec<u8>)> = in_key_order(&writes).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        assert_eq!(sorted, model.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn an_entry_whose_value_fails_to_encode_leaves_nothing_behind() {
        let mut entries = Entries::default();
        entries.push(b"a", b"1");
        let failed = entries.push_with(
            |out| out.extend_from_slice(b"b"),
            |out| {
                out.extend_from_slice(b"half");
                Err(StoreError::Corrupt("unencodable".into()))
            },
        );
        assert!(failed.is_err());
        entries.push(b"c", b"3");
        // An empty entry takes no bytes: the one pushed after it starts at the same place, and wins.
        entries.push(b"", b"");
        entries.push(b"", b"4");
        let sorted: Vec<(&[u8], &[u8])> = in_key_order(std::slice::from_ref(&entries)).collect();
        assert_eq!(sorted, [(&b""[..], &b"4"[..]), (b"a", b"1"), (b"c", b"3")]);
        assert_eq!(entries.bytes, b"a1c34");
    }

    #[test]
    fn ranges_stop_at_their_end_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let runs = SortedRuns::open(dir.path()).unwrap();
        runs.turn().write((0..200).map(|n| (key(n * 2), b"old".to_vec())).collect()).unwrap();
        runs.turn().write((0..200).map(|n| (key(n * 3), b"new".to_vec())).collect()).unwrap();
        let page = runs.range(&key(10), &key(20), 100, |_| true).unwrap();
        let keys: Vec<_> = page.iter().map(|(k, v)| (String::from_utf8(k.clone()).unwrap(), v.clone())).collect();
        assert_eq!(
            keys,
            [(10, "old"), (12, "new"), (14, "old"), (15, "new"), (16, "old"), (18, "new")]
                .map(|(n, v)| (format!("k{n:06}"), v.as_bytes().to_vec()))
        );
        assert_eq!(runs.range(&key(0), &key(1_000), 3, |_| true).unwrap().len(), 3);
    }

    #[test]
    fn leftovers_of_an_interrupted_write_or_merge_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let runs = SortedRuns::open(dir.path()).unwrap();
            runs.turn().write([(key(1), b"a".to_vec())].into_iter().collect()).unwrap();
            runs.turn().write([(key(1), b"b".to_vec())].into_iter().collect()).unwrap();
        }
        // A merge of runs 1..2 finished writing its output but died before deleting its inputs,
        // and a write died before its rename.
        let merged = dir.path().join(file_name(1, 2));
        let runs = SortedRuns::open(dir.path()).unwrap();
        runs.shared.write_file(1, 2, |writer| writer.push(&key(1), b"b")).unwrap();
        drop(runs);
        std::fs::write(dir.path().join(file_name(3, 3)).with_extension("tmp"), b"torn").unwrap();
        let runs = SortedRuns::open(dir.path()).unwrap();
        assert_eq!(run_files(dir.path()), [merged.file_name().unwrap().to_string_lossy().into_owned()]);
        assert_eq!(runs.get(&key(1)).unwrap(), Some(b"b".to_vec()));
        runs.turn().write([(key(1), b"c".to_vec())].into_iter().collect()).unwrap();
        assert_eq!(runs.get(&key(1)).unwrap(), Some(b"c".to_vec()));
    }

    #[test]
    fn a_damaged_run_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        SortedRuns::open(dir.path()).unwrap().turn().write([(key(1), b"a".to_vec())].into_iter().collect()).unwrap();
        let path = dir.path().join(file_name(1, 1));
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 1;
        bytes[at] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(SortedRuns::open(dir.path()), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_merge_that_does_not_reach_the_oldest_run_keeps_removals() {
        let dir = tempfile::tempdir().unwrap();
        let live = |text: &str| [i64::MAX.to_le_bytes().as_slice(), text.as_bytes()].concat();
        {
            let runs = SortedRuns::open(dir.path()).unwrap();
            // An oldest run of a higher tier, which the lowest tier's merges leave alone.
            runs.turn().write((0..TIER_BASE * FANOUT as u64).map(|n| (key(n), live("old"))).collect()).unwrap();
            runs.turn().write([(key(1), i64::MIN.to_le_bytes().to_vec())].into_iter().collect()).unwrap();
            for n in 0..FANOUT as u64 - 1 {
                runs.turn().write([(key(10_000 + n), live("filler"))].into_iter().collect()).unwrap();
            }
            runs.settle().unwrap();
            assert_eq!(run_files(dir.path()).len(), 2, "the small runs merged, the big one did not");
        }
        let runs = SortedRuns::open(dir.path()).unwrap();
        let removal = runs.get(&key(1)).unwrap();
        assert_eq!(removal, Some(i64::MIN.to_le_bytes().to_vec()), "the removal still hides the old value");
        assert_eq!(runs.get(&key(2)).unwrap(), Some(live("old")));
    }

    #[test]
    fn a_damaged_block_is_an_error_and_a_merge_keeps_its_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let runs = SortedRuns::open(dir.path()).unwrap();
        runs.turn().write((0..100).map(|n| (key(n), b"value".to_vec())).collect()).unwrap();
        let path = dir.path().join(file_name(1, 1));
        let mut bytes = std::fs::read(&path).unwrap();
        // A value byte in the first block; the index and footer stay intact.
        bytes[8 + key(0).len()] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
        drop(runs);
        let runs = SortedRuns::open(dir.path()).unwrap();
        assert!(matches!(runs.get(&key(0)), Err(StoreError::Corrupt(_))));
        assert!(matches!(runs.range(b"", b"~", usize::MAX, |_| true), Err(StoreError::Corrupt(_))));
        for n in 0..FANOUT as u64 - 1 {
            runs.turn().write([(key(100_000 + n), b"filler".to_vec())].into_iter().collect()).unwrap();
        }
        assert!(matches!(runs.settle(), Err(StoreError::Corrupt(_))));
        assert!(path.exists(), "the damaged run is kept for inspection, not merged away");
        // The merger retries on each wake: once it has stopped, no attempt may have left its file.
        drop(runs);
        assert!(!run_files(dir.path()).iter().any(|name| name.ends_with(".tmp")), "no half-written merge left");
    }

    #[test]
    fn a_run_whose_index_points_outside_its_data_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        SortedRuns::open(dir.path())
            .unwrap()
            .turn()
            .write((0..100).map(|n| (key(n), b"v".to_vec())).collect())
            .unwrap();
        let path = dir.path().join(file_name(1, 1));
        let mut bytes = std::fs::read(&path).unwrap();
        let index_at = read_u64(&bytes, bytes.len() - FOOTER_BYTES as usize).unwrap() as usize;
        // The second block's offset, past the end of the data.
        let second = index_at + 12 + key(0).len();
        bytes[second..second + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(SortedRuns::open(dir.path()), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn expired_entries_leave_only_in_a_merge_that_reaches_the_oldest_run() {
        let dir = tempfile::tempdir().unwrap();
        let runs = SortedRuns::open(dir.path()).unwrap();
        let live = |text: &str| [i64::MAX.to_le_bytes().as_slice(), text.as_bytes()].concat();
        let gone = i64::MIN.to_le_bytes().to_vec();
        runs.turn().write([(key(1), live("first")), (key(2), live("kept"))].into_iter().collect()).unwrap();
        // More writes make a full group of the lowest tier: one merge, which reaches the oldest.
        runs.turn().write([(key(1), gone.clone())].into_iter().collect()).unwrap();
        for n in 0..FANOUT as u64 - 2 {
            runs.turn().write([(key(100 + n), live("filler"))].into_iter().collect()).unwrap();
        }
        runs.settle().unwrap();
        let all = runs.range(b"", b"~", usize::MAX, |_| true).unwrap();
        assert!(all.iter().all(|(k, _)| k != &key(1)), "the removal and what it hid are gone");
        assert!(all.iter().any(|(k, v)| k == &key(2) && v == &live("kept")));
        assert_eq!(run_files(dir.path()).len(), 1);
    }
}
