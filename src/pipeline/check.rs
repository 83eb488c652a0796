//! The dry run: a file validated exactly as an upload of the same bytes would be (same ingest
//! core, options, shop-day and row rules, same schema check against the table), answered with
//! the report the upload would carry, and nothing kept: no raw file, no upload record, no
//! partition, no catalog change, no metrics. The body is spooled to a scratch file (for the
//! ingest's second reading of very large files) that is gone, with the ingest's own scratch
//! outputs, before the report is returned.

use super::verdict::{schema_fit, too_many_rejected, SchemaFit};
use super::{process, tee, DigestReader, Incoming, Pipeline, PipelineError, SchemaLimits};
use crate::catalog::types::columns_of;
use crate::catalog::ColumnDef;
use crate::domain::{SalesDate, UploadId, UploadStatus};
use crate::ingest::{IngestError, IngestOptions, IngestReport, RowError};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// What a dry run found: the report an upload of the same bytes would carry, and what the
/// table would gain.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The shop-day the file was checked for.
    pub date: SalesDate,
    /// The client's (or the CLI's) file name.
    pub filename: Option<String>,
    /// Size of the body as received.
    pub bytes: u64,
    /// sha256 (hex) of the body as received.
    pub sha256: String,
    /// What the upload would reach: `succeeded` or `rejected`.
    pub status: UploadStatus,
    /// Data rows read (0 when the file is refused before its rows are read).
    pub rows_total: u64,
    /// Rows that would be written to `processed/`.
    pub rows_accepted: u64,
    /// Rows that would be refused.
    pub rows_rejected: u64,
    /// The first 100 row errors, as the upload would record them.
    pub errors: Vec<RowError>,
    /// Why the whole file would be refused, if it would be.
    pub problem: Option<String>,
    /// Columns the table would gain: the file's columns that are neither in the table schema
    /// (the contract) nor in the table yet.
    pub new_columns: Vec<ColumnDef>,
    /// Why the file's columns would not fit the table, if they would not (also the `problem`
    /// when nothing else refuses the file first).
    pub schema_problem: Option<String>,
    /// The text encoding detected, when the file was read that far.
    pub encoding: Option<&'static str>,
    /// The delimiter detected, when the file was read that far.
    pub delimiter: Option<char>,
}

impl Pipeline {
    /// Dry run of an upload: validates `body` for `incoming`'s shop-day as [`Pipeline::accept`]
    /// would, and checks its columns against the sales table as the catalog has it now, reading
    /// only. Stores nothing and claims no `Idempotency-Key`. Errors are those of the request
    /// (body over the size limit, interrupted) or of the service (local disk, catalog); a file
    /// the upload would refuse is a report with status `rejected`.
    #[tracing::instrument(name = "pipeline.check", skip_all, fields(date = %incoming.date))]
    pub async fn check(
        &self,
        incoming: &Incoming,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<CheckReport, PipelineError> {
        let scratch_dir = self.store.scratch_dir();
        let checked = ingest_body(body, incoming.date, &self.options, scratch_dir, self.max_upload_bytes).await?;
        let fit = match checked.file_columns()? {
            Some(columns) => self.schema_fit(&columns).await?,
            None => SchemaFit::default(),
        };
        checked.into_report(incoming.filename.clone(), fit, self.options.max_rejected_fraction)
    }
}

/// The dry run without a lake (`shoplake validate`): validates `body` for `date` with
/// `options`, scratch files in `scratch_dir`, bodies over `max_bytes` refused as uploads are.
/// The table is unknown here, so `new_columns` are the columns beyond the table schema and
/// no schema problem is reported (the API's dry run checks the live table).
pub async fn check_offline(
    body: &mut (dyn AsyncRead + Send + Unpin),
    date: SalesDate,
    filename: Option<String>,
    options: &Arc<IngestOptions>,
    scratch_dir: &Path,
    max_bytes: u64,
) -> Result<CheckReport, PipelineError> {
    let checked = ingest_body(body, date, options, scratch_dir, max_bytes).await?;
    let fit = match checked.file_columns()? {
        Some(columns) => schema_fit(None, &options.schema, &columns, SchemaLimits::default()),
        None => SchemaFit::default(),
    };
    checked.into_report(filename, fit, options.max_rejected_fraction)
}

/// A body read through the ingest core, its scratch files already removed.
struct Checked {
    date: SalesDate,
    bytes: u64,
    sha256: String,
    verdict: Result<IngestReport, IngestError>,
}

impl Checked {
    /// The catalog columns of the file the upload would write, when its rows pass.
    fn file_columns(&self) -> Result<Option<Vec<ColumnDef>>, PipelineError> {
        match &self.verdict {
            Ok(report) => Ok(Some(columns_of(&report.schema)?)),
            Err(_) => Ok(None),
        }
    }

