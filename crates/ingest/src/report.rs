//! The outcome of one ingest: counts, the first row errors, and the rejected-rows CSV
//! (original fields, `line`, `reason`; spreadsheet formulas neutralised).

use std::borrow::Cow;
use std::io::Write;

use arrow::datatypes::SchemaRef;

use super::error::Result;

/// How many row errors the report keeps (the rejected-rows file has them all).
pub const MAX_REPORTED_ERRORS: usize = 100;

/// One defect of one row.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct RowError {
    /// Physical line where the record starts (header = 1).
    pub line: u64,
    /// The contract's column name, `None` for defects of the whole row.
    pub column: Option<String>,
    /// The value as written (trimmed).
    pub value: Option<String>,
    /// What is wrong, for a shop's clerk.
    pub reason: String,
}

/// Counts and facts of one ingest.
#[derive(Debug, Clone)]
pub struct IngestReport {
    /// Data rows read (blank lines not counted).
    pub rows_total: u64,
    /// Rows written to Parquet.
    pub rows_accepted: u64,
    /// Rows written to the rejected-rows CSV.
    pub rows_rejected: u64,
    /// The first [`MAX_REPORTED_ERRORS`] row errors.
    pub errors: Vec<RowError>,
    /// Columns of the Parquet file, including unknown columns kept as strings.
    pub schema: SchemaRef,
    /// `utf-8` or `windows-1252`.
    pub encoding: &'static str,
    /// The detected delimiter.
    pub delimiter: u8,
    /// Size of the Parquet file.
    pub parquet_bytes: u64,
}

/// Writes the rejected-rows CSV.
pub struct RejectedWriter<J: Write> {
    out: csv::Writer<J>,
    width: usize,
    record: Vec<Vec<u8>>,
}

/// Prefixes `'` to values a spreadsheet would run as a formula (OWASP CSV injection).
pub fn neutralise(v: &[u8]) -> Cow<'_, [u8]> {
    match v.first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => {
            let mut o = Vec::with_capacity(v.len() + 1);
            o.push(b'\'');
            o.extend_from_slice(v);
            Cow::Owned(o)
        }
        _ => Cow::Borrowed(v),
    }
}

impl<J: Write> RejectedWriter<J> {
    /// Starts the file with the original header fields, then `line` and `reason`.
    pub fn new(out: J, header: &[String]) -> Result<Self> {
        let mut out = csv::WriterBuilder::new().flexible(true).from_writer(out);
        let mut fields: Vec<Vec<u8>> = header.iter().map(|h| neutralise(h.as_bytes()).into_owned()).collect();
        fields.push(b"line".to_vec());
        fields.push(b"reason".to_vec());
        out.write_record(&fields).map_err(csv_io)?;
        Ok(RejectedWriter { out, width: header.len(), record: Vec::new() })
    }

    /// One rejected row: its fields as written (padded to the header's width when short;
    /// surplus fields follow `reason`), its line, and all reasons joined with `; `.
    pub fn write(&mut self, fields: &csv::ByteRecord, line: u64, errors: &[RowError]) -> Result<()> {
        self.record.clear();
        let n = fields.len();
        for f in fields.iter().take(self.width) {
            self.record.push(neutralise(f).into_owned());
        }
        while self.record.len() < self.width {
            self.record.push(Vec::new());
        }
        self.record.push(line.to_string().into_bytes());
        let reason = errors.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>().join("; ");
        self.record.push(neutralise(reason.as_bytes()).into_owned());
        for f in fields.iter().skip(self.width).take(n.saturating_sub(self.width)) {
            self.record.push(neutralise(f).into_owned());
        }
        self.out.write_record(&self.record).map_err(csv_io)
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

fn csv_io(e: csv::Error) -> super::IngestError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io.into(),
        other => std::io::Error::other(format!("{other:?}")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starters_are_prefixed_with_a_quote() {
        for v in ["=SUM(A1)", "+1", "-2", "@cmd", "\tx", "\rx"] {
            assert_eq!(neutralise(v.as_bytes()).as_ref(), format!("'{v}").as_bytes());
        }
        assert_eq!(neutralise(b"plain").as_ref(), b"plain");
    }
}
