//! The reading end: sniffing, the header, and records cut into chunks for the validating
//! workers (the CSV parser is sequential, so quoted newlines need no special care).

use std::io::Read;

use csv::ByteRecord;

use std::sync::Arc;

use super::driver::IngestOptions;
use super::error::{IngestError, Result};
use super::header::{map_header, HeaderMap};
use super::limits::{limit_hit, Bounded, LimitHit, RecordStart};
use super::lines::LineCounter;
use super::row::{trim, Key};
use super::sniff::{plausible_1252, sniff, TextEncoding};

/// Bytes of records one chunk holds at most (besides its row count): a few chunks are in
/// flight per thread, so this bounds memory whatever the length of the records.
const CHUNK_BYTES: usize = 8 << 20;
/// A record slot that held more than this gives its allocation back before it is reused.
const KEEP_RECORD_BYTES: usize = 64 << 10;

/// Up to `capacity` consecutive data records, and what a worker made of them.
pub struct Chunk {
    /// Row index (0-based, blank lines not counted) of the first record.
    pub first_row: u64,
    /// Records in use (`records` may hold more, kept for their allocations).
    pub len: usize,
    /// The records, every field valid UTF-8.
    pub records: Vec<ByteRecord>,
    /// Physical line of each record.
    pub lines: Vec<u64>,
    /// Whether the worker should build Arrow columns for the valid rows.
    pub build: bool,
    /// Filled by the worker: per record, whether it has no defect (apart from a possible
    /// duplicate key), and where its errors end in `errors`.
    pub states: Vec<(bool, u32)>,
    /// Filled by the worker: the errors of all records, in order.
    pub errors: Vec<super::RowError>,
    /// Filled by the worker: `n_unique` keys per record.
    pub keys: Vec<Key>,
    /// Filled by the worker: the valid rows, when `build`.
    pub batch: Option<arrow::record_batch::RecordBatch>,
}

impl Chunk {
    /// An empty chunk.
    pub fn new() -> Self {
        Chunk {
            first_row: 0,
            len: 0,
            records: Vec::new(),
            lines: Vec::new(),
            build: true,
            states: Vec::new(),
            errors: Vec::new(),
            keys: Vec::new(),
            batch: None,
        }
    }
}

/// A sniffed input with its header read, producing chunks of records.
pub struct Source<'r> {
    rdr: csv::Reader<LineCounter<Bounded<Box<dyn Read + 'r>>>>,
    record_start: Arc<RecordStart>,
    /// Physical line of the record read last.
    last_line: u64,
    decoder: Decoder,
    /// The detected delimiter.
    pub delimiter: u8,
    /// Where the schema's columns are.
    pub header: HeaderMap,
    /// Data rows read so far.
    pub rows: u64,
}

