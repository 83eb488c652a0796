//! One integration-test binary (one link step): a module per resource.

mod auth;
mod catalog;
mod cli;
mod concurrency;
mod crash;
mod errors;
mod external;
mod faults;
mod health;
mod helpers;
mod openapi;
mod processing;
mod query;
mod reconcile;
mod security;
mod server_process;
mod uploads;
