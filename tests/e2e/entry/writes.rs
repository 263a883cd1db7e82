//! "Nothing was written": the embedded store is one redb file under the stack's data directory and
//! a read never changes it, so identical bytes before and after a request mean no write happened.
//! Each test owns its stack and the sync timer is off, so nothing else writes meanwhile.

use outpost_tests::TestStack;
use outpost_tests::outpost_shared::crypto;

/// A fingerprint of everything the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreState(String);

impl StoreState {
    fn bytes(stack: &TestStack) -> Vec<u8> {
        std::fs::read(stack.stack.data_dir.join("store.redb")).expect("the embedded store file")
    }

    pub fn of(stack: &TestStack) -> Self {
        Self(crypto::sha256_hex(&Self::bytes(stack)))
    }

    /// Asserts that the store is byte for byte what it was.
    pub fn assert_unchanged(&self, stack: &TestStack, context: &str) {
        assert_eq!(&Self::of(stack), self, "{context}: nothing may be written");
    }
}

/// Asserts that `secret` appears nowhere in the store file (session ids are never stored).
pub fn assert_store_never_holds(stack: &TestStack, secret: &str) {
    let bytes = StoreState::bytes(stack);
    let needle = secret.as_bytes();
    assert!(!bytes.windows(needle.len()).any(|w| w == needle), "the store holds a secret it must never keep");
}
