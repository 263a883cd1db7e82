//! (tests of the browser area)