    /// The report, judged as [`Pipeline::process`] judges an upload: the rows first, then
    /// the columns. A failure that is not the file's fault is an error, as for an upload.
    fn into_report(
        self,
        filename: Option<String>,
        fit: SchemaFit,
        max_rejected_fraction: f64,
    ) -> Result<CheckReport, PipelineError> {
        let (report, problem) = match self.verdict {
            Ok(report) => {
                let problem = fit.problem.clone();
                (Some(report), problem)
            }
            Err(IngestError::TooManyRejected { report, .. }) => {
                let problem = too_many_rejected(&report, max_rejected_fraction);
                (Some(*report), Some(problem))
            }
            Err(
                error @ (IngestError::Io(_) | IngestError::Parquet(_) | IngestError::Arrow(_) | IngestError::Schema(_)),
            ) => return Err(PipelineError::processing(error)),
            Err(file_level) => (None, Some(file_level.to_string())),
        };
        let status = if problem.is_some() { UploadStatus::Rejected } else { UploadStatus::Succeeded };
        let counts = report.as_ref().map_or((0, 0, 0), |r| (r.rows_total, r.rows_accepted, r.rows_rejected));
        Ok(CheckReport {
            date: self.date,
            filename,
            bytes: self.bytes,
            sha256: self.sha256,
            status,
            rows_total: counts.0,
            rows_accepted: counts.1,
            rows_rejected: counts.2,
            encoding: report.as_ref().map(|r| r.encoding),
            delimiter: report.as_ref().map(|r| char::from(r.delimiter)),
            errors: report.map(|r| r.errors).unwrap_or_default(),
            problem,
            new_columns: fit.new_columns,
            schema_problem: fit.problem,
        })
    }
}

/// A scratch file removed when dropped.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reads `body` to a scratch spool (hashing it, counting it against `max_bytes`) while the
/// ingest core validates the copies as they arrive, exactly as an upload's body is archived and
/// validated; a second reading (very large files) reads the spool once it is complete. Every
/// scratch file is gone when this returns.
async fn ingest_body(
    body: &mut (dyn AsyncRead + Send + Unpin),
    date: SalesDate,
    options: &Arc<IngestOptions>,
    scratch_dir: &Path,
    max_bytes: u64,
) -> Result<Checked, PipelineError> {
    // Names this check's scratch files only; no upload is recorded under it.
    let name = UploadId::new();
    let spool = Spool(scratch_dir.join(format!("{name}.check.part")));
    let (chunks_tx, chunks_rx) = tee::channel();
    let (spooled_tx, spooled_rx) = tokio::sync::oneshot::channel::<()>();
    let reopen = reopen_when_spooled(spool.0.clone(), spooled_rx);
    let ingesting = process::spawn_ingest_while_receiving(scratch_dir, &name, chunks_rx, reopen, date, options.clone());
    let mut reader = DigestReader::new(tee::TeeReader::new(body, chunks_tx), max_bytes);
    let spooled = spool_body(&mut reader, &spool.0).await;
    let summary = reader.summary();
    drop(reader);
    if let Err(error) = spooled {
        // The validator sees the body end early and stops; its scratch files go with it.
        drop(spooled_tx);
        let _ = ingesting.await;
        return Err(match error {
            SpoolError::Body(_) if summary.over_limit => PipelineError::TooLarge { limit: max_bytes, upload_id: None },
            SpoolError::Body(source) => PipelineError::Interrupted { source, upload_id: None },
            SpoolError::Disk(io) => PipelineError::LocalIo(io),
        });
    }
    let _ = spooled_tx.send(());
    let verdict = match ingesting.await {
        // Dropping the scratch outputs removes them: nothing of the check is kept.
        Ok((_scratch, verdict)) => verdict,
        Err(panic) => Err(IngestError::Io(std::io::Error::other(format!("ingest stopped: {panic}")))),
    };
    drop(spool);
    Ok(Checked { date, bytes: summary.bytes, sha256: summary.sha256_hex, verdict })
}

/// Why spooling stopped: the body (interrupted, over the limit) or the local disk.
enum SpoolError {
    Body(std::io::Error),
    Disk(std::io::Error),
}

/// Copies `reader` into a new file at `path`.
async fn spool_body(reader: &mut (impl AsyncRead + Unpin), path: &Path) -> Result<(), SpoolError> {
    let file = tokio::fs::File::create(path).await.map_err(SpoolError::Disk)?;
    let mut file = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        let read = reader.read(&mut buffer).await.map_err(SpoolError::Body)?;
        if read == 0 {
            break;
        }
        file.write_all(&buffer[..read]).await.map_err(SpoolError::Disk)?;
    }
    file.flush().await.map_err(SpoolError::Disk)
}

