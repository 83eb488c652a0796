//! The reporting pages under `/ui/`, server-rendered (askama) from the same binary, with their
//! scripts, styles and the vendored chart library embedded: the daily sales dashboard for
//! analysts, each shop's page for its manager, and signing in from a browser (a session cookie
//! made from the API's own bearer token).

/// `Amount`: exact money figures, shown to the cent.
mod amount;
/// The daily sales dashboard (all shops, or one shop).
mod dashboard;
/// Signing in and out; the page extractor that sends a visitor without a session to sign in.
mod session;
/// A shop's own page: send a file, its uploads, its daily totals.
mod shop;
/// The figures: one SQL statement per widget.
mod widgets;

use super::AppState;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

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
