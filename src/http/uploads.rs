//! Upload routes: `POST /v1/shops/{shop_id}/uploads`, status, lists and rejected rows.

use super::body_rate::MinimumRate;
use super::error::{ApiError, ApiResult, Problem, RowErrorDto};
use super::extract::AuthUser;
use crate::app::AppState;
use crate::db::{ListFilter, UploadRecord};
use crate::domain::{Role, SalesDate, ShopId, UploadId, UploadStatus};
use crate::pipeline::{Incoming, Outcome};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::io::StreamReader;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload, list_uploads))
        .routes(routes!(get_upload))
        .routes(routes!(rejected_rows))
}

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
        let errors = r.errors_json.as_deref().and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default();
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

/// Query of the upload route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// The shop-day, `YYYY-MM-DD` (or a `date` part before the `file` part of a multipart body).
    pub date: Option<String>,
}

/// Query of the list route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only uploads for this shop-day.
    pub date: Option<String>,
    /// Only uploads in this status.
    pub status: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Upload one daily CSV for a shop.
///
/// Body: `multipart/form-data` with a `file` part (and optionally a `date` part before it), or a
/// raw `text/csv` body, optionally `Content-Encoding: gzip`. The original bytes are archived
/// under `raw/` before anything else happens.
#[utoipa::path(
    post,
    path = "/v1/shops/{shop_id}/uploads",
    tag = "uploads",
    params(("shop_id" = String, Path, description = "The shop, `[A-Za-z0-9_-]{1,64}`"), UploadQuery,
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for the same key and bytes")),
    request_body(description = "The day's CSV file: as a `text/csv` body (send `Content-Encoding: gzip` if it is compressed), as an `application/gzip` body (a .csv.gz file), or as the `file` part of a `multipart/form-data` form. Send the shop-day as `?date=`.", content(
        (CsvText = "text/csv"),
        (GzipCsv = "application/gzip"),
        (UploadForm = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "Accepted: rows are in processed/ and the catalog", body = UploadDto,
            headers(("Location" = String, description = "The upload's status resource, `/v1/uploads/{id}`"))),
        (status = 200, description = "Same bytes as the current upload of that shop-day, or an Idempotency-Key replay: the earlier upload", body = UploadDto,
            headers(("Location" = String, description = "The earlier upload's status resource, `/v1/uploads/{id}`"))),
        (status = 400, description = "Bad shop_id, date (or one outside the accepted shop-days) or body; a multipart form with a part after the file or a date disagreeing with ?date=", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another shop or a role without uploads", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body stopped arriving, or arrived too slowly", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the size limit, or over the decompressed-size limit once inflated", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not text/csv, application/gzip or multipart/form-data, or a Content-Encoding other than gzip", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The whole file is rejected (or an Idempotency-Key reused with other bytes); processed/ is untouched", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage or database unavailable, or every upload slot (or this shop's share of them) busy (back-pressure); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn create_upload(
    State(state): State<AppState>,
    user: AuthUser,
    Path(shop_id): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let principal = user.require(&[Role::Shop, Role::Admin])?;
    let shop = ShopId::parse(&shop_id).map_err(|e| ApiError::BadRequest(e.0))?;
    if !principal.may_act_on_shop(&shop) {
        return Err(ApiError::Forbidden(format!("this token may not upload for shop {shop}")));
    }
    let date = query.date.as_deref().map(parse_date).transpose()?;
    if let Some(date) = &date {
        check_date_window(date, &state.settings)?;
    }
    if let Some(length) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
        // Refuse before reading a byte when the client announces an oversized body.
        let multipart_allowance = if is_multipart(&headers) { MULTIPART_ALLOWANCE } else { 0 };
        if length > state.settings.max_upload_bytes + multipart_allowance {
            return Err(ApiError::TooLarge {
                detail: format!(
                    "the body ({length} bytes) is larger than the upload limit of {} bytes",
                    state.settings.max_upload_bytes
                ),
                upload_id: None,
            });
        }
    }
    let encoding = content_encoding(&headers)?;
    let idempotency_key = idempotency_key(&headers)?;
    // Back-pressure: wait for one of this shop's slots, then for a slot of the service, before
    // reading a byte of the body (the client's TCP window fills meanwhile). One shop's slow or
    // hostile clients thus hold at most its own share; a full queue is a 503 with Retry-After.
    let queue_timeout = state.settings.upload_queue_timeout;
    let waiting = state.metrics.wait_for_upload_slot();
    let waited = tokio::time::timeout(queue_timeout, async {
        let shop_slot = state.shop_slots.acquire(&shop).await;
        let slot = state.upload_slots.clone().acquire_owned().await.ok();
        (shop_slot, slot)
    })
    .await;
    drop(waiting);
    let _slots = match waited {
        Ok((shop_slot, Some(slot))) => (shop_slot, slot),
        Ok((_, None)) => return Err(ApiError::Busy("the service is shutting down; retry on another instance".into())),
        Err(_) => {
            return Err(ApiError::Busy(format!(
                "the upload slots stayed busy for {} s (this shop may hold {} of the {} at once); nothing was read, retry after the Retry-After seconds",
                queue_timeout.as_secs(),
                state.settings.max_uploads_per_shop,
                state.settings.max_concurrent_uploads,
            )))
        }
    };
    let mut rate = MinimumRate::new(state.settings.min_body_bytes_per_sec, state.settings.body_idle_timeout);
    let too_slow = rate.clone();
    let stream =
        body.into_data_stream().map_err(body_error).and_then(move |chunk| std::future::ready(rate.check(chunk)));
    let received = receive(&state, shop, date, &headers, encoding.is_some(), idempotency_key, stream).await;
    let outcome = match received {
        Err(_) if too_slow.tripped() => {
            return Err(ApiError::Problem {
                status: StatusCode::REQUEST_TIMEOUT,
                kind: "body-too-slow",
                detail: too_slow.explain(),
            })
        }
        other => other?,
    };

    let (status, record) = match outcome {
        Outcome::Created(record) => (StatusCode::CREATED, record),
        Outcome::Duplicate(record) => (StatusCode::OK, record),
        // A replay answers as the first request was answered.
        Outcome::Replayed(record) if record.status == UploadStatus::Rejected => {
            return Err(ApiError::Unprocessable {
                detail: record.problem.clone().unwrap_or_else(|| "the file was rejected".into()),
                upload_id: Some(record.id.to_string()),
                errors: Some(UploadDto::from(record).errors).filter(|e| !e.is_empty()),
            });
        }
        Outcome::Replayed(record) => (StatusCode::OK, record),
    };
    let location = format!("/v1/uploads/{}", record.id);
    Ok((status, [(header::LOCATION, location)], Json(UploadDto::from(record))).into_response())
}

/// Reads the body (raw CSV or a multipart form) into the pipeline.
async fn receive<S>(
    state: &AppState,
    shop: ShopId,
    mut date: Option<SalesDate>,
    headers: &HeaderMap,
    content_encoded: bool,
    idempotency_key: Option<String>,
    stream: S,
) -> ApiResult<Outcome>
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin + 'static,
{
    let outcome = if is_multipart(headers) {
        if content_encoded {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Encoding on a multipart body is not supported: send a .csv.gz file part instead".into(),
            ));
        }
        let boundary = multer::parse_boundary(content_type(headers))
            .map_err(|e| ApiError::BadRequest(format!("multipart body without a valid boundary: {e}")))?;
        let max_form_bytes = state.settings.max_upload_bytes + MULTIPART_ALLOWANCE;
        let form = super::multipart::file_form(stream, boundary, max_form_bytes).await?;
        if let Some(text) = &form.date {
            let part_date = parse_date(text)?;
            match date {
                Some(query_date) if query_date != part_date => {
                    return Err(ApiError::BadRequest(format!(
                        "the 'date' part ({part_date}) and ?date= ({query_date}) disagree; send the shop-day once"
                    )))
                }
                _ => {
                    check_date_window(&part_date, &state.settings)?;
                    date = Some(part_date);
                }
            }
        }
        let date = date.ok_or_else(missing_date)?;
        let filename = form.file_name.as_deref().map(sanitize_filename);
        let mut reader = StreamReader::new(form.body);
        state.pipeline.accept(Incoming { shop, date, filename, idempotency_key }, &mut reader).await?
    } else if is_csv(headers) {
        let date = date.ok_or_else(missing_date)?;
        let filename =
            headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).and_then(filename_from_disposition);
        let mut reader = StreamReader::new(stream);
        state.pipeline.accept(Incoming { shop, date, filename, idempotency_key }, &mut reader).await?
    } else {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type '{}' is not accepted: send text/csv, application/gzip, or multipart/form-data with a 'file' part",
            content_type(headers)
        )));
    };
    Ok(outcome)
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

