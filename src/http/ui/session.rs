//! Signing in from a browser: `POST /ui/session` checks the token and sets it as an `HttpOnly;
//! SameSite=Strict` cookie that expires with the token (`Secure` behind HTTPS);
//! `POST /ui/session/end` removes it. Pages take [`PageUser`]: the API's bearer token or the
//! session cookie; without either, the visitor is sent to sign in.

use super::{render, Frame};
use crate::auth::Principal;
use crate::domain::Role;
use crate::http::error::ApiError;
use crate::http::extract::{check_same_origin, require_role, session_token, AuthUser, MAX_TOKEN_BYTES, SESSION_COOKIE};
use crate::http::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::{header, request::Parts, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

/// A signed-in visitor of a page.
#[derive(Debug, Clone)]
pub struct PageUser(pub Principal);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match AuthUser::from_request_parts(parts, state).await {
            Ok(AuthUser(principal)) => Ok(Self(principal)),
            // No session, or one that expired: sign in again (a page, not a problem document).
            Err(ApiError::Unauthorized(_)) => Err(Redirect::to("/ui/").into_response()),
            Err(other) => Err(other.into_response()),
        }
    }
}

impl PageUser {
    /// 403 unless the visitor has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<&Principal, ApiError> {
        require_role(&self.0, roles)
    }

    /// The page frame for this visitor.
    pub fn frame(&self) -> Frame {
        Frame {
            signed_in: true,
            analyst: matches!(self.0.role, Role::Analyst | Role::Admin),
            home_shop: self.0.shop.as_ref().map(|s| s.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    frame: Frame,
    error: Option<String>,
}

/// `GET /ui/`: the visitor's start page (dashboard, or their shop's page), or the sign-in form.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let principal = session_token(&headers).and_then(|token| state.keys.verify(&token).ok());
    match principal {
        Some(Principal { role: Role::Shop, shop: Some(shop), .. }) => {
            Redirect::to(&format!("/ui/shops/{shop}")).into_response()
        }
        Some(_) => Redirect::to("/ui/dashboard").into_response(),
        None => render(&SignInPage { frame: Frame::default(), error: None }),
    }
}

/// The sign-in form.
#[derive(Debug, serde::Deserialize)]
pub struct SignInForm {
    /// The bearer token.
    token: String,
}

/// `POST /ui/session`: a valid token becomes the session cookie; the visitor goes to their
/// start page. A form from another site is refused (it could sign a visitor in as someone else).
pub async fn sign_in(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<SignInForm>) -> Response {
    if let Err(refused) = check_same_origin(&headers) {
        return refused.into_response();
    }
    let token = form.token.trim();
    let principal = match (token.len() <= MAX_TOKEN_BYTES).then(|| state.keys.verify(token)) {
        Some(Ok(principal)) => principal,
        _ => {
            let error = Some("That token is not valid here (expired, or signed with another key).".to_owned());
            let page = render(&SignInPage { frame: Frame::default(), error });
            return (axum::http::StatusCode::UNAUTHORIZED, page).into_response();
        }
    };
    let now = jsonwebtoken::get_current_timestamp();
    let max_age = principal.expires_at.saturating_sub(now);
    let secure = if behind_https(&headers) { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/")).into_response()
}

/// `POST /ui/session/end`: the cookie is removed.
pub async fn sign_out(headers: HeaderMap) -> Response {
    if let Err(refused) = check_same_origin(&headers) {
        return refused.into_response();
    }
    let secure = if behind_https(&headers) { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/")).into_response()
}

/// The page was fetched over HTTPS (directly, or through a proxy that says so).
pub(super) fn behind_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
}