impl<'r> Source<'r> {
    /// Sniffs `input` and maps its header (the first non-blank record) onto the schema of
    /// `options`, within its limits (columns, record length, decompressed size).
    pub fn open<R: Read + 'r>(input: R, options: &IngestOptions) -> Result<Self> {
        let (mut src, fields) = Self::open_header(input, options)?;
        src.header = map_header(&fields, &options.schema, &options.reserved_columns)?;
        Ok(src)
    }

    /// The header line's fields as written (decoded, not mapped onto the schema).
    pub fn header_fields<R: Read + 'r>(input: R, options: &IngestOptions) -> Result<Vec<String>> {
        Ok(Self::open_header(input, options)?.1)
    }

    /// Sniffs `input` and reads its header (the first non-blank record) within the limits.
    fn open_header<R: Read + 'r>(input: R, options: &IngestOptions) -> Result<(Self, Vec<String>)> {
        let sniffed = sniff(input)?;
        let delimiter = sniffed.delimiter;
        let record_start = Arc::new(RecordStart::default());
        let bounded = Bounded::new(
            sniffed.reader,
            options.max_decompressed_bytes,
            options.max_record_bytes,
            Arc::clone(&record_start),
        );
        let rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(LineCounter::new(bounded));
        let decoder = Decoder { encoding: sniffed.encoding, alt: ByteRecord::new() };
        let mut src =
            Source { rdr, record_start, last_line: 1, decoder, delimiter, header: HeaderMap::default(), rows: 0 };
        let mut rec = ByteRecord::new();
        loop {
            if !src.read(&mut rec)? {
                return Err(IngestError::NoHeader { detail: "the file contains only blank lines".into() });
            }
            if !is_blank(&rec, delimiter) {
                break;
            }
        }
        // Checked before anything is allocated per column.
        if rec.len() > options.max_columns {
            return Err(IngestError::TooManyColumns { found: rec.len(), limit: options.max_columns });
        }
        let line = src.last_line;
        src.decoder.decode(&mut rec, line)?;
        let fields: Vec<String> = rec.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        Ok((src, fields))
    }

    /// Reads the next record (blank or not) within the limits; `false` at the end.
    #[inline]
    fn read(&mut self, rec: &mut ByteRecord) -> Result<bool> {
        match self.rdr.read_byte_record(rec) {
            Ok(more) => {
                let next = self.rdr.position();
                self.record_start.set(next.byte());
                if more {
                    // Every record, blank ones too, so that the counter forgets the line breaks
                    // before it (its memory stays bounded by one record and the read-ahead).
                    let start = rec.position().map_or(0, |p| p.byte());
                    self.last_line = self.rdr.get_mut().line_of(start);
                }
                Ok(more)
            }
            Err(error) => Err(match self.limit_error(&error) {
                Some(limit) => limit,
                None => match IngestError::from(error) {
                    // Damaged compressed data: on the line of the record being read.
                    IngestError::Undecodable { detail, .. } => {
                        let start = self.record_start.get();
                        IngestError::Undecodable { line: self.rdr.get_mut().line_of(start), detail }
                    }
                    other => other,
                },
            }),
        }
    }

    /// The ingest error for a read stopped by a limit.
    fn limit_error(&mut self, error: &csv::Error) -> Option<IngestError> {
        let csv::ErrorKind::Io(io) = error.kind() else { return None };
        Some(match limit_hit(io)? {
            LimitHit::Decompressed { limit } => IngestError::DecompressedTooLarge { limit },
            LimitHit::Record { limit, quoted } => {
                let start = self.record_start.get();
                IngestError::RecordTooLong { line: self.rdr.get_mut().line_of(start), limit, quoted }
            }
        })
    }

    /// The encoding settled so far.
    pub fn encoding(&self) -> TextEncoding {
        self.decoder.encoding
    }

    /// Fills `chunk` with up to `capacity` data records, skipping blank lines and the rows
    /// before `skip_to` (which are still decoded, so that the encoding evolves as in a full
    /// read). Returns whether the input is exhausted.
    pub fn fill(&mut self, chunk: &mut Chunk, capacity: usize, skip_to: u64) -> Result<bool> {
        chunk.len = 0;
        chunk.first_row = self.rows.max(skip_to);
        let mut bytes = 0usize;
        while chunk.len < capacity && bytes < CHUNK_BYTES {
            if chunk.records.len() == chunk.len {
                chunk.records.push(ByteRecord::new());
                chunk.lines.push(0);
            }
            let rec = &mut chunk.records[chunk.len];
            if rec.as_slice().len() > KEEP_RECORD_BYTES || rec.len() > KEEP_RECORD_BYTES / 8 {
                *rec = ByteRecord::new();
            }
            if !self.read(rec)? {
                return Ok(true);
            }
            bytes += rec.as_slice().len() + rec.len() * std::mem::size_of::<usize>();
            if is_blank(rec, self.delimiter) {
                continue;
            }
            let line = self.last_line;
            self.decoder.decode(rec, line)?;
            self.rows += 1;
            if self.rows <= skip_to {
                continue;
            }
            chunk.lines[chunk.len] = line;
            chunk.len += 1;
        }
        Ok(false)
    }
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
    /// Checks or converts `rec` in place so that every field is valid UTF-8.
    #[inline]
    fn decode(&mut self, rec: &mut ByteRecord, line: u64) -> Result<()> {
        let bytes = rec.as_slice();
        if bytes.is_ascii() {
            if bytes.contains(&0) {
                return Err(IngestError::Undecodable {
                    line,
                    detail: "it contains binary data (a NUL byte); is this really a CSV file?".into(),
                });
            }
            return Ok(());
        }
        if self.encoding != TextEncoding::Windows1252 {
            // Field by field: fields split at ASCII bytes, so valid UTF-8 text gives valid fields.
            match rec.iter().all(|f| std::str::from_utf8(f).is_ok()) {
                true if !bytes.contains(&0) => {
                    self.encoding = TextEncoding::Utf8;
                    return Ok(());
                }
                false if self.encoding == TextEncoding::Undecided && plausible_1252(bytes) => {
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
        self.alt.set_position(rec.position().cloned());
        std::mem::swap(rec, &mut self.alt);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_do_not_accumulate_in_the_line_counter() {
        // 1,000,000 whitespace-only lines (each one record the parser hands over) between rows;
        // what stays held is the parser's read-ahead (256 KiB: 131,072 such lines) at most.
        let header = "transaction_id,sold_at,sku,product_name,quantity,unit_price,currency,payment_method\n";
        let row = "a,2025-07-30T10:00:00,SKU1,Milk,1,1.00,EUR,card\n";
        let body = format!("{header}{row}{}{row}", " \n".repeat(1_000_000));
        let mut source = Source::open(body.as_bytes(), &IngestOptions::default()).unwrap();
        let mut chunk = Chunk::new();
        let mut lines = Vec::new();
        loop {
            let done = source.fill(&mut chunk, 1024, 0).unwrap();
            lines.extend_from_slice(&chunk.lines[..chunk.len]);
            let held = source.rdr.get_ref().pending_runs();
            assert!(held <= 140_000, "{held} runs of line breaks held");
            if done {
                break;
            }
        }
        assert_eq!(lines, vec![2, 1_000_003]);
    }
}
