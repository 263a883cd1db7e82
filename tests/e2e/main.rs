//! End-to-end tests over real HTTP: the local stack (every function behind the authorizer) and
//! simulated Salesforce orgs, in one binary.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic is the failure report.

mod apex;
mod authorizer;
mod browser;
mod dynamodb_standin;
mod entry;
mod local;
mod sync;
