//! The commit of a shop-day: the partition file, its catalog entry, then the fenced status
//! change; and what a commit does when the fence says another one got in while its shop-day
//! lock was lost.

use super::locks::ShopDayGuard;
use super::{Incoming, Pipeline, PipelineError};
use crate::catalog::{PartitionInfo, SALES_TABLE};
use crate::db::DbError;
use crate::domain::{SalesDate, ShopId, UploadId, UploadStatus};
use crate::storage::{layout, PutMode, StorageError};
use std::path::Path;

/// Times one upload's commit is decided under a shop-day lock: each time after the first needs
/// another lock lost with its connection mid-commit, so this only bounds a bug's loop.
const MAX_COMMIT_ATTEMPTS: u32 = 4;

/// What one processed upload commits.
pub(super) struct Commit<'a> {
    /// The upload, in `processing`, its result recorded.
    pub id: UploadId,
    /// Its shop-day.
    pub incoming: &'a Incoming,
    /// Its Parquet output (a scratch file).
    pub parquet: &'a Path,
    /// Its partition as the catalog records it.
    pub partition: PartitionInfo,
    /// An earlier attempt at this upload may have written the partition file (an upload left
    /// in flight and re-processed): if a later upload is current, its file is written back.
    pub may_hold_partition: bool,
}

impl Pipeline {
    /// Makes the upload its shop-day's current one: partition file, catalog entry, then the
    /// status change fenced by compare-and-set on `previous` (the current upload as read under
    /// the lock). Or, when a later upload is current, records it `superseded` without writing.
    ///
    /// A fenced-off commit means the database lock was lost with its connection and another
    /// commit got in; this one's file and catalog entry may have replaced that commit's. It
    /// takes the lock again and decides anew, as if it had waited for the lock: newest wins.
    /// Newer than the current upload, it writes its partition again and commits; older, it
    /// writes the current upload's partition back (rebuilt from its raw original, as the
    /// reconciler does) and is recorded `superseded`. Either way, `processed/` and the catalog
    /// end holding exactly the current upload's rows. A failure once this upload's file may be
    /// in place leaves the upload `processing`, for the reconciler to finish the same way.
    pub(super) async fn commit_partition(
        &self,
        commit: Commit<'_>,
        shop_day: &mut ShopDayGuard,
        mut previous: Option<UploadId>,
    ) -> Result<(), PipelineError> {
        let Commit { id, incoming, parquet, partition, mut may_hold_partition } = commit;
        let uploads = self.db.uploads();
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            // A later upload of this shop-day committed first: it stays current.
            if let Some(later) = previous.filter(|p| *p > id) {
                if may_hold_partition {
                    self.rewrite_current_partition(&incoming.shop, &incoming.date).await?;
                }
                uploads.commit_already_superseded(&id, &later).await?;
                self.metrics.upload_reached(&id, UploadStatus::Superseded);
                return Ok(());
            }
            let stored = if may_hold_partition {
                self.store.put_file(&partition.location, parquet, PutMode::Replace).await?
            } else {
                let stored = self.put_or_fail(id, &partition.location, parquet).await?;
                may_hold_partition = true;
                stored
            };
            // The file may now hold this upload's rows: a failure leaves it `processing`, for
            // the reconciler to finish (or to write the current upload's file back).
            let partition = PartitionInfo { file_version: stored.version, ..partition.clone() };
            self.catalog.put_partition(SALES_TABLE, &partition).await?;
            match uploads.commit_succeeded(&id, &partition.location, previous.as_ref()).await {
                Ok(()) => {
                    self.metrics.upload_reached(&id, UploadStatus::Succeeded);
                    self.metrics.add_rows_accepted(partition.rows);
                    if let Some(crawls) = &self.crawls {
                        crawls.request();
                    }
                    return Ok(());
                }
                Err(DbError::Fenced { .. }) => {
                    tracing::warn!(
                        upload_id = %id,
                        "another commit of this shop-day got in while this one held its lock (the lock's database connection was lost): deciding again under the lock"
                    );
                    shop_day.retake(&self.db, &incoming.shop, &incoming.date).await?;
                    previous = uploads.current(&incoming.shop, &incoming.date).await?.map(|c| c.id);
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(DbError::Fenced { id: id.to_string() }.into())
    }

    /// Writes a shop-day's partition file and catalog entry again from its current upload's raw
    /// original; the caller holds the shop-day lock. Without a current upload, removes both.
    pub(super) async fn rewrite_current_partition(&self, shop: &ShopId, date: &SalesDate) -> Result<(), PipelineError> {
        let key = layout::processed_key(shop, date);
        let Some(current) = self.db.uploads().current(shop, date).await? else {
            self.store.delete(&key).await?;
            self.catalog.remove_partition(SALES_TABLE, shop.as_str(), &date.to_string()).await?;
            return Ok(());
        };
        match self.rebuild_partition(&current, &key).await? {
            Some(partition) => {
                self.catalog.put_partition(SALES_TABLE, &partition).await?;
                tracing::warn!(upload_id = %current.id, %key, "wrote the current upload's partition back");
                Ok(())
            }
            None => {
                tracing::error!(upload_id = %current.id, %key, "the current upload's partition cannot be rebuilt: its raw file is gone or no longer ingests");
                let source = std::io::Error::other(format!("upload {} has no raw file that ingests", current.id));
                Err(StorageError::Unavailable { action: format!("rebuilding {key}"), source }.into())
            }
        }
    }
}
