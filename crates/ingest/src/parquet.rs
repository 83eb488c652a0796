//! Parquet output: zstd, page-level statistics and page index, bounded row groups; encoding
//! runs on its own thread, fed through a small bounded channel of record batches.

use std::io::Write;
use std::sync::mpsc::Receiver;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::error::Result;

/// Writer settings: zstd level 1, page statistics (hence column and offset indexes), at most
/// `row_group_rows` rows per row group; no dictionary for `unique_columns` (all distinct).
pub fn writer_properties(row_group_rows: usize, unique_columns: &[String]) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_created_by(concat!("shoplake ", env!("CARGO_PKG_VERSION")).to_string());
    for c in unique_columns {
        b = b.set_column_dictionary_enabled(ColumnPath::from(c.as_str()), false);
    }
    b.build()
}

/// Counts the bytes that pass through.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes every batch received to `out` until the sender hangs up, then closes the file.
/// Returns the number of bytes written.
pub fn write_batches<W: Write + Send>(
    rx: Receiver<RecordBatch>,
    schema: SchemaRef,
    props: WriterProperties,
    out: W,
) -> Result<u64> {
    let mut writer = ArrowWriter::try_new(Counting { inner: out, bytes: 0 }, schema, Some(props))?;
    for batch in rx {
        writer.write(&batch)?;
    }
    let mut counting = writer.into_inner()?;
    counting.flush()?;
    Ok(counting.bytes)
}
