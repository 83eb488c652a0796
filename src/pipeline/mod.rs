//! The use case "accept an upload", shared by the HTTP route and the CLI: record the upload,
//! archive the raw bytes (hashing and counting them as they stream), then, serialized per
//! shop-day, clean and write the partition and commit the status; and its dry run ("check"),
//! which answers the same verdict and keeps nothing. Knows the storage and state traits and
//! the ingest core, never HTTP.

mod active;
mod archive;
mod check;
mod commit;
mod digest;
mod error;
mod locks;
mod process;
mod reconcile;
mod rejected;
mod tee;
#[cfg(test)]
mod tests;
mod verdict;

pub use check::{check_offline, CheckReport};
pub use digest::{DigestReader, DigestSummary};
pub use error::PipelineError;
pub use reconcile::ReconcileReport;

use crate::catalog::glue_crawler::CrawlScheduler;
use crate::catalog::Catalog;
use crate::db::{Db, DbError, NewUpload, UploadRecord};
use crate::domain::{SalesDate, ShopId, UploadId, UploadStatus};
use crate::ingest::{IngestError, IngestOptions};
use crate::metrics::Metrics;
use crate::storage::{BlobStore, StorageError, StorageResult};
use active::ActiveUploads;
use error::{Halt, Stop};
use locks::{ShopDayGuard, ShopDayLocks};
use std::sync::Arc;
use tokio::io::AsyncRead;

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
        if let Err(source) = tokio::io::copy(&mut reader, &mut sink).await {
            let problem = format!("storage failed while reading {raw_key}: {source}");
            let error = StorageError::Unavailable { action: format!("reading {raw_key}"), source };
            return Err(self.end(id, UploadStatus::Received, Stop::failed(problem, error)).await);
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

    /// Removes every trace of a request that turned out to repeat an earlier one (the raw
    /// object only when this upload wrote it).
    async fn forget(&self, id: &UploadId, raw_key: &str, raw_owner: RawOwner) -> Result<(), PipelineError> {
        if raw_owner == RawOwner::ThisUpload {
            self.store.delete(raw_key).await?;
        }
        self.db.uploads().delete(id).await?;
        Ok(())
    }

    /// Ends upload `id` (now `from`) as `stop` says and gives back the error to answer: the one
    /// way every step records an early end.
    async fn end(&self, id: UploadId, from: UploadStatus, stop: Stop) -> PipelineError {
        self.finish(id, from, stop.status, &stop.problem).await;
        stop.error
    }

    /// The result of a step on upload `id` (in `from`) that may have halted: an end is recorded.
    async fn settle<T>(&self, id: UploadId, from: UploadStatus, step: Result<T, Halt>) -> Result<T, PipelineError> {
        match step {
            Ok(value) => Ok(value),
            Err(Halt::End(stop)) => Err(self.end(id, from, stop).await),
            Err(Halt::Error(error)) => Err(error),
        }
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
}

/// Who put the raw object there: this upload (it goes when the upload turns out to repeat
/// another), or another system (it is never touched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawOwner {
    ThisUpload,
    SomeoneElse,
}

fn vanished(id: &UploadId) -> DbError {
    DbError::Corrupt { table: "uploads", detail: format!("upload {id} vanished") }
}
