//! `/healthz` (alive), `/readyz` (database and storage really answer), `/metrics` (Prometheus).

use super::error::ApiResult;
use super::AppState;
use crate::catalog::glue_crawler::CrawlScheduler;
use crate::metrics::ScrapeFigures;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Health answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthDto {
    /// `ok`.
    pub status: &'static str,
}

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is up", body = HealthDto)))]
async fn healthz() -> Json<HealthDto> {
    Json(HealthDto { status: "ok" })
}

/// Readiness: the database answers a query and storage takes a write; else 503.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "The database answers and storage takes a write", body = HealthDto),
    (status = 503, description = "database or storage unavailable", body = super::error::Problem, content_type = "application/problem+json"),
))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<HealthDto>> {
    state.db.ping().await?;
    state.store.check().await?;
    Ok(Json(HealthDto { status: "ok" }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Served even while the database is down: its error counters matter most then.
    let by_status = state.db.uploads().count_by_status().await.ok();
    let upload_slots = state.settings.max_concurrent_uploads;
    let figures = ScrapeFigures {
        uploads_by_status: by_status.as_deref(),
        upload_slots,
        upload_slots_in_use: upload_slots.saturating_sub(state.upload_slots.available_permits()),
        crawler: state.crawls.as_ref().map(CrawlScheduler::metrics),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(&figures))
}
