//! (tests of the sync area)
