//! One integration-test binary (one link step): a module per resource.

mod auth;
mod cli;
mod errors;
mod health;
mod helpers;
mod openapi;
mod processing;
mod reconcile;
mod uploads;
