//! The body of an upload request as an extractor: its headers are checked before a byte is read
//! (announced size, `Content-Encoding`, media type, multipart boundary), its arrival rate is
//! watched, and it is read into the pipeline only once the handler has admitted it.

use super::body_rate::MinimumRate;
use super::multipart;
use crate::config::Settings;
use crate::domain::{SalesDate, ShopId};
use crate::http::error::{ApiError, ApiResult};
use crate::http::AppState;
use crate::pipeline::{CheckReport, Incoming, Outcome, Pipeline};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use std::pin::Pin;
use tokio_util::io::StreamReader;

/// Bytes a multipart form may have besides its file (part headers, boundaries, `date`).
const MULTIPART_ALLOWANCE: u64 = 64 * 1024;

type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// An upload's body, not yet read: the file itself (CSV text, gzip) or a multipart form.
pub struct UploadBody {
    shape: Shape,
    stream: ByteStream,
    rate: MinimumRate,
}

/// How the file travels in the body.
enum Shape {
    /// The body is the file; its name from `Content-Disposition`, if sent.
    File { filename: Option<String> },
    /// A `multipart/form-data` form with a `file` part (and maybe a `date` part before it).
    Form { boundary: String, max_form_bytes: u64 },
}

impl FromRequest<AppState> for UploadBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = request.headers();
        let settings = &state.settings;
        let multipart = media_type(headers) == "multipart/form-data";
        if let Some(length) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
            // Refuse before reading a byte when the client announces an oversized body.
            let allowance = if multipart { MULTIPART_ALLOWANCE } else { 0 };
            if length > settings.max_upload_bytes + allowance {
                return Err(ApiError::TooLarge {
                    detail: format!(
                        "the body ({length} bytes) is larger than the upload limit of {} bytes",
                        settings.max_upload_bytes
                    ),
                    upload_id: None,
                });
            }
        }
        let content_encoded = content_encoding(headers)?.is_some();
        let shape = if multipart {
            if content_encoded {
                return Err(ApiError::UnsupportedMediaType(
                    "Content-Encoding on a multipart body is not supported: send a .csv.gz file part instead".into(),
                ));
            }
            let boundary = multer::parse_boundary(content_type(headers))
                .map_err(|e| ApiError::BadRequest(format!("multipart body without a valid boundary: {e}")))?;
            Shape::Form { boundary, max_form_bytes: settings.max_upload_bytes + MULTIPART_ALLOWANCE }
        } else if is_file(headers) {
            let filename = headers
                .get(header::CONTENT_DISPOSITION)
                .and_then(|v| v.to_str().ok())
                .and_then(filename_from_disposition);
            Shape::File { filename }
        } else {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type '{}' is not accepted: send text/csv, application/gzip, or multipart/form-data with a 'file' part",
                content_type(headers)
            )));
        };
        let rate = MinimumRate::new(settings.min_body_bytes_per_sec, settings.body_idle_timeout);
        let mut watch = rate.clone();
        let stream = request
            .into_body()
            .into_data_stream()
            .map_err(body_error)
            .and_then(move |chunk| std::future::ready(watch.check(chunk)));
        Ok(Self { shape, stream: Box::pin(stream), rate })
    }
}

impl UploadBody {
    /// Reads the file into `pipeline` as an upload of `shop`: the shop-day is `date` (from the
    /// query) or the form's `date` part, which must agree with it and lie in the accepted
    /// window. A body that arrived too slowly is answered `408` whatever else it caused.
    pub async fn accept_into(
        self,
        pipeline: &Pipeline,
        settings: &Settings,
        shop: ShopId,
        date: Option<SalesDate>,
        idempotency_key: Option<String>,
    ) -> ApiResult<Outcome> {
        self.read_file(settings, date, async |file: FileInBody| {
            let FileInBody { date, filename, mut reader } = file;
            Ok(pipeline.accept(Incoming { shop, date, filename, idempotency_key }, &mut reader).await?)
        })
        .await
    }

