//! `SqlEngine`: read-only SQL over the lake, wherever it runs. The service picks one when it is
//! wired (embedded DataFusion over the catalog's tables, or Athena) and every caller —
//! `POST /v1/query`, `shoplake sql` — goes through it.

use super::athena::AthenaEngine;
use super::{QueryEngine, QueryError, QueryOutput, TableSource};
use crate::catalog::{Catalog, CatalogError};
use async_trait::async_trait;
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
}

impl EmbeddedSql {
    /// `engine` reading the tables of `catalog`.
    pub fn new(engine: QueryEngine, catalog: Arc<dyn Catalog>) -> Self {
        Self { engine, catalog }
    }
}

#[async_trait]
impl SqlEngine for EmbeddedSql {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn execute(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        let tables = table_sources(self.catalog.as_ref()).await.map_err(|error| match error {
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

/// The catalog's tables as the SQL engine sees them (`shop_id`, `date` as partition columns).
pub async fn table_sources(catalog: &dyn Catalog) -> Result<Vec<TableSource>, CatalogError> {
    Ok(catalog
        .table_schemas()
        .await?
        .into_iter()
        .map(|table| TableSource {
            root: if table.location.ends_with('/') { table.location.clone() } else { format!("{}/", table.location) },
            file_schema: Arc::new(crate::catalog::types::arrow_schema(&table.columns)),
            partition_columns: table.partition_keys.clone(),
            name: table.name,
        })
        .collect())
}
