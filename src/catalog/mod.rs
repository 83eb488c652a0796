//! The catalog: tables over storage prefixes, their columns and their partitions, behind one
//! small trait (embedded in our database, or AWS Glue). Updated in the step that commits an
//! upload, so an accepted upload is queryable at once.

pub mod crawl;
pub mod ddl;
mod embedded;
mod glue;
pub mod glue_crawler;
pub mod types;

pub use embedded::EmbeddedCatalog;
pub use glue::GlueCatalog;

/// How Hive, Athena and Glue name our files' format (what a Glue crawler writes for Parquet).
pub mod hive_format {
    /// The SerDe of Parquet files.
    pub const SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
    /// Their input format.
    pub const INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
    /// Their output format.
    pub const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
}
pub use types::ColumnDef;

use async_trait::async_trait;
use serde::Serialize;

/// The table every shop's sales land in.
pub const SALES_TABLE: &str = "sales_processed";

/// Partition keys of the sales table, in path order.
pub const PARTITION_KEYS: [&str; 2] = ["shop_id", "date"];

/// A table as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TableInfo {
    /// Table name.
    pub name: String,
    /// URL of the table's storage prefix (`file:///.../processed/`, `s3://bucket/prefix/processed/`).
    pub location: String,
    /// Columns of the files, in order (partition keys excluded).
    pub columns: Vec<ColumnDef>,
    /// Partition keys (Hive-style path segments), typed string.
    pub partition_keys: Vec<String>,
    /// Number of partitions.
    pub partitions: u64,
    /// Rows over all partitions.
    pub rows: u64,
    /// Bytes of all partition files.
    pub bytes: u64,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// One partition: one shop-day file.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PartitionInfo {
    /// The shop.
    pub shop_id: String,
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// Storage key of the partition's file.
    pub location: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size of the file.
    pub bytes: u64,
    /// Digest of the file's own column list.
    pub schema_fingerprint: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// The stored object's version as the store named it when it was written (see
    /// `storage::ObjectMeta::version`); `None` where the catalog does not keep it (Glue, rows
    /// from before it was kept). Lets the query engine plan from the catalog without listing.
    #[serde(skip)]
    #[schema(ignore)]
    pub file_version: Option<String>,
}

/// Which partitions of a table: of one shop or all, with dates within `from_date..=to_date`
/// (`YYYY-MM-DD`; an open end when `None`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PartitionRange<'a> {
    /// Only this shop's partitions.
    pub shop_id: Option<&'a str>,
    /// First day included.
    pub from_date: Option<&'a str>,
    /// Last day included.
    pub to_date: Option<&'a str>,
}

impl PartitionRange<'_> {
    /// Whether `partition` is in the range.
    pub fn contains(&self, partition: &PartitionInfo) -> bool {
        self.shop_id.is_none_or(|shop| partition.shop_id == shop)
            && self.from_date.is_none_or(|from| partition.date.as_str() >= from)
            && self.to_date.is_none_or(|to| partition.date.as_str() <= to)
    }
}

/// How fresh a table, or one shop's part of it, is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// The newest day with a partition, `YYYY-MM-DD`.
    pub latest_date: String,
    /// The last change to any of its partitions (RFC 3339).
    pub last_change: String,
}

/// Errors of the catalog layer.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A column's type in a file cannot be reconciled with the table's.
    #[error("column '{column}' is {table_type} in the table but {file_type} in this file; change the file's values or the table schema")]
    TypeConflict {
        /// The column.
        column: String,
        /// Its type in the table.
        table_type: String,
        /// Its type in the file.
        file_type: String,
    },
    /// An Arrow type the catalog cannot describe.
    #[error("column '{column}' has type {data_type}, which the catalog cannot describe")]
    UnsupportedType {
        /// The column.
        column: String,
        /// The Arrow type.
        data_type: String,
    },
    /// No such table.
    #[error("no table named '{0}'")]
    NoSuchTable(String),
    /// The catalog's store failed: retry later.
    #[error("catalog unavailable: {0}")]
    Unavailable(String),
    /// A partition file could not be read while crawling.
    #[error("cannot read partition file {key}: {detail}")]
    BadFile {
        /// Storage key.
        key: String,
        /// What failed.
        detail: String,
    },
}

/// Result alias of the catalog layer.
pub type CatalogResult<T> = Result<T, CatalogError>;

