//! The `catalog_tables` and `catalog_partitions` tables (SQL of the embedded catalog).

use super::{now_ms, DbResult};
use sqlx::AnyPool;

/// A stored table row: name, location, columns JSON, partition keys JSON, updated_at (ms).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TableRow {
    /// Table name.
    pub name: String,
    /// Storage URL.
    pub location: String,
    /// JSON column list.
    #[sqlx(rename = "columns")]
    pub columns_json: String,
    /// JSON partition keys.
    #[sqlx(rename = "partition_keys")]
    pub partition_keys_json: String,
    /// ms since epoch.
    pub updated_at: i64,
    /// Partition count.
    pub partitions: i64,
    /// Sum of partition rows.
    #[sqlx(rename = "total_rows")]
    pub rows: i64,
    /// Sum of partition bytes.
    #[sqlx(rename = "total_bytes")]
    pub bytes: i64,
}

/// A stored partition row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartitionRow {
    /// The shop.
    pub shop_id: String,
    /// `YYYY-MM-DD`.
    pub sales_date: String,
    /// Storage key of the file.
    pub location: String,
    /// Rows in the file.
    pub rows: i64,
    /// Size of the file.
    pub bytes: i64,
    /// Column-list digest.
    pub schema_fingerprint: String,
    /// ms since epoch.
    pub updated_at: i64,
    /// The stored object's version when it was written (null before it was kept).
    pub file_version: Option<String>,
}

/// Repository over the catalog tables.
#[derive(Debug, Clone, Copy)]
pub struct CatalogRows<'p> {
    pool: &'p AnyPool,
}

const TABLE_SELECT: &str = "select t.name, t.location, t.columns, t.partition_keys, t.updated_at, \
     (select count(*) from catalog_partitions p where p.table_name = t.name) as partitions, \
     (select cast(coalesce(sum(p.rows), 0) as bigint) from catalog_partitions p where p.table_name = t.name) as total_rows, \
     (select cast(coalesce(sum(p.bytes), 0) as bigint) from catalog_partitions p where p.table_name = t.name) as total_bytes \
     from catalog_tables t";

impl<'p> CatalogRows<'p> {
    pub(super) fn new(pool: &'p AnyPool) -> Self {
        Self { pool }
    }

