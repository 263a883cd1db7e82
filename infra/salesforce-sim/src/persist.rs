//! Persistence under `<data_dir>/salesforce-sim/`: `state.json` (records, accounts, users,
//! tasks, delete log, id counters) and `meta.json` (API usage, clock offset), each written atomically
//! (temp file + fsync + rename), debounced, and once more on shutdown.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::data::{Account, Db, DeletedEntry, Record, Table, Task, User};
use crate::ids::SfId;
use crate::org::Org;

/// Bumped when the saved shape changes incompatibly (2: accounts, owners, addresses, custom
/// fields; a format-1 state is set aside and a fresh org generated).
const FORMAT: u32 = 2;
/// How often dirty state is flushed.
const DEBOUNCE: Duration = Duration::from_millis(500);

#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    org_id: SfId,
    contacts: &'a [Record],
    leads: &'a [Record],
    accounts: &'a [Account],
    users: &'a [User],
    tasks: &'a [Task],
    deleted_log: &'a [DeletedEntry],
    counters: &'a BTreeMap<String, u64>,
    pod: String,
}

#[derive(Deserialize)]
struct Header {
    format: u32,
    org_id: SfId,
}

#[derive(Deserialize)]
struct Saved {
    contacts: Vec<Record>,
    leads: Vec<Record>,
    accounts: Vec<Account>,
    users: Vec<User>,
    tasks: Vec<Task>,
    deleted_log: Vec<DeletedEntry>,
    counters: BTreeMap<String, u64>,
    pod: String,
}

/// Small, frequently changing state.
#[derive(Serialize, Deserialize, Default)]
pub struct Meta {
    /// API calls counted.
    pub api_used: u64,
    /// Sim clock offset.
    pub clock_offset_ms: i64,
}

/// The sim's folder inside `data_dir`.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("salesforce-sim")
}

/// Loads a saved org, if one exists for this org id.
pub fn load(data_dir: &Path, org: &SfId) -> std::io::Result<Option<(Db, Meta)>> {
    let d = dir(data_dir);
    let state_path = d.join("state.json");
    let state = match std::fs::read(&state_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(std::io::Error::new(e.kind(), format!("{}: {e}", state_path.display()))),
    };
    let damaged = |e: serde_json::Error| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} is damaged: {e}", state_path.display()))
    };
    // The header first: a state of another format need not (and may not) parse as this one.
    let header: Header = serde_json::from_slice(&state).map_err(damaged)?;
    if header.format != FORMAT || header.org_id != *org {
        tracing::warn!(
            saved_org = %header.org_id,
            saved_format = header.format,
            "saved state belongs to another org or format; generating a fresh org"
        );
        return Ok(None);
    }
    let saved: Saved = serde_json::from_slice(&state).map_err(damaged)?;
    let meta_path = d.join("meta.json");
    let meta = match std::fs::read(&meta_path).map(|b| serde_json::from_slice::<Meta>(&b)) {
        Ok(Ok(meta)) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta::default(),
        // Only counters live there: the org's data is whole, so it starts them over.
        Ok(Err(e)) => {
            tracing::warn!(file = %meta_path.display(), error = %e, "damaged; API usage and clock offset start over");
            Meta::default()
        }
        Err(e) => return Err(std::io::Error::new(e.kind(), format!("{}: {e}", meta_path.display()))),
    };
    let pod = saved.pod.as_bytes();
    let mut db = Db::new(org);
    if pod.len() == 2 {
        db.pod = [pod[0], pod[1]];
    }
    db.contacts = Table::from_records(saved.contacts);
    db.leads = Table::from_records(saved.leads);
    db.accounts = saved.accounts;
    db.accounts.sort_by_key(|a| a.id);
    db.users = saved.users;
    db.tasks = saved.tasks;
    db.deleted_log = saved.deleted_log;
    db.counters = saved.counters;
    Ok(Some((db, meta)))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Writes whatever is dirty (or everything with `force`).
pub fn save(org: &Org, data_dir: &Path, force: bool) -> std::io::Result<()> {
    let d = dir(data_dir);
    std::fs::create_dir_all(&d)?;
    if force || org.data_dirty.swap(false, Ordering::Relaxed) {
        let bytes = {
            let db = org.db();
            let pod = String::from_utf8_lossy(&db.pod).into_owned();
            serde_json::to_vec(&SavedRef {
                format: FORMAT,
                org_id: org.id,
                contacts: db.contacts.records(),
                leads: db.leads.records(),
                accounts: &db.accounts,
                users: &db.users,
                tasks: &db.tasks,
                deleted_log: &db.deleted_log,
                counters: &db.counters,
                pod,
            })
            .map_err(std::io::Error::other)?
        };
        write_atomic(&d.join("state.json"), &bytes)?;
    }
    if force || org.meta_dirty.swap(false, Ordering::Relaxed) {
        let meta = Meta { api_used: org.usage().used, clock_offset_ms: org.clock.offset_ms() };
        write_atomic(&d.join("meta.json"), &serde_json::to_vec(&meta).map_err(std::io::Error::other)?)?;
    }
    Ok(())
}

/// Flushes dirty state every [`DEBOUNCE`] until `stop` fires.
pub async fn run_saver(org: Arc<Org>, data_dir: PathBuf, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(DEBOUNCE) => {}
            _ = stop.changed() => break,
        }
        let (o, d) = (org.clone(), data_dir.clone());
        match tokio::task::spawn_blocking(move || save(&o, &d, false)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "saving sim state failed"),
            Err(e) => tracing::warn!(error = %e, "saving sim state panicked"),
        }
    }
}
