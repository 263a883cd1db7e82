//! The scheduled sync (flow 6) end to end: the sync library against the simulated org over real
//! HTTP, into the stack's embedded store. Every test checks the store against the org's ground
//! truth, field by field.

mod support;

mod bulk;
mod cli;
mod crash;
mod faults;
mod full;
mod incremental;
mod lease;
mod write_back;
