//! The use case "accept an upload", shared by the HTTP route and the CLI: record the upload,
//! archive the raw bytes (hashing and counting them as they stream), then, serialized per
//! shop-day, clean and write the partition and commit the status. Knows the storage and state
//! traits and the ingest core, never HTTP.

mod active;
mod commit;
mod digest;
mod locks;
mod process;
mod reconcile;
mod rejected;
mod tee;
#[cfg(test)]
mod tests;

pub use digest::{DigestReader, DigestSummary};
pub use reconcile::ReconcileReport;

use crate::catalog::glue_crawler::CrawlScheduler;
use crate::catalog::types::{columns_of, fingerprint};
use crate::catalog::{Catalog, CatalogError, PartitionInfo, SALES_TABLE};
use crate::db::{Db, DbError, IngestResult, NewUpload, UploadRecord};
use crate::domain::{SalesDate, ShopId, UploadId, UploadStatus};
use crate::ingest::{IngestError, IngestOptions, IngestReport, RowError};
use crate::metrics::Metrics;
use crate::storage::{layout, BlobStore, PutMode, StorageError, StorageResult};
use active::ActiveUploads;
use locks::{ShopDayGuard, ShopDayLocks};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};

/// What the caller knows about an incoming file before its bytes arrive.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The shop (already authorised).
    pub shop: ShopId,
    /// The shop-day.
    pub date: SalesDate,
    /// Client file name, for display.
    pub filename: Option<String>,
    /// `Idempotency-Key` header, already validated.
    pub idempotency_key: Option<String>,
}

/// How an accepted request ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A new upload was processed (`succeeded`, or `superseded` if a later one won the race).
    Created(UploadRecord),
    /// Identical bytes are already the current upload of that shop-day; nothing was written.
    Duplicate(UploadRecord),
    /// The `Idempotency-Key` was used before with the same bytes: the first upload, as it is now.
    Replayed(UploadRecord),
}

/// Why an upload could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The body exceeded the configured limit; nothing was kept.
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: u64,
        /// The upload recorded as failed.
        upload_id: UploadId,
    },
    /// The body inflates past the decompressed-size limit; the raw archive is kept, nothing else.
    #[error("{problem}")]
    DecompressedTooLarge {
        /// In words, with the limit.
        problem: String,
        /// The upload recorded as rejected.
        upload_id: UploadId,
    },
    /// The client stopped sending before the body was complete; nothing was kept.
    #[error("the upload was interrupted before the body was complete: {source}")]
    Interrupted {
        /// What the body stream reported.
        source: std::io::Error,
        /// The upload recorded as failed.
        upload_id: UploadId,
    },
    /// The whole file is refused (empty, undecodable, too many bad rows...); `processed/` untouched.
    #[error("{problem}")]
    Rejected {
        /// In words, what and where.
        problem: String,
        /// The upload recorded as rejected.
        upload_id: UploadId,
        /// The first row errors, when rows were the reason.
        errors: Vec<RowError>,
    },
    /// The `Idempotency-Key` was first used with other bytes.
    #[error("Idempotency-Key '{key}' was already used by upload {first} with different bytes")]
    KeyReused {
        /// The key.
        key: String,
        /// The upload that used it first.
        first: String,
    },
    /// Storage failed: retry later.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database failed: retry later.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The catalog failed: retry later.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Writing the partition failed for a reason that is not the file's fault.
    #[error("processing failed: {0}")]
    Internal(#[source] IngestError),
}

/// The upload pipeline with its dependencies.
#[derive(Debug, Clone)]
pub struct Pipeline {
    db: Db,
    store: Arc<dyn BlobStore>,
    catalog: Arc<dyn Catalog>,
    metrics: Arc<Metrics>,
    max_upload_bytes: u64,
    options: Arc<IngestOptions>,
    locks: Arc<ShopDayLocks>,
    active: Arc<ActiveUploads>,
    crawls: Option<CrawlScheduler>,
    schema_limits: SchemaLimits,
}

