//! `IngestError`: every way a whole file can be refused, each worded for a shop's clerk.

use super::report::IngestReport;

/// Result alias of the ingest core.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// Why a whole file could not be ingested. Row-level problems are not errors: they are
/// [`super::RowError`]s in the report; only when there are too many of them does the file fail.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body had no bytes at all (a day without sales still sends the header line).
    #[error("The file is empty (0 bytes). A day without sales must still send the header line.")]
    Empty,

    /// No line of the file can serve as the header (only blank lines, or no known column name).
    #[error("The file has no usable header line: {detail}.")]
    NoHeader {
        /// What was found instead, in plain words.
        detail: String,
    },

    /// The header lacks one or more columns the schema requires.
    #[error("The header line (line 1) lacks the required column(s): {}.", columns.join(", "))]
    MissingRequiredColumns {
        /// The schema names of the missing columns.
        columns: Vec<String>,
    },

    /// Two header fields name the same column (directly or through an alias).
    #[error("The header line has two columns for `{column}` (columns {first} and {second}); keep only one.")]
    DuplicateColumn {
        /// The schema name (or the written name of an unknown column).
        column: String,
        /// 1-based position of the first header field.
        first: usize,
        /// 1-based position of the second header field.
        second: usize,
    },

    /// The header line has more fields than a file may have (checked before anything is
    /// allocated per column).
    #[error("The header line has {found} columns, more than the limit of {limit} columns per file.")]
    TooManyColumns {
        /// Fields of the header line (counted up to the record limit).
        found: usize,
        /// [`crate::IngestOptions::max_columns`].
        limit: usize,
    },

    /// A header field names a column the table keeps in its partition path (`shop_id`, `date`):
    /// stored in the file too, it would contradict the path.
    #[error(
        "The header line names `{written}` (column {position}), which is the table's partition key `{reserved}`: \
         the {reserved} of an upload comes from its URL, never from the file. Remove that column and send the file again."
    )]
    ReservedColumn {
        /// The header field as written.
        written: String,
        /// 1-based position in the header.
        position: usize,
        /// The partition key it collides with.
        reserved: String,
    },

    /// One record (a line, or several lines inside quotes) is longer than the limit; reading
    /// stopped there, so memory stays bounded.
    #[error(
        "The record starting on line {line} is longer than the limit of {limit} bytes{}.",
        if *quoted { "; it opens a quote (\") that is never closed, so everything after it reads as one field" } else { "" }
    )]
    RecordTooLong {
        /// Physical line where the record starts.
        line: u64,
        /// [`crate::IngestOptions::max_record_bytes`].
        limit: usize,
        /// Whether the record is inside an open quote when the limit is reached.
        quoted: bool,
    },

    /// The body inflates to more bytes than allowed (a gzip bomb, or simply too big).
    #[error("The file is larger than the limit of {limit} bytes once decompressed; split it or send it in parts.")]
    DecompressedTooLarge {
        /// [`crate::IngestOptions::max_decompressed_bytes`].
        limit: u64,
    },

    /// The bytes are not text in a supported encoding (binary data, broken gzip, invalid UTF-8
    /// that is not plausible Windows-1252 either).
    #[error("Line {line} cannot be read as text: {detail}. Please send a CSV saved as UTF-8.")]
    Undecodable {
        /// Physical line (1-based) where the problem was found.
        line: u64,
        /// What was wrong, in plain words.
        detail: String,
    },

    /// More rows were rejected than the configured fraction allows; nothing is written.
    #[error(
        "{} of {} rows were rejected ({:.1} %), more than the {:.1} % allowed, so the whole file is refused{}",
        report.rows_rejected, report.rows_total, fraction * 100.0, limit * 100.0,
        first_error_hint(report)
    )]
    TooManyRejected {
        /// The report of the attempt (counts and the first row errors).
        report: Box<IngestReport>,
        /// rows_rejected / rows_total.
        fraction: f64,
        /// The configured maximum fraction.
        limit: f64,
    },

    /// The schema file (TOML) is invalid.
    #[error("The table schema is invalid: {0}.")]
    Schema(String),

    /// Reading the input or writing an output failed.
    #[error("The file could not be read or written: {0}.")]
    Io(#[from] std::io::Error),

    /// The Parquet encoder failed.
    #[error("Writing the Parquet file failed: {0}.")]
    Parquet(#[from] parquet::errors::ParquetError),

    /// Building Arrow record batches failed.
    #[error("Building the columnar data failed: {0}.")]
    Arrow(#[from] arrow::error::ArrowError),
}

fn first_error_hint(report: &IngestReport) -> String {
    match report.errors.first() {
        Some(e) => match &e.column {
            Some(c) => format!("; for example line {}, column {}: {}.", e.line, c, e.reason),
            None => format!("; for example line {}: {}.", e.line, e.reason),
        },
        None => ".".to_string(),
    }
}

impl From<csv::Error> for IngestError {
    fn from(e: csv::Error) -> Self {
        let line = e.position().map(|p| p.line()).unwrap_or(0);
        match e.into_kind() {
            csv::ErrorKind::Io(io) if is_decode_error(&io) => {
                IngestError::Undecodable { line, detail: format!("the compressed data is damaged ({io})") }
            }
            csv::ErrorKind::Io(io) => IngestError::Io(io),
            other => IngestError::Undecodable { line, detail: format!("{other:?}") },
        }
    }
}

/// Errors of a gzip decoder on damaged input surface as these kinds.
pub(crate) fn is_decode_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput | std::io::ErrorKind::UnexpectedEof
    )
}
