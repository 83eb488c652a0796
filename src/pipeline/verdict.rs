//! The ingest's verdict on an upload in `processing`, turned into its end: the whole file
//! refused (`rejected`), a failure that is not the file's fault (`failed`), or the table's
//! schema widened, the rejected rows stored and the partition committed.

use super::commit::Commit;
use super::error::{Halt, PipelineError, Stop};
use super::locks::ShopDayGuard;
use super::{process, Incoming, Pipeline, SchemaLimits};
use crate::catalog::types::{columns_of, evolve, fingerprint};
use crate::catalog::{CatalogError, ColumnDef, PartitionInfo, SALES_TABLE};
use crate::db::IngestResult;
use crate::domain::{UploadId, UploadStatus};
use crate::ingest::{IngestError, IngestReport, TableSchema};
use crate::storage::{layout, PutMode, StorageResult};

impl Pipeline {
    /// Takes the ingest's outcome for an upload in `processing` and commits the partition; the
    /// caller holds the shop-day lock (`shop_day`). `previous` is the shop-day's current upload,
    /// which a success supersedes. `may_hold_partition`: an earlier attempt at this upload may
    /// have written the partition file (see [`Pipeline::commit_partition`]).
    pub(super) async fn process(
        &self,
        id: UploadId,
        incoming: &Incoming,
        shop_day: &mut ShopDayGuard,
        previous: Option<UploadId>,
        ingested: StorageResult<process::Ingested>,
        may_hold_partition: bool,
    ) -> Result<(), PipelineError> {
        let judged: Result<(), Halt> = async {
            let uploads = self.db.uploads();
            let (scratch, verdict) = ingested
                .map_err(|storage| Stop::failed(format!("reading the archived file failed: {storage}"), storage))?;
            let rejected_key = layout::rejected_key(&incoming.shop, &incoming.date, &id);
            let report = match verdict {
                Ok(report) => report,
                Err(IngestError::TooManyRejected { report, .. }) => {
                    self.metrics.add_rows_rejected(report.rows_rejected);
                    let problem = too_many_rejected(&report, self.options.max_rejected_fraction);
                    // Keep the rejected rows so the shop can see what to fix; processed/ is untouched.
                    let stored = self.store.put_file(&rejected_key, &scratch.rejected, PutMode::Replace).await;
                    let result = ingest_result(&report, stored.is_ok().then(|| rejected_key.clone()));
                    uploads.record_result(&id, &result).await?;
                    return Err(Stop::rejected(problem, id, report.errors).into());
                }
                Err(
                    error @ (IngestError::Io(_)
                    | IngestError::Parquet(_)
                    | IngestError::Arrow(_)
                    | IngestError::Schema(_)),
                ) => {
                    let problem = format!("processing failed: {error}");
                    return Err(Stop::failed(problem, PipelineError::processing(error)).into());
                }
                Err(too_large @ IngestError::DecompressedTooLarge { .. }) => {
                    let problem = too_large.to_string();
                    let error = PipelineError::DecompressedTooLarge { problem: problem.clone(), upload_id: id };
                    return Err(Stop { status: UploadStatus::Rejected, problem, error }.into());
                }
                Err(file_level) => return Err(Stop::rejected(file_level.to_string(), id, Vec::new()).into()),
            };
            self.metrics.add_rows_rejected(report.rows_rejected);

            // The table's schema takes this file's columns (added, or widened where safe) before the
            // file becomes visible; a type conflict rejects the file and changes nothing.
            let file_columns = columns_of(&report.schema).map_err(PipelineError::from)?;
            if let Some(problem) = self.schema_fit(&file_columns).await?.problem {
                return Err(Stop::rejected(problem, id, Vec::new()).into());
            }
            // Checked above against the table as it was; another upload may have changed it since.
            match self.catalog.evolve_schema(SALES_TABLE, &file_columns).await {
                Ok(_) => {}
                Err(conflict @ (CatalogError::TypeConflict { .. } | CatalogError::UnsupportedType { .. })) => {
                    return Err(Stop::rejected(does_not_fit(&conflict), id, Vec::new()).into());
                }
                Err(other) => return Err(Stop::failed(format!("catalog failed: {other}"), other).into()),
            }

            let stored_rejected = if report.rows_rejected > 0 {
                self.put_or_fail(id, &rejected_key, &scratch.rejected).await?;
                Some(rejected_key)
            } else {
                None
            };
            uploads.record_result(&id, &ingest_result(&report, stored_rejected)).await?;

            let partition = PartitionInfo {
                shop_id: incoming.shop.to_string(),
                date: incoming.date.to_string(),
                location: layout::processed_key(&incoming.shop, &incoming.date),
                rows: report.rows_accepted,
                bytes: report.parquet_bytes,
                schema_fingerprint: fingerprint(&file_columns),
                updated_at: String::new(),
                file_version: None,
            };
            let commit = Commit { id, incoming, parquet: &scratch.parquet, partition, may_hold_partition };
            Ok(self.commit_partition(commit, shop_day, previous).await?)
        }
        .await;
        self.settle(id, UploadStatus::Processing, judged).await
    }

    /// Stores `path` under `key` and returns what was stored; if storage fails, the upload (in
    /// `processing`) ends `failed`.
    pub(super) async fn put_or_fail(
        &self,
        id: UploadId,
        key: &str,
        path: &std::path::Path,
    ) -> Result<crate::storage::ObjectMeta, PipelineError> {
        match self.store.put_file(key, path, PutMode::Replace).await {
            Ok(stored) => Ok(stored),
            Err(error) => {
                let stop = Stop::failed(format!("storage failed while writing {key}: {error}"), error);
                Err(self.end(id, UploadStatus::Processing, stop).await)
            }
        }
    }

