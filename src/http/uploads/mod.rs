//! Upload routes: `POST /v1/shops/{shop_id}/uploads`, status, lists and rejected rows.

mod body;
mod body_rate;
mod dto;
mod multipart;

pub(super) use body::body_timeout;
pub use dto::{
    CheckReportDto, CsvText, GzipCsv, ListQuery, UploadDto, UploadForm, UploadListDto, UploadOrCheckReport, UploadQuery,
};

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiPath, ApiQuery, AuthUser, UploadIdPath};
use super::AppState;
use crate::db::{ListFilter, UploadRecord};
use crate::domain::{Role, ShopId, UploadId, UploadStatus};
use crate::pipeline::Outcome;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use body::{check_date_window, IdempotencyKey, UploadBody};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload, list_uploads))
        .routes(routes!(get_upload))
        .routes(routes!(rejected_rows))
}

/// Upload one daily CSV for a shop, or only check it (`?dry_run=true`).
///
/// Body: `multipart/form-data` with a `file` part (and optionally a `date` part before it), or a
/// raw `text/csv` body, optionally `Content-Encoding: gzip`. The original bytes are archived
/// under `raw/` before anything else happens.
///
/// With `?dry_run=true` the same body, limits, authorisation and validation apply, and the
/// answer is `200` with the report the upload would carry (`status` `succeeded` or `rejected`,
/// row counts, row errors, the whole-file `problem`, the columns the table would gain); nothing
/// is stored, recorded or counted, and an `Idempotency-Key` is checked for form but never
/// claimed or replayed.
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
        (status = 200, description = "Same bytes as the current upload of that shop-day, or an Idempotency-Key replay: the earlier upload (`UploadDto`, with `Location`). With `?dry_run=true`: the report an upload of these bytes would carry (`CheckReport`), whether the file would be accepted or refused as a whole; nothing was stored", body = UploadOrCheckReport,
            headers(("Location" = String, description = "The earlier upload's status resource, `/v1/uploads/{id}` (not on a dry run)"))),
        (status = 400, description = "Bad shop_id, date (or one outside the accepted shop-days) or body; a multipart form with a part after the file or a date disagreeing with ?date=", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another shop or a role without uploads", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body stopped arriving, or arrived too slowly", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the size limit, or over the decompressed-size limit once inflated (on a dry run only the body's size is answered 413; a file over the decompressed-size limit is a report with status `rejected`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not text/csv, application/gzip or multipart/form-data, or a Content-Encoding other than gzip", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The whole file is rejected (or an Idempotency-Key reused with other bytes); processed/ is untouched. Never on a dry run, whose report says why with status `rejected`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage or database unavailable, or every upload slot (or this shop's share of them) busy (back-pressure); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn create_upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(shop): ApiPath<ShopId>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    body: UploadBody,
) -> ApiResult<Response> {
    let principal = user.require(&[Role::Shop, Role::Admin])?;
    if !principal.may_act_on_shop(&shop) {
        return Err(ApiError::Forbidden(format!("this token may not upload for shop {shop}")));
    }
    if let Some(date) = &query.date {
        check_date_window(date, &state.settings)?;
    }
    // A dry run costs the same CPU as an upload: it takes an upload slot too.
    let _slots = super::admission::admit(&state, &shop).await?;
    if query.dry_run {
        // The key was checked for form (as the upload would); a dry run never claims one.
        let report = body.check_into(&state.pipeline, &state.settings, shop, query.date).await?;
        let no_store = [(header::CACHE_CONTROL, "no-store")];
        return Ok((StatusCode::OK, no_store, Json(CheckReportDto::from(report))).into_response());
    }
    let outcome = body.accept_into(&state.pipeline, &state.settings, shop, query.date, idempotency_key).await?;

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
    UploadIdPath(upload_id): UploadIdPath,
) -> ApiResult<Json<UploadDto>> {
    let record = visible_upload(&state, &user, upload_id).await?;
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
    ApiPath(shop): ApiPath<ShopId>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<UploadListDto>> {
    let principal = user.require(&[Role::Shop, Role::Admin])?;
    if !principal.may_act_on_shop(&shop) {
        return Err(ApiError::Forbidden(format!("this token may not read shop {shop}")));
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit {limit} is out of range: expected 1 to 500")));
    }
    let filter = ListFilter { date: query.date, status: query.status, before: query.cursor, limit };
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
    UploadIdPath(upload_id): UploadIdPath,
) -> ApiResult<Response> {
    let record = visible_upload(&state, &user, upload_id).await?;
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
async fn visible_upload(state: &AppState, user: &AuthUser, id: UploadId) -> ApiResult<UploadRecord> {
    let principal = user.require(&[Role::Shop, Role::Admin])?;
    let not_found = || ApiError::NotFound(format!("no upload {id}"));
    let record = state.db.uploads().get(&id).await?.ok_or_else(not_found)?;
    if !principal.may_act_on_shop(&record.shop_id) {
        return Err(not_found());
    }
    Ok(record)
}
