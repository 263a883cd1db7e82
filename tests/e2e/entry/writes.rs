//! "Nothing was written": the embedded store is a directory of files (a journal and tables) under
//! the stack's data directory, and a read never touches them; every write appends to the journal.
//! So the same files with the same sizes, allocated blocks and modification times before and after
//! a request mean no write happened. Each test owns its stack and the sync timer is off, so nothing
//! else writes meanwhile (and the test stacks never write enough to start a background flush).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use outpost_tests::TestStack;

fn store_files(stack: &TestStack) -> Vec<PathBuf> {
    fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("the embedded store directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() { collect(&path, files) } else { files.push(path) }
        }
    }
    let mut files = Vec::new();
    collect(&stack.stack.data_dir.join("store"), &mut files);
    files.sort();
    files
}

/// What every file of the store looks like: path, size, allocated blocks, modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreState(Vec<(PathBuf, u64, u64, i64, i64)>);

impl StoreState {
    pub fn of(stack: &TestStack) -> Self {
        Self(
            store_files(stack)
                .into_iter()
                .map(|path| {
                    let meta = std::fs::metadata(&path).expect("a store file");
                    (path, meta.len(), meta.blocks(), meta.mtime(), meta.mtime_nsec())
                })
                .collect(),
        )
    }

    /// Asserts that no store file changed.
    pub fn assert_unchanged(&self, stack: &TestStack, context: &str) {
        assert_eq!(&Self::of(stack), self, "{context}: nothing may be written");
    }
}

/// Asserts that `secret` appears nowhere in the store's files (session ids are never stored).
pub fn assert_store_never_holds(stack: &TestStack, secret: &str) {
    let needle = secret.as_bytes();
    for path in store_files(stack) {
        let bytes = std::fs::read(&path).expect("a store file");
        // The journal is preallocated: its zero tail holds nothing.
        let used = bytes.iter().rposition(|b| *b != 0).map_or(0, |last| last + 1);
        assert!(
            !bytes[..used].windows(needle.len()).any(|w| w == needle),
            "{} holds a secret the store must never keep",
            path.display()
        );
    }
}
