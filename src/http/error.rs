//! `ApiError`: every error response, as RFC 9457 `application/problem+json`, built in one place.
//! 5xx responses carry no internals; the cause is logged once by [`log_server_errors`].

use crate::auth::AuthError;
use crate::db::DbError;
use crate::pipeline::PipelineError;
use crate::storage::StorageError;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

/// Content type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Result alias of HTTP handlers.
pub type ApiResult<T, E = ApiError> = Result<T, E>;

/// One row-level error, as in the upload resource's `errors`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RowErrorDto {
    /// Physical line where the record starts (header = 1).
    pub line: u64,
    /// The contract's column name, when the error is about one column.
    pub column: Option<String>,
    /// The raw value, when there was one.
    pub value: Option<String>,
    /// What is wrong, in words a shop clerk understands.
    pub reason: String,
}

impl From<crate::ingest::RowError> for RowErrorDto {
    fn from(e: crate::ingest::RowError) -> Self {
        Self { line: e.line, column: e.column, value: e.value, reason: e.reason }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable URI reference per kind of problem (e.g. `/problems/invalid-csv`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong and where.
    pub detail: String,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The upload concerned, when one was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Row-level errors, when relevant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RowErrorDto>>,
}

/// Every way a request can fail; each variant's doc says its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a malformed path, query, header or body.
    #[error("{0}")]
    BadRequest(String),
    /// 401 with `WWW-Authenticate: Bearer`: no or invalid token.
    #[error("{0}")]
    Unauthorized(#[from] AuthError),
    /// 403: the token's role or shop does not allow this route.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource (or not yours; we do not say which).
    #[error("{0}")]
    NotFound(String),
    /// 413: the body exceeds the upload limit.
    #[error("{detail}")]
    TooLarge {
        /// In words.
        detail: String,
        /// The upload recorded as failed, if any.
        upload_id: Option<String>,
    },
    /// 415: a media type or content encoding we do not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the whole file is refused.
    #[error("{detail}")]
    Unprocessable {
        /// In words, what and where.
        detail: String,
        /// The upload recorded as rejected.
        upload_id: Option<String>,
        /// Row-level errors.
        errors: Option<Vec<RowErrorDto>>,
    },
    /// Any other 4xx with its own problem type (query limits, read-only refusals, SQL errors).
    #[error("{detail}")]
    Problem {
        /// The status.
        status: StatusCode,
        /// The problem type's last segment, e.g. `sql-error`.
        kind: &'static str,
        /// What and where.
        detail: String,
    },
    /// 503 with `Retry-After: 1`: every upload slot stayed busy for the queue timeout
    /// (deliberate back-pressure; nothing was read or recorded).
    #[error("{0}")]
    Busy(String),
    /// 503 with `Retry-After`: storage or database unavailable.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: a bug; details only in the log.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            // A commit fenced off again and again by other replicas' commits of its shop-day:
            // retryable, the upload is left to the reconciler.
            DbError::Unavailable(_) | DbError::FileGone { .. } | DbError::Fenced { .. } => {
                Self::Unavailable(error.into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unavailable { .. } => Self::Unavailable(error.into()),
            StorageError::NotFound(_) => Self::NotFound("the file is no longer in storage".into()),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(error: PipelineError) -> Self {
        match error {
            PipelineError::TooLarge { limit, upload_id } => Self::TooLarge {
                detail: format!("the body is larger than the upload limit of {limit} bytes"),
                upload_id: upload_id.map(|id| id.to_string()),
            },
            PipelineError::DecompressedTooLarge { problem, upload_id } => {
                Self::TooLarge { detail: problem, upload_id: Some(upload_id.to_string()) }
            }
            PipelineError::Interrupted { source, .. } => match source.kind() {
                std::io::ErrorKind::TimedOut => super::uploads::body_timeout(),
                // The form's own check (a part after the file) says what was wrong.
                std::io::ErrorKind::InvalidData => Self::BadRequest(source.to_string()),
                _ => Self::BadRequest("the request body ended before it was complete".into()),
            },
            PipelineError::Rejected { problem, upload_id, errors } => Self::Unprocessable {
                detail: problem,
                upload_id: Some(upload_id.to_string()),
                errors: (!errors.is_empty()).then(|| errors.into_iter().map(RowErrorDto::from).collect()),
            },
            PipelineError::KeyReused { .. } => {
                Self::Unprocessable { detail: error.to_string(), upload_id: None, errors: None }
            }
            PipelineError::LocalIo(io) => Self::Unavailable(io.into()),
            PipelineError::Internal(other) => Self::Internal(other.into()),
            PipelineError::Storage(e) => e.into(),
            PipelineError::Catalog(e) => e.into(),
            PipelineError::Db(e) => e.into(),
        }
    }
}

impl From<crate::catalog::CatalogError> for ApiError {
    fn from(error: crate::catalog::CatalogError) -> Self {
        use crate::catalog::CatalogError;
        match error {
            CatalogError::NoSuchTable(name) => Self::NotFound(format!("no table named '{name}'")),
            CatalogError::Unavailable(_) => Self::Unavailable(error.into()),
            other => Self::Internal(other.into()),
        }
    }
}

/// The cause of a 5xx, carried in the response extensions for [`log_server_errors`].
#[derive(Clone)]
struct ServerErrorCause(Arc<anyhow::Error>);

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Problem { status, .. } => *status,
            Self::Busy(_) | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::TooLarge { .. } => "too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::Unprocessable { .. } => "invalid-csv",
            Self::Problem { kind, .. } => kind,
            Self::Busy(_) => "busy",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            // The client learns only that the token is not acceptable; the log says why.
            Self::Unauthorized(AuthError::Missing) => "send 'Authorization: Bearer <token>'".to_owned(),
            Self::Unauthorized(AuthError::Invalid(_)) => "the bearer token is invalid or expired".to_owned(),
            Self::Unavailable(_) => {
                "storage or database is unavailable; nothing was half-written, retry later".to_owned()
            }
            Self::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        };
        if let Self::Unauthorized(reason) = &self {
            tracing::debug!(%reason, "token refused");
        }
        let (upload_id, errors) = match &self {
            Self::TooLarge { upload_id, .. } => (upload_id.clone(), None),
            Self::Unprocessable { upload_id, errors, .. } => (upload_id.clone(), errors.clone()),
            _ => (None, None),
        };
        let problem = Problem {
            kind: format!("/problems/{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            instance: None,
            upload_id,
            errors,
        };
        let mut response = problem_response(problem);
        match self {
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"shoplake\""));
            }
            Self::Busy(_) => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Unavailable(cause) => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response.extensions_mut().insert(ServerErrorCause(Arc::new(cause)));
            }
            Self::Internal(cause) => {
                response.extensions_mut().insert(ServerErrorCause(Arc::new(cause)));
            }
            _ => {}
        }
        response
    }
}

