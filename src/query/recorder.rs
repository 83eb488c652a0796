//! `RecordingTable`: a table wrapper that notes which files each scan was planned over.
//!
//! Reading the files off the final physical plan would miss scans the optimizer answered from
//! footers alone (`count(*)` from statistics), so the files are taken where the table hands
//! its scan to the planner: after partition pruning, before any file is opened.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::{Constraints, Statistics};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

/// Paths of the files scans were planned over, shared by all tables of one query.
pub(crate) type ScannedFiles = Arc<Mutex<HashSet<String>>>;

/// Delegates everything to `inner`, recording the files of every scan plan it returns.
#[derive(Debug)]
pub(crate) struct RecordingTable {
    inner: Arc<dyn TableProvider>,
    files: ScannedFiles,
}

impl RecordingTable {
    pub(crate) fn new(inner: Arc<dyn TableProvider>, files: ScannedFiles) -> Self {
        Self { inner, files }
    }

    fn record(&self, plan: &Arc<dyn ExecutionPlan>) {
        let mut found = Vec::new();
        let mut stack = vec![Arc::clone(plan)];
        while let Some(node) = stack.pop() {
            if let Some(exec) = node.downcast_ref::<DataSourceExec>() {
                if let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() {
                    for group in &config.file_groups {
                        found.extend(group.iter().map(|f| f.object_meta.location.to_string()));
                    }
                }
            }
            stack.extend(node.children().into_iter().cloned());
        }
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.extend(found);
    }
}

#[async_trait]
impl TableProvider for RecordingTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.inner.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        self.record(&plan);
        Ok(plan)
    }

    async fn scan_with_args<'a>(&self, state: &dyn Session, args: ScanArgs<'a>) -> Result<ScanResult> {
        let result = self.inner.scan_with_args(state, args).await?;
        self.record(result.plan());
        Ok(result)
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}
