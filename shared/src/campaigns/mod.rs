//! Campaigns: one message sent to a recipient list's members through Amazon SES, every address
//! accounted for (docs/flows.md#campaigns).

pub mod events;
pub mod mail;
pub mod model;
pub mod render;
pub mod tally;
pub mod unsubscribe;

pub use mail::*;
pub use model::*;
pub use render::{CampaignTemplates, Rendered, TemplateError, generic_subject};
pub use unsubscribe::Unsubscribe;
