//! HTTP layer (axum only, thin): extract -> call pipeline/db -> map to DTOs; errors as problem+json.

pub mod admission;
mod catalog;
pub mod error;
pub mod extract;
mod head_limit;
mod health;
pub mod openapi;
pub mod problems;
mod query;
pub mod serve;
mod state;
pub mod ui;
mod uploads;

pub use state::AppState;
pub use uploads::{CheckReportDto, UploadDto, UploadListDto};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Header carrying the request id, in requests (when the client sets one) and every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Scripts, styles and data only from this origin (the docs page is vendored into the
/// binary; Swagger UI sets inline styles and data: icons), never framed by another site.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// All documented routes, merged from each resource's router.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(uploads::router())
        .merge(catalog::router())
        .merge(query::router())
        .merge(health::router())
}

/// The complete OpenAPI document, as served at `/openapi.json` and committed as
/// `openapi/openapi.json`: the routes' annotations, then what holds for every operation alike.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::refined(api_router().split_for_parts().1)
}

/// [`openapi_document`] as pretty JSON with a trailing newline (the committed file's exact form).
pub fn openapi_json() -> String {
    let mut text = openapi_document().to_pretty_json().expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

/// The complete service: routes, docs, fallbacks and the tower-http layers.
pub fn router(state: AppState) -> Router {
    let (routes, collected) = api_router().split_for_parts();
    let document = openapi::refined(collected);
    let docs = SwaggerUi::new("/docs")
        .url("/openapi.json", document)
        .config(Config::from("/openapi.json").validator_url("none").try_it_out_enabled(true));
    let settings = state.settings.clone();
    routes
        .merge(docs)
        // Someone opening the service in a browser lands on the reporting pages (sign-in), which
        // link the API docs.
        .route("/", get(|| async { Redirect::temporary("/ui/") }))
        .merge(problems::router())
        .merge(ui::router())
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async { (StatusCode::METHOD_NOT_ALLOWED, "this route does not take that method") })
        .layer(middleware::from_fn_with_state(state.clone(), record_request_metrics))
        .layer(middleware::from_fn(error::log_server_errors))
        .layer(middleware::from_fn(error::problem_for_every_error))
        .layer(middleware::from_fn(head_limit::check_header_size))
        .layer(CompressionLayer::new())
        .layer(RequestBodyTimeoutLayer::new(settings.body_idle_timeout))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout))
        .layer(CatchPanicLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        // No referrer to other sites. Same-origin requests keep theirs: under `no-referrer`
        // Chromium sends `Origin: null` on the pages' own form posts, which the session
        // cookie's same-origin check must refuse.
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id, subject = tracing::field::Empty)
            }),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION]))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// Middleware: request duration histogram by route template.
async fn record_request_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    state.metrics.observe_request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}
