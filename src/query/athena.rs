//! `AthenaEngine`: `POST /v1/query` and `shoplake sql` on Amazon Athena, for data too big for
//! one node (`SHOPLAKE_QUERY_ENGINE=athena`, with the Glue catalog). Same read-only rule, same
//! response shape and limits as the embedded engine: StartQueryExecution in the configured
//! workgroup and Glue database, GetQueryExecution polled with backoff (stopped at the time
//! limit), GetQueryResults paged up to the row limit, rows typed from Athena's column types,
//! and Athena's data-scanned figure as `bytes_scanned`.

use super::guard::parse_read_only_apart;
use super::output::{columns_of, QueryOutput};
use super::{QueryError, QueryLimits, QueryStats};
use aws_sdk_athena::error::DisplayErrorContext;
use aws_sdk_athena::types::{ColumnInfo, QueryExecutionContext, QueryExecutionState, ResultConfiguration, Row};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where Athena runs the queries.
#[derive(Debug, Clone)]
pub struct AthenaSettings {
    /// Workgroup (its own limits, such as bytes scanned per query, apply too).
    pub workgroup: String,
    /// Glue database holding `sales_processed`.
    pub database: String,
    /// `s3://...` for the result files, unless the workgroup enforces its own.
    pub output_location: Option<String>,
}

/// Runs queries on Athena.
#[derive(Debug, Clone)]
pub struct AthenaEngine {
    client: aws_sdk_athena::Client,
    settings: AthenaSettings,
    limits: QueryLimits,
}

/// Longest pause between two polls of a running query.
const MAX_POLL: Duration = Duration::from_secs(2);
/// Rows asked for per GetQueryResults page (Athena's maximum).
const PAGE_ROWS: i32 = 1000;

impl AthenaEngine {
    /// A client from the `AWS_*` environment (`AWS_ENDPOINT_URL_ATHENA` or `AWS_ENDPOINT_URL`).
    pub async fn connect(settings: AthenaSettings, limits: QueryLimits) -> Self {
        let sdk = crate::aws::sdk_config().await;
        let mut config = aws_sdk_athena::config::Builder::from(&sdk);
        if let Some(endpoint) = crate::aws::endpoint_url(&sdk, "ATHENA") {
            config = config.endpoint_url(endpoint);
        }
        Self { client: aws_sdk_athena::Client::from_conf(config.build()), settings, limits }
    }

    /// Runs one read-only statement on Athena within the limits.
    pub async fn execute(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        parse_read_only_apart(sql, &self.limits.sql).await?;
        let mut start = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.settings.workgroup)
            .query_execution_context(QueryExecutionContext::builder().database(&self.settings.database).build());
        if let Some(output) = &self.settings.output_location {
            start = start.result_configuration(ResultConfiguration::builder().output_location(output).build());
        }
        let id = start.send().await.map_err(unavailable)?.query_execution_id.unwrap_or_default();
        let bytes_scanned = match tokio::time::timeout(self.limits.timeout, self.wait(&id)).await {
            Ok(finished) => finished?,
            Err(_) => {
                let _ = self.client.stop_query_execution().query_execution_id(&id).send().await;
                return Err(QueryError::Timeout { limit: self.limits.timeout });
            }
        };
        let (columns, rows, truncated) = self.results(&id).await?;
        let batch = to_batch(&columns, &rows)?;
        let schema = batch.schema();
        let rows_returned = batch.num_rows() as u64;
        Ok(QueryOutput {
            columns: columns_of(&schema),
            batches: if rows_returned > 0 { vec![batch] } else { Vec::new() },
            schema,
            truncated,
            stats: QueryStats {
                elapsed_ms: (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0,
                partitions_scanned: 0,
                files_scanned: 0,
                bytes_scanned,
                rows_returned,
            },
        })
    }

    /// Polls until the query ends; its bytes scanned when it succeeded.
    async fn wait(&self, id: &str) -> Result<u64, QueryError> {
        let mut pause = Duration::from_millis(50);
        loop {
            let described =
                self.client.get_query_execution().query_execution_id(id).send().await.map_err(unavailable)?;
            let execution = described.query_execution();
            let status = execution.and_then(|e| e.status());
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => {
                    let statistics = execution.and_then(|e| e.statistics());
                    return Ok(statistics.and_then(|s| s.data_scanned_in_bytes()).unwrap_or(0).max(0) as u64);
                }
                Some(QueryExecutionState::Failed) | Some(QueryExecutionState::Cancelled) => {
                    let reason = status.and_then(|s| s.state_change_reason()).unwrap_or("the query failed on Athena");
                    return Err(QueryError::Sql { message: reason.to_owned(), line: None, column: None });
                }
                _ => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_POLL);
                }
            }
        }
    }

    /// The result pages, up to the row limit (plus whether more rows existed).
    async fn results(&self, id: &str) -> Result<(Vec<ColumnInfo>, Vec<Vec<Option<String>>>, bool), QueryError> {
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        let mut first_page = true;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .max_results(PAGE_ROWS)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(unavailable)?;
            let Some(set) = page.result_set() else { break };
            if first_page {
                columns = set.result_set_metadata().map(|m| m.column_info().to_vec()).unwrap_or_default();
            }
            let mut page_rows: Vec<Vec<Option<String>>> = set.rows().iter().map(values).collect();
            // A SELECT's first row holds the column labels.
            if first_page && page_rows.first().is_some_and(|row| is_header(row, &columns)) {
                page_rows.remove(0);
            }
            first_page = false;
            for row in page_rows {
                if rows.len() == self.limits.max_rows {
                    return Ok((columns, rows, true));
                }
                rows.push(row);
            }
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        Ok((columns, rows, false))
    }
}

