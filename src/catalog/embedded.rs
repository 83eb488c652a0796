//! `EmbeddedCatalog`: the catalog kept in shoplake's own database (SQLite or PostgreSQL).

use super::types::evolve;
use super::{
    Catalog, CatalogError, CatalogResult, ColumnDef, Freshness, PartitionInfo, PartitionRange, TableInfo,
    PARTITION_KEYS,
};
use crate::db::{Db, PartitionRow, TableRow};
use async_trait::async_trait;

/// The embedded catalog.
#[derive(Debug, Clone)]
pub struct EmbeddedCatalog {
    db: Db,
}

impl EmbeddedCatalog {
    /// A catalog over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn table_info(row: TableRow) -> CatalogResult<TableInfo> {
    let corrupt = |e: serde_json::Error| CatalogError::Unavailable(format!("corrupt catalog row {}: {e}", row.name));
    Ok(TableInfo {
        columns: serde_json::from_str(&row.columns_json).map_err(corrupt)?,
        partition_keys: serde_json::from_str(&row.partition_keys_json).map_err(corrupt)?,
        partitions: row.partitions as u64,
        rows: row.rows as u64,
        bytes: row.bytes as u64,
        updated_at: rfc3339(row.updated_at),
        name: row.name,
        location: row.location,
    })
}

#[async_trait]
impl Catalog for EmbeddedCatalog {
    async fn ensure_table(&self, name: &str, location: &str) -> CatalogResult<()> {
        let keys = serde_json::to_string(&PARTITION_KEYS).expect("json");
        self.db.catalog_rows().insert_table_if_missing(name, location, &keys).await?;
        Ok(())
    }

    async fn table(&self, name: &str) -> CatalogResult<Option<TableInfo>> {
        self.db.catalog_rows().table(name).await?.map(table_info).transpose()
    }

    async fn tables(&self) -> CatalogResult<Vec<TableInfo>> {
        self.db.catalog_rows().tables().await?.into_iter().map(table_info).collect()
    }

    #[tracing::instrument(name = "catalog.evolve", skip(self, file_columns))]
    async fn evolve_schema(&self, name: &str, file_columns: &[ColumnDef]) -> CatalogResult<Vec<ColumnDef>> {
        let rows = self.db.catalog_rows();
        // Optimistic concurrency: re-read and retry if another upload changed the columns first.
        for _ in 0..16 {
            let table = rows.table(name).await?.ok_or_else(|| CatalogError::NoSuchTable(name.to_owned()))?;
            let current: Vec<ColumnDef> = serde_json::from_str(&table.columns_json)
                .map_err(|e| CatalogError::Unavailable(format!("corrupt columns of {name}: {e}")))?;
            let Some(next) = evolve(&current, file_columns)? else { return Ok(current) };
            let next_json = serde_json::to_string(&next).expect("json");
            if rows.replace_columns(name, &table.columns_json, &next_json).await? {
                tracing::info!(table = name, columns = next.len(), "table schema evolved");
                return Ok(next);
            }
        }
        Err(CatalogError::Unavailable(format!("the columns of {name} kept changing; retry")))
    }

    async fn set_columns(&self, name: &str, columns: &[ColumnDef]) -> CatalogResult<()> {
        let rows = self.db.catalog_rows();
        let table = rows.table(name).await?.ok_or_else(|| CatalogError::NoSuchTable(name.to_owned()))?;
        rows.replace_columns(name, &table.columns_json, &serde_json::to_string(columns).expect("json")).await?;
        Ok(())
    }

    async fn put_partition(&self, name: &str, p: &PartitionInfo) -> CatalogResult<()> {
        let row = PartitionRow {
            shop_id: p.shop_id.clone(),
            sales_date: p.date.clone(),
            location: p.location.clone(),
            rows: p.rows as i64,
            bytes: p.bytes as i64,
            schema_fingerprint: p.schema_fingerprint.clone(),
            updated_at: crate::db::now_ms(),
            file_version: p.file_version.clone(),
        };
        self.db.catalog_rows().upsert_partition(name, &row).await?;
        Ok(())
    }

    async fn remove_partition(&self, name: &str, shop_id: &str, date: &str) -> CatalogResult<()> {
        self.db.catalog_rows().delete_partition(name, shop_id, date).await?;
        Ok(())
    }

    async fn partitions(&self, name: &str) -> CatalogResult<Vec<PartitionInfo>> {
        let rows = self.db.catalog_rows().partitions(name).await?;
        Ok(rows.into_iter().map(partition_info).collect())
    }

    async fn partitions_in(&self, name: &str, range: &PartitionRange<'_>) -> CatalogResult<Vec<PartitionInfo>> {
        let rows =
            self.db.catalog_rows().partitions_between(name, range.shop_id, range.from_date, range.to_date).await?;
        Ok(rows.into_iter().map(partition_info).collect())
    }

    async fn partition_dates(&self, name: &str, shop_id: Option<&str>) -> CatalogResult<Vec<String>> {
        Ok(self.db.catalog_rows().partition_dates(name, shop_id).await?)
    }

    async fn freshness(&self, name: &str, shop_id: Option<&str>) -> CatalogResult<Option<Freshness>> {
        let found = self.db.catalog_rows().freshness(name, shop_id).await?;
        Ok(found.map(|(latest_date, last_change_ms)| Freshness { latest_date, last_change: rfc3339(last_change_ms) }))
    }

    async fn range_version(&self, name: &str, range: &PartitionRange<'_>) -> CatalogResult<Option<String>> {
        let (from, to) = (range.from_date.unwrap_or(""), range.to_date.unwrap_or("~"));
        let [count, revisions, last_change_ms, bytes] =
            self.db.catalog_rows().range_version(name, range.shop_id, from, to).await?;
        Ok(Some(format!("{count}/{revisions}/{last_change_ms}/{bytes}")))
    }

    async fn partition_files(&self, name: &str) -> CatalogResult<Option<Vec<PartitionInfo>>> {
        let partitions = self.partitions(name).await?;
        Ok(partitions.iter().all(|p| p.file_version.is_some()).then_some(partitions))
    }

    async fn partitions_page(
        &self,
        name: &str,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> CatalogResult<Vec<PartitionInfo>> {
        let rows = self.db.catalog_rows().partitions_after(name, after, limit).await?;
        Ok(rows.into_iter().map(partition_info).collect())
    }
}

fn partition_info(r: PartitionRow) -> PartitionInfo {
    PartitionInfo {
        shop_id: r.shop_id,
        date: r.sales_date,
        location: r.location,
        rows: r.rows as u64,
        bytes: r.bytes as u64,
        schema_fingerprint: r.schema_fingerprint,
        updated_at: rfc3339(r.updated_at),
        file_version: r.file_version,
    }
}
