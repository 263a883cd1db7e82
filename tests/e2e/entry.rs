//! (tests of the entry area)
