//! `POST /v1/query`: read-only SQL over the catalog's tables on the embedded engine; JSON rows
//! by default, CSV with `Accept: text/csv`; Athena-style scan statistics.

use super::error::{ApiError, ApiResult, Problem};
use super::extract::AuthUser;
use super::AppState;
use crate::domain::Role;
use crate::query::{to_json, write_csv, QueryError};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run_query))
}

/// A query.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct QueryRequest {
    /// One read-only statement: SELECT, WITH, EXPLAIN, SHOW or DESCRIBE.
    #[schema(
        example = "SELECT shop_id, SUM(price * quantity) AS total_sales FROM sales_processed WHERE date = '2025-07-30' GROUP BY shop_id;"
    )]
    pub sql: String,
}

/// One result column.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueryColumnDto {
    /// Column name.
    pub name: String,
    /// SQL type (`varchar`, `bigint`, `decimal(38,4)`, `timestamp`...).
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The JSON answer (contract "Query").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueryResultDto {
    /// Result columns.
    pub columns: Vec<QueryColumnDto>,
    /// Rows as objects; decimals are exact strings, integers numbers, timestamps ISO 8601.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Value>,
    /// More rows existed than the row limit allows.
    pub truncated: bool,
    /// What the query scanned.
    pub stats: QueryStatsDto,
}

/// Scan statistics, as Athena reports them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueryStatsDto {
    /// Wall time of planning and execution.
    pub elapsed_ms: f64,
    /// Distinct `shop_id=…/date=…` partitions whose files were opened.
    pub partitions_scanned: u64,
    /// Parquet files opened.
    pub files_scanned: u64,
    /// Bytes read from those files.
    pub bytes_scanned: u64,
    /// Rows in the answer.
    pub rows_returned: u64,
}

/// Run read-only SQL over the lake (`sales_processed`, partitioned by `shop_id` and `date`).
#[utoipa::path(
    post,
    path = "/v1/query",
    tag = "query",
    request_body = QueryRequest,
    responses(
        (status = 200, description = "The rows: JSON, or CSV (header line, then rows) when the request says `Accept: text/csv`", content(
            (QueryResultDto = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "SQL error, with the engine's message and position; or a statement past its size or nesting limits (/problems/sql-limit)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an analyst or admin, or not a read-only statement", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "Query time limit exceeded", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Query memory limit exceeded, or a function result past 128 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every query slot stayed busy, or the lake kept changing; retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn run_query(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(request): Json<QueryRequest>,
) -> ApiResult<Response> {
    user.require(&[Role::Analyst, Role::Admin])?;
    let timer = state.metrics.time_query(state.sql.name());
    let output = state.sql.execute(&request.sql).await.map_err(query_error)?;
    drop(timer);
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|part| part.trim().starts_with("text/csv")));
    if wants_csv {
        let mut body = Vec::new();
        // Cells that a spreadsheet would run as formulas are neutralised, as in rejected rows.
        write_csv(&output, &mut body).map_err(query_error)?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(to_json(&output)).into_response())
}

fn query_error(error: QueryError) -> ApiError {
    match error {
        QueryError::NotReadOnly(_) => {
            ApiError::Problem { status: StatusCode::FORBIDDEN, kind: "read-only", detail: error.to_string() }
        }
        QueryError::Sql { ref message, line, column } => {
            let detail = match (line, column) {
                (Some(line), Some(column)) => format!("{message} (line {line}, column {column})"),
                _ => message.clone(),
            };
            ApiError::Problem { status: StatusCode::BAD_REQUEST, kind: "sql-error", detail }
        }
        QueryError::Timeout { .. } => {
            ApiError::Problem { status: StatusCode::REQUEST_TIMEOUT, kind: "query-timeout", detail: error.to_string() }
        }
        QueryError::MemoryExceeded { .. } => ApiError::Problem {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: "query-memory",
            detail: format!("{error}; add filters on shop_id/date or a LIMIT"),
        },
        QueryError::Limit(detail) => ApiError::Problem { status: StatusCode::BAD_REQUEST, kind: "sql-limit", detail },
        QueryError::LakeChanged { .. } | QueryError::Busy(_) => ApiError::Busy(error.to_string()),
        QueryError::Internal(_) => ApiError::Internal(error.into()),
        QueryError::Unavailable(_) => ApiError::Unavailable(error.into()),
    }
}
