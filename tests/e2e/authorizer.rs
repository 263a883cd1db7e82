//! (tests of the authorizer area)
