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
    check_line_endings(data);
}

/// Line numbers are physical whatever the line ends: text without `\r`, rewritten with CRLF
/// or lone-CR line ends, reports its rejected rows on the same lines. Only inputs accepted in
/// every form are compared: a refusal may judge the whole body (the share of control bytes
/// changes with the bytes added), and refusals' lines have their own tests per line ending.
fn check_line_endings(data: &[u8]) {
    // Only text: rewriting the bytes of a gzip body or UTF-16 text would change what they say.
    let binary = data.starts_with(&[0x1f, 0x8b]) || data.starts_with(&[0xff, 0xfe]) || data.starts_with(&[0xfe, 0xff]);
    if binary || data.contains(&b'\r') || !data.contains(&b'\n') {
        return;
    }
    let Some(lf) = error_lines(data) else { return };
    for eol in [&b"\r\n"[..], b"\r"] {
        let rewritten: Vec<u8> = data.split(|&b| b == b'\n').collect::<Vec<_>>().join(eol);
        if let Some(other) = error_lines(&rewritten) {
            assert_eq!(other, lf, "line numbers moved with {eol:?} line ends");
        }
    }
}

/// The lines of the rejected rows; `None` when the input is refused as a whole.
fn error_lines(data: &[u8]) -> Option<Vec<u64>> {
    let (mut parquet, mut rejected) = (Vec::new(), Vec::new());
    let report = ingest(data, day(), &options(usize::MAX), &mut parquet, &mut rejected).ok()?;
    Some(report.errors.iter().map(|e| e.line).collect())
}

/// The tight limits of the `ingest_limits` target.
pub const LIMIT_COLUMNS: usize = 8;
/// Bytes of one record.
pub const LIMIT_RECORD: usize = 512;
/// Bytes of one value.
pub const LIMIT_FIELD: usize = 64;
/// Bytes once decompressed.
pub const LIMIT_DECOMPRESSED: u64 = 16 << 10;

/// Ingests `body` under the tight limits and checks the properties of `ingest_limits`.
pub fn check_limits(body: &[u8], gzip: bool) {
    use shoplake_ingest::IngestError;
    let options = IngestOptions {
        batch_rows: 7,
        threads: 2,
        max_columns: LIMIT_COLUMNS,
        max_record_bytes: LIMIT_RECORD,
        max_field_bytes: LIMIT_FIELD,
        max_decompressed_bytes: LIMIT_DECOMPRESSED,
        ..IngestOptions::default()
    };
    let (mut parquet, mut rejected) = (Vec::new(), Vec::new());
    match ingest(body, day(), &options, &mut parquet, &mut rejected) {
        Ok(report) => {
            assert_eq!(report.rows_accepted + report.rows_rejected, report.rows_total, "counts add up");
            assert!(report.schema.fields().len() <= LIMIT_COLUMNS + 8, "no more columns than the header may have");
            if !gzip {
                assert!(body.len() as u64 <= LIMIT_DECOMPRESSED + 3, "a plain body past the size limit was read whole");
            }
            assert_no_long_values(parquet);
        }
        Err(IngestError::TooManyColumns { found, limit }) => {
            assert!(found > limit && limit == LIMIT_COLUMNS, "{found} columns refused under a limit of {limit}")
        }
        Err(IngestError::RecordTooLong { limit, .. }) => {
            assert_eq!(limit, LIMIT_RECORD);
            if !gzip {
                assert!(body.len() > LIMIT_RECORD, "a {}-byte body cannot hold a record past {limit}", body.len());
            }
        }
        Err(IngestError::DecompressedTooLarge { limit }) => {
            assert_eq!(limit, LIMIT_DECOMPRESSED);
            if !gzip {
                assert!(body.len() as u64 > limit, "a {}-byte body is not past {limit}", body.len());
            }
        }
        Err(_) => {}
    }
}

/// Every string value of the Parquet fits the field limit.
fn assert_no_long_values(parquet: Vec<u8>) {
    if parquet.is_empty() {
        return;
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(parquet)).unwrap().build().unwrap();
    for batch in reader {
        let batch = batch.unwrap();
        for column in batch.columns() {
            if let Some(strings) = column.as_any().downcast_ref::<arrow_array::StringArray>() {
                let longest = strings.iter().flatten().map(str::len).max().unwrap_or(0);
                assert!(longest <= LIMIT_FIELD, "an accepted value is {longest} bytes, past the field limit");
            }
        }
    }
}
