//! The reconciler: no upload stays `received` or `processing` after a crash, and no catalog
//! partition points at a file that is not there. With replicas, an upload in flight belongs to
//! the instance that recorded it; only uploads whose instance is gone are taken over (the
//! database says which are alive), each under its shop-day lock and re-read there, so two
//! replicas reconciling at once finish each upload exactly once.

use super::{process, Incoming, Pipeline, PipelineError};
use crate::catalog::types::{columns_of, fingerprint};
use crate::catalog::{PartitionInfo, SALES_TABLE};
use crate::db::{UploadRecord, TAKEOVER_GRACE};
use crate::domain::{SalesDate, ShopId, UploadStatus};
use crate::storage::{layout, PutMode, StorageError};

/// Recovery attempts of one upload before it is failed instead of tried again.
pub const MAX_RECOVERY_ATTEMPTS: i64 = 3;

/// What the start-up reconciler did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Uploads re-processed from their raw file.
    pub reprocessed: usize,
    /// Uploads whose raw file turned out to be rejected.
    pub rejected: usize,
    /// Uploads that could not be finished and are now `failed`.
    pub failed: usize,
    /// Catalog partitions whose file was missing, rebuilt from the current upload's raw file.
    pub partitions_restored: usize,
    /// Catalog partitions whose file was missing and could not be rebuilt (no current upload
    /// or no raw file): removed from the catalog, so the catalog says what storage holds.
    pub partitions_dropped: usize,
    /// Temporary files or open multipart uploads of interrupted puts, removed.
    pub incomplete_puts_removed: usize,
}

impl Pipeline {
    /// Finishes every upload a crash left `received` or `processing` (those of instances that
    /// no longer run): re-processed from its raw file when that was archived, else `failed`.
    /// Then checks that every catalog partition's file exists (rebuilding a missing one from its
    /// raw file). Run at start-up, before serving.
    #[tracing::instrument(name = "pipeline.reconcile", skip_all)]
    pub async fn reconcile(&self) -> Result<ReconcileReport, PipelineError> {
        let mut report = ReconcileReport::default();
        for upload in self.db.uploads().in_flight().await? {
            if !self.may_take_over(&upload, None).await? {
                continue; // another replica is on it, or the periodic reconciler will decide
            }
            self.finish_abandoned(upload, &mut report).await?;
        }
        self.check_partition_files(&mut report).await?;
        if report != ReconcileReport::default() {
            tracing::info!(?report, "finished uploads left in flight by an earlier run");
        }
        Ok(report)
    }

    /// The same for a running service: finishes uploads in flight whose instance is gone (a
    /// replica that crashed), and those of this process (or of no known instance) that no
    /// request here is handling and that were received more than `min_age` ago — left behind
    /// when a dependency failed at the step that would have recorded their end. Run periodically.
    #[tracing::instrument(name = "pipeline.reconcile_abandoned", skip_all)]
    pub async fn reconcile_abandoned(&self, min_age: std::time::Duration) -> Result<ReconcileReport, PipelineError> {
        let mut report = ReconcileReport::default();
        for upload in self.db.uploads().in_flight().await? {
            if !self.may_take_over(&upload, Some(min_age)).await? {
                continue;
            }
            let Some(_active) = self.active.track(upload.id) else {
                continue; // a request of this process is still on it
            };
            self.finish_abandoned(upload, &mut report).await?;
        }
        // Temporary files and open multipart uploads of requests that no longer run.
        report.incomplete_puts_removed = self.store.remove_incomplete(min_age).await?;
        if report != ReconcileReport::default() {
            tracing::warn!(?report, "finished uploads abandoned in flight");
        }
        Ok(report)
    }

    /// Whether this instance may finish an upload in flight now; `min_age` is the periodic
    /// reconciler's age rule (`None` at start-up, before serving).
    async fn may_take_over(
        &self,
        upload: &UploadRecord,
        min_age: Option<std::time::Duration>,
    ) -> Result<bool, PipelineError> {
        let now = crate::db::now_ms();
        let older_than = |age: std::time::Duration| upload.received_at <= now - age.as_millis() as i64;
        Ok(match upload.instance_id.as_deref() {
            Some(owner) if owner != self.db.instance().as_str() => match self.db.instance_alive(owner).await? {
                Some(true) => false,
                // PostgreSQL says the owner is gone; a live instance whose liveness session is
                // being re-taken looks gone for a moment, so only once the upload has not moved
                // for longer than that.
                Some(false) => upload.updated_at <= now - TAKEOVER_GRACE.as_millis() as i64,
                // SQLite: one process owns the file, so at start-up every other instance is
                // gone; while serving, by age (a CLI run may share the file).
                None => min_age.is_none_or(older_than),
            },
            // This process's own (only while serving) or no owner recorded (rows written before
            // owners were): by age; at start-up on SQLite at once, on PostgreSQL left to the
            // periodic reconciler (a replica of an older version may be handling it).
            _ => match min_age {
                Some(age) => older_than(age),
                None => !self.db.is_shared(),
            },
        })
    }

