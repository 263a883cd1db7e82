//! Campaigns end to end (docs/flows.md#campaigns): written through the API or the pages, frozen
//! and sent by the in-process send function into the outbox standing in for SES, the mailbox
//! simulator's events applied, unsubscribes through the link, quota pauses, crashes and restarts.

mod support;

mod activity;
mod api;
mod events;
mod kill;
mod moto;
mod pages;
mod quota;
mod sending;
