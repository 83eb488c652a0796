//! Catalog routes: tables, one table, its partitions, its Athena DDL, and a re-crawl.

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiQuery, AuthUser};
use super::AppState;
use crate::catalog::crawl::{crawl, CrawlReport};
use crate::catalog::glue_crawler::CrawlStatus;
use crate::catalog::{ddl, PartitionInfo, TableInfo, SALES_TABLE};
use crate::domain::{Role, SalesDate, ShopId};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tables))
        .routes(routes!(get_table))
        .routes(routes!(list_partitions))
        .routes(routes!(table_ddl))
        .routes(routes!(start_crawl))
        .routes(routes!(crawler_status))
}

/// The catalog's tables (the list shape of every collection; tables come in one page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TableListDto {
    /// Every table.
    pub items: Vec<TableInfo>,
    /// Always `null`: every table is in this page.
    pub next_cursor: Option<String>,
}

/// A page of a table's partitions, by shop then date.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartitionListDto {
    /// This page.
    pub items: Vec<PartitionInfo>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(example = "001/2025-07-30")]
    pub next_cursor: Option<String>,
}

/// Query of the partition list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PartitionQuery {
    /// Page size, 1 to 1000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>)]
    #[serde(default, deserialize_with = "partition_cursor")]
    pub cursor: Option<(ShopId, SalesDate)>,
}

/// A partition cursor, `SHOP/YYYY-MM-DD` (the last partition of the previous page).
fn partition_cursor<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<(ShopId, SalesDate)>, D::Error> {
    let raw = String::deserialize(deserializer)?;
    let parsed =
        raw.split_once('/').and_then(|(shop, date)| Some((ShopId::parse(shop).ok()?, SalesDate::parse(date).ok()?)));
    parsed.map(Some).ok_or_else(|| serde::de::Error::custom("invalid cursor: pass next_cursor of the previous page"))
}

const READERS: [Role; 2] = [Role::Analyst, Role::Admin];

/// Tables with their schema, partition count, rows and bytes.
#[utoipa::path(get, path = "/v1/catalog/tables", tag = "catalog",
    responses((status = 200, description = "Every table, in one page", body = TableListDto),
              (status = 403, description = "Not an analyst or admin", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn list_tables(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<TableListDto>> {
    user.require(&READERS)?;
    Ok(Json(TableListDto { items: state.catalog.tables().await?, next_cursor: None }))
}

/// One table: columns (Hive types), partition keys, counts.
#[utoipa::path(get, path = "/v1/catalog/tables/{name}", tag = "catalog",
    params(("name" = String, Path, description = "Table name, e.g. sales_processed")),
    responses((status = 200, description = "The table", body = TableInfo),
              (status = 403, description = "Not an analyst or admin", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such table", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn get_table(
    State(state): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
) -> ApiResult<Json<TableInfo>> {
    user.require(&READERS)?;
    Ok(Json(find_table(&state, &name).await?))
}

/// A table's partitions: shop, date, file, rows, bytes, schema fingerprint.
#[utoipa::path(get, path = "/v1/catalog/tables/{name}/partitions", tag = "catalog",
    params(("name" = String, Path, description = "Table name"), PartitionQuery),
    responses((status = 200, description = "A page of the table's partitions, by shop then date", body = PartitionListDto),
              (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "Not an analyst or admin", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such table", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn list_partitions(
    State(state): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<PartitionQuery>,
) -> ApiResult<Json<PartitionListDto>> {
    user.require(&READERS)?;
    let limit = query.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit {limit} is out of range: expected 1 to 1000")));
    }
    find_table(&state, &name).await?;
    let after = query.cursor.map(|(shop, date)| (shop.to_string(), date.to_string()));
    let after_key = after.as_ref().map(|(shop, date)| (shop.as_str(), date.as_str()));
    let mut items = state.catalog.partitions_page(&name, after_key, limit + 1).await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = more.then(|| items.last().map(|p| format!("{}/{}", p.shop_id, p.date))).flatten();
    Ok(Json(PartitionListDto { items, next_cursor }))
}

/// Athena/Hive DDL: `CREATE EXTERNAL TABLE` plus one `ALTER TABLE ... ADD PARTITION` per partition.
#[utoipa::path(get, path = "/v1/catalog/tables/{name}/ddl", tag = "catalog",
    params(("name" = String, Path, description = "Table name")),
    responses((status = 200, description = "SQL text", content_type = "text/plain", body = String),
              (status = 403, description = "Not an analyst or admin", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such table", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn table_ddl(
    State(state): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    user.require(&READERS)?;
    let table = find_table(&state, &name).await?;
    let partitions = state.catalog.partitions(&name).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], ddl::athena_ddl(&table, &partitions)))
}

/// Re-crawl storage: rebuild the sales table's schema and partitions from `processed/`
/// (Parquet footers only) and report added, changed and missing partitions.
#[utoipa::path(post, path = "/v1/catalog/crawl", tag = "catalog",
    responses((status = 200, description = "What the crawl added, changed and found missing", body = CrawlReport),
              (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn start_crawl(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<CrawlReport>> {
    user.require(&[Role::Admin])?;
    Ok(Json(crawl(&state.store, &state.catalog, SALES_TABLE).await?))
}

/// The Glue crawler that accepted uploads start (`SHOPLAKE_GLUE_CRAWLER`): whether a run is in
/// flight or wanted, how many runs were started. 404 when no crawler is configured.
#[utoipa::path(get, path = "/v1/catalog/crawl", tag = "catalog",
    responses((status = 200, description = "The crawler scheduler's state", body = CrawlStatus),
        (status = 403, description = "Not an analyst or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no Glue crawler configured", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn crawler_status(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<CrawlStatus>> {
    user.require(&READERS)?;
    let crawls = state
        .crawls
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("no Glue crawler is configured (SHOPLAKE_GLUE_CRAWLER)".into()))?;
    Ok(Json(crawls.status()))
}

async fn find_table(state: &AppState, name: &str) -> ApiResult<TableInfo> {
    // Table names are SQL identifiers; anything else (a NUL byte, which PostgreSQL refuses in
    // text, a slash...) names no table and never reaches the database.
    let identifier = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !identifier {
        return Err(ApiError::NotFound(format!("no table named '{}'", name.escape_default())));
    }
    state.catalog.table(name).await?.ok_or_else(|| ApiError::NotFound(format!("no table named '{name}'")))
}
