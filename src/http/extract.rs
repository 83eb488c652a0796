//! Extractors: `AuthUser` (a verified bearer token, keys read from the app state).

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::{AuthError, Principal};
use crate::domain::Role;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

/// A caller with a valid token. Adding it to a handler makes the route require one.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Invalid("non-ASCII header".into()))?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::Missing.into());
        }
        if token.len() > 8 * 1024 {
            return Err(AuthError::Invalid("token longer than 8 KiB".into()).into());
        }
        let principal = state.keys.verify(token.trim())?;
        tracing::Span::current().record("subject", tracing::field::display(&principal.subject));
        Ok(Self(principal))
    }
}

impl AuthUser {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<&Principal, ApiError> {
        if roles.contains(&self.0.role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(format!(
                "role {} may not use this route (allowed: {})",
                self.0.role.as_str(),
                roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
            )))
        }
    }
}
