//! The `uploads` table: insert, status transitions, lookups and cursor-paginated lists.

use super::{now_ms, DbError, DbResult};
use crate::domain::{SalesDate, ShopId, UploadId, UploadStatus};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// A stored upload, as the status API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRecord {
    /// UUIDv7.
    pub id: UploadId,
    /// The shop.
    pub shop_id: ShopId,
    /// The shop-day.
    pub date: SalesDate,
    /// Where the upload is in its state machine.
    pub status: UploadStatus,
    /// Client-supplied file name, if any.
    pub filename: Option<String>,
    /// Size of the body as received.
    pub bytes: Option<i64>,
    /// sha256 (hex) of the body as received.
    pub sha256: Option<String>,
    /// Data rows read (blank lines not counted).
    pub rows_total: Option<i64>,
    /// Rows written to `processed/`.
    pub rows_accepted: Option<i64>,
    /// Rows written to `rejected/`.
    pub rows_rejected: Option<i64>,
    /// First 100 row errors as a JSON array.
    pub errors_json: Option<String>,
    /// Why the whole file was rejected or failed.
    pub problem: Option<String>,
    /// Key of the archived original.
    pub raw_key: Option<String>,
    /// Key of the partition file written.
    pub processed_key: Option<String>,
    /// Key of the rejected-rows CSV.
    pub rejected_key: Option<String>,
    /// The upload that replaced this one.
    pub superseded_by: Option<String>,
    /// The earlier upload with identical bytes.
    pub duplicate_of: Option<String>,
    /// ms since epoch.
    pub received_at: i64,
    /// ms since epoch, when terminal.
    pub finished_at: Option<i64>,
    /// The instance (replica or CLI run) that handled it while in flight.
    pub instance_id: Option<String>,
    /// ms since epoch of the last change.
    pub updated_at: i64,
}

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

/// Filters of `GET /v1/shops/{shop_id}/uploads`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this shop-day.
    pub date: Option<SalesDate>,
    /// Only this status.
    pub status: Option<UploadStatus>,
    /// Only ids older than this one (the cursor).
    pub before: Option<UploadId>,
    /// Page size.
    pub limit: u32,
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
    /// First 100 row errors, as JSON.
    pub errors_json: String,
    /// Rejected-rows CSV, when there are rejected rows.
    pub rejected_key: Option<String>,
}

const COLUMNS: &str = "id, shop_id, sales_date, status, filename, bytes, sha256, rows_total, rows_accepted, rows_rejected, errors, problem, raw_key, processed_key, rejected_key, superseded_by, duplicate_of, received_at, finished_at, instance_id, updated_at";

/// Repository over the `uploads` table.
#[derive(Debug, Clone, Copy)]
pub struct Uploads<'p> {
    pool: &'p AnyPool,
    instance: &'p super::InstanceId,
}

impl<'p> Uploads<'p> {
    pub(super) fn new(pool: &'p AnyPool, instance: &'p super::InstanceId) -> Self {
        Self { pool, instance }
    }

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
        let row = sqlx::query("select recovery_attempts from uploads where id = $1")
            .bind(id.to_string())
            .fetch_one(self.pool)
            .await?;
        Ok(sqlx::Row::try_get::<i64, _>(&row, 0)? - 1)
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
        .bind(result.errors_json.clone())
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