    /// How `file_columns` would fit the sales table as the catalog has it now, read only: the
    /// check an upload passes before the table's schema takes its columns, and the dry run's.
    pub(super) async fn schema_fit(&self, file_columns: &[ColumnDef]) -> Result<SchemaFit, PipelineError> {
        let tables = self.catalog.table_schemas().await?;
        let table = tables.iter().find(|t| t.name == SALES_TABLE).map_or(&[][..], |t| t.columns.as_slice());
        Ok(schema_fit(Some(table), &self.options.schema, file_columns, self.schema_limits))
    }
}

/// How a file's columns fit the sales table, found without changing anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaFit {
    /// Columns the table would gain: the file's columns that are neither in the table schema
    /// (the contract) nor in the table yet.
    pub new_columns: Vec<ColumnDef>,
    /// Why the file would be refused for its columns (too many new ones, a table grown too
    /// wide, a type the table's column cannot hold), if it would be.
    pub problem: Option<String>,
}

/// How `file_columns` fit `table` (the sales table's columns now; `None` when unknown, as
/// offline: then only the columns beyond `contract` are reported, never a problem). A file may
/// not add more new columns than one upload may, nor make the table wider than allowed, nor
/// bring a column whose type the table's column cannot be widened to hold.
pub fn schema_fit(
    table: Option<&[ColumnDef]>,
    contract: &TableSchema,
    file_columns: &[ColumnDef],
    limits: SchemaLimits,
) -> SchemaFit {
    let mut known: Vec<String> = table.unwrap_or_default().iter().map(|c| c.name.to_lowercase()).collect();
    // The schema's own columns are never new, whether or not a file has brought them yet.
    for column in &contract.columns {
        if !known.contains(&column.name.to_lowercase()) {
            known.push(column.name.to_lowercase());
        }
    }
    let new_columns: Vec<ColumnDef> =
        file_columns.iter().filter(|c| !known.contains(&c.name.to_lowercase())).cloned().collect();
    let problem = table.and_then(|table| {
        widening_problem(known.len(), &new_columns, limits)
            .or_else(|| evolve(table, file_columns).err().map(|conflict| does_not_fit(&conflict)))
    });
    SchemaFit { new_columns, problem }
}

/// Why `new` columns may not widen a table of `table_width` columns, if they may not: more new
/// columns than one upload may add, or a table wider than allowed.
fn widening_problem(table_width: usize, new: &[ColumnDef], limits: SchemaLimits) -> Option<String> {
    let shown = || {
        let mut list = new.iter().take(5).map(|c| format!("`{}`", c.name)).collect::<Vec<_>>().join(", ");
        if new.len() > 5 {
            list.push_str(", ...");
        }
        list
    };
    if new.len() > limits.max_new_columns {
        return Some(format!(
            "the file has {} columns the table {SALES_TABLE} does not have ({}), more than the {} new columns one upload may add; remove the columns you do not need",
            new.len(),
            shown(),
            limits.max_new_columns
        ));
    }
    if !new.is_empty() && table_width + new.len() > limits.max_table_columns {
        return Some(format!(
            "the file's new columns ({}) would make the table {SALES_TABLE} {} columns wide, more than its limit of {}; remove the columns you do not need",
            shown(),
            table_width + new.len(),
            limits.max_table_columns
        ));
    }
    None
}

/// The problem recorded when a file's column types do not fit the table's.
fn does_not_fit(conflict: &CatalogError) -> String {
    format!("the file does not fit the table {SALES_TABLE}: {conflict}")
}

/// The problem recorded when too many of a file's rows were rejected (`limit`: the fraction
/// allowed).
pub(super) fn too_many_rejected(report: &IngestReport, limit: f64) -> String {
    IngestError::TooManyRejected { fraction: rejected_fraction(report), limit, report: Box::new(report.clone()) }
        .to_string()
}

fn rejected_fraction(report: &IngestReport) -> f64 {
    if report.rows_total == 0 {
        0.0
    } else {
        report.rows_rejected as f64 / report.rows_total as f64
    }
}

fn ingest_result(report: &IngestReport, rejected_key: Option<String>) -> IngestResult {
    IngestResult {
        rows_total: report.rows_total,
        rows_accepted: report.rows_accepted,
        rows_rejected: report.rows_rejected,
        errors: report.errors.clone(),
        rejected_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(spec: &[(&str, &str)]) -> Vec<ColumnDef> {
        spec.iter().map(|(n, t)| ColumnDef { name: n.to_string(), data_type: t.to_string() }).collect()
    }

    #[test]
    fn a_column_whose_type_the_table_cannot_hold_is_a_problem_and_a_new_one_is_reported() {
        let table = columns(&[("transaction_id", "string"), ("quantity", "bigint")]);
        let file = columns(&[("quantity", "string"), ("till_no", "string")]);
        let fit = schema_fit(Some(&table), &TableSchema::sales_default(), &file, SchemaLimits::default());
        assert_eq!(fit.new_columns, columns(&[("till_no", "string")]));
        let problem = fit.problem.expect("a type conflict");
        assert!(problem.contains("does not fit the table") && problem.contains("quantity"), "{problem}");
    }

    #[test]
    fn a_table_at_its_width_limit_takes_no_new_column_and_unknown_tables_judge_nothing() {
        let file = columns(&[("till_no", "string")]);
        let contract = TableSchema::sales_default();
        let at_limit = SchemaLimits { max_table_columns: contract.columns.len(), ..SchemaLimits::default() };
        let full = schema_fit(Some(&[]), &contract, &file, at_limit);
        assert!(full.problem.is_some_and(|p| p.contains("columns wide")));
        let offline = schema_fit(None, &contract, &file, at_limit);
        assert_eq!(offline, SchemaFit { new_columns: file.clone(), problem: None });
    }
}
