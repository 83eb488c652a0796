//! Liveness, readiness (really checked) and metrics format.

use crate::helpers::{assert_problem, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_when_dependencies_work() {
    let app = spawn_app().await;
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    let ready: serde_json::Value = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ok");
}

#[tokio::test]
async fn readyz_is_503_with_retry_after_when_storage_cannot_be_written() {
    // Arrange: real sabotage (the scratch directory becomes a file, or the bucket is deleted),
    // so no write can succeed.
    let app = spawn_app().await;
    app.break_storage().await;
    // Act
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    // Assert
    assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("5"));
    let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(!problem["detail"].as_str().unwrap().contains(".tmp"), "no internals in 5xx: {problem}");
    // An upload in that state is 503 too, and leaves a failed upload, not a stuck one.
    let upload = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", "a,b\n").await;
    assert_eq!(upload.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("5"));
    assert_problem(upload, StatusCode::SERVICE_UNAVAILABLE).await;
    let list: serde_json::Value = app.list_uploads(&app.admin_token(), "001", "").await.json().await.unwrap();
    assert_eq!(list["items"][0]["status"], "failed");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = spawn_app().await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains("# TYPE shoplake_http_request_duration_seconds histogram"));
    assert!(text.contains("route=\"/healthz\""));
    for status in ["received", "processing", "succeeded", "rejected", "failed", "superseded"] {
        assert!(text.contains(&format!("shoplake_uploads{{status=\"{status}\"}}")), "{status}");
    }
}
