//! The crate every Outpost function shares: Salesforce ids and hosts, the Salesforce client,
//! storage and secrets adapters, configuration and telemetry.

pub mod app_session;
pub mod authorized;
pub mod aws_http;
pub mod campaigns;
pub mod config;
pub mod cookies;
pub mod crypto;
pub mod hosts;
pub mod identity;
pub mod ids;
pub mod lists;
pub mod namespace;
pub mod parsed;
pub mod salesforce;
pub mod secrets;
pub mod services;
pub mod signed;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod tokens;
#[cfg(feature = "http-context")]
pub mod web;
