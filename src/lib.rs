//! shoplake: the ingestion front door of a retail sales data lake.
//!
//! Code tour: `migrations/`, then `main.rs` -> [`cli`] -> [`config`] -> [`app`] -> [`http`] ->
//! [`pipeline`] -> [`ingest`] / [`storage`] / [`db`]. Values are typed in [`domain`].

/// Application wiring: backends, listener, graceful shutdown.
pub mod app;
/// Tokens: claims, signing, verification.
pub mod auth;
/// The AWS SDK configuration shared by S3 and Glue.
pub mod aws;
/// Tables, columns and partitions (embedded catalog or AWS Glue), crawler, Athena DDL.
pub mod catalog;
/// Command line entry points.
pub mod cli;
/// Settings from defaults, `shoplake.toml` and `SHOPLAKE_*`.
pub mod config;
/// State database (SQLite or PostgreSQL) and its repositories.
pub mod db;
/// Validated domain values and the upload state machine.
pub mod domain;
/// The axum HTTP API.
pub mod http;
/// The ingest core (crate `shoplake-ingest` in `crates/ingest`): CSV bytes in, typed Parquet,
/// rejected rows and a report out; no HTTP, no async, so the fuzzer and a Lambda reuse it.
pub use shoplake_ingest as ingest;
/// The S3-event Lambda handler: files dropped under `raw/` through the same pipeline.
pub mod lambda;
/// Prometheus metrics.
pub mod metrics;
/// The upload use case shared by HTTP and CLI.
pub mod pipeline;
/// The embedded SQL engine (DataFusion): read-only queries over the catalog's tables.
pub mod query;
/// Blob storage trait, a local directory and S3.
pub mod storage;
/// Logging set-up.
pub mod telemetry;
