//! Liveness, readiness (really checked) and metrics format.

use crate::helpers::{assert_problem, sample_csv, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use shoplake::domain::Role;

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
    parse_prometheus_text(&text);
    assert!(text.contains("# TYPE shoplake_http_request_duration_seconds histogram"));
    assert!(text.contains("route=\"/healthz\""));
    for status in ["received", "processing", "succeeded", "rejected", "failed", "superseded"] {
        assert!(text.contains(&format!("shoplake_uploads{{status=\"{status}\"}}")), "{status}");
    }
}

#[tokio::test]
async fn metrics_show_upload_and_query_saturation_after_the_work_is_done() {
    // Arrange: a request timeout of 120 s, one upload of 7 good rows, one query.
    let app = spawn_app_with(&[("SHOPLAKE_REQUEST_TIMEOUT_SECS", "120")]).await;
    let upload = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 7)).await;
    assert_eq!(upload.status(), StatusCode::CREATED);
    let query = app.client.post(app.url("/v1/query")).bearer_auth(app.token(Role::Analyst, None));
    let answer =
        query.json(&serde_json::json!({ "sql": "SELECT COUNT(*) AS n FROM sales_processed" })).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // Act
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    // Assert
    let samples = parse_prometheus_text(&text);
    let value = |series: &str| {
        samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v).unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(value("shoplake_upload_slots_in_use"), 0.0, "the upload gave its slot back");
    assert!(value("shoplake_upload_slots_max") > 0.0);
    assert_eq!(value("shoplake_uploads_waiting"), 0.0);
    assert_eq!(value("shoplake_rows_accepted_total"), 7.0);
    assert_eq!(value("shoplake_rows_rejected_total"), 0.0);
    assert_eq!(value("shoplake_upload_duration_seconds_count{status=\"succeeded\"}"), 1.0);
    assert_eq!(value("shoplake_query_duration_seconds_count{engine=\"embedded\"}"), 1.0);
    assert_eq!(value(&format!("shoplake_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"))), 1.0);
    assert!(value("process_resident_memory_bytes") > 0.0);
    assert!(value("process_open_fds") > 0.0);
    let largest_bound = samples
        .iter()
        .filter(|(s, _)| s.starts_with("shoplake_query_duration_seconds_bucket{"))
        .filter_map(|(s, _)| s.split("le=\"").nth(1)?.split('"').next()?.parse::<f64>().ok())
        .filter(|bound| bound.is_finite())
        .fold(0.0, f64::max);
    assert_eq!(largest_bound, 120.0, "the buckets end at the request timeout");
}

/// The samples of a Prometheus text exposition (format 0.0.4) as (series, value), the series
/// as written (`name{label="value",...}`); panics on any line that is not a comment, a blank
/// line or a well-formed sample.
fn parse_prometheus_text(text: &str) -> Vec<(String, f64)> {
    let is_name = |name: &str, first_ok: fn(char) -> bool| {
        name.chars().next().is_some_and(first_ok)
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let metric_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let label_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            if let Some(kind) = comment.strip_prefix("TYPE ") {
                let (name, kind) = kind.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line: {line}"));
                assert!(is_name(name, metric_start), "bad TYPE line: {line}");
                assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "bad TYPE: {line}");
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line}"));
        assert!(is_name(&line[..name_end], metric_start), "bad metric name: {line}");
        let mut rest = &line[name_end..];
        if let Some(labels) = rest.strip_prefix('{') {
            rest = labels;
            loop {
                let (label, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad label: {line}"));
                assert!(is_name(label, label_start), "bad label name in: {line}");
                let mut chars = after.char_indices();
                let close = loop {
                    match chars.next() {
                        Some((_, '\\')) => assert!(chars.next().is_some(), "bad escape: {line}"),
                        Some((at, '"')) => break at,
                        Some(_) => {}
                        None => panic!("unterminated label value: {line}"),
                    }
                };
                rest = &after[close + 1..];
                if let Some(next) = rest.strip_prefix(',') {
                    rest = next;
                } else {
                    rest = rest.strip_prefix('}').unwrap_or_else(|| panic!("bad label list: {line}"));
                    break;
                }
            }
        }
        let value = rest.strip_prefix(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse::<f64>().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        samples.push((line[..line.len() - rest.len()].to_owned(), value));
    }
    samples
}