/// How far uploads may widen the table (unknown columns become table columns).
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    /// New columns one upload may add.
    pub max_new_columns: usize,
    /// Columns the table may reach.
    pub max_table_columns: usize,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        Self { max_new_columns: 32, max_table_columns: 512 }
    }
}

impl Pipeline {
    /// Wires the pipeline.
    pub fn new(
        db: Db,
        store: Arc<dyn BlobStore>,
        catalog: Arc<dyn Catalog>,
        metrics: Arc<Metrics>,
        max_upload_bytes: u64,
        options: IngestOptions,
    ) -> Self {
        Self {
            db,
            store,
            catalog,
            metrics,
            max_upload_bytes,
            options: Arc::new(options),
            locks: Arc::default(),
            active: Arc::default(),
            crawls: None,
            schema_limits: SchemaLimits::default(),
        }
    }

    /// Asks `crawls` for a Glue crawler run after each accepted upload (never waiting for it).
    /// Caps how far uploads may widen the table.
    pub fn with_schema_limits(mut self, limits: SchemaLimits) -> Self {
        self.schema_limits = limits;
        self
    }

    /// Starts the given crawler (coalesced) after each accepted upload.
    pub fn with_crawl_scheduler(mut self, crawls: CrawlScheduler) -> Self {
        self.crawls = Some(crawls);
        self
    }