/// Per-file status of one upload.
#[utoipa::path(
    get,
    path = "/v1/uploads/{upload_id}",
    tag = "uploads",
    params(("upload_id" = String, Path, description = "Upload id (UUIDv7)")),
    responses(
        (status = 200, description = "The upload's status", body = UploadDto),
        (status = 401, description = "No bearer token, or an invalid or expired one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role without uploads (analyst)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such upload, or another shop's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_upload(
    State(state): State<AppState>,
    user: AuthUser,
    Path(upload_id): Path<String>,
) -> ApiResult<Json<UploadDto>> {
    let record = visible_upload(&state, &user, &upload_id).await?;
    Ok(Json(record.into()))
}

/// A shop's uploads, newest first, with cursor pagination and filters.
#[utoipa::path(
    get,
    path = "/v1/shops/{shop_id}/uploads",
    tag = "uploads",
    params(("shop_id" = String, Path, description = "The shop"), ListQuery),
    responses(
        (status = 200, description = "A page of the shop's uploads, newest first", body = UploadListDto),
        (status = 400, description = "Bad shop_id, date, status, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No bearer token, or an invalid or expired one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another shop's uploads, or a role without uploads", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_uploads(
    State(state): State<AppState>,
    user: AuthUser,
    Path(shop_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<UploadListDto>> {
    let principal = user.require(&[Role::Shop, Role::Admin])?;
    let shop = ShopId::parse(&shop_id).map_err(|e| ApiError::BadRequest(e.0))?;
    if !principal.may_act_on_shop(&shop) {
        return Err(ApiError::Forbidden(format!("this token may not read shop {shop}")));
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit {limit} is out of range: expected 1 to 500")));
    }
    let filter = ListFilter {
        date: query.date.as_deref().map(parse_date).transpose()?,
        status: query.status.as_deref().map(UploadStatus::parse).transpose().map_err(|e| ApiError::BadRequest(e.0))?,
        before: query
            .cursor
            .as_deref()
            .map(UploadId::parse)
            .transpose()
            .map_err(|_| ApiError::BadRequest("invalid cursor: pass next_cursor of the previous page".into()))?,
        limit,
    };
    let (records, more) = state.db.uploads().list(&shop, &filter).await?;
    let next_cursor = more.then(|| records.last().map(|r| r.id.to_string())).flatten();
    Ok(Json(UploadListDto { items: records.into_iter().map(UploadDto::from).collect(), next_cursor }))
}

/// The rejected rows of an upload as CSV: original fields, `line` and `reason`.
#[utoipa::path(
    get,
    path = "/v1/uploads/{upload_id}/rejected-rows",
    tag = "uploads",
    params(("upload_id" = String, Path, description = "Upload id (UUIDv7)")),
    responses(
        (status = 200, description = "Rejected rows: the original columns, then `line` (physical line, header = 1) and `reason`; only the header line when no row was rejected", content_type = "text/csv", body = String),
        (status = 403, description = "A role without uploads (analyst)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such upload, another shop's, or one refused as a whole (its reason is in the upload's `problem`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn rejected_rows(
    State(state): State<AppState>,
    user: AuthUser,
    Path(upload_id): Path<String>,
) -> ApiResult<Response> {
    let record = visible_upload(&state, &user, &upload_id).await?;
    let csv_headers = |disposition: String| {
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)]
    };
    let disposition = format!("attachment; filename=\"rejected-{}.csv\"", record.id);
    if record.rows_rejected == Some(0) {
        // Nothing was stored: the header line the rejected rows would have had.
        if let Some(header) = state.pipeline.empty_rejected_file(&record).await? {
            return Ok((csv_headers(disposition), header).into_response());
        }
    }
    let Some(key) = record.rejected_key else {
        return Err(ApiError::NotFound(format!(
            "upload {} has no rejected rows file (status {})",
            record.id,
            record.status.as_str()
        )));
    };
    let reader = state.store.get(&key).await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
    let disposition = format!("attachment; filename=\"rejected-{}.csv\"", record.id);
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}

/// Loads an upload the caller may see: admins all, shops their own; others' answer 404.
async fn visible_upload(state: &AppState, user: &AuthUser, raw_id: &str) -> ApiResult<UploadRecord> {
    let principal = user.require(&[Role::Shop, Role::Admin])?;
    let not_found = || ApiError::NotFound(format!("no upload {raw_id}"));
    let id = UploadId::parse(raw_id).map_err(|_| not_found())?;
    let record = state.db.uploads().get(&id).await?.ok_or_else(not_found)?;
    if !principal.may_act_on_shop(&record.shop_id) {
        return Err(not_found());
    }
    Ok(record)
}

fn parse_date(raw: &str) -> ApiResult<SalesDate> {
    SalesDate::parse(raw).map_err(|e| ApiError::BadRequest(e.0))
}

fn missing_date() -> ApiError {
    ApiError::BadRequest(
        "the shop-day is missing: pass ?date=YYYY-MM-DD (or a 'date' part before the 'file' part)".into(),
    )
}

fn content_type(headers: &HeaderMap) -> &str {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn media_type(headers: &HeaderMap) -> String {
    content_type(headers).split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn is_multipart(headers: &HeaderMap) -> bool {
    media_type(headers) == "multipart/form-data"
}

/// A body that is the file itself: CSV text (plain, or gzip by Content-Encoding), or a .csv.gz
/// file sent as `application/gzip` (the gzip header is recognised by the reader either way).
fn is_csv(headers: &HeaderMap) -> bool {
    matches!(media_type(headers).as_str(), "text/csv" | "application/gzip" | "application/x-gzip")
}

/// `None` for identity, `Some("gzip")` for gzip; anything else is 415.
fn content_encoding(headers: &HeaderMap) -> ApiResult<Option<&'static str>> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(e) if e.is_empty() || e == "identity" => Ok(None),
        Some(e) if e == "gzip" || e == "x-gzip" => Ok(Some("gzip")),
        Some(other) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding '{other}' is not supported: use gzip or none"
        ))),
    }
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into()));
    }
    Ok(Some(key.to_owned()))
}

