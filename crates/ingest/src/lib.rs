//! The ingest core: one shop-day CSV byte stream in, typed Parquet, rejected rows and a
//! report out. Knows nothing of HTTP; the upload route, `shoplake ingest`, the fuzz targets
//! (`fuzz/`) and a Lambda call it.
//!
//! ```
//! use shoplake_ingest::{ingest, IngestOptions};
//!
//! let csv = "transaction_id,sold_at,sku,quantity,price\nT1,2025-07-30T10:00:00Z,SKU-1,2,3.50\n";
//! let date = chrono::NaiveDate::from_ymd_opt(2025, 7, 30).unwrap();
//! let (mut parquet, mut rejected) = (Vec::new(), Vec::new());
//! let report = ingest(csv.as_bytes(), date, &IngestOptions::default(), &mut parquet, &mut rejected).unwrap();
//! assert_eq!((report.rows_accepted, report.rows_rejected), (1, 0));
//! assert_eq!(&parquet[..4], b"PAR1");
//! ```
#![warn(missing_docs)]

mod batch;
mod currency;
mod dedup;
mod driver;
mod error;
mod header;
mod limits;
mod lines;
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

pub use driver::{
    ingest, ingest_reopenable, rejected_header, IngestOptions, DEFAULT_MAX_COLUMNS, DEFAULT_MAX_DECOMPRESSED_BYTES,
    DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_RECORD_BYTES,
};
pub use error::{IngestError, Result};
pub use number::{parse_decimal, parse_int, NumError, NumberFormat};
pub use report::{neutralise, IngestReport, RowError, MAX_REPORTED_ERRORS};
pub use schema::{normalize_name, Check, ColumnSpec, ColumnType, TableSchema};
