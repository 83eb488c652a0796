//! Runs the ingest core over an archived raw file on a blocking thread, writing the Parquet
//! and rejected-rows outputs to scratch files for the commit step.

use crate::domain::{SalesDate, UploadId};
use crate::ingest::{ingest_reopenable, IngestError, IngestOptions, IngestReport};
use crate::storage::{BlobStore, StorageResult};
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
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
    fn new(store: &dyn BlobStore, id: &UploadId) -> Self {
        let dir = store.scratch_dir();
        Self { parquet: dir.join(format!("{id}.parquet.part")), rejected: dir.join(format!("{id}.rejected.part")) }
    }
}

impl Drop for ScratchFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.parquet);
        let _ = std::fs::remove_file(&self.rejected);
    }
}

/// Reads `raw_key` from storage and ingests it for `date`. The outer result is storage
/// access; the inner one is the ingest's verdict.
#[tracing::instrument(name = "pipeline.ingest", skip(store, options), fields(upload_id = %id))]
pub async fn ingest_archived(
    store: &Arc<dyn BlobStore>,
    id: &UploadId,
    raw_key: &str,
    date: SalesDate,
    options: Arc<IngestOptions>,
) -> StorageResult<(ScratchFiles, Result<IngestReport, IngestError>)> {
    // Probe once so a missing or unreadable raw object is a storage error, not an ingest verdict.
    drop(store.get(raw_key).await?);
    let scratch = ScratchFiles::new(store.as_ref(), id);
    let (parquet_path, rejected_path) = (scratch.parquet.clone(), scratch.rejected.clone());
    let handle = tokio::runtime::Handle::current();
    let (store, raw_key) = (store.clone(), raw_key.to_owned());
    let mut options = (*options).clone();
    options.scratch_dir = Some(store.scratch_dir().to_path_buf());
    let started = std::time::Instant::now();
    let verdict = tokio::task::spawn_blocking(move || -> Result<IngestReport, IngestError> {
        // Very large files are read twice (bounded memory for the duplicate-id check), so the
        // ingest core gets a way to re-open the archived original.
        let open = || -> std::io::Result<_> {
            let reader = handle.block_on(store.get(&raw_key)).map_err(std::io::Error::other)?;
            Ok(BufReader::with_capacity(1 << 20, SyncIoBridge::new_with_handle(reader, handle.clone())))
        };
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
    Ok((scratch, verdict))
}
