//! Extractors: `AuthUser` (a verified bearer token, keys read from the app state), and path
//! and query parameters parsed into their domain types (`ApiPath`, `ApiQuery`, `UploadIdPath`),
//! a malformed one refused as problem+json with the domain's own message.

use super::error::ApiError;
use super::AppState;
use crate::auth::{AuthError, Principal};
use crate::domain::{Role, UploadId};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::{header, request::Parts, Method};
use serde::de::DeserializeOwned;

/// A caller with a valid token. Adding it to a handler makes the route require one.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = match parts.headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let value = value.to_str().map_err(|_| AuthError::Invalid("non-ASCII header".into()))?;
                let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
                if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                    return Err(AuthError::Missing.into());
                }
                token.trim().to_owned()
            }
            None => {
                let token = session_token(&parts.headers).ok_or(AuthError::Missing)?;
                // The browser sends the cookie with every request to this host, whoever made the
                // page: a request that changes something must come from this origin's pages.
                if !matches!(parts.method, Method::GET | Method::HEAD) {
                    check_same_origin(&parts.headers)?;
                }
                token
            }
        };
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("token longer than 8 KiB".into()).into());
        }
        let principal = state.keys.verify(&token)?;
        tracing::Span::current().record("subject", tracing::field::display(&principal.subject));
        Ok(Self(principal))
    }
}

/// Longest token accepted, from a header, the session cookie or the sign-in form.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The cookie a browser session carries: the bearer token itself (`HttpOnly`, so page scripts
/// never see it), set by `POST /ui/session`.
pub const SESSION_COOKIE: &str = "shoplake_session";

/// The session cookie's token, when the request carries one.
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, token)| token.to_owned())
        .filter(|token| !token.is_empty())
}

/// 403 unless the request's `Origin` is this service's own: the `Host` it was sent to, or the
/// host a reverse proxy says the browser used (`X-Forwarded-Host`).
pub fn check_same_origin(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let refused = |why: &str| {
        ApiError::Forbidden(format!(
            "{why}: a request signed in by the session cookie that changes something must come from this site's own pages"
        ))
    };
    let origin =
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).ok_or_else(|| refused("no Origin header"))?;
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    let ours = [header::HOST.as_str(), "x-forwarded-host"]
        .into_iter()
        .filter_map(|name| headers.get(name).and_then(|v| v.to_str().ok()))
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|host| !host.is_empty() && origin_host.eq_ignore_ascii_case(host));
    if !ours {
        return Err(refused(&format!("Origin {origin} is not this site")));
    }
    Ok(())
}

impl AuthUser {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<&Principal, ApiError> {
        require_role(&self.0, roles)
    }
}

/// `principal`, or 403 unless it has one of `roles` (API routes and pages alike).
pub fn require_role<'a>(principal: &'a Principal, roles: &[Role]) -> Result<&'a Principal, ApiError> {
    if roles.contains(&principal.role) {
        Ok(principal)
    } else {
        Err(ApiError::Forbidden(format!(
            "role {} may not use this route (allowed: {})",
            principal.role.as_str(),
            roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
        )))
    }
}

/// Path parameters parsed into their types (`ApiPath<ShopId>`, `ApiPath<(String, ShopId)>`); a
/// malformed one answers 400 with the type's own message.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::BadRequest(path_message(&rejection))),
        }
    }
}

/// The query string parsed into its type (a struct of domain values); a malformed parameter
/// answers 400 with the type's own message.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::BadRequest(query_message(&rejection))),
        }
    }
}

/// The `{upload_id}` of a path. A malformed id names no upload: 404 like an unknown or another
/// shop's one, so the answer never tells ids apart.
#[derive(Debug, Clone, Copy)]
pub struct UploadIdPath(pub UploadId);

impl<S: Send + Sync> FromRequestParts<S> for UploadIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(path_message(&rejection)))?;
        UploadId::parse(&raw).map(Self).map_err(|_| ApiError::NotFound(format!("no upload {raw}")))
    }
}

/// What was wrong with a path parameter: the domain's message when a `parse` refused it.
fn path_message(rejection: &PathRejection) -> String {
    use axum::extract::path::ErrorKind;
    match rejection {
        PathRejection::FailedToDeserializePathParams(error) => match error.kind() {
            ErrorKind::Message(message) => message.clone(),
            _ => error.body_text(),
        },
        other => other.body_text(),
    }
}

/// What was wrong with the query string: the innermost cause (the domain's message).
fn query_message(rejection: &QueryRejection) -> String {
    let mut cause: &dyn std::error::Error = rejection;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    format!("invalid query string: {cause}")
}
