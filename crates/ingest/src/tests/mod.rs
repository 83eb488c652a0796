//! End-to-end tests of `ingest`: fixtures and hand-made bodies in, Parquet read back with the
//! parquet crate and compared value by value and type by type.

use std::io::{Seek, SeekFrom, Write};

use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use arrow::array::AsArray;
use arrow::datatypes::{DataType, Decimal128Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;

use super::*;

mod determinism;
mod files;
mod line_numbers;
mod text;
mod values;

const HEADER: &str = "transaction_id,sold_at,sku,product_name,quantity,unit_price,currency,payment_method";
const DAY: &str = "2025-07-30";

fn day() -> NaiveDate {
    NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap()
}

/// The repository's root (this crate lives in `crates/ingest`).
fn repository_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = repository_root().join("tests/fixtures/csv").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The outcome of one ingest: the result, the Parquet read back, the rejected CSV.
struct Run {
    result: Result<IngestReport>,
    batch: Option<RecordBatch>,
    rejected: String,
}

impl Run {
    fn report(&self) -> &IngestReport {
        match &self.result {
            Ok(r) => r,
            Err(e) => panic!("ingest failed: {e}"),
        }
    }
    fn batch(&self) -> &RecordBatch {
        self.batch.as_ref().expect("a parquet file")
    }
    fn strings(&self, col: &str) -> Vec<Option<String>> {
        let a = self.batch().column_by_name(col).unwrap_or_else(|| panic!("column {col}"));
        a.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
    }
    fn ints(&self, col: &str) -> Vec<i64> {
        self.batch().column_by_name(col).unwrap().as_primitive::<Int64Type>().values().to_vec()
    }
    fn prices(&self) -> Vec<i128> {
        self.batch().column_by_name("price").unwrap().as_primitive::<Decimal128Type>().values().to_vec()
    }
    fn reasons(&self) -> Vec<String> {
        self.report().errors.iter().map(|e| e.reason.clone()).collect()
    }
}

fn run_with(body: &[u8], options: &IngestOptions) -> Run {
    let mut parquet = tempfile::tempfile().unwrap();
    let mut rejected = Vec::new();
    let result = ingest(body, day(), options, &mut parquet, &mut rejected);
    parquet.seek(SeekFrom::Start(0)).unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(parquet).ok().map(|b| {
        let schema = b.schema().clone();
        let batches: Vec<RecordBatch> = b.build().unwrap().map(|r| r.unwrap()).collect();
        arrow::compute::concat_batches(&schema, &batches).unwrap()
    });
    Run { result, batch, rejected: String::from_utf8(rejected).unwrap() }
}

fn run(body: &[u8]) -> Run {
    run_with(body, &IngestOptions { max_rejected_fraction: 1.0, ..IngestOptions::default() })
}

fn rows(lines: &[&str]) -> Vec<u8> {
    let mut s = format!("{HEADER}\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.into_bytes()
}

fn row(id: &str, sold_at: &str, qty: &str, price: &str, currency: &str) -> String {
    format!("{id},{sold_at},SKU1,Milk,{qty},{price},{currency},card")
}

fn ok_row(id: &str) -> String {
    row(id, "2025-07-30T10:00:00", "1", "1.00", "EUR")
}