/// Bytes a multipart form may have besides its file (part headers, boundaries, `date`).
const MULTIPART_ALLOWANCE: u64 = 64 * 1024;

/// A body read error as an I/O error; a body that stopped sending stays recognisable
/// (`TimedOut`), so it is answered `408`.
fn body_error(error: axum::Error) -> std::io::Error {
    let inner = error.into_inner();
    if inner.is::<tower_http::timeout::TimeoutError>() {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "the body sent nothing for too long")
    } else {
        std::io::Error::other(inner)
    }
}

/// `408`: the body stopped arriving.
pub(super) fn body_timeout() -> ApiError {
    ApiError::Problem {
        status: StatusCode::REQUEST_TIMEOUT,
        kind: "body-timeout",
        detail: "the request body stopped arriving before it was complete; nothing was kept, send it again".into(),
    }
}

/// The shop-day must lie between the configured earliest date and tomorrow (UTC; shops east
/// of UTC are a day ahead).
fn check_date_window(date: &SalesDate, settings: &crate::config::Settings) -> ApiResult<()> {
    let latest = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let earliest = settings.earliest_sales_date;
    if date.naive() < earliest || date.naive() > latest {
        return Err(ApiError::BadRequest(format!(
            "date {date} is outside the accepted shop-days, {earliest} to {latest} (tomorrow, UTC)"
        )));
    }
    Ok(())
}

/// Keeps only the last path component and printable characters of a client file name.
fn sanitize_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    last.chars().filter(|c| !c.is_control()).take(255).collect()
}

fn filename_from_disposition(value: &str) -> Option<String> {
    value.split(';').find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        (name.trim().eq_ignore_ascii_case("filename")).then(|| sanitize_filename(value.trim().trim_matches('"')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_file_names_lose_their_directories() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\pos\\2025-07-30.csv"), "2025-07-30.csv");
        assert_eq!(filename_from_disposition("attachment; filename=\"day.csv\""), Some("day.csv".into()));
    }
}
