//! Runs the ingest core on a blocking thread, over a body as it is being archived or over an
//! archived raw file, writing the Parquet and rejected-rows outputs to scratch files for the
//! commit step.

use super::tee::ChunkReceiver;
use crate::domain::{SalesDate, UploadId};
use crate::ingest::{ingest_reopenable, IngestError, IngestOptions, IngestReport};
use crate::storage::{BlobStore, StorageResult};
use bytes::Bytes;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::io::SyncIoBridge;

/// Scratch outputs of one ingest; removed on drop unless moved into storage first.
#[derive(Debug)]
pub struct ScratchFiles {
    /// The Parquet file.
    pub parquet: PathBuf,
    /// The rejected-rows CSV.
    pub rejected: PathBuf,
}

impl ScratchFiles {
    pub(super) fn new(store: &dyn BlobStore, id: &UploadId) -> Self {
        Self::in_dir(store.scratch_dir(), id)
    }

    /// The scratch outputs of the ingest named `id`, in `dir`.
    pub(super) fn in_dir(dir: &Path, id: &UploadId) -> Self {
        Self { parquet: dir.join(format!("{id}.parquet.part")), rejected: dir.join(format!("{id}.rejected.part")) }
    }
}

impl Drop for ScratchFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.parquet);
        let _ = std::fs::remove_file(&self.rejected);
    }
}

/// What one ingest produced: its scratch outputs and the ingest's verdict.
pub type Ingested = (ScratchFiles, Result<IngestReport, IngestError>);

/// Reads `raw_key` from storage and ingests it for `date` (the reconciler's path: the file is
/// already archived). The outer result is storage access; the inner one is the ingest's verdict.
#[tracing::instrument(name = "pipeline.ingest", skip(store, options), fields(upload_id = %id))]
pub async fn ingest_archived(
    store: &Arc<dyn BlobStore>,
    id: &UploadId,
    raw_key: &str,
    date: SalesDate,
    options: Arc<IngestOptions>,
) -> StorageResult<Ingested> {
    // Probe once so a missing or unreadable raw object is a storage error, not an ingest verdict.
    drop(store.get(raw_key).await?);
    let handle = tokio::runtime::Handle::current();
    let (reader_store, raw_key) = (store.clone(), raw_key.to_owned());
    let open = move || open_archived(&handle, &reader_store, &raw_key);
    Ok(run_blocking(store.scratch_dir(), id, date, options, open).await)
}

/// Starts ingesting an upload's body while it is being archived: the first reading takes the
/// copies a [`super::tee::TeeReader`] sends; a second reading (very large files) waits for
/// the archive's raw key on `archived` and reads the archived original. If the body stops
/// early or the archive fails, the verdict is an I/O error and the caller discards it.
pub fn spawn_ingest_while_archiving(
    store: &Arc<dyn BlobStore>,
    id: &UploadId,
    chunks: mpsc::Receiver<Bytes>,
    archived: oneshot::Receiver<String>,
    date: SalesDate,
    options: Arc<IngestOptions>,
) -> tokio::task::JoinHandle<Ingested> {
    let handle = tokio::runtime::Handle::current();
    let reader_store = store.clone();
    let mut archived = Some(archived);
    let mut raw_key: Option<String> = None;
    let reopen = move || -> std::io::Result<Box<dyn Read>> {
        if raw_key.is_none() {
            let archive = archived.take().ok_or_else(|| std::io::Error::other("the archive did not complete"))?;
            raw_key = Some(archive.blocking_recv().map_err(|_| std::io::Error::other("the archive did not complete"))?);
        }
        open_archived(&handle, &reader_store, raw_key.as_deref().unwrap_or_default())
    };
    spawn_ingest_while_receiving(store.scratch_dir(), id, chunks, reopen, date, options)
}

/// Starts ingesting a body as its chunks arrive on `chunks` (copies a
/// [`super::tee::TeeReader`] sends); a second reading (very large files) calls `reopen`, which
/// produces the complete body again from its start (blocking until it can). Scratch outputs
/// go to `scratch_dir`, named by `id`.
pub fn spawn_ingest_while_receiving(
    scratch_dir: &Path,
    id: &UploadId,
    chunks: mpsc::Receiver<Bytes>,
    mut reopen: impl FnMut() -> std::io::Result<Box<dyn Read>> + Send + 'static,
    date: SalesDate,
    options: Arc<IngestOptions>,
) -> tokio::task::JoinHandle<Ingested> {
    let mut first = Some(ChunkReceiver::new(chunks));
    let open = move || -> std::io::Result<Box<dyn Read>> {
        match first.take() {
            Some(body) => Ok(Box::new(body)),
            None => reopen(),
        }
    };
    let (scratch_dir, id, span) =
        (scratch_dir.to_path_buf(), *id, tracing::info_span!("pipeline.ingest", upload_id = %id));
    tokio::spawn(tracing::Instrument::instrument(
        async move { run_blocking(&scratch_dir, &id, date, options, open).await },
        span,
    ))
}

/// The archived original of an upload, as a blocking reader (call on a blocking thread).
fn open_archived(
    handle: &tokio::runtime::Handle,
    store: &Arc<dyn BlobStore>,
    raw_key: &str,
) -> std::io::Result<Box<dyn Read>> {
    let reader = handle.block_on(store.get(raw_key)).map_err(std::io::Error::other)?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, SyncIoBridge::new_with_handle(reader, handle.clone()))))
}

/// Runs the ingest core on a blocking thread, writing the Parquet and rejected rows to scratch
/// files. Very large files are read twice (bounded memory for the duplicate-id check), so the
/// core gets `open` to produce the input again from its start.
async fn run_blocking<F>(
    scratch_dir: &Path,
    id: &UploadId,
    date: SalesDate,
    options: Arc<IngestOptions>,
    open: F,
) -> Ingested
where
    F: FnMut() -> std::io::Result<Box<dyn Read>> + Send + 'static,
{
    let scratch = ScratchFiles::in_dir(scratch_dir, id);
    let (parquet_path, rejected_path) = (scratch.parquet.clone(), scratch.rejected.clone());
    let mut options = (*options).clone();
    options.scratch_dir = Some(scratch_dir.to_path_buf());
    let started = std::time::Instant::now();
    let verdict = tokio::task::spawn_blocking(move || -> Result<IngestReport, IngestError> {
        let mut parquet = BufWriter::with_capacity(1 << 20, std::fs::File::create(&parquet_path)?);
        let mut rejected = BufWriter::with_capacity(256 << 10, std::fs::File::create(&rejected_path)?);
        let report = ingest_reopenable(open, date.naive(), &options, &mut parquet, &mut rejected)?;
        parquet.flush()?;
        rejected.flush()?;
        Ok(report)
    })
    .await
    .unwrap_or_else(|panic| Err(IngestError::Io(std::io::Error::other(format!("ingest panicked: {panic}")))));
    tracing::debug!(elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "ingest finished");
    (scratch, verdict)
}
