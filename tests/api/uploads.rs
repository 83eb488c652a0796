//! Upload route: archive byte for byte, media types, limits, leftovers, status and lists.

use crate::helpers::{assert_problem, sample_csv, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use std::io::Write;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn raw_csv_upload_is_archived_byte_for_byte_under_the_contract_key() {
    // Arrange
    let app = spawn_app().await;
    let body = sample_csv("2025-07-30", 20);
    // Act
    let response = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", body.clone()).await;
    // Assert
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let upload: serde_json::Value = response.json().await.unwrap();
    let id = upload["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/uploads/{id}"));
    assert_eq!(upload["shop_id"], "001");
    assert_eq!(upload["date"], "2025-07-30");
    assert_eq!(upload["bytes"], body.len());
    assert_eq!(upload["sha256"], hex::encode(Sha256::digest(body.as_bytes())));
    let raw_key = format!("raw/shop_id=001/date=2025-07-30/{id}.csv");
    assert_eq!(upload["raw_key"], raw_key);
    assert_eq!(app.read_object(&raw_key).await.unwrap(), body.as_bytes());
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
}

#[tokio::test]
async fn multipart_upload_takes_the_date_part_and_keeps_the_file_name() {
    let app = spawn_app().await;
    let body = sample_csv("2025-07-31", 3).into_bytes();
    let response =
        app.upload_multipart(&app.shop_token("001"), "001", "2025-07-31", "../../pos/day.csv", body.clone()).await;
    assert!(response.status().is_success(), "{}", response.status());
    let upload: serde_json::Value = response.json().await.unwrap();
    assert_eq!(upload["date"], "2025-07-31");
    assert_eq!(upload["filename"], "day.csv", "directories are stripped from client file names");
    let raw_key = upload["raw_key"].as_str().unwrap();
    assert_eq!(app.read_object(raw_key).await.unwrap(), body);
}

#[tokio::test]
async fn gzip_body_is_archived_unchanged_as_csv_gz() {
    let app = spawn_app().await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(sample_csv("2025-07-30", 50).as_bytes()).unwrap();
    let gz = encoder.finish().unwrap();
    let response = app
        .client
        .post(app.url("/v1/shops/001/uploads?date=2025-07-30"))
        .bearer_auth(app.shop_token("001"))
        .header("content-type", "text/csv")
        .header("content-encoding", "gzip")
        .body(gz.clone())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let upload: serde_json::Value = response.json().await.unwrap();
    let raw_key = upload["raw_key"].as_str().unwrap();
    assert!(raw_key.ends_with(".csv.gz"), "{raw_key}");
    assert_eq!(upload["bytes"], gz.len());
    assert_eq!(upload["sha256"], hex::encode(Sha256::digest(&gz)));
    assert_eq!(app.read_object(raw_key).await.unwrap(), gz);
}

#[tokio::test]
async fn announced_oversized_body_gets_413_before_anything_is_written() {
    let app = spawn_app_with(&[("SHOPLAKE_MAX_UPLOAD_BYTES", "1000")]).await;
    let response = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", vec![b'a'; 5000]).await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(app.files().await.iter().all(|f| !f.starts_with("raw/")), "{:?}", app.files().await);
    assert!(app.temp_files().await.is_empty());
}

#[tokio::test]
async fn streamed_body_over_the_limit_gets_413_and_leaves_no_file() {
    // Arrange: a chunked body (no Content-Length) that grows past the limit.
    let app = spawn_app_with(&[("SHOPLAKE_MAX_UPLOAD_BYTES", "1000")]).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..10).map(|_| Ok(vec![b'x'; 300])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    // Act
    let response = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", body).await;
    // Assert
    let problem = assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let id = problem["upload_id"].as_str().expect("the refused upload is recorded");
    let status: serde_json::Value = app.get_upload(&app.admin_token(), id).await.json().await.unwrap();
    assert_eq!(status["status"], "failed");
    assert!(app.files().await.iter().all(|f| !f.starts_with("raw/")), "{:?}", app.files().await);
    assert!(app.temp_files().await.is_empty());
}

