//! Embedded SQL engine (Apache DataFusion): read-only SQL over the lake's Parquet tables.
//!
//! `QueryEngine::execute` checks the statement (`guard`), registers each `TableSource` as a
//! Hive-partitioned listing table, runs it under the time, row and memory limits, and returns a
//! `QueryOutput` that `to_json` / `write_csv` encode for `POST /v1/query` and `shoplake sql`.

/// `QueryEngine`, `TableSource`, `QueryLimits`: sessions, table registration, limits.
pub mod athena;
/// Stopping a running query at its time limit.
mod cancel;
/// One query's listing of the catalog-described tables (no storage listing).
mod catalog_listing;
mod engine;
/// `QueryError` and the mapping from DataFusion errors.
mod error;
/// Bounds on what a scalar function may produce in one call.
mod functions;
/// The read-only check on the parsed statement.
mod guard;
/// `SqlEngine`: the one way callers run SQL (embedded over the catalog, or Athena).
mod lake;
/// Bounds on a statement's text and tree.
mod limits;
/// `QueryOutput`, column types in SQL words, JSON and CSV encodings.
mod output;
/// `RecordingTable`: notes the files each table scan was planned over.
mod recorder;
/// The engine's `object_store` over the lake's S3 bucket.
mod s3;
/// The SDK's credentials as an `object_store` credential provider.
mod s3_credentials;
/// One query's pinned, read-only view of local files (a replacement never mixes into a query).
mod snapshot;
/// `QueryStats`: files, partitions and bytes scanned.
mod stats;

pub use engine::{CatalogFile, QueryEngine, QueryLimits, TableSource};
pub use error::QueryError;
pub use functions::MAX_FUNCTION_OUTPUT_BYTES;
pub use guard::check_read_only;
pub use lake::{EmbeddedSql, SqlEngine};
pub use limits::SqlLimits;
pub use output::{sql_type_name, to_json, write_csv, ColumnInfo, QueryOutput};
pub use s3::lake_object_store;
pub use stats::QueryStats;
