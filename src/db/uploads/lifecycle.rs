//! Status changes of an upload: its insert when a request starts, ownership while in flight,
//! what processing recorded, and the fenced commit of a shop-day.

use super::record::encode_row_errors;
use super::{conflict, Uploads};
use crate::db::{now_ms, DbError, DbResult};
use crate::domain::{SalesDate, ShopId, UploadId, UploadStatus};
use crate::ingest::RowError;

/// What is known when a request starts.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// Fresh UUIDv7.
    pub id: UploadId,
    /// The shop.
    pub shop_id: ShopId,
    /// The shop-day.
    pub date: SalesDate,
    /// Client file name.
    pub filename: Option<String>,
}

/// What processing found, recorded on the upload whatever its final status.
#[derive(Debug, Clone, Default)]
pub struct IngestResult {
    /// Data rows read.
    pub rows_total: u64,
    /// Rows accepted.
    pub rows_accepted: u64,
    /// Rows refused.
    pub rows_rejected: u64,
    /// The first 100 row errors.
    pub errors: Vec<RowError>,
    /// Rejected-rows CSV, when there are rejected rows.
    pub rejected_key: Option<String>,
}

impl Uploads<'_> {
    /// Records a new upload in status `received`, before any byte is stored.
    #[tracing::instrument(name = "db.uploads.insert", skip_all, fields(upload_id = %new.id))]
    pub async fn insert_received(&self, new: &NewUpload) -> DbResult<()> {
        let now = now_ms();
        sqlx::query(
            "insert into uploads (id, shop_id, sales_date, status, filename, received_at, updated_at, instance_id) values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new.id.to_string())
        .bind(new.shop_id.as_str().to_owned())
        .bind(new.date.to_string())
        .bind(UploadStatus::Received.as_str())
        .bind(new.filename.clone())
        .bind(now)
        .bind(now)
        .bind(self.instance.as_str().to_owned())
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// Takes over an upload in flight from `owner` (the instance judged gone, or none recorded):
    /// records this instance as its owner, unless it is no longer in flight or someone else took
    /// it meanwhile (compare-and-set on the owner).
    pub async fn adopt(&self, id: &UploadId, owner: Option<&str>) -> DbResult<bool> {
        let in_flight = "status in ('received', 'processing')";
        let adopted = match owner {
            Some(owner) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "update uploads set instance_id = $1, updated_at = $2 where id = $3 and {in_flight} and instance_id = $4"
            )))
            .bind(self.instance.as_str().to_owned())
            .bind(now_ms())
            .bind(id.to_string())
            .bind(owner.to_owned()),
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "update uploads set instance_id = $1, updated_at = $2 where id = $3 and {in_flight} and instance_id is null"
            )))
            .bind(self.instance.as_str().to_owned())
            .bind(now_ms())
            .bind(id.to_string()),
        }
        .execute(self.pool)
        .await?;
        Ok(adopted.rows_affected() == 1)
    }

    /// Counts one more recovery attempt of an in-flight upload and returns the attempts made
    /// before this one.
    #[tracing::instrument(name = "db.uploads.recovery_attempt", skip(self), fields(upload_id = %id))]
    pub async fn count_recovery_attempt(&self, id: &UploadId) -> DbResult<i64> {
        sqlx::query("update uploads set recovery_attempts = recovery_attempts + 1, updated_at = $1 where id = $2")
            .bind(now_ms())
            .bind(id.to_string())
            .execute(self.pool)
            .await?;
        let attempts: i64 = sqlx::query_scalar("select recovery_attempts from uploads where id = $1")
            .bind(id.to_string())
            .fetch_one(self.pool)
            .await?;
        Ok(attempts - 1)
    }

    /// Records the archived original: size, digest and key.
    #[tracing::instrument(name = "db.uploads.archived", skip_all, fields(upload_id = %id))]
    pub async fn record_archive(&self, id: &UploadId, bytes: u64, sha256: &str, raw_key: &str) -> DbResult<()> {
        sqlx::query("update uploads set bytes = $1, sha256 = $2, raw_key = $3, updated_at = $4 where id = $5")
            .bind(bytes as i64)
            .bind(sha256.to_owned())
            .bind(raw_key.to_owned())
            .bind(now_ms())
            .bind(id.to_string())
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// Moves an upload from `from` to `to` (checked against the state machine and the stored
    /// status); terminal statuses also set `finished_at` and `problem`.
    #[tracing::instrument(name = "db.uploads.transition", skip(self, problem), fields(upload_id = %id))]
    pub async fn transition(
        &self,
        id: &UploadId,
        from: UploadStatus,
        to: UploadStatus,
        problem: Option<&str>,
    ) -> DbResult<()> {
        if !from.can_become(to) {
            return Err(conflict(id, from, to));
        }
        let now = now_ms();
        let finished = to.is_terminal().then_some(now);
        let result = sqlx::query(
            "update uploads set status = $1, problem = coalesce($2, problem), finished_at = coalesce($3, finished_at), updated_at = $4 where id = $5 and status = $6",
        )
        .bind(to.as_str())
        .bind(problem.map(str::to_owned))
        .bind(finished)
        .bind(now)
        .bind(id.to_string())
        .bind(from.as_str())
        .execute(self.pool)
        .await?;
        if result.rows_affected() != 1 {
            let actual = self.get(id).await?.map(|u| u.status.as_str()).unwrap_or("missing");
            return Err(DbError::Conflict { id: id.to_string(), actual: actual.into(), wanted: to.as_str().into() });
        }
        Ok(())
    }

    /// Records counts, row errors and the rejected-rows key of a processed upload.
    #[tracing::instrument(name = "db.uploads.result", skip_all, fields(upload_id = %id))]
    pub async fn record_result(&self, id: &UploadId, result: &IngestResult) -> DbResult<()> {
        sqlx::query(
            "update uploads set rows_total = $1, rows_accepted = $2, rows_rejected = $3, errors = $4, rejected_key = $5, updated_at = $6 where id = $7",
        )
        .bind(result.rows_total as i64)
        .bind(result.rows_accepted as i64)
        .bind(result.rows_rejected as i64)
        .bind(encode_row_errors(&result.errors))
        .bind(result.rejected_key.clone())
        .bind(now_ms())
        .bind(id.to_string())
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// In one transaction, fenced: `previous` (the shop-day's current upload as read under the
    /// shop-day lock, if any) becomes `superseded` by `id`, and `id` becomes `succeeded` with its
    /// partition key. If `previous` is no longer the current upload, another commit got in
    /// meanwhile (a shop-day lock lost with its connection): nothing changes and the answer is
    /// [`DbError::Fenced`]. Two checks make the fence: compare-and-set on `previous` still being
    /// `succeeded`, and, when there was none, the unique index of one `succeeded` upload per
    /// shop-day (migration 0007). A concurrent commit's uncommitted rows make these statements
    /// wait for its outcome, so of two racing commits exactly one wins.
    #[tracing::instrument(name = "db.uploads.commit", skip_all, fields(upload_id = %id))]
    pub async fn commit_succeeded(
        &self,
        id: &UploadId,
        processed_key: &str,
        previous: Option<&UploadId>,
    ) -> DbResult<()> {
        let now = now_ms();
        let fenced = || DbError::Fenced { id: id.to_string() };
        let mut tx = self.pool.begin().await?;
        // The previous upload first: the index allows one `succeeded` row at any moment.
        if let Some(previous) = previous {
            let superseded = sqlx::query("update uploads set status = 'superseded', superseded_by = $1, updated_at = $2 where id = $3 and status = 'succeeded'")
                .bind(id.to_string())
                .bind(now)
                .bind(previous.to_string())
                .execute(&mut *tx)
                .await?;
            if superseded.rows_affected() != 1 {
                return Err(fenced());
            }
        }
        let mine = sqlx::query(
            "update uploads set status = 'succeeded', processed_key = $1, finished_at = $2, updated_at = $2 where id = $3 and status = 'processing'",
        )
        .bind(processed_key.to_owned())
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await;
        let mine = match mine {
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => return Err(fenced()),
            other => other?,
        };
        if mine.rows_affected() != 1 {
            return Err(conflict(id, UploadStatus::Processing, UploadStatus::Succeeded));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A processed upload that lost the race to a later one: `succeeded` then at once
    /// `superseded` by `later`, without touching the partition.
    pub async fn commit_already_superseded(&self, id: &UploadId, later: &UploadId) -> DbResult<()> {
        let now = now_ms();
        let result = sqlx::query(
            "update uploads set status = 'superseded', superseded_by = $1, finished_at = $2, updated_at = $2 where id = $3 and status = 'processing'",
        )
        .bind(later.to_string())
        .bind(now)
        .bind(id.to_string())
        .execute(self.pool)
        .await?;
        if result.rows_affected() != 1 {
            return Err(conflict(id, UploadStatus::Processing, UploadStatus::Superseded));
        }
        Ok(())
    }

    /// Deletes an upload row (a duplicate request that must leave no trace).
    pub async fn delete(&self, id: &UploadId) -> DbResult<()> {
        sqlx::query("delete from uploads where id = $1").bind(id.to_string()).execute(self.pool).await?;
        Ok(())
    }

    /// Marks `id` as carrying the same bytes as `earlier`.
    pub async fn set_duplicate_of(&self, id: &UploadId, earlier: &UploadId) -> DbResult<()> {
        sqlx::query("update uploads set duplicate_of = $1, updated_at = $2 where id = $3")
            .bind(earlier.to_string())
            .bind(now_ms())
            .bind(id.to_string())
            .execute(self.pool)
            .await?;
        Ok(())
    }
}