fn values(row: &Row) -> Vec<Option<String>> {
    row.data().iter().map(|datum| datum.var_char_value().map(str::to_owned)).collect()
}

fn is_header(row: &[Option<String>], columns: &[ColumnInfo]) -> bool {
    !columns.is_empty()
        && row.len() == columns.len()
        && row
            .iter()
            .zip(columns)
            .all(|(value, column)| value.as_deref() == Some(column.label().unwrap_or(column.name())))
}

/// Arrow type of an Athena (Trino) column type; unknown types stay text.
fn arrow_type(column: &ColumnInfo) -> DataType {
    match column.r#type().to_ascii_lowercase().as_str() {
        "tinyint" | "smallint" | "integer" | "int" | "bigint" => DataType::Int64,
        "double" | "float" | "real" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "decimal" => DataType::Decimal128(column.precision().clamp(1, 38) as u8, column.scale().clamp(0, 38) as i8),
        _ => DataType::Utf8,
    }
}

fn to_batch(columns: &[ColumnInfo], rows: &[Vec<Option<String>>]) -> Result<RecordBatch, QueryError> {
    let bad = |column: &ColumnInfo, value: &str| {
        QueryError::Internal(format!("Athena returned {value:?} for {} column {}", column.r#type(), column.name()))
    };
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let data_type = arrow_type(column);
        let cells = rows.iter().map(|row| row.get(i).cloned().flatten());
        let array: ArrayRef = match &data_type {
            DataType::Int64 => {
                let mut builder = Int64Builder::new();
                for cell in cells {
                    builder.append_option(cell.map(|v| v.parse::<i64>().map_err(|_| bad(column, &v))).transpose()?);
                }
                Arc::new(builder.finish())
            }
            DataType::Float64 => {
                let mut builder = Float64Builder::new();
                for cell in cells {
                    builder.append_option(cell.map(|v| v.parse::<f64>().map_err(|_| bad(column, &v))).transpose()?);
                }
                Arc::new(builder.finish())
            }
            DataType::Boolean => {
                let mut builder = BooleanBuilder::new();
                for cell in cells {
                    builder.append_option(cell.map(|v| v.parse::<bool>().map_err(|_| bad(column, &v))).transpose()?);
                }
                Arc::new(builder.finish())
            }
            DataType::Decimal128(precision, scale) => {
                let mut builder = Decimal128Builder::new();
                for cell in cells {
                    let parsed = cell.map(|v| decimal_units(&v, *scale).ok_or_else(|| bad(column, &v))).transpose()?;
                    builder.append_option(parsed);
                }
                let array = builder
                    .finish()
                    .with_precision_and_scale(*precision, *scale)
                    .map_err(|e| QueryError::Internal(e.to_string()))?;
                Arc::new(array)
            }
            _ => {
                let mut builder = StringBuilder::new();
                for cell in cells {
                    builder.append_option(cell);
                }
                Arc::new(builder.finish())
            }
        };
        fields.push(Field::new(column.name(), data_type, true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| QueryError::Internal(e.to_string()))
}

/// `"1234.5"` at scale 4 -> 12345000 (exact: money stays decimal).
fn decimal_units(text: &str, scale: i8) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = scale.max(0) as usize;
    if fraction.len() > scale || whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let padded = format!("{whole}{fraction:0<scale$}");
    let units: i128 = padded.parse().ok()?;
    Some(if negative { -units } else { units })
}

fn unavailable<E, R>(error: aws_sdk_athena::error::SdkError<E, R>) -> QueryError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    QueryError::Unavailable(format!("Athena: {}", DisplayErrorContext(&error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_read_exactly() {
        assert_eq!(decimal_units("1234.5", 4), Some(12_345_000));
        assert_eq!(decimal_units("-0.0001", 4), Some(-1));
        assert_eq!(decimal_units("7", 2), Some(700));
        assert_eq!(decimal_units("1.23456", 4), None, "more digits than the scale is not silently rounded");
        assert_eq!(decimal_units("abc", 4), None);
    }
}
