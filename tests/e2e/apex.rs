//! (tests of the apex area)
