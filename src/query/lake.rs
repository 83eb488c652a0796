//! `SqlEngine`: read-only SQL over the lake, wherever it runs. The service picks one when it is
//! wired (embedded DataFusion over the catalog's tables, or Athena) and every caller —
//! `POST /v1/query`, `shoplake sql` — goes through it.

use super::athena::AthenaEngine;
use super::engine::CatalogFile;
use super::{QueryEngine, QueryError, QueryOutput, TableSource};
use crate::catalog::{Catalog, CatalogError, PartitionInfo, PartitionRange, PARTITION_KEYS};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

/// Runs one read-only statement over the lake's tables, within the configured limits.
#[async_trait]
pub trait SqlEngine: Send + Sync {
    /// The engine's name for metrics and logs: `embedded` or `athena`.
    fn name(&self) -> &'static str;

    /// Runs `sql` (one read-only statement) and returns its rows and scan figures.
    async fn execute(&self, sql: &str) -> Result<QueryOutput, QueryError>;
}

/// The embedded engine over the tables the catalog holds now (looked up for every query, so a
/// new partition or column is visible at once).
pub struct EmbeddedSql {
    engine: QueryEngine,
    catalog: Arc<dyn Catalog>,
    files: FileLists,
}

impl EmbeddedSql {
    /// `engine` reading the tables of `catalog`.
    pub fn new(engine: QueryEngine, catalog: Arc<dyn Catalog>) -> Self {
        Self { engine, catalog, files: FileLists::default() }
    }
}

/// A table's files as the catalog records them (`None`: it cannot give them all).
type Files = Option<Arc<Vec<CatalogFile>>>;

/// Each table's files as last read from the catalog, kept while the catalog's version of the
/// table's partitions (`Catalog::range_version` over every day: one aggregate row) is
/// unchanged, so a query does not read every partition's row (1,500 rows cost ~15 ms a query).
#[derive(Default)]
struct FileLists {
    tables: std::sync::Mutex<HashMap<String, (String, Files)>>,
}

impl FileLists {
    /// The files of `table` as the catalog records them now (`None`: it cannot give them all).
    async fn files(&self, catalog: &dyn Catalog, table: &str) -> Result<Option<Arc<Vec<CatalogFile>>>, CatalogError> {
        let version = catalog.range_version(table, &PartitionRange::default()).await?;
        if let Some(version) = &version {
            let kept = self.tables.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((kept_version, files)) = kept.get(table) {
                if kept_version == version {
                    return Ok(files.clone());
                }
            }
        }
        // Read after the version: if the table changed in between, these files are newer than
        // the version they are kept under, and the next query reads them again.
        let files = catalog.partition_files(table).await?.map(|partitions| Arc::new(catalog_files(&partitions)));
        if let Some(version) = version {
            self.tables.lock().unwrap_or_else(|e| e.into_inner()).insert(table.to_owned(), (version, files.clone()));
        }
        Ok(files)
    }
}

#[async_trait]
impl SqlEngine for EmbeddedSql {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn execute(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        let tables = table_sources(self.catalog.as_ref(), &self.files).await.map_err(|error| match error {
            CatalogError::Unavailable(detail) => QueryError::Unavailable(format!("the catalog: {detail}")),
            other => QueryError::Internal(format!("the catalog: {other}")),
        })?;
        self.engine.execute(sql, &tables).await
    }
}

#[async_trait]
impl SqlEngine for AthenaEngine {
    fn name(&self) -> &'static str {
        "athena"
    }

    async fn execute(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        AthenaEngine::execute(self, sql).await
    }
}

/// The catalog's tables as the SQL engine sees them (`shop_id`, `date` as partition columns),
/// with their files when the catalog records every one's version (the engine then plans from
/// them instead of listing storage).
async fn table_sources(catalog: &dyn Catalog, kept: &FileLists) -> Result<Vec<TableSource>, CatalogError> {
    let mut sources = Vec::new();
    for table in catalog.table_schemas().await? {
        let partitioned_by_shop_and_date = table.partition_keys.iter().map(String::as_str).eq(PARTITION_KEYS);
        let files = match partitioned_by_shop_and_date {
            true => kept.files(catalog, &table.name).await?,
            false => None,
        };
        sources.push(TableSource {
            root: if table.location.ends_with('/') { table.location.clone() } else { format!("{}/", table.location) },
            file_schema: Arc::new(crate::catalog::types::arrow_schema(&table.columns)),
            partition_columns: table.partition_keys.clone(),
            name: table.name,
            files,
        });
    }
    Ok(sources)
}

/// The partitions' files as the engine lists them: `shop_id=S/date=D/<file name>` below the
/// table's root.
fn catalog_files(partitions: &[PartitionInfo]) -> Vec<CatalogFile> {
    partitions
        .iter()
        .filter_map(|p| {
            let file_name = p.location.rsplit('/').next()?;
            Some(CatalogFile {
                relative_path: format!("shop_id={}/date={}/{file_name}", p.shop_id, p.date),
                size: p.bytes,
                version: p.file_version.clone()?,
                recorded_at: chrono::DateTime::parse_from_rfc3339(&p.updated_at).ok()?.with_timezone(&chrono::Utc),
            })
        })
        .collect()
}
