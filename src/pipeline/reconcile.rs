//! The start-up reconciler: no upload stays `received` or `processing` after a crash.

use super::{process, Incoming, Pipeline, PipelineError};
use crate::domain::UploadStatus;
use crate::storage::layout;

/// What the start-up reconciler did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Uploads re-processed from their raw file.
    pub reprocessed: usize,
    /// Uploads whose raw file turned out to be rejected.
    pub rejected: usize,
    /// Uploads that could not be finished and are now `failed`.
    pub failed: usize,
}

impl Pipeline {
    /// Finishes every upload a crash left `received` or `processing`: re-processed from its raw
    /// file when that was archived, else `failed`. Run at start-up, before serving.
    #[tracing::instrument(name = "pipeline.reconcile", skip_all)]
    pub async fn reconcile(&self) -> Result<ReconcileReport, PipelineError> {
        let uploads = self.db.uploads();
        let mut report = ReconcileReport::default();
        for upload in uploads.in_flight().await? {
            let Some(raw_key) = upload.raw_key.clone() else {
                // The body never finished arriving; a raw object may exist if the crash came
                // between storing it and recording it.
                for gzip in [false, true] {
                    self.store.delete(&layout::raw_key(&upload.shop_id, &upload.date, &upload.id, gzip)).await?;
                }
                self.finish(
                    upload.id,
                    UploadStatus::Received,
                    UploadStatus::Failed,
                    "interrupted by a restart before the body was archived",
                )
                .await;
                report.failed += 1;
                continue;
            };
            let incoming = Incoming {
                shop: upload.shop_id.clone(),
                date: upload.date,
                filename: upload.filename.clone(),
                idempotency_key: None,
            };
            let _shop_day = self.locks.lock(&upload.shop_id, &upload.date).await;
            if upload.status == UploadStatus::Received {
                uploads.transition(&upload.id, UploadStatus::Received, UploadStatus::Processing, None).await?;
            }
            let current = uploads.current(&upload.shop_id, &upload.date).await?;
            let ingested =
                process::ingest_archived(&self.store, &upload.id, &raw_key, incoming.date, self.options.clone()).await;
            match self.process(upload.id, &incoming, current.map(|c| c.id), ingested).await {
                Ok(()) => report.reprocessed += 1,
                Err(PipelineError::Rejected { .. }) => report.rejected += 1,
                Err(other) => {
                    tracing::error!(upload_id = %upload.id, error = %other, "re-processing after a restart failed");
                    report.failed += 1;
                }
            }
        }
        if report != ReconcileReport::default() {
            tracing::info!(?report, "finished uploads left in flight by an earlier run");
        }
        Ok(report)
    }
}