    /// Re-processes one in-flight upload from its raw file, or fails it when it has none. Works
    /// under the shop-day lock on the upload as it is then (another reconciler may have
    /// finished it meanwhile), after recording this instance as its owner.
    async fn finish_abandoned(&self, upload: UploadRecord, report: &mut ReconcileReport) -> Result<(), PipelineError> {
        let uploads = self.db.uploads();
        let judged_owner = upload.instance_id.clone();
        let mut shop_day = self.lock_shop_day(&upload.shop_id, &upload.date).await?;
        let Some(upload) = uploads.get(&upload.id).await? else {
            return Ok(());
        };
        if !upload.status.is_in_flight() || !uploads.adopt(&upload.id, judged_owner.as_deref()).await? {
            return Ok(());
        }
        let Some(raw_key) = upload.raw_key.clone() else {
            // The body never finished arriving; a raw object may exist if the crash came
            // between storing it and recording it.
            for gzip in [false, true] {
                self.store.delete(&layout::raw_key(&upload.shop_id, &upload.date, &upload.id, gzip)).await?;
            }
            self.finish(
                upload.id,
                upload.status,
                UploadStatus::Failed,
                "interrupted before the body was archived (a restart or a failed dependency)",
            )
            .await;
            report.failed += 1;
            return Ok(());
        };
        // Counted before the attempt, so that an attempt that stops the process (a file that
        // exhausts memory, say) counts too: a poisoned file is failed, never retried for ever.
        let earlier = uploads.count_recovery_attempt(&upload.id).await?;
        if earlier >= MAX_RECOVERY_ATTEMPTS {
            let problem = format!(
                "processing this file was interrupted {earlier} times (the service stopped while processing it each time); it is kept in {raw_key} but not tried again: send a corrected file"
            );
            self.finish(upload.id, upload.status, UploadStatus::Failed, &problem).await;
            tracing::error!(upload_id = %upload.id, %raw_key, "an upload stopped the service at every recovery attempt; failed it");
            report.failed += 1;
            return Ok(());
        }
        let incoming = Incoming {
            shop: upload.shop_id.clone(),
            date: upload.date,
            filename: upload.filename.clone(),
            idempotency_key: None,
        };
        // An upload left `processing` may have written the partition file before it stopped (or
        // after a later upload's commit, if its shop-day lock was lost).
        let may_hold_partition = upload.status == UploadStatus::Processing;
        if upload.status == UploadStatus::Received {
            uploads.transition(&upload.id, UploadStatus::Received, UploadStatus::Processing, None).await?;
        }
        let current = uploads.current(&upload.shop_id, &upload.date).await?;
        let ingested =
            process::ingest_archived(&self.store, &upload.id, &raw_key, incoming.date, self.options.clone()).await;
        let previous = current.map(|c| c.id);
        match self.process(upload.id, &incoming, &mut shop_day, previous, ingested, may_hold_partition).await {
            Ok(()) => report.reprocessed += 1,
            Err(PipelineError::Rejected { .. }) => report.rejected += 1,
            Err(other) => {
                tracing::error!(upload_id = %upload.id, error = %other, "re-processing an upload left in flight failed");
                report.failed += 1;
            }
        }
        Ok(())
    }

    /// Every catalog partition's file must exist; `raw/` is the source of truth to rebuild it.
    async fn check_partition_files(&self, report: &mut ReconcileReport) -> Result<(), PipelineError> {
        for partition in self.catalog.partitions(SALES_TABLE).await? {
            if self.store.head(&partition.location).await?.is_some() {
                continue;
            }
            if self.restore_partition(&partition).await? {
                tracing::warn!(location = %partition.location, "a partition file was missing: rebuilt from its raw file");
                report.partitions_restored += 1;
            } else {
                tracing::error!(location = %partition.location, "a partition file was missing and its raw file too: removed from the catalog");
                self.catalog.remove_partition(SALES_TABLE, &partition.shop_id, &partition.date).await?;
                report.partitions_dropped += 1;
            }
        }
        Ok(())
    }

    /// Rewrites a partition's file from its current upload's raw original; false when there is
    /// nothing to rebuild it from.
    async fn restore_partition(&self, partition: &PartitionInfo) -> Result<bool, PipelineError> {
        let (Ok(shop), Ok(date)) = (ShopId::parse(&partition.shop_id), SalesDate::parse(&partition.date)) else {
            return Ok(false);
        };
        let _shop_day = self.lock_shop_day(&shop, &date).await?;
        let Some(current) = self.db.uploads().current(&shop, &date).await? else {
            return Ok(false);
        };
        Ok(self.rebuild_partition(&current, &partition.location).await?.is_some())
    }

    /// Ingests `current`'s raw original again and writes the result to `location` (the caller
    /// holds the shop-day lock): the partition as the catalog should record it, or `None` when
    /// there is nothing to rebuild it from (no raw file, or it no longer ingests).
    pub(super) async fn rebuild_partition(
        &self,
        current: &UploadRecord,
        location: &str,
    ) -> Result<Option<PartitionInfo>, PipelineError> {
        let Some(raw_key) = &current.raw_key else {
            return Ok(None);
        };
        let (scratch, verdict) =
            match process::ingest_archived(&self.store, &current.id, raw_key, current.date, self.options.clone()).await
            {
                Ok(ingested) => ingested,
                Err(StorageError::NotFound(_)) => return Ok(None),
                Err(other) => return Err(other.into()),
            };
        let Ok(report) = verdict else {
            return Ok(None);
        };
        let stored = self.store.put_file(location, &scratch.parquet, PutMode::Replace).await?;
        Ok(Some(PartitionInfo {
            shop_id: current.shop_id.to_string(),
            date: current.date.to_string(),
            location: location.to_owned(),
            rows: report.rows_accepted,
            bytes: report.parquet_bytes,
            schema_fingerprint: fingerprint(&columns_of(&report.schema)?),
            updated_at: String::new(),
            file_version: stored.version,
        }))
    }
}
