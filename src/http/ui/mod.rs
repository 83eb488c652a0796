//! The reporting pages under `/ui/`, server-rendered (askama) from the same binary, with their
//! scripts, styles and the vendored chart library embedded: the daily sales dashboard for
//! analysts, each shop's page for its manager, and signing in from a browser (a session cookie
//! made from the API's own bearer token).

/// `Amount`: exact money figures, shown to the cent.
mod amount;
/// Widget answers kept until the partitions they read change.
mod answers;
/// The daily sales dashboard (all shops, or one shop).
mod dashboard;
/// Signing in and out; the page extractor that sends a visitor without a session to sign in.
mod session;
/// A shop's own page: send a file, its uploads, its daily totals.
mod shop;
/// The figures: one SQL statement per widget.
mod widgets;

use super::AppState;
use askama::Template;
use axum::extract::{Path, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use answers::AnswerCache;
pub use session::PageUser;

/// The `/ui/` routes (not part of the API document).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { axum::response::Redirect::permanent("/ui/") }))
        .route("/ui/", get(session::home))
        .route("/ui/session", post(session::sign_in))
        .route("/ui/session/end", post(session::sign_out))
        .route("/ui/dashboard", get(dashboard::all_shops))
        .route("/ui/dashboard/shops/{shop_id}", get(dashboard::one_shop))
        .route("/ui/shops/{shop_id}", get(shop::shop_page))
        .route("/ui/assets/{*path}", get(asset))
        .layer(axum::middleware::from_fn(problems_as_pages))
}

/// The page's own origin as its visitor reaches it (`https://` behind a proxy that says so).
fn origin_of(headers: &HeaderMap) -> String {
    let host = headers.get("x-forwarded-host").or_else(|| headers.get(header::HOST)).and_then(|h| h.to_str().ok());
    let scheme = if session::behind_https(headers) { "https" } else { "http" };
    host.map(|host| format!("{scheme}://{host}")).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    frame: Frame,
    status: u16,
    title: String,
    detail: String,
}

/// Bytes of a problem document read to show it as a page (ours are a few hundred).
const PROBLEM_MAX_BYTES: usize = 64 << 10;

/// A problem answered to a browser (a malformed `?date=`, another shop's page) is shown as a
/// page saying what was wrong, with the same status and headers; a client that does not ask for
/// HTML (a script, a CSV download link followed by curl) still gets the problem+json document.
async fn problems_as_pages(request: Request, next: Next) -> Response {
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !wants_html || !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let problem: serde_json::Value = match axum::body::to_bytes(body, PROBLEM_MAX_BYTES).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    };
    let text = |key: &str| problem.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let page = ErrorPage {
        frame: Frame::default(),
        status: parts.status.as_u16(),
        title: text("title"),
        detail: text("detail"),
    };
    let (page_parts, page_body) = render(&page).into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.extend(page_parts.headers);
    Response::from_parts(parts, page_body)
}

/// The pages' static files, embedded in the binary (read from `assets/` in debug builds).
#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

async fn asset(Path(path): Path<String>) -> Response {
    match Assets::get(&path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_owned();
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "public, max-age=3600".into())], file.data)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// A rendered page, or a 500 naming the template that failed.
fn render(page: &impl askama::Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "a page template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response()
        }
    }
}

/// What the page frame shows about the visitor: signed in, may see the dashboard, own shop.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// A session (or bearer token) was presented and is valid.
    pub signed_in: bool,
    /// Analyst or admin: the dashboard link.
    pub analyst: bool,
    /// A shop's own page link.
    pub home_shop: Option<String>,
}
