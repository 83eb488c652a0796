//! The ingest pipeline: sniff, map the header, validate every record, append accepted rows to
//! Arrow batches encoded as Parquet on a second thread, and write rejected rows as CSV.

use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use csv::ByteRecord;

use super::batch::BatchBuilder;
use super::error::{IngestError, Result};
use super::header::{map_header, HeaderMap};
use super::number::NumberFormat;
use super::parquet::{write_batches, writer_properties};
use super::report::{IngestReport, RejectedWriter, RowError, MAX_REPORTED_ERRORS};
use super::row::{trim, RowValidator};
use super::schema::{Check, TableSchema};
use super::sniff::{plausible_1252, sniff, TextEncoding};

/// How to ingest: the table schema and the limits of a deployment.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Columns, types, aliases and checks (default: the contract's sales schema).
    pub schema: TableSchema,
    /// ISO 4217 code for rows that leave `currency` empty (`SHOPLAKE_DEFAULT_CURRENCY`).
    pub default_currency: String,
    /// Above this fraction of rejected rows the whole file is refused.
    pub max_rejected_fraction: f64,
    /// Rows per Arrow record batch (memory per batch in flight).
    pub batch_rows: usize,
    /// Maximum rows per Parquet row group.
    pub row_group_rows: usize,
    /// A chrono format (e.g. `%d/%m/%Y %H:%M`) accepted for timestamps besides ISO 8601.
    pub timestamp_format: Option<String>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            schema: TableSchema::sales_default(),
            default_currency: "EUR".to_string(),
            max_rejected_fraction: 0.05,
            batch_rows: 64 * 1024,
            row_group_rows: 1024 * 1024,
            timestamp_format: None,
        }
    }
}

/// Reads `input` (raw bytes as received; gzip detected by its magic bytes), validates every
/// row against the shop-day `date`, writes accepted rows as Parquet to `parquet_out` and
/// rejected rows as CSV to `rejected_out`. Memory stays bounded whatever the input size
/// (apart from one 128-bit fingerprint per accepted `unique` value).
pub fn ingest<R: Read, P: Write + Send, J: Write>(
    input: R,
    date: chrono::NaiveDate,
    options: &IngestOptions,
    parquet_out: P,
    rejected_out: J,
) -> Result<IngestReport> {
    let sniffed = sniff(input)?;
    let delimiter = sniffed.delimiter;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(sniffed.reader);
    let mut st = Decoder { encoding: sniffed.encoding, alt: ByteRecord::new() };
    let mut rec = ByteRecord::new();

    // The header: the first non-blank record.
    let header = loop {
        if !rdr.read_byte_record(&mut rec)? {
            return Err(IngestError::NoHeader { detail: "the file contains only blank lines".into() });
        }
        if !is_blank(&rec, delimiter) {
            let line = rec.position().map_or(1, |p| p.line());
            let fields: Vec<String> =
                st.decode(&rec, line)?.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
            break map_header(&fields, &options.schema)?;
        }
    };
    let schema = output_schema(&options.schema, &header);
    let unique: Vec<String> =
        options.schema.columns.iter().filter(|c| c.has(Check::Unique)).map(|c| c.name.clone()).collect();
    let props = writer_properties(options.row_group_rows, &unique);
    let mut validator = RowValidator::new(
        &options.schema,
        &header,
        NumberFormat::for_delimiter(delimiter),
        date,
        options.timestamp_format.clone(),
        &options.default_currency,
    )?;
    let mut rejected = RejectedWriter::new(rejected_out, &header.original)?;
    let mut report = IngestReport {
        rows_total: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        errors: Vec::new(),
        schema: schema.clone(),
        encoding: "",
        delimiter,
        parquet_bytes: 0,
    };

    let (parsed, written) = std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<RecordBatch>(2);
        let writer_schema = schema.clone();
        let writer = s.spawn(move || write_batches(rx, writer_schema, props, parquet_out));
        let mut batch = BatchBuilder::new(schema.clone(), options.batch_rows);
        let parsed = read_rows(
            &mut rdr,
            &mut rec,
            &mut st,
            &header,
            &mut validator,
            &mut batch,
            &mut rejected,
            &mut report,
            &tx,
        );
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the Parquet writer stopped unexpectedly").into()));
        (parsed, written)
    });
    let bytes = match (parsed, written) {
        (_, Err(e)) | (Err(e), Ok(_)) => return Err(e),
        (Ok(()), Ok(bytes)) => bytes,
    };
    rejected.finish()?;
    report.parquet_bytes = bytes;
    report.encoding = st.encoding.name();
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

