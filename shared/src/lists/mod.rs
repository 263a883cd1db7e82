//! Recipient lists over an org's synced Contacts and Leads: the fields they filter on, their
//! conditions, and their evaluation (exclusions and one recipient per address), with a cache of
//! each org's recipients that warm functions keep until the next change.

pub mod condition;
pub mod evaluate;
pub mod fields;
pub mod snapshot;

pub use condition::{Condition, ConditionSpec, ListError, MAX_CONDITIONS, Op, checked};
pub use evaluate::{Evaluation, Exclusions, Query, Recipients, Selection, evaluate, is_deliverable_address};
pub use fields::{Catalog, ExtraField, FieldKind, FieldRef, StandardField, Value, stored_number};
pub use snapshot::{Snapshot, SnapshotCache};