    /// Reads the file into `pipeline`'s dry run for `shop`, taking its shop-day as
    /// [`UploadBody::accept_into`] does: the report an upload would carry, nothing stored.
    pub async fn check_into(
        self,
        pipeline: &Pipeline,
        settings: &Settings,
        shop: ShopId,
        date: Option<SalesDate>,
    ) -> ApiResult<CheckReport> {
        self.read_file(settings, date, async |file: FileInBody| {
            let FileInBody { date, filename, mut reader } = file;
            Ok(pipeline.check(&Incoming { shop, date, filename, idempotency_key: None }, &mut reader).await?)
        })
        .await
    }

    /// Finds the file in the body (the body itself, or a form's `file` part) and its shop-day,
    /// and hands it to `use_file`; a body that arrived too slowly is answered `408` whatever
    /// else it caused.
    async fn read_file<T>(
        self,
        settings: &Settings,
        date: Option<SalesDate>,
        use_file: impl AsyncFnOnce(FileInBody) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let too_slow = self.rate.clone();
        let used: ApiResult<T> = async {
            let (date, filename, file) = match self.shape {
                Shape::File { filename } => (date, filename, self.stream),
                Shape::Form { boundary, max_form_bytes } => {
                    let form = multipart::file_form(self.stream, boundary, max_form_bytes).await?;
                    let date = resolve_form_date(form.date.as_deref(), date, settings)?;
                    (date, form.file_name.as_deref().map(sanitize_filename), form.body)
                }
            };
            let date = date.ok_or_else(missing_date)?;
            use_file(FileInBody { date, filename, reader: StreamReader::new(file) }).await
        }
        .await;
        match used {
            Err(_) if too_slow.tripped() => Err(ApiError::Problem {
                status: StatusCode::REQUEST_TIMEOUT,
                kind: "body-too-slow",
                detail: too_slow.explain(),
            }),
            other => other,
        }
    }
}

/// The file found in an upload's body, with its shop-day and name.
struct FileInBody {
    date: SalesDate,
    filename: Option<String>,
    reader: StreamReader<ByteStream, Bytes>,
}

/// The shop-day of a form: its `date` part (checked against the accepted window) must agree
/// with `?date=` when both are sent.
fn resolve_form_date(
    part: Option<&str>,
    query_date: Option<SalesDate>,
    settings: &Settings,
) -> ApiResult<Option<SalesDate>> {
    let Some(text) = part else { return Ok(query_date) };
    let part_date = SalesDate::parse(text).map_err(|e| ApiError::BadRequest(e.0))?;
    match query_date {
        Some(query_date) if query_date != part_date => Err(ApiError::BadRequest(format!(
            "the 'date' part ({part_date}) and ?date= ({query_date}) disagree; send the shop-day once"
        ))),
        _ => {
            check_date_window(&part_date, settings)?;
            Ok(Some(part_date))
        }
    }
}

/// The `Idempotency-Key` header, when sent: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let key = value.to_str().unwrap_or("").trim();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into()));
        }
        Ok(Self(Some(key.to_owned())))
    }
}

/// The shop-day must lie between the configured earliest date and tomorrow (UTC; shops east
/// of UTC are a day ahead).
pub(super) fn check_date_window(date: &SalesDate, settings: &Settings) -> ApiResult<()> {
    let latest = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let earliest = settings.earliest_sales_date;
    if date.naive() < earliest || date.naive() > latest {
        return Err(ApiError::BadRequest(format!(
            "date {date} is outside the accepted shop-days, {earliest} to {latest} (tomorrow, UTC)"
        )));
    }
    Ok(())
}

fn missing_date() -> ApiError {
    ApiError::BadRequest(
        "the shop-day is missing: pass ?date=YYYY-MM-DD (or a 'date' part before the 'file' part)".into(),
    )
}

/// `408`: the body stopped arriving.
pub(crate) fn body_timeout() -> ApiError {
    ApiError::Problem {
        status: StatusCode::REQUEST_TIMEOUT,
        kind: "body-timeout",
        detail: "the request body stopped arriving before it was complete; nothing was kept, send it again".into(),
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn media_type(headers: &HeaderMap) -> String {
    content_type(headers).split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// A body that is the file itself: CSV text (plain, or gzip by Content-Encoding), or a .csv.gz
/// file sent as `application/gzip` (the gzip header is recognised by the reader either way).
fn is_file(headers: &HeaderMap) -> bool {
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
