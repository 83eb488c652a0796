//! The ingest entry points: sniff, map the header, then records in chunks through validating
//! worker threads, sequenced in file order (duplicates, rejected rows, report) and encoded as
//! Parquet on another thread. Past a budget of unique keys, a re-openable input is read twice.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Arc, Mutex};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::batch::BatchBuilder;
use super::error::{IngestError, Result};
use super::header::HeaderMap;
use super::number::NumberFormat;
use super::parquet::{write_batches, writer_properties};
use super::pipeline::{work, Pump, RecordShape, Sequencer};
use super::report::{IngestReport, RejectedWriter};
use super::row::RowValidator;
use super::schema::{Check, TableSchema};
use super::source::Source;

/// How to ingest: the table schema and the limits of a deployment.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Columns, types, aliases and checks (default: the contract's sales schema).
    pub schema: TableSchema,
    /// ISO 4217 code for rows that leave `currency` empty (`SHOPLAKE_DEFAULT_CURRENCY`).
    pub default_currency: String,
    /// Above this fraction of rejected rows the whole file is refused.
    pub max_rejected_fraction: f64,
    /// Records per chunk handed to a validating thread, hence at most this many rows per
    /// Arrow record batch (memory in flight is a few chunks per thread).
    pub batch_rows: usize,
    /// Maximum rows per Parquet row group.
    pub row_group_rows: usize,
    /// A chrono format (e.g. `%d/%m/%Y %H:%M`) accepted for timestamps besides ISO 8601.
    pub timestamp_format: Option<String>,
    /// Validating threads; 0 means one per CPU.
    pub threads: usize,
    /// Accepted `unique` keys kept in memory (16 bytes each, in a table at most 5/8 full)
    /// before [`ingest_reopenable`] switches to spilling keys to disk and reading the input
    /// twice. [`ingest`], which cannot read its input twice, keeps them all in memory.
    pub max_unique_in_memory: usize,
    /// Directory for spill files (default: `std::env::temp_dir()`).
    pub scratch_dir: Option<PathBuf>,
    /// Fields the header line may have at most (checked before anything is allocated per
    /// column): [`IngestError::TooManyColumns`] above it.
    pub max_columns: usize,
    /// Bytes one record may have at most (a line, or several inside quotes):
    /// [`IngestError::RecordTooLong`] above it. Bounds the parser's memory.
    pub max_record_bytes: usize,
    /// Bytes one field may have at most; a longer value rejects its row.
    pub max_field_bytes: usize,
    /// Bytes the body may inflate to (gzip): [`IngestError::DecompressedTooLarge`] above it.
    pub max_decompressed_bytes: u64,
    /// Header names refused because the table keeps them in the partition path (compared
    /// without case, spaces, `-` and `_`): [`IngestError::ReservedColumn`].
    pub reserved_columns: Vec<String>,
}

/// Default of [`IngestOptions::max_columns`].
pub const DEFAULT_MAX_COLUMNS: usize = 256;
/// Default of [`IngestOptions::max_record_bytes`] (1 MiB).
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;
/// Default of [`IngestOptions::max_field_bytes`] (64 KiB).
pub const DEFAULT_MAX_FIELD_BYTES: usize = 64 << 10;
/// Default of [`IngestOptions::max_decompressed_bytes`] (4 GiB).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 4 << 30;

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            schema: TableSchema::sales_default(),
            default_currency: "EUR".to_string(),
            max_rejected_fraction: 0.05,
            batch_rows: 8 * 1024,
            row_group_rows: 1024 * 1024,
            timestamp_format: None,
            threads: 0,
            max_unique_in_memory: 2_500_000,
            scratch_dir: None,
            max_columns: DEFAULT_MAX_COLUMNS,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            reserved_columns: vec!["shop_id".to_string(), "date".to_string()],
        }
    }
}

/// Reads `input` (raw bytes as received; gzip detected by its magic bytes), validates every
/// row against the shop-day `date`, writes accepted rows as Parquet to `parquet_out` and
/// rejected rows as CSV to `rejected_out`. Memory stays bounded whatever the input size,
/// apart from 16 bytes (plus table slack) per accepted `unique` value; use
/// [`ingest_reopenable`] to bound that too.
pub fn ingest<R: Read, P: Write + Send, J: Write>(
    input: R,
    date: chrono::NaiveDate,
    options: &IngestOptions,
    parquet_out: P,
    rejected_out: J,
) -> Result<IngestReport> {
    let mut input = Some(input);
    let open = move || input.take().ok_or_else(|| std::io::Error::other("the input cannot be read twice"));
    run(open, false, date, options, parquet_out, rejected_out)
}

/// The rejected-rows file of an input none of whose rows was rejected: the header line the
/// rejected rows would have had (the input's header fields, `line`, `reason`), read from the
/// start of `input` (the archived original; only its header is read).
pub fn rejected_header<R: Read>(input: R, options: &IngestOptions) -> Result<Vec<u8>> {
    let fields = Source::header_fields(input, options)?;
    let mut out = Vec::new();
    RejectedWriter::new(&mut out, &fields)?.finish()?;
    Ok(out)
}