/// The ingest's second reading: waits (on a blocking thread) until the spool is complete, then
/// reads it from its start.
fn reopen_when_spooled(
    path: PathBuf,
    spooled: tokio::sync::oneshot::Receiver<()>,
) -> impl FnMut() -> std::io::Result<Box<dyn Read>> + Send + 'static {
    let mut spooled = Some(spooled);
    move || {
        if let Some(signal) = spooled.take() {
            signal.blocking_recv().map_err(|_| std::io::Error::other("the body did not arrive complete"))?;
        }
        Ok(Box::new(BufReader::with_capacity(1 << 20, std::fs::File::open(&path)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rows` sales rows for 2025-07-30; the transaction ids in `repeats` appear again at the end.
    fn body(rows: usize, repeats: &[usize]) -> String {
        let mut text = String::from("transaction_id,sold_at,sku,quantity,unit_price\n");
        for (line, i) in (0..rows).chain(repeats.iter().copied()).enumerate() {
            text.push_str(&format!("T-{i:05},2025-07-30T10:{:02}:00,SKU{:03},{},{}.25\n", line % 60, i % 97, 1, 2));
        }
        text
    }

    fn day() -> SalesDate {
        SalesDate::parse("2025-07-30").unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_past_the_key_budget_is_read_again_from_the_spool_and_no_scratch_file_is_left() {
        // Arrange: only 16 transaction ids kept in memory, so the ingest reads the body twice.
        let scratch = tempfile::tempdir().unwrap();
        let options = Arc::new(IngestOptions { max_unique_in_memory: 16, batch_rows: 64, ..IngestOptions::default() });
        let text = body(2_000, &[3, 1_999]);
        // Act
        let report = check_offline(&mut text.as_bytes(), day(), None, &options, scratch.path(), 1 << 30).await.unwrap();
        // Assert: both repeated ids found (one among the spilled keys), as an upload finds them.
        assert_eq!(report.status, UploadStatus::Succeeded);
        assert_eq!((report.rows_total, report.rows_accepted, report.rows_rejected), (2_002, 2_000, 2));
        assert_eq!(report.bytes, text.len() as u64);
        let leftovers: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
        assert!(leftovers.is_empty(), "scratch files left behind: {leftovers:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_over_the_limit_or_cut_short_is_an_error_and_leaves_no_scratch_file() {
        let scratch = tempfile::tempdir().unwrap();
        let options = Arc::new(IngestOptions::default());
        let text = body(200, &[]);
        let over = check_offline(&mut text.as_bytes(), day(), None, &options, scratch.path(), 100).await;
        assert!(matches!(over, Err(PipelineError::TooLarge { limit: 100, upload_id: None })), "{over:?}");
        let cut = futures_util::stream::iter(vec![
            Ok(bytes::Bytes::from(text.clone())),
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client gone")),
        ]);
        let mut cut = tokio_util::io::StreamReader::new(cut);
        let interrupted = check_offline(&mut cut, day(), None, &options, scratch.path(), 1 << 30).await;
        assert!(matches!(interrupted, Err(PipelineError::Interrupted { upload_id: None, .. })), "{interrupted:?}");
        let leftovers: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
        assert!(leftovers.is_empty(), "scratch files left behind: {leftovers:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn offline_the_columns_beyond_the_schema_are_reported_and_never_a_schema_problem() {
        let scratch = tempfile::tempdir().unwrap();
        let options = Arc::new(IngestOptions::default());
        let text = "transaction_id,sold_at,sku,quantity,unit_price,till_no\nT-1,2025-07-30T10:00:00,A,1,2.50,7\n";
        let report = check_offline(&mut text.as_bytes(), day(), None, &options, scratch.path(), 1 << 20).await.unwrap();
        assert_eq!(report.new_columns, vec![ColumnDef { name: "till_no".into(), data_type: "string".into() }]);
        assert_eq!((report.status, report.schema_problem), (UploadStatus::Succeeded, None));
    }
}