#[tokio::test]
async fn exactly_the_limit_is_accepted() {
    let app = spawn_app_with(&[("SHOPLAKE_MAX_UPLOAD_BYTES", "1000")]).await;
    let mut body = sample_csv("2025-07-30", 0).into_bytes();
    body.resize(1000, b'\n');
    let response = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", body).await;
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn dropped_connection_leaves_no_file_and_a_failed_upload() {
    // Arrange: announce 100 kB, send 10 bytes, hang up.
    let app = spawn_app().await;
    let token = app.shop_token("001");
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/shops/001/uploads?date=2025-07-30 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n\r\ntransactio"
    );
    // Act
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(stream);
    // Assert: within a few seconds the upload is failed and nothing is stored.
    let admin = app.admin_token();
    let mut last = serde_json::Value::Null;
    for _ in 0..50 {
        let list: serde_json::Value = app.list_uploads(&admin, "001", "").await.json().await.unwrap();
        last = list["items"][0].clone();
        if last["status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last["status"], "failed", "{last}");
    assert!(last["raw_key"].is_null());
    assert!(app.files().await.iter().all(|f| !f.starts_with("raw/")), "{:?}", app.files().await);
    assert!(app.temp_files().await.is_empty(), "{:?}", app.temp_files().await);
}

#[tokio::test]
async fn other_media_types_and_encodings_get_415() {
    let app = spawn_app().await;
    let token = app.shop_token("001");
    for (content_type, encoding) in [("application/json", None), ("text/plain", None), ("text/csv", Some("br"))] {
        let mut request = app
            .client
            .post(app.url("/v1/shops/001/uploads?date=2025-07-30"))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body("a,b\n1,2\n");
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        assert_problem(request.send().await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
    let no_type = app
        .client
        .post(app.url("/v1/shops/001/uploads?date=2025-07-30"))
        .bearer_auth(&token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_problem(no_type, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

#[tokio::test]
async fn bad_shop_id_or_date_gets_400_naming_the_value() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let bad_shop = app.upload_csv(&admin, "sh.op", "2025-07-30", "a\n").await;
    let problem = assert_problem(bad_shop, StatusCode::BAD_REQUEST).await;
    assert!(problem["detail"].as_str().unwrap().contains("shop_id"), "{problem}");
    for date in ["2025-13-01", "2025-02-30", "30-07-2025", "..%2F..%2Fetc"] {
        let problem = assert_problem(app.upload_csv(&admin, "001", date, "a\n").await, StatusCode::BAD_REQUEST).await;
        assert!(problem["detail"].as_str().unwrap().contains("date"), "{problem}");
    }
    let missing = app
        .client
        .post(app.url("/v1/shops/001/uploads"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body("a\n")
        .send()
        .await
        .unwrap();
    assert_problem(missing, StatusCode::BAD_REQUEST).await;
    assert!(app.files().await.iter().all(|f| !f.starts_with("raw/")));
}

#[tokio::test]
async fn zero_byte_body_gets_422_with_the_upload_id_and_the_upload_is_rejected() {
    let app = spawn_app().await;
    let response = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", Vec::new()).await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let id = problem["upload_id"].as_str().unwrap();
    let upload: serde_json::Value = app.get_upload(&app.shop_token("001"), id).await.json().await.unwrap();
    assert_eq!(upload["status"], "rejected");
    assert!(upload["finished_at"].is_string());
    assert!(upload["problem"].as_str().unwrap().contains("empty"));
}

#[tokio::test]
async fn upload_resource_has_every_contract_field() {
    let app = spawn_app().await;
    let token = app.shop_token("001");
    let created: serde_json::Value =
        app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 2)).await.json().await.unwrap();
    let fetched: serde_json::Value =
        app.get_upload(&token, created["id"].as_str().unwrap()).await.json().await.unwrap();
    for field in [
        "id",
        "shop_id",
        "date",
        "status",
        "filename",
        "bytes",
        "sha256",
        "rows_total",
        "rows_accepted",
        "rows_rejected",
        "errors",
        "raw_key",
        "processed_key",
        "superseded_by",
        "received_at",
        "finished_at",
        "duplicate_of",
    ] {
        assert!(fetched.get(field).is_some(), "missing field {field}: {fetched}");
    }
    assert_eq!(fetched["id"], created["id"]);
    assert!(chrono::DateTime::parse_from_rfc3339(fetched["received_at"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn list_is_newest_first_with_cursor_pagination_and_filters() {
    // Arrange: five uploads over two days.
    let app = spawn_app().await;
    let token = app.shop_token("001");
    let mut ids = Vec::new();
    for (i, date) in ["2025-07-01", "2025-07-02", "2025-07-01", "2025-07-02", "2025-07-01"].iter().enumerate() {
        let body = sample_csv(date, i + 1);
        let upload: serde_json::Value = app.upload_csv(&token, "001", date, body).await.json().await.unwrap();
        ids.push(upload["id"].as_str().unwrap().to_owned());
    }
    app.upload_csv(&app.shop_token("002"), "002", "2025-07-01", sample_csv("2025-07-01", 1)).await;
    // Act: page through two at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".into(),
        };
        let page: serde_json::Value = app.list_uploads(&token, "001", &query).await.json().await.unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    // Assert
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "every upload once, newest first, none of shop 002");
    assert_eq!(pages, 3);
    let by_date: serde_json::Value = app.list_uploads(&token, "001", "?date=2025-07-02").await.json().await.unwrap();
    let dates: Vec<_> =
        by_date["items"].as_array().unwrap().iter().map(|i| i["date"].as_str().unwrap().to_owned()).collect();
    assert_eq!(dates, ["2025-07-02", "2025-07-02"]);
    let by_status: serde_json::Value = app.list_uploads(&token, "001", "?status=failed").await.json().await.unwrap();
    assert_eq!(by_status["items"].as_array().unwrap().len(), 0);
    assert_problem(app.list_uploads(&token, "001", "?status=done").await, StatusCode::BAD_REQUEST).await;
    assert_problem(app.list_uploads(&token, "001", "?limit=0").await, StatusCode::BAD_REQUEST).await;
    assert_problem(app.list_uploads(&token, "001", "?cursor=zzz").await, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn metrics_count_uploads_by_status_and_bytes_received() {
    let app = spawn_app().await;
    let body = sample_csv("2025-07-30", 5);
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", body.clone()).await;
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", Vec::new()).await;
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("shoplake_uploads{status=\"rejected\"} 1"), "{text}");
    assert!(text.contains(&format!("shoplake_upload_received_bytes_total {}", body.len())), "{text}");
    assert!(
        text.contains(
            "shoplake_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/shops/{shop_id}/uploads\""
        ),
        "{text}"
    );
}