    /// One upload by id.
    pub async fn get(&self, id: &UploadId) -> DbResult<Option<UploadRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("select {COLUMNS} from uploads where id = $1")))
            .bind(id.to_string())
            .fetch_optional(self.pool)
            .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// The upload recorded with this raw key (the first one: keys are recorded once).
    pub async fn by_raw_key(&self, raw_key: &str) -> DbResult<Option<UploadRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from uploads where raw_key = $1 order by id limit 1"
        )))
        .bind(raw_key.to_owned())
        .fetch_optional(self.pool)
        .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// The current (`succeeded`) upload of a shop-day, if any.
    pub async fn current(&self, shop: &ShopId, date: &SalesDate) -> DbResult<Option<UploadRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from uploads where shop_id = $1 and sales_date = $2 and status = 'succeeded' order by id desc limit 1"
        )))
        .bind(shop.as_str().to_owned())
        .bind(date.to_string())
        .fetch_optional(self.pool)
        .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// The newest other upload of a shop-day with these exact bytes (for `duplicate_of`).
    pub async fn same_bytes(
        &self,
        shop: &ShopId,
        date: &SalesDate,
        sha256: &str,
        except: &UploadId,
    ) -> DbResult<Option<UploadId>> {
        let row = sqlx::query(
            "select id from uploads where shop_id = $1 and sales_date = $2 and sha256 = $3 and id <> $4 and status in ('succeeded', 'superseded') order by id desc limit 1",
        )
        .bind(shop.as_str().to_owned())
        .bind(date.to_string())
        .bind(sha256.to_owned())
        .bind(except.to_string())
        .fetch_optional(self.pool)
        .await?;
        row.map(|r| {
            UploadId::parse(&r.try_get::<String, _>("id")?)
                .map_err(|e| DbError::Corrupt { table: "uploads", detail: e.0 })
        })
        .transpose()
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

    /// A shop's uploads, newest first, one page; returns the page and whether more exist.
    pub async fn list(&self, shop: &ShopId, filter: &ListFilter) -> DbResult<(Vec<UploadRecord>, bool)> {
        let mut sql = format!("select {COLUMNS} from uploads where shop_id = $1");
        let mut next = 2;
        let mut push = |sql: &mut String, clause: &str| {
            sql.push_str(&format!(" and {clause} ${next}"));
            next += 1;
        };
        if filter.date.is_some() {
            push(&mut sql, "sales_date =");
        }
        if filter.status.is_some() {
            push(&mut sql, "status =");
        }
        if filter.before.is_some() {
            push(&mut sql, "id <");
        }
        sql.push_str(&format!(" order by id desc limit {}", filter.limit as u64 + 1));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(shop.as_str().to_owned());
        if let Some(date) = &filter.date {
            query = query.bind(date.to_string());
        }
        if let Some(status) = &filter.status {
            query = query.bind(status.as_str());
        }
        if let Some(before) = &filter.before {
            query = query.bind(before.to_string());
        }
        let rows = query.fetch_all(self.pool).await?;
        let mut records = rows.iter().map(from_row).collect::<DbResult<Vec<_>>>()?;
        let more = records.len() > filter.limit as usize;
        records.truncate(filter.limit as usize);
        Ok((records, more))
    }

    /// Uploads left in flight (`received` or `processing`), oldest first.
    pub async fn in_flight(&self) -> DbResult<Vec<UploadRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from uploads where status in ('received', 'processing') order by id"
        )))
        .fetch_all(self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Counts uploads per status (for `/metrics`).
    pub async fn count_by_status(&self) -> DbResult<Vec<(String, i64)>> {
        let rows =
            sqlx::query("select status, count(*) as n from uploads group by status").fetch_all(self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get::<String, _>("status")?, r.try_get::<i64, _>("n")?))).collect()
    }
}

fn conflict(id: &UploadId, from: UploadStatus, to: UploadStatus) -> DbError {
    DbError::Conflict { id: id.to_string(), actual: from.as_str().into(), wanted: to.as_str().into() }
}

fn from_row(row: &AnyRow) -> DbResult<UploadRecord> {
    let corrupt = |detail: String| DbError::Corrupt { table: "uploads", detail };
    let text = |name: &str| row.try_get::<String, _>(name);
    let opt_text = |name: &str| row.try_get::<Option<String>, _>(name);
    let opt_int = |name: &str| row.try_get::<Option<i64>, _>(name);
    Ok(UploadRecord {
        id: UploadId::parse(&text("id")?).map_err(|e| corrupt(e.0))?,
        shop_id: ShopId::parse(&text("shop_id")?).map_err(|e| corrupt(e.0))?,
        date: SalesDate::parse(&text("sales_date")?).map_err(|e| corrupt(e.0))?,
        status: UploadStatus::parse(&text("status")?).map_err(|e| corrupt(e.0))?,
        filename: opt_text("filename")?,
        bytes: opt_int("bytes")?,
        sha256: opt_text("sha256")?,
        rows_total: opt_int("rows_total")?,
        rows_accepted: opt_int("rows_accepted")?,
        rows_rejected: opt_int("rows_rejected")?,
        errors_json: opt_text("errors")?,
        problem: opt_text("problem")?,
        raw_key: opt_text("raw_key")?,
        processed_key: opt_text("processed_key")?,
        rejected_key: opt_text("rejected_key")?,
        superseded_by: opt_text("superseded_by")?,
        duplicate_of: opt_text("duplicate_of")?,
        received_at: row.try_get::<i64, _>("received_at")?,
        finished_at: opt_int("finished_at")?,
        instance_id: opt_text("instance_id")?,
        updated_at: row.try_get::<i64, _>("updated_at")?,
    })
}
