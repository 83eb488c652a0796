//! The upload routes' wire types: the upload resource, its list page, a dry run's report, the
//! typed query strings, and the shapes of the upload body (documentation only).

use crate::catalog::ColumnDef;
use crate::db::UploadRecord;
use crate::domain::{SalesDate, UploadId, UploadStatus};
use crate::http::error::RowErrorDto;
use crate::pipeline::CheckReport;
use serde::{Deserialize, Deserializer, Serialize};

/// The upload resource: one file's status (contract "Upload resource").
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadDto {
    /// UUIDv7 of the upload.
    pub id: String,
    /// The shop.
    pub shop_id: String,
    /// The shop-day, `YYYY-MM-DD`.
    pub date: String,
    /// `received`, `processing`, `succeeded`, `rejected`, `failed` or `superseded`.
    pub status: UploadStatus,
    /// File name sent by the client.
    pub filename: Option<String>,
    /// Size of the body as received.
    pub bytes: Option<i64>,
    /// sha256 (hex) of the body as received.
    pub sha256: Option<String>,
    /// Data rows read.
    pub rows_total: Option<i64>,
    /// Rows written to `processed/`.
    pub rows_accepted: Option<i64>,
    /// Rows refused (see `errors` and `rejected-rows`).
    pub rows_rejected: Option<i64>,
    /// The first 100 row errors.
    pub errors: Vec<RowErrorDto>,
    /// Why the whole file was rejected or failed, when it was.
    pub problem: Option<String>,
    /// Key of the archived original under the storage root.
    pub raw_key: Option<String>,
    /// Key of the partition file written.
    pub processed_key: Option<String>,
    /// The upload that replaced this one.
    pub superseded_by: Option<String>,
    /// When the request arrived (RFC 3339, UTC).
    pub received_at: String,
    /// When the upload reached a terminal status.
    pub finished_at: Option<String>,
    /// The earlier upload with identical bytes, when relevant.
    pub duplicate_of: Option<String>,
}

impl From<UploadRecord> for UploadDto {
    fn from(r: UploadRecord) -> Self {
        let errors = r.errors.into_iter().map(RowErrorDto::from).collect();
        Self {
            id: r.id.to_string(),
            shop_id: r.shop_id.to_string(),
            date: r.date.to_string(),
            status: r.status,
            filename: r.filename,
            bytes: r.bytes,
            sha256: r.sha256,
            rows_total: r.rows_total,
            rows_accepted: r.rows_accepted,
            rows_rejected: r.rows_rejected,
            errors,
            problem: r.problem,
            raw_key: r.raw_key,
            processed_key: r.processed_key,
            superseded_by: r.superseded_by,
            received_at: rfc3339(r.received_at),
            finished_at: r.finished_at.map(rfc3339),
            duplicate_of: r.duplicate_of,
        }
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A page of uploads, newest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadListDto {
    /// This page.
    pub items: Vec<UploadDto>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// What a dry run (`?dry_run=true`) answers: the report an upload of the same bytes would
/// carry, and what the table would gain. Nothing was stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CheckReport)]
pub struct CheckReportDto {
    /// Always `true`: this is a dry run's report, not an upload.
    pub dry_run: bool,
    /// The shop-day checked, `YYYY-MM-DD`.
    pub date: String,
    /// File name sent by the client.
    pub filename: Option<String>,
    /// Size of the body as received.
    pub bytes: u64,
    /// sha256 (hex) of the body as received.
    pub sha256: String,
    /// The status the upload would reach: `succeeded` or `rejected`.
    pub status: UploadStatus,
    /// Data rows read (0 when the whole file is refused before its rows are read).
    pub rows_total: u64,
    /// Rows the upload would write to `processed/`.
    pub rows_accepted: u64,
    /// Rows the upload would refuse (see `errors`).
    pub rows_rejected: u64,
    /// The first 100 row errors, as the upload would record them.
    pub errors: Vec<RowErrorDto>,
    /// Why the whole file would be refused (the upload's `problem`); `null` when it would be accepted.
    pub problem: Option<String>,
    /// Columns the table would gain: the file's columns that are neither in the table schema
    /// nor in the table yet, with the type they would get.
    pub new_columns: Vec<ColumnDef>,
    /// Why the file's columns would not fit the table (a type conflict, too many new columns,
    /// a table grown too wide), if they would not.
    pub schema_problem: Option<String>,
    /// The text encoding detected (`utf-8` or `windows-1252`), when the file was read that far.
    pub encoding: Option<String>,
    /// The delimiter detected, when the file was read that far.
    pub delimiter: Option<String>,
}

impl From<CheckReport> for CheckReportDto {
    fn from(r: CheckReport) -> Self {
        Self {
            dry_run: true,
            date: r.date.to_string(),
            filename: r.filename,
            bytes: r.bytes,
            sha256: r.sha256,
            status: r.status,
            rows_total: r.rows_total,
            rows_accepted: r.rows_accepted,
            rows_rejected: r.rows_rejected,
            errors: r.errors.into_iter().map(RowErrorDto::from).collect(),
            problem: r.problem,
            new_columns: r.new_columns,
            schema_problem: r.schema_problem,
            encoding: r.encoding.map(str::to_owned),
            delimiter: r.delimiter.map(String::from),
        }
    }
}

/// The `200` of the upload route (documentation only): the earlier upload (same bytes as the
/// current one, or an `Idempotency-Key` replay), or a dry run's report.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum UploadOrCheckReport {
    /// The earlier upload.
    Upload(UploadDto),
    /// With `?dry_run=true`: what an upload of these bytes would do.
    Check(CheckReportDto),
}

/// Query of the upload route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The shop-day, `YYYY-MM-DD` (or a `date` part before the `file` part of a multipart body).
    #[param(value_type = Option<String>)]
    pub date: Option<SalesDate>,
    /// `true`: only check the file as an upload would (same limits and validation) and answer
    /// `200` with the report it would carry; nothing is stored and an `Idempotency-Key` is
    /// not claimed.
    #[serde(default)]
    #[param(default = false)]
    pub dry_run: bool,
}

/// Query of the list route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only uploads for this shop-day.
    #[param(value_type = Option<String>)]
    pub date: Option<SalesDate>,
    /// Only uploads in this status.
    #[param(value_type = Option<String>)]
    pub status: Option<UploadStatus>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>)]
    #[serde(default, deserialize_with = "page_cursor")]
    pub cursor: Option<UploadId>,
}

/// A list cursor is the last upload id of the previous page.
fn page_cursor<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<UploadId>, D::Error> {
    let raw = String::deserialize(deserializer)?;
    UploadId::parse(&raw)
        .map(Some)
        .map_err(|_| serde::de::Error::custom("invalid cursor: pass next_cursor of the previous page"))
}

/// Form of a multipart upload (documentation only).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The shop-day, `YYYY-MM-DD`, when not sent as `?date=`: this part must then come before
    /// the `file` part (the file is archived under its date as it streams in).
    #[schema(format = Date)]
    date: Option<String>,
    /// The CSV (or .csv.gz) file; nothing may follow it.
    #[schema(format = Binary, content_media_type = "text/csv")]
    file: String,
}

/// A CSV file as text (documentation only): header line, then one record per line.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, content_media_type = "text/csv")]
#[allow(dead_code)]
pub struct CsvText(String);

/// A gzip-compressed CSV file (documentation only).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary, content_media_type = "application/gzip")]
#[allow(dead_code)]
pub struct GzipCsv(String);
