//! The use case "accept an upload", shared by the HTTP route and the CLI: record the upload,
//! archive the raw bytes (hashing and counting them as they stream), then hand the archived
//! file on for processing. Knows the storage and state traits, never HTTP.

mod digest;

pub use digest::{DigestReader, DigestSummary};

use crate::db::{Db, DbError, NewUpload, UploadRecord};
use crate::domain::{SalesDate, ShopId, UploadId, UploadStatus};
use crate::metrics::Metrics;
use crate::storage::{layout, BlobStore, PutMode, StorageError};
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
}

/// How an accepted request ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A new upload was recorded and archived (status as stored).
    Created(UploadRecord),
    /// Identical bytes are already the current upload of that shop-day; nothing was written.
    Duplicate(UploadRecord),
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
    /// The client stopped sending before the body was complete; nothing was kept.
    #[error("the upload was interrupted before the body was complete: {source}")]
    Interrupted {
        /// What the body stream reported.
        source: std::io::Error,
        /// The upload recorded as failed.
        upload_id: UploadId,
    },
    /// The whole file is refused (empty, undecodable, too many bad rows...).
    #[error("{problem}")]
    Rejected {
        /// In words, what and where.
        problem: String,
        /// The upload recorded as rejected.
        upload_id: UploadId,
    },
    /// Storage failed: retry later.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database failed: retry later.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The upload pipeline with its dependencies.
#[derive(Debug, Clone)]
pub struct Pipeline {
    db: Db,
    store: Arc<dyn BlobStore>,
    metrics: Arc<Metrics>,
    max_upload_bytes: u64,
}

impl Pipeline {
    /// Wires the pipeline.
    pub fn new(
        db: Db,
        store: Arc<dyn BlobStore>,
        metrics: Arc<Metrics>,
        max_upload_bytes: u64,
    ) -> Self {
        Self {
            db,
            store,
            metrics,
            max_upload_bytes,
        }
    }

    /// Accepts one file: records it `received`, archives the raw bytes under `raw/` (complete
    /// or not at all), and answers a duplicate of the current upload with that upload.
    #[tracing::instrument(name = "pipeline.accept", skip_all, fields(shop = %incoming.shop, date = %incoming.date, upload_id))]
    pub async fn accept(
        &self,
        incoming: Incoming,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<Outcome, PipelineError> {
        let id = UploadId::new();
        tracing::Span::current().record("upload_id", tracing::field::display(&id));
        let uploads = self.db.uploads();
        uploads
            .insert_received(&NewUpload {
                id,
                shop_id: incoming.shop.clone(),
                date: incoming.date,
                filename: incoming.filename.clone(),
            })
            .await?;

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
        let mut reader = DigestReader::new(chained, self.max_upload_bytes);
        let stored = self
            .store
            .put_stream(&raw_key, &mut reader, PutMode::CreateNew)
            .await;
        let summary = reader.summary();
        match stored {
            Ok(_) => {}
            Err(StorageError::Source(_)) if summary.over_limit => {
                self.finish(
                    id,
                    UploadStatus::Received,
                    UploadStatus::Failed,
                    &format!(
                        "the body is larger than the limit of {} bytes",
                        self.max_upload_bytes
                    ),
                )
                .await;
                return Err(PipelineError::TooLarge {
                    limit: self.max_upload_bytes,
                    upload_id: id,
                });
            }
            Err(StorageError::Source(source)) => {
                return Err(self.fail_interrupted(id, source).await)
            }
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
        uploads
            .record_archive(&id, summary.bytes, &summary.sha256_hex, &raw_key)
            .await?;

        // Identical bytes to the current upload of this shop-day: answer with it, keep nothing.
        if let Some(current) = uploads.current(&incoming.shop, &incoming.date).await? {
            if current.sha256.as_deref() == Some(summary.sha256_hex.as_str()) {
                self.store.delete(&raw_key).await?;
                uploads.delete(&id).await?;
                return Ok(Outcome::Duplicate(current));
            }
        }

        if summary.bytes == 0 {
            uploads
                .transition(&id, UploadStatus::Received, UploadStatus::Processing, None)
                .await?;
            let problem = "the file is empty (0 bytes): send the CSV with its header line";
            self.finish(
                id,
                UploadStatus::Processing,
                UploadStatus::Rejected,
                problem,
            )
            .await;
            return Err(PipelineError::Rejected {
                problem: problem.into(),
                upload_id: id,
            });
        }

        let record = uploads.get(&id).await?.ok_or_else(|| DbError::Corrupt {
            table: "uploads",
            detail: format!("upload {id} vanished"),
        })?;
        Ok(Outcome::Created(record))
    }

    /// Records a terminal status; a failure to record is logged (the reconciler repairs it).
    async fn finish(&self, id: UploadId, from: UploadStatus, to: UploadStatus, problem: &str) {
        match self
            .db
            .uploads()
            .transition(&id, from, to, Some(problem))
            .await
        {
            Ok(()) => self.metrics.upload_reached(to),
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
        PipelineError::Interrupted {
            source,
            upload_id: id,
        }
    }
}
