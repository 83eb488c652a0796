//! Lookups of one upload (by id, raw key, current of a shop-day, same bytes), pages of a
//! shop's uploads, the uploads left in flight, and counts per status.

use super::record::{UploadRecord, UploadRow, COLUMNS};
use super::Uploads;
use crate::db::{DbError, DbResult};
use crate::domain::{SalesDate, ShopId, UploadId, UploadStatus};

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

impl Uploads<'_> {
    /// One upload by id.
    pub async fn get(&self, id: &UploadId) -> DbResult<Option<UploadRecord>> {
        let row =
            sqlx::query_as::<_, UploadRow>(sqlx::AssertSqlSafe(format!("select {COLUMNS} from uploads where id = $1")))
                .bind(id.to_string())
                .fetch_optional(self.pool)
                .await?;
        row.map(UploadRecord::try_from).transpose()
    }

    /// The upload recorded with this raw key (the first one: keys are recorded once).
    pub async fn by_raw_key(&self, raw_key: &str) -> DbResult<Option<UploadRecord>> {
        let row = sqlx::query_as::<_, UploadRow>(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from uploads where raw_key = $1 order by id limit 1"
        )))
        .bind(raw_key.to_owned())
        .fetch_optional(self.pool)
        .await?;
        row.map(UploadRecord::try_from).transpose()
    }

    /// The current (`succeeded`) upload of a shop-day, if any.
    pub async fn current(&self, shop: &ShopId, date: &SalesDate) -> DbResult<Option<UploadRecord>> {
        let row = sqlx::query_as::<_, UploadRow>(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from uploads where shop_id = $1 and sales_date = $2 and status = 'succeeded' order by id desc limit 1"
        )))
        .bind(shop.as_str().to_owned())
        .bind(date.to_string())
        .fetch_optional(self.pool)
        .await?;
        row.map(UploadRecord::try_from).transpose()
    }

    /// The newest other upload of a shop-day with these exact bytes (for `duplicate_of`).
    pub async fn same_bytes(
        &self,
        shop: &ShopId,
        date: &SalesDate,
        sha256: &str,
        except: &UploadId,
    ) -> DbResult<Option<UploadId>> {
        let id = sqlx::query_scalar::<_, String>(
            "select id from uploads where shop_id = $1 and sales_date = $2 and sha256 = $3 and id <> $4 and status in ('succeeded', 'superseded') order by id desc limit 1",
        )
        .bind(shop.as_str().to_owned())
        .bind(date.to_string())
        .bind(sha256.to_owned())
        .bind(except.to_string())
        .fetch_optional(self.pool)
        .await?;
        id.map(|id| UploadId::parse(&id).map_err(|e| DbError::Corrupt { table: "uploads", detail: e.0 })).transpose()
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
        let mut query = sqlx::query_as::<_, UploadRow>(sqlx::AssertSqlSafe(sql)).bind(shop.as_str().to_owned());
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
        let mut records = rows.into_iter().map(UploadRecord::try_from).collect::<DbResult<Vec<_>>>()?;
        let more = records.len() > filter.limit as usize;
        records.truncate(filter.limit as usize);
        Ok((records, more))
    }

    /// Uploads left in flight (`received` or `processing`), oldest first.
    pub async fn in_flight(&self) -> DbResult<Vec<UploadRecord>> {
        let rows = sqlx::query_as::<_, UploadRow>(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from uploads where status in ('received', 'processing') order by id"
        )))
        .fetch_all(self.pool)
        .await?;
        rows.into_iter().map(UploadRecord::try_from).collect()
    }

    /// Counts uploads per status (for `/metrics`).
    pub async fn count_by_status(&self) -> DbResult<Vec<(String, i64)>> {
        let counts =
            sqlx::query_as("select status, count(*) as n from uploads group by status").fetch_all(self.pool).await?;
        Ok(counts)
    }
}
