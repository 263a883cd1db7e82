//! The scheduled sync (docs/flows.md#scheduled-sync) end to end: the sync library against the simulated org over real
//! HTTP, into the stack's store (the embedded one, and for the full, incremental, crash and fault
//! suites DynamoDB on moto as well). Every test checks the store against the org's ground truth,
//! field by field.

mod support;

mod bulk;
mod cli;
mod crash;
mod faults;
mod fields;
mod full;
mod incremental;
mod lease;
mod write_back;
