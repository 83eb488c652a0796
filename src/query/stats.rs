//! Athena-style scan figures: files and partitions the executed plan read, bytes, rows, time.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;

/// How a query went, reported with every answer (the contract's `stats`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueryStats {
    /// Wall time of planning plus execution, in milliseconds.
    pub elapsed_ms: f64,
    /// Distinct partition directories (`shop_id=../date=..`) among the files scanned.
    pub partitions_scanned: u64,
    /// Files the scans were planned over, after partition pruning (footers read, maybe no data).
    pub files_scanned: u64,
    /// Bytes read from those files (DataFusion's Parquet `bytes_scanned` metric, summed).
    pub bytes_scanned: u64,
    /// Rows in the answer (after the row limit).
    pub rows_returned: u64,
}

/// The scan part of the figures, read from an executed physical plan.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ScanFigures {
    pub partitions: u64,
    pub files: u64,
    pub bytes: u64,
}

/// Files and partitions from the scans `files` recorded; bytes summed over the executed `plan`.
pub(crate) fn scan_figures(files: &HashSet<String>, plan: &Arc<dyn ExecutionPlan>) -> ScanFigures {
    let mut bytes = 0u64;
    let mut stack = vec![Arc::clone(plan)];
    while let Some(node) = stack.pop() {
        if let Some(metric) = node.metrics().and_then(|m| m.sum_by_name("bytes_scanned")) {
            bytes += metric.as_usize() as u64;
        }
        stack.extend(node.children().into_iter().cloned());
    }
    let partitions: HashSet<&str> = files.iter().map(|path| path.rsplit_once('/').map_or("", |(dir, _)| dir)).collect();
    ScanFigures { partitions: partitions.len() as u64, files: files.len() as u64, bytes }
}