    /// Inserts a table if no table of that name exists.
    pub async fn insert_table_if_missing(&self, name: &str, location: &str, partition_keys_json: &str) -> DbResult<()> {
        let now = now_ms();
        sqlx::query(
            "insert into catalog_tables (name, location, columns, partition_keys, created_at, updated_at) values ($1, $2, '[]', $3, $4, $4) on conflict (name) do nothing",
        )
        .bind(name.to_owned())
        .bind(location.to_owned())
        .bind(partition_keys_json.to_owned())
        .bind(now)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// One table with its partition statistics.
    pub async fn table(&self, name: &str) -> DbResult<Option<TableRow>> {
        let table = sqlx::query_as(sqlx::AssertSqlSafe(format!("{TABLE_SELECT} where t.name = $1")))
            .bind(name.to_owned())
            .fetch_optional(self.pool)
            .await?;
        Ok(table)
    }

    /// All tables, by name.
    pub async fn tables(&self) -> DbResult<Vec<TableRow>> {
        let tables =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{TABLE_SELECT} order by t.name"))).fetch_all(self.pool).await?;
        Ok(tables)
    }

    /// Replaces the column list only if it is still `expected` (optimistic concurrency);
    /// returns whether it was replaced.
    pub async fn replace_columns(&self, name: &str, expected_json: &str, columns_json: &str) -> DbResult<bool> {
        let result =
            sqlx::query("update catalog_tables set columns = $1, updated_at = $2 where name = $3 and columns = $4")
                .bind(columns_json.to_owned())
                .bind(now_ms())
                .bind(name.to_owned())
                .bind(expected_json.to_owned())
                .execute(self.pool)
                .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Inserts or updates one partition.
    pub async fn upsert_partition(&self, table: &str, p: &PartitionRow) -> DbResult<()> {
        sqlx::query(
            "insert into catalog_partitions (table_name, shop_id, sales_date, location, rows, bytes, schema_fingerprint, updated_at, file_version) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             on conflict (table_name, shop_id, sales_date) do update set location = excluded.location, rows = excluded.rows, \
             bytes = excluded.bytes, schema_fingerprint = excluded.schema_fingerprint, updated_at = excluded.updated_at, \
             file_version = excluded.file_version, \
             revision = catalog_partitions.revision + 1",
        )
        .bind(table.to_owned())
        .bind(p.shop_id.clone())
        .bind(p.sales_date.clone())
        .bind(p.location.clone())
        .bind(p.rows)
        .bind(p.bytes)
        .bind(p.schema_fingerprint.clone())
        .bind(p.updated_at)
        .bind(p.file_version.clone())
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// Deletes one partition.
    pub async fn delete_partition(&self, table: &str, shop_id: &str, date: &str) -> DbResult<()> {
        sqlx::query("delete from catalog_partitions where table_name = $1 and shop_id = $2 and sales_date = $3")
            .bind(table.to_owned())
            .bind(shop_id.to_owned())
            .bind(date.to_owned())
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// All partitions of a table, by shop then date.
    pub async fn partitions(&self, table: &str) -> DbResult<Vec<PartitionRow>> {
        let partitions = sqlx::query_as(
            "select shop_id, sales_date, location, rows, bytes, schema_fingerprint, updated_at, file_version from catalog_partitions where table_name = $1 order by shop_id, sales_date",
        )
        .bind(table.to_owned())
        .fetch_all(self.pool)
        .await?;
        Ok(partitions)
    }

    /// At most `limit` partitions of `table` after the (shop, date) `after`, by shop then date.
    pub async fn partitions_after(
        &self,
        table: &str,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> DbResult<Vec<PartitionRow>> {
        let (shop, date) = after.unwrap_or(("", ""));
        let partitions = sqlx::query_as(
            "select shop_id, sales_date, location, rows, bytes, schema_fingerprint, updated_at, file_version from catalog_partitions \
             where table_name = $1 and (shop_id, sales_date) > ($2, $3) \
             order by shop_id, sales_date limit $4",
        )
        .bind(table.to_owned())
        .bind(shop.to_owned())
        .bind(date.to_owned())
        .bind(i64::from(limit))
        .fetch_all(self.pool)
        .await?;
        Ok(partitions)
    }

    /// Partitions of `table` of `shop` (all when `None`) with dates within `from..=to`, by shop
    /// then date.
    pub async fn partitions_between(
        &self,
        table: &str,
        shop: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> DbResult<Vec<PartitionRow>> {
        let partitions = sqlx::query_as(
            "select shop_id, sales_date, location, rows, bytes, schema_fingerprint, updated_at, file_version from catalog_partitions \
             where table_name = $1 and ($2 = '' or shop_id = $2) and sales_date >= $3 and sales_date <= $4 \
             order by shop_id, sales_date",
        )
        .bind(table.to_owned())
        .bind(shop.unwrap_or("").to_owned())
        .bind(from.unwrap_or("").to_owned())
        .bind(to.unwrap_or("~").to_owned())
        .fetch_all(self.pool)
        .await?;
        Ok(partitions)
    }

    /// The distinct days with a partition of `table` (of `shop`, or all), ascending.
    pub async fn partition_dates(&self, table: &str, shop: Option<&str>) -> DbResult<Vec<String>> {
        let dates: Vec<(String,)> = sqlx::query_as(
            "select distinct sales_date from catalog_partitions where table_name = $1 and ($2 = '' or shop_id = $2) \
             order by sales_date",
        )
        .bind(table.to_owned())
        .bind(shop.unwrap_or("").to_owned())
        .fetch_all(self.pool)
        .await?;
        Ok(dates.into_iter().map(|(date,)| date).collect())
    }

    /// The newest day and the last change (ms) among the partitions of `table` (of `shop`, or
    /// all); `None` without partitions.
    pub async fn freshness(&self, table: &str, shop: Option<&str>) -> DbResult<Option<(String, i64)>> {
        let row: (Option<String>, Option<i64>) = sqlx::query_as(
            "select max(sales_date), cast(max(updated_at) as bigint) from catalog_partitions \
             where table_name = $1 and ($2 = '' or shop_id = $2)",
        )
        .bind(table.to_owned())
        .bind(shop.unwrap_or("").to_owned())
        .fetch_one(self.pool)
        .await?;
        Ok(row.0.zip(row.1))
    }

    /// What changes whenever a partition of `table` (of `shop`, or all) dated within
    /// `from..=to` is added, replaced or removed: their count, the sum of their revisions, the
    /// last change (ms) and their bytes.
    pub async fn range_version(&self, table: &str, shop: Option<&str>, from: &str, to: &str) -> DbResult<[i64; 4]> {
        let row: (i64, i64, i64, i64) = sqlx::query_as(
            "select count(*), cast(coalesce(sum(revision), 0) as bigint), cast(coalesce(max(updated_at), 0) as bigint), \
             cast(coalesce(sum(bytes), 0) as bigint) from catalog_partitions \
             where table_name = $1 and ($2 = '' or shop_id = $2) and sales_date >= $3 and sales_date <= $4",
        )
        .bind(table.to_owned())
        .bind(shop.unwrap_or("").to_owned())
        .bind(from.to_owned())
        .bind(to.to_owned())
        .fetch_one(self.pool)
        .await?;
        Ok([row.0, row.1, row.2, row.3])
    }
}