    /// Accepts one file: records it `received`, archives the raw bytes under `raw/` (complete
    /// or not at all), then processes it into its shop-day partition.
    #[tracing::instrument(name = "pipeline.accept", skip_all, fields(shop = %incoming.shop, date = %incoming.date, upload_id))]
    pub async fn accept(
        &self,
        incoming: Incoming,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<Outcome, PipelineError> {
        let (id, _active) = self.record_received(&incoming).await?;
        // The file is validated while it is archived; the verdict counts only once the archive
        // is complete, and is discarded if the upload turns out to be a duplicate or replay.
        let (chunks_tx, chunks_rx) = tee::channel();
        let (archived_tx, archived_rx) = tokio::sync::oneshot::channel();
        let ingesting = process::spawn_ingest_while_archiving(
            &self.store,
            &id,
            chunks_rx,
            archived_rx,
            incoming.date,
            self.options.clone(),
        );
        let (raw_key, summary) = match self.archive(id, &incoming, body, chunks_tx).await {
            Ok(archived) => archived,
            Err(error) => {
                // The validator sees the body end early (or no archive to re-read) and stops;
                // its scratch files are gone before the answer is sent.
                drop(archived_tx);
                let _ = ingesting.await;
                return Err(error);
            }
        };
        let _ = archived_tx.send(raw_key.clone());
        let id_for_panic = id;
        let store = Arc::clone(&self.store);
        let verdict = async move {
            Ok(ingesting.await.unwrap_or_else(|panic| {
                let verdict = Err(IngestError::Io(std::io::Error::other(format!("ingest stopped: {panic}"))));
                (process::ScratchFiles::new(store.as_ref(), &id_for_panic), verdict)
            }))
        };
        self.commit_archived(id, &incoming, &raw_key, &summary.sha256_hex, verdict, RawOwner::ThisUpload).await
    }

    /// Accepts a file that is already in `raw/` (dropped there by another system, announced by
    /// an S3 event): records it with that key, then validates and commits it like an upload.
    /// A second call for the same key (S3 delivers events at least once) writes nothing and
    /// answers the first upload as it is now. The object is never modified or deleted.
    #[tracing::instrument(name = "pipeline.accept_stored", skip_all, fields(shop = %incoming.shop, date = %incoming.date, key = raw_key, upload_id))]
    pub async fn accept_stored(&self, incoming: Incoming, raw_key: &str) -> Result<Outcome, PipelineError> {
        let uploads = self.db.uploads();
        if let Some(first) = uploads.by_raw_key(raw_key).await? {
            return Ok(Outcome::Replayed(first));
        }
        let (id, _active) = self.record_received(&incoming).await?;
        let mut reader = DigestReader::new(self.store.get(raw_key).await?, u64::MAX);
        let mut sink = tokio::io::sink();
        if let Err(error) = tokio::io::copy(&mut reader, &mut sink).await {
            let problem = format!("storage failed while reading {raw_key}: {error}");
            self.finish(id, UploadStatus::Received, UploadStatus::Failed, &problem).await;
            return Err(StorageError::Unavailable { action: format!("reading {raw_key}"), source: error }.into());
        }
        let summary = reader.summary();
        self.metrics.add_bytes_received(summary.bytes);
        if let Err(error) = uploads.record_archive(&id, summary.bytes, &summary.sha256_hex, raw_key).await {
            // The same event delivered twice at once: the other delivery recorded the key first.
            if let Some(first) = uploads.by_raw_key(raw_key).await? {
                uploads.delete(&id).await?;
                return Ok(Outcome::Replayed(first));
            }
            return Err(error.into());
        }
        let verdict = process::ingest_archived(&self.store, &id, raw_key, incoming.date, self.options.clone());
        self.commit_archived(id, &incoming, raw_key, &summary.sha256_hex, verdict, RawOwner::SomeoneElse).await
    }

    /// The part of accepting shared by both ways in: `raw_key` is archived and recorded on
    /// upload `id` (`received`), `verdict` yields the ingest's outcome. Under the shop-day lock:
    /// an idempotency replay or a duplicate of the current upload keeps nothing (the raw object
    /// goes too when this upload wrote it); anything else is processed and committed.
    async fn commit_archived(
        &self,
        id: UploadId,
        incoming: &Incoming,
        raw_key: &str,
        sha256: &str,
        verdict: impl std::future::Future<Output = StorageResult<process::Ingested>>,
        raw_owner: RawOwner,
    ) -> Result<Outcome, PipelineError> {
        let uploads = self.db.uploads();
        let mut shop_day = self.lock_shop_day(&incoming.shop, &incoming.date).await?;
        let current = uploads.current(&incoming.shop, &incoming.date).await?;
        // (Never this upload itself: a reconciler that took it over may have committed it.)
        let duplicate = current.as_ref().filter(|c| c.id != id && c.sha256.as_deref() == Some(sha256));
        if let Some(key) = &incoming.idempotency_key {
            let answer = duplicate.map_or(id, |d| d.id);
            if let Some(first) = self.db.idempotency_keys().claim(&incoming.shop, key, sha256, &answer).await? {
                // The discarded verdict's scratch files are gone before the answer is sent.
                let _ = verdict.await;
                self.forget(&id, raw_key, raw_owner).await?;
                if first.sha256 != sha256 {
                    return Err(PipelineError::KeyReused { key: key.clone(), first: first.upload_id });
                }
                let first_id = UploadId::parse(&first.upload_id)
                    .map_err(|e| DbError::Corrupt { table: "idempotency_keys", detail: e.0 })?;
                let record = uploads.get(&first_id).await?.ok_or_else(|| vanished(&first_id))?;
                return Ok(Outcome::Replayed(record));
            }
        }
        if let Some(duplicate) = duplicate {
            // Identical bytes to the current upload: answer with it, keep nothing.
            let duplicate = duplicate.clone();
            let _ = verdict.await;
            self.forget(&id, raw_key, raw_owner).await?;
            return Ok(Outcome::Duplicate(duplicate));
        }
        if let Some(earlier) = uploads.same_bytes(&incoming.shop, &incoming.date, sha256, &id).await? {
            uploads.set_duplicate_of(&id, &earlier).await?;
        }
        uploads.transition(&id, UploadStatus::Received, UploadStatus::Processing, None).await?;
        let ingested = verdict.await;
        self.process(id, incoming, &mut shop_day, current.map(|c| c.id), ingested, false).await?;
        drop(shop_day);
        let record = uploads.get(&id).await?.ok_or_else(|| vanished(&id))?;
        Ok(Outcome::Created(record))
    }

    /// A new upload, recorded `received` before anything is stored, and tracked as handled by
    /// this process (the periodic reconciler leaves it alone) while the guard lives.
    async fn record_received(&self, incoming: &Incoming) -> Result<(UploadId, Option<active::Tracked>), PipelineError> {
        let id = UploadId::new();
        tracing::Span::current().record("upload_id", tracing::field::display(&id));
        let tracked = self.active.track(id);
        self.db.check_file()?;
        let new =
            NewUpload { id, shop_id: incoming.shop.clone(), date: incoming.date, filename: incoming.filename.clone() };
        self.db.uploads().insert_received(&new).await?;
        Ok((id, tracked))
    }

    /// Holds the shop-day against other tasks of this process, then against other replicas.
    async fn lock_shop_day(&self, shop: &ShopId, date: &SalesDate) -> Result<ShopDayGuard, DbError> {
        let local = self.locks.lock(shop, date).await;
        let database = self.db.lock_shop_day(shop, date).await?;
        Ok(ShopDayGuard::new(local, database))
    }

    /// Streams the body to its `raw/` key while hashing it; records size, digest and key.
    async fn archive(
        &self,
        id: UploadId,
        incoming: &Incoming,
        body: &mut (dyn AsyncRead + Send + Unpin),
        copies: tokio::sync::mpsc::Sender<bytes::Bytes>,
    ) -> Result<(String, DigestSummary), PipelineError> {
        // Peek the first bytes to name the archive `.csv` or `.csv.gz` by content, not by header.
        let mut head = Vec::with_capacity(2);
        while head.len() < 2 {
            let mut byte = [0u8; 1];
            match body.read(&mut byte).await {
                Ok(0) => break,
                Ok(_) => head.push(byte[0]),
                Err(source) => return Err(self.fail_interrupted(id, source).await),
            }
        }
        let gzip = head == [0x1f, 0x8b];
        let raw_key = layout::raw_key(&incoming.shop, &incoming.date, &id, gzip);
        let chained = std::io::Cursor::new(head).chain(body);
        let mut reader = DigestReader::new(tee::TeeReader::new(chained, copies), self.max_upload_bytes);
        let stored = self.store.put_stream(&raw_key, &mut reader, PutMode::CreateNew).await;
        let summary = reader.summary();
        match stored {
            Ok(_) => {}
            Err(StorageError::Source(_)) if summary.over_limit => {
                let problem = format!("the body is larger than the limit of {} bytes", self.max_upload_bytes);
                self.finish(id, UploadStatus::Received, UploadStatus::Failed, &problem).await;
                return Err(PipelineError::TooLarge { limit: self.max_upload_bytes, upload_id: id });
            }
            Err(StorageError::Source(source)) => return Err(self.fail_interrupted(id, source).await),
            Err(other) => {
                self.finish(
                    id,
                    UploadStatus::Received,
                    UploadStatus::Failed,
                    &format!("storage failed while archiving: {other}"),
                )
                .await;
                return Err(other.into());
            }
        }
        self.metrics.add_bytes_received(summary.bytes);
        self.db.uploads().record_archive(&id, summary.bytes, &summary.sha256_hex, &raw_key).await?;
        Ok((raw_key, summary))
    }

    /// Takes the ingest's outcome for an upload in `processing` and commits the partition; the
    /// caller holds the shop-day lock (`shop_day`). `previous` is the shop-day's current upload,
    /// which a success supersedes. `may_hold_partition`: an earlier attempt at this upload may
    /// have written the partition file (see [`Pipeline::commit_partition`]).
    async fn process(
        &self,
        id: UploadId,
        incoming: &Incoming,
        shop_day: &mut ShopDayGuard,
        previous: Option<UploadId>,
        ingested: StorageResult<process::Ingested>,
        may_hold_partition: bool,
    ) -> Result<(), PipelineError> {
        let uploads = self.db.uploads();
        let (scratch, verdict) = match ingested {
            Ok(done) => done,
            Err(storage) => {
                self.finish(
                    id,
                    UploadStatus::Processing,
                    UploadStatus::Failed,
                    &format!("reading the archived file failed: {storage}"),
                )
                .await;
                return Err(storage.into());
            }
        };
        let rejected_key = layout::rejected_key(&incoming.shop, &incoming.date, &id);
        let report = match verdict {
            Ok(report) => report,
            Err(IngestError::TooManyRejected { report, .. }) => {
                self.metrics.add_rows_rejected(report.rows_rejected);
                let problem = IngestError::TooManyRejected {
                    fraction: fraction(&report),
                    limit: self.options.max_rejected_fraction,
                    report: report.clone(),
                }
                .to_string();
                // Keep the rejected rows so the shop can see what to fix; processed/ is untouched.
                let stored = self.store.put_file(&rejected_key, &scratch.rejected, PutMode::Replace).await;
                let result = ingest_result(&report, stored.is_ok().then(|| rejected_key.clone()));
                uploads.record_result(&id, &result).await?;
                self.finish(id, UploadStatus::Processing, UploadStatus::Rejected, &problem).await;
                return Err(PipelineError::Rejected { problem, upload_id: id, errors: report.errors.clone() });
            }
            Err(
                error @ (IngestError::Io(_) | IngestError::Parquet(_) | IngestError::Arrow(_) | IngestError::Schema(_)),
            ) => {
                self.finish(id, UploadStatus::Processing, UploadStatus::Failed, &format!("processing failed: {error}"))
                    .await;
                return Err(PipelineError::Internal(error));
            }
            Err(too_large @ IngestError::DecompressedTooLarge { .. }) => {
                let problem = too_large.to_string();
                self.finish(id, UploadStatus::Processing, UploadStatus::Rejected, &problem).await;
                return Err(PipelineError::DecompressedTooLarge { problem, upload_id: id });
            }
            Err(file_level) => {
                let problem = file_level.to_string();
                self.finish(id, UploadStatus::Processing, UploadStatus::Rejected, &problem).await;
                return Err(PipelineError::Rejected { problem, upload_id: id, errors: Vec::new() });
            }
        };
        self.metrics.add_rows_rejected(report.rows_rejected);

        // The table's schema takes this file's columns (added, or widened where safe) before the
        // file becomes visible; a type conflict rejects the file and changes nothing.
        let file_columns = columns_of(&report.schema)?;
        if let Some(problem) = self.widening_problem(&file_columns).await? {
            self.finish(id, UploadStatus::Processing, UploadStatus::Rejected, &problem).await;
            return Err(PipelineError::Rejected { problem, upload_id: id, errors: Vec::new() });
        }
        match self.catalog.evolve_schema(SALES_TABLE, &file_columns).await {
            Ok(_) => {}
            Err(conflict @ (CatalogError::TypeConflict { .. } | CatalogError::UnsupportedType { .. })) => {
                let problem = format!("the file does not fit the table {SALES_TABLE}: {conflict}");
                self.finish(id, UploadStatus::Processing, UploadStatus::Rejected, &problem).await;
                return Err(PipelineError::Rejected { problem, upload_id: id, errors: Vec::new() });
            }
            Err(other) => {
                self.finish(id, UploadStatus::Processing, UploadStatus::Failed, &format!("catalog failed: {other}"))
                    .await;
                return Err(other.into());
            }
        }

        let stored_rejected = if report.rows_rejected > 0 {
            self.put_or_fail(id, &rejected_key, &scratch.rejected).await?;
            Some(rejected_key)
        } else {
            None
        };
        uploads.record_result(&id, &ingest_result(&report, stored_rejected)).await?;

        let partition = PartitionInfo {
            shop_id: incoming.shop.to_string(),
            date: incoming.date.to_string(),
            location: layout::processed_key(&incoming.shop, &incoming.date),
            rows: report.rows_accepted,
            bytes: report.parquet_bytes,
            schema_fingerprint: fingerprint(&file_columns),
            updated_at: String::new(),
        };
        let commit = commit::Commit { id, incoming, parquet: &scratch.parquet, partition, may_hold_partition };
        self.commit_partition(commit, shop_day, previous).await
    }

    /// Why this file's unknown columns may not widen the table, if they may not: more new
    /// columns than one upload may add, or a table wider than allowed.
    async fn widening_problem(
        &self,
        file_columns: &[crate::catalog::ColumnDef],
    ) -> Result<Option<String>, PipelineError> {
        let tables = self.catalog.table_schemas().await?;
        let mut table: Vec<String> = tables
            .iter()
            .find(|t| t.name == SALES_TABLE)
            .map(|t| t.columns.iter().map(|c| c.name.to_lowercase()).collect())
            .unwrap_or_default();
        // The schema's own columns are never new, whether or not a file has brought them yet.
        for column in &self.options.schema.columns {
            if !table.contains(&column.name.to_lowercase()) {
                table.push(column.name.to_lowercase());
            }
        }
        let new: Vec<&str> =
            file_columns.iter().map(|c| c.name.as_str()).filter(|n| !table.contains(&n.to_lowercase())).collect();
        let limits = self.schema_limits;
        let shown = || {
            let mut list = new.iter().take(5).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            if new.len() > 5 {
                list.push_str(", ...");
            }
            list
        };
        if new.len() > limits.max_new_columns {
            return Ok(Some(format!(
                "the file has {} columns the table {SALES_TABLE} does not have ({}), more than the {} new columns one upload may add; remove the columns you do not need",
                new.len(),
                shown(),
                limits.max_new_columns
            )));
        }
        if !new.is_empty() && table.len() + new.len() > limits.max_table_columns {
            return Ok(Some(format!(
                "the file's new columns ({}) would make the table {SALES_TABLE} {} columns wide, more than its limit of {}; remove the columns you do not need",
                shown(),
                table.len() + new.len(),
                limits.max_table_columns
            )));
        }
        Ok(None)
    }

    async fn put_or_fail(&self, id: UploadId, key: &str, path: &std::path::Path) -> Result<(), PipelineError> {
        if let Err(error) = self.store.put_file(key, path, PutMode::Replace).await {
            self.finish(
                id,
                UploadStatus::Processing,
                UploadStatus::Failed,
                &format!("storage failed while writing {key}: {error}"),
            )
            .await;
            return Err(error.into());
        }
        Ok(())
    }

    /// Removes every trace of a request that turned out to repeat an earlier one (the raw
    /// object only when this upload wrote it).
    async fn forget(&self, id: &UploadId, raw_key: &str, raw_owner: RawOwner) -> Result<(), PipelineError> {
        if raw_owner == RawOwner::ThisUpload {
            self.store.delete(raw_key).await?;
        }
        self.db.uploads().delete(id).await?;
        Ok(())
    }

    /// Records a terminal status; a failure to record is logged (the reconciler repairs it).
    async fn finish(&self, id: UploadId, from: UploadStatus, to: UploadStatus, problem: &str) {
        match self.db.uploads().transition(&id, from, to, Some(problem)).await {
            Ok(()) => self.metrics.upload_reached(&id, to),
            Err(error) => {
                tracing::error!(%id, %error, "could not record the upload's final status")
            }
        }
    }

    async fn fail_interrupted(&self, id: UploadId, source: std::io::Error) -> PipelineError {
        self.finish(
            id,
            UploadStatus::Received,
            UploadStatus::Failed,
            "the upload was interrupted before the body was complete",
        )
        .await;
        PipelineError::Interrupted { source, upload_id: id }
    }
}

/// Who put the raw object there: this upload (it goes when the upload turns out to repeat
/// another), or another system (it is never touched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawOwner {
    ThisUpload,
    SomeoneElse,
}

fn fraction(report: &IngestReport) -> f64 {
    if report.rows_total == 0 {
        0.0
    } else {
        report.rows_rejected as f64 / report.rows_total as f64
    }
}

fn ingest_result(report: &IngestReport, rejected_key: Option<String>) -> IngestResult {
    IngestResult {
        rows_total: report.rows_total,
        rows_accepted: report.rows_accepted,
        rows_rejected: report.rows_rejected,
        errors_json: serde_json::to_string(&report.errors).expect("row errors serialise"),
        rejected_key,
    }
}

fn vanished(id: &UploadId) -> DbError {
    DbError::Corrupt { table: "uploads", detail: format!("upload {id} vanished") }
}