/// Serialises a problem with its content type and status.
pub fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem).expect("problem serialises");
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))], body).into_response()
}

/// Middleware: logs the cause of each 5xx once, with the request's span.
pub async fn log_server_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(ServerErrorCause(cause)) = response.extensions().get::<ServerErrorCause>() {
        tracing::error!(error = ?cause, status = response.status().as_u16(), "request failed");
    }
    response
}

/// Middleware: turns every error response that is not yet problem+json (axum's own rejections:
/// bad JSON, bad path or query, 405, timeouts, body limit; the 404 fallback) into one, keeping
/// its status and using its text as `detail`; adds `instance` to all problems. A page (HTML,
/// the reporting pages' sign-in form or error page) is left as it is: it was made for a browser.
pub async fn problem_for_every_error(request: Request, next: Next) -> Response {
    let instance = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let is_page = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_page {
        return response;
    }
    let is_problem =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let mut problem: serde_json::Value = if is_problem {
        serde_json::from_slice(&bytes).unwrap_or_default()
    } else {
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        let detail = if text.is_empty() { default_detail(status) } else { text };
        serde_json::json!({
            "type": format!("/problems/{}", status_kind(status)),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
        })
    };
    if let Some(object) = problem.as_object_mut() {
        object.entry("instance").or_insert(serde_json::Value::String(instance));
    }
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(serde_json::to_vec(&problem).expect("json")))
}

fn default_detail(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "no such route".into(),
        StatusCode::METHOD_NOT_ALLOWED => "this route does not take that method".into(),
        StatusCode::REQUEST_TIMEOUT => "the request took too long".into(),
        StatusCode::PAYLOAD_TOO_LARGE => "the body is larger than the upload limit".into(),
        other => other.canonical_reason().unwrap_or("error").to_lowercase(),
    }
}

fn status_kind(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid-request",
        s if s.is_server_error() => "internal",
        _ => "bad-request",
    }
}