impl From<crate::db::DbError> for CatalogError {
    fn from(e: crate::db::DbError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// What the catalog must do for shoplake.
#[async_trait]
pub trait Catalog: Send + Sync + std::fmt::Debug {
    /// Creates the table (no columns yet) if it does not exist.
    async fn ensure_table(&self, name: &str, location: &str) -> CatalogResult<()>;

    /// One table with its statistics.
    async fn table(&self, name: &str) -> CatalogResult<Option<TableInfo>>;

    /// All tables.
    async fn tables(&self) -> CatalogResult<Vec<TableInfo>>;

    /// All tables' names, locations and columns, for the query engine: the statistics may be
    /// left at zero where counting them costs (Glue lists every partition for them).
    async fn table_schemas(&self) -> CatalogResult<Vec<TableInfo>> {
        self.tables().await
    }

    /// Adds a file's new columns to the table and widens where safe; refuses conflicts.
    /// Returns the table's columns afterwards.
    async fn evolve_schema(&self, name: &str, file_columns: &[ColumnDef]) -> CatalogResult<Vec<ColumnDef>>;

    /// Replaces the table's columns outright (a crawl rebuilding the schema).
    async fn set_columns(&self, name: &str, columns: &[ColumnDef]) -> CatalogResult<()>;

    /// Registers or updates one partition.
    async fn put_partition(&self, name: &str, partition: &PartitionInfo) -> CatalogResult<()>;

    /// Removes one partition (its file is gone).
    async fn remove_partition(&self, name: &str, shop_id: &str, date: &str) -> CatalogResult<()>;

    /// All partitions of a table, by shop then date.
    async fn partitions(&self, name: &str) -> CatalogResult<Vec<PartitionInfo>>;

    /// The partitions of a table in `range`, by shop then date. (The default lists them all and
    /// filters; a catalog that can select them itself should.)
    async fn partitions_in(&self, name: &str, range: &PartitionRange<'_>) -> CatalogResult<Vec<PartitionInfo>> {
        let mut all = self.partitions(name).await?;
        all.retain(|p| range.contains(p));
        Ok(all)
    }

    /// The days with a partition, of one shop or all, ascending.
    async fn partition_dates(&self, name: &str, shop_id: Option<&str>) -> CatalogResult<Vec<String>> {
        let range = PartitionRange { shop_id, ..PartitionRange::default() };
        let mut dates: Vec<String> = self.partitions_in(name, &range).await?.into_iter().map(|p| p.date).collect();
        dates.sort_unstable();
        dates.dedup();
        Ok(dates)
    }

    /// The newest day and the last change, of one shop or all; `None` without partitions.
    async fn freshness(&self, name: &str, shop_id: Option<&str>) -> CatalogResult<Option<Freshness>> {
        let range = PartitionRange { shop_id, ..PartitionRange::default() };
        let partitions = self.partitions_in(name, &range).await?;
        let latest_date = partitions.iter().map(|p| p.date.as_str()).max();
        let last_change = partitions.iter().map(|p| p.updated_at.as_str()).max();
        Ok(latest_date
            .zip(last_change)
            .map(|(date, change)| Freshness { latest_date: date.to_owned(), last_change: change.to_owned() }))
    }

    /// A value that changes whenever a partition in `range` is added, replaced or removed, so
    /// an answer computed over those partitions may be kept until it changes; `None` when this
    /// catalog cannot vouch for that (partitions registered by others, e.g. a Glue crawler).
    async fn range_version(&self, _name: &str, _range: &PartitionRange<'_>) -> CatalogResult<Option<String>> {
        Ok(None)
    }

    /// Every partition of a table with the version of its file, for the query engine to plan
    /// from without listing storage; `None` when this catalog cannot give every version (it
    /// does not keep them, or some partition was registered without one).
    async fn partition_files(&self, _name: &str) -> CatalogResult<Option<Vec<PartitionInfo>>> {
        Ok(None)
    }

    /// At most `limit` partitions of a table after the (shop, date) `after`, by shop then date.
    async fn partitions_page(
        &self,
        name: &str,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> CatalogResult<Vec<PartitionInfo>> {
        let all = self.partitions(name).await?;
        let is_after =
            |p: &PartitionInfo| after.is_none_or(|(shop, date)| (p.shop_id.as_str(), p.date.as_str()) > (shop, date));
        Ok(all.into_iter().filter(is_after).take(limit as usize).collect())
    }
}
