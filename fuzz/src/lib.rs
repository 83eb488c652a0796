//! What the fuzz targets check on every input (shared by `fuzz_targets/*.rs`).

use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shoplake_ingest::{ingest, ingest_reopenable, IngestOptions, MAX_REPORTED_ERRORS};

/// The shop-day every fuzz input is ingested for.
pub fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 7, 30).unwrap()
}

/// Small chunks (many chunk boundaries) and two validating threads (the sequencer reorders).
fn options(max_unique_in_memory: usize) -> IngestOptions {
    IngestOptions { batch_rows: 7, row_group_rows: 16, threads: 2, max_unique_in_memory, ..IngestOptions::default() }
}

/// What an ingest produced, comparable between modes: either the refusal's message, or the
/// counts, the row errors, the rejected CSV and the rows read back from the Parquet.
pub fn outcome(data: &[u8], max_unique_in_memory: usize) -> Result<(u64, u64, u64, String, Vec<u8>), String> {
    let (mut parquet, mut rejected) = (Vec::new(), Vec::new());
    let options = options(max_unique_in_memory);
    let result = if max_unique_in_memory == usize::MAX {
        ingest(data, day(), &options, &mut parquet, &mut rejected)
    } else {
        ingest_reopenable(|| Ok(data), day(), &options, &mut parquet, &mut rejected)
    };
    let report = result.map_err(|e| e.to_string())?;
    assert_eq!(report.rows_accepted + report.rows_rejected, report.rows_total, "counts add up");
    assert!(report.errors.len() <= MAX_REPORTED_ERRORS, "at most {MAX_REPORTED_ERRORS} errors reported");
    assert_eq!(report.errors.len() as u64, report.rows_rejected.min(MAX_REPORTED_ERRORS as u64));
    let read_back = read_parquet(parquet);
    assert_eq!(read_back.0, report.rows_accepted, "Parquet holds exactly the accepted rows");
    Ok((report.rows_total, report.rows_accepted, report.rows_rejected, read_back.1, rejected))
}

/// Rows and a printable dump of every batch of a Parquet file (empty file: no rows).
fn read_parquet(parquet: Vec<u8>) -> (u64, String) {
    if parquet.is_empty() {
        return (0, String::new());
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(parquet))
        .expect("our Parquet opens")
        .build()
        .unwrap();
    let mut rows = 0;
    let mut dump = String::new();
    for batch in reader {
        let batch = batch.expect("our Parquet reads");
        rows += batch.num_rows() as u64;
        dump.push_str(&format!("{batch:?}"));
    }
    (rows, dump)
}

/// Runs `data` one-pass and two-pass (a budget of 2 keys forces spilling) and checks both
/// satisfy the properties and agree.
pub fn check_ingest(data: &[u8]) {
    let one_pass = outcome(data, usize::MAX);
    let two_pass = outcome(data, 2);
    assert_eq!(one_pass, two_pass, "one-pass and spilling two-pass ingest disagree");
}
