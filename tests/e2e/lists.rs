//! Recipient lists end to end (docs/flows.md#recipient-lists): synced Contacts and Leads of the
//! simulated orgs, the JSON API with a Salesforce session, the pages with a session cookie and no
//! script, the Visualforce hand-over of a list-view selection, exports, and counts checked against
//! Salesforce's own `SELECT COUNT()`.

mod support;

pub use support::{Api, Pages, synced};

mod api;
mod export;
mod oracle;
mod pages;
mod selection;