/// Like [`ingest`], for an input that `open` can produce again from its start (an archived
/// raw file): when a file has more accepted `unique` keys than
/// [`IngestOptions::max_unique_in_memory`], the later keys are spilled to hash-bucket files in
/// [`IngestOptions::scratch_dir`], and a second read writes the rest of the rows, so memory
/// stays bounded whatever the number of rows. The output is the same as [`ingest`]'s.
pub fn ingest_reopenable<R: Read, F: FnMut() -> std::io::Result<R>, P: Write + Send, J: Write>(
    open: F,
    date: chrono::NaiveDate,
    options: &IngestOptions,
    parquet_out: P,
    rejected_out: J,
) -> Result<IngestReport> {
    run(open, true, date, options, parquet_out, rejected_out)
}

fn run<R: Read, F: FnMut() -> std::io::Result<R>, P: Write + Send, J: Write>(
    mut open: F,
    reopenable: bool,
    date: chrono::NaiveDate,
    options: &IngestOptions,
    parquet_out: P,
    rejected_out: J,
) -> Result<IngestReport> {
    let mut src = Source::open(open()?, options)?;
    let delimiter = src.delimiter;
    let header = src.header.clone();
    let schema = output_schema(&options.schema, &header);
    let unique: Vec<String> =
        options.schema.columns.iter().filter(|c| c.has(Check::Unique)).map(|c| c.name.clone()).collect();
    let props = writer_properties(options.row_group_rows, &unique);
    let validator = RowValidator::new(
        &options.schema,
        &header,
        NumberFormat::for_delimiter(delimiter),
        date,
        options.timestamp_format.clone(),
        &options.default_currency,
    )?;
    let uniques = validator.unique_columns();
    let n_unique = uniques.len();
    let rejected = RejectedWriter::new(rejected_out, &header.original)?;
    let report = IngestReport {
        rows_total: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        errors: Vec::new(),
        schema: schema.clone(),
        encoding: "",
        delimiter,
        parquet_bytes: 0,
    };
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let chunk_rows = options.batch_rows.max(1);

    // Per field, the name errors use: the schema's name of a known column, else as written.
    let mut names: Vec<String> = header.original.iter().map(|n| n.trim().to_string()).collect();
    for (column, slot) in options.schema.columns.iter().zip(&header.slots) {
        if let Some(name) = slot.and_then(|at| names.get_mut(at)) {
            *name = column.name.clone();
        }
    }
    let names = Arc::new(names);
    let (job_tx, job_rx) = channel();
    let (done_tx, done_rx) = channel();
    let job_rx = Mutex::new(job_rx);
    let (parsed, written) = std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<RecordBatch>(2);
        let writer_schema = schema.clone();
        let writer = s.spawn(move || write_batches(rx, writer_schema, props, parquet_out));
        for _ in 0..threads {
            let (job_rx, done_tx, validator) = (&job_rx, done_tx.clone(), validator.clone());
            let batch = BatchBuilder::new(schema.clone(), chunk_rows);
            let shape = RecordShape {
                n_fields: header.n_fields,
                max_field_bytes: options.max_field_bytes,
                names: Arc::clone(&names),
            };
            s.spawn(move || work(job_rx, done_tx, validator, batch, shape, n_unique));
        }
        drop(done_tx);
        let budget = reopenable.then_some(options.max_unique_in_memory);
        let mut seq = Sequencer::new(report, rejected, tx, uniques, budget, &options.scratch_dir);
        let mut pump = Pump::new(chunk_rows, 2 * threads + 2, job_tx, done_rx);
        let parsed = (|| -> Result<()> {
            pump.run(&mut src, 0, &mut seq)?;
            let rows = src.rows;
            if let Some(from) = seq.end_first_pass(rows)? {
                let mut again = Source::open(open()?, options)?;
                if again.header != header {
                    return Err(changed());
                }
                pump.run(&mut again, from, &mut seq)?;
                if again.rows != rows {
                    return Err(changed());
                }
                src = again;
            }
            Ok(())
        })();
        pump.jobs = None;
        seq.close();
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the Parquet writer stopped unexpectedly").into()));
        let Sequencer { mut report, rejected, .. } = seq;
        let parsed = parsed.and_then(|()| {
            report.encoding = src.encoding().name();
            rejected.finish().map(|()| report)
        });
        (parsed, written)
    });
    let report = match (parsed, written) {
        (_, Err(e)) | (Err(e), Ok(_)) => return Err(e),
        (Ok(report), Ok(bytes)) => IngestReport { parquet_bytes: bytes, ..report },
    };
    if report.rows_total > 0 {
        let fraction = report.rows_rejected as f64 / report.rows_total as f64;
        if fraction > options.max_rejected_fraction {
            return Err(IngestError::TooManyRejected {
                report: Box::new(report),
                fraction,
                limit: options.max_rejected_fraction,
            });
        }
    }
    Ok(report)
}

fn changed() -> IngestError {
    std::io::Error::other("the input changed between its first and second reading").into()
}

/// The schema's columns, then unknown columns as nullable strings.
fn output_schema(schema: &TableSchema, header: &HeaderMap) -> SchemaRef {
    let mut fields = schema.arrow_fields();
    fields.extend(header.extras.iter().map(|(_, name)| Field::new(name, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}