#[allow(clippy::too_many_arguments)]
fn read_rows<R: Read, J: Write>(
    rdr: &mut csv::Reader<R>,
    rec: &mut ByteRecord,
    st: &mut Decoder,
    header: &HeaderMap,
    validator: &mut RowValidator,
    batch: &mut BatchBuilder,
    rejected: &mut RejectedWriter<J>,
    report: &mut IngestReport,
    tx: &SyncSender<RecordBatch>,
) -> Result<()> {
    let delimiter = report.delimiter;
    let mut errors: Vec<RowError> = Vec::new();
    let send = |batch: &mut BatchBuilder| -> Result<()> {
        tx.send(batch.finish()?).map_err(|_| std::io::Error::other("the Parquet writer stopped").into())
    };
    while rdr.read_byte_record(rec)? {
        if is_blank(rec, delimiter) {
            continue;
        }
        let line = rec.position().map_or(0, |p| p.line());
        report.rows_total += 1;
        let row = st.decode(rec, line)?;
        errors.clear();
        if row.len() != header.n_fields {
            errors.push(RowError {
                line,
                column: None,
                value: None,
                reason: format!("expected {} fields, found {}", header.n_fields, row.len()),
            });
        } else if validator.validate(row, line, &mut errors) {
            batch.append(row, &validator.values);
            report.rows_accepted += 1;
            if batch.is_full() {
                send(batch)?;
            }
            continue;
        }
        report.rows_rejected += 1;
        rejected.write(row, line, &errors)?;
        let room = MAX_REPORTED_ERRORS.saturating_sub(report.errors.len());
        report.errors.extend(errors.drain(..).take(room));
    }
    if !batch.is_empty() {
        send(batch)?;
    }
    Ok(())
}

/// The schema's columns, then unknown columns as nullable strings.
fn output_schema(schema: &TableSchema, header: &HeaderMap) -> SchemaRef {
    let mut fields = schema.arrow_fields();
    fields.extend(header.extras.iter().map(|(_, name)| Field::new(name, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

/// A line of whitespace only (for tab files, tabs count as whitespace).
fn is_blank(rec: &ByteRecord, delimiter: u8) -> bool {
    (rec.len() == 1 || delimiter == b'\t') && rec.iter().all(|f| trim(f).is_empty())
}

/// Turns records into UTF-8, settling the encoding at the first non-ASCII record.
struct Decoder {
    encoding: TextEncoding,
    alt: ByteRecord,
}

impl Decoder {
    #[inline]
    fn decode<'a>(&'a mut self, rec: &'a ByteRecord, line: u64) -> Result<&'a ByteRecord> {
        let bytes = rec.as_slice();
        if bytes.is_ascii() {
            if bytes.contains(&0) {
                return Err(IngestError::Undecodable {
                    line,
                    detail: "it contains binary data (a NUL byte); is this really a CSV file?".into(),
                });
            }
            return Ok(rec);
        }
        if self.encoding != TextEncoding::Windows1252 {
            match std::str::from_utf8(bytes) {
                Ok(_) if !bytes.contains(&0) => {
                    self.encoding = TextEncoding::Utf8;
                    return Ok(rec);
                }
                Err(_) if self.encoding == TextEncoding::Undecided && plausible_1252(bytes) => {
                    self.encoding = TextEncoding::Windows1252;
                }
                _ => {
                    return Err(IngestError::Undecodable {
                        line,
                        detail: "it is not valid UTF-8 text (did the encoding change within the file?)".into(),
                    })
                }
            }
        }
        if !plausible_1252(bytes) {
            return Err(IngestError::Undecodable { line, detail: "it is neither UTF-8 nor Windows-1252 text".into() });
        }
        self.alt.clear();
        for f in rec.iter() {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(f);
            self.alt.push_field(text.as_bytes());
        }
        Ok(&self.alt)
    }
}
