//! The ingest core: one shop-day CSV byte stream in, typed Parquet, rejected rows and a
//! report out. Knows nothing of HTTP; the upload route, `shoplake ingest` and a Lambda call it.

mod batch;
mod currency;
mod dedup;
mod driver;
mod error;
mod header;
mod number;
mod parquet;
mod pipeline;
mod report;
mod row;
mod schema;
mod sniff;
mod source;
mod time;

#[cfg(test)]
mod tests;

pub use driver::{ingest, ingest_reopenable, IngestOptions};
pub use error::{IngestError, Result};
pub use number::{parse_decimal, parse_int, NumError, NumberFormat};
pub use report::{IngestReport, RowError, MAX_REPORTED_ERRORS};
pub use schema::{normalize_name, Check, ColumnSpec, ColumnType, TableSchema};
