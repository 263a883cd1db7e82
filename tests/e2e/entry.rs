//! End-to-end tests of the entry function over real HTTP: the custom link and its every outcome,
//! a table of bad input, onboarding, SSO, Canvas, the landing page and logout, and the logs.

mod app;
mod bad_input;
mod canvas;
mod link;
mod links;
mod logs;
mod onboarding;
pub(crate) mod reply;
mod side_org;
mod signing;
mod sso;
pub(crate) mod writes;
