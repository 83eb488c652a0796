//! Uploads are cleaned into their partition while the shop waits: 201 means the rows are in
//! `processed/`; re-uploads replace, duplicates and replays write nothing, bad files touch nothing.

use crate::helpers::{
    assert_problem, read_partition, sample_csv, sample_total_cents, spawn_app, spawn_app_with, TestApp,
};
use arrow::datatypes::{DataType, TimeUnit};
use reqwest::StatusCode;
use serde_json::Value;

const PARTITION: &str = "processed/shop_id=001/date=2025-07-30/data.parquet";

async fn upload(app: &TestApp, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let response = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", body).await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn accepted_upload_answers_201_with_its_rows_already_in_processed() {
    let app = spawn_app().await;
    let (status, upload) = upload(&app, sample_csv("2025-07-30", 300)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(upload["status"], "succeeded");
    assert_eq!(
        (upload["rows_total"].as_i64(), upload["rows_accepted"].as_i64(), upload["rows_rejected"].as_i64()),
        (Some(300), Some(300), Some(0))
    );
    assert_eq!(upload["processed_key"], PARTITION);
    assert!(upload["finished_at"].is_string());
    let (rows, total, price_type, sold_at_type) = read_partition(&app, PARTITION).await;
    assert_eq!(rows, 300);
    assert_eq!(total, sample_total_cents(300));
    assert_eq!(price_type, DataType::Decimal128(18, 4));
    assert_eq!(sold_at_type, DataType::Timestamp(TimeUnit::Microsecond, None));
    assert!(app.temp_files().await.is_empty(), "{:?}", app.temp_files().await);
}

#[tokio::test]
async fn a_later_upload_replaces_the_partition_and_supersedes_the_earlier_one() {
    let app = spawn_app().await;
    let (_, first) = upload(&app, sample_csv("2025-07-30", 10)).await;
    let (status, second) = upload(&app, sample_csv("2025-07-30", 25)).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let first_now: Value =
        app.get_upload(&app.shop_token("001"), first["id"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(first_now["status"], "superseded");
    assert_eq!(first_now["superseded_by"], second["id"]);
    assert_eq!(read_partition(&app, PARTITION).await.0, 25);
}

#[tokio::test]
async fn reupload_of_same_bytes_returns_200_and_writes_nothing() {
    let app = spawn_app().await;
    let body = sample_csv("2025-07-30", 10);
    let (_, first) = upload(&app, body.clone()).await;
    let files_before = app.files().await;
    let partition_before = app.read_object(PARTITION).await.unwrap();
    let (status, again) = upload(&app, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(app.files().await, files_before, "no new raw file, nothing replaced");
    assert_eq!(app.read_object(PARTITION).await.unwrap(), partition_before);
    let list: Value = app.list_uploads(&app.shop_token("001"), "001", "").await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "no upload recorded for the duplicate");
}

#[tokio::test]
async fn same_bytes_as_a_superseded_upload_become_current_again_with_duplicate_of() {
    let app = spawn_app().await;
    let original = sample_csv("2025-07-30", 10);
    let (_, first) = upload(&app, original.clone()).await;
    upload(&app, sample_csv("2025-07-30", 12)).await;
    let (status, revert) = upload(&app, original).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(revert["status"], "succeeded");
    assert_eq!(revert["duplicate_of"], first["id"]);
    assert_eq!(read_partition(&app, PARTITION).await.0, 10);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer_and_refuses_other_bytes() {
    let app = spawn_app().await;
    let send = |body: String, key: &'static str| {
        app.client
            .post(app.url("/v1/shops/001/uploads?date=2025-07-30"))
            .bearer_auth(app.shop_token("001"))
            .header("content-type", "text/csv")
            .header("idempotency-key", key)
            .body(body)
            .send()
    };
    let first = send(sample_csv("2025-07-30", 5), "pos-7-20250730").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let replay = send(sample_csv("2025-07-30", 5), "pos-7-20250730").await.unwrap();
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], first["id"]);
    let other_bytes = send(sample_csv("2025-07-30", 6), "pos-7-20250730").await.unwrap();
    assert_problem(other_bytes, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(read_partition(&app, PARTITION).await.0, 5, "neither the replay nor the refused request wrote");
    let raw_files = app.files().await.into_iter().filter(|f| f.starts_with("raw/")).count();
    assert_eq!(raw_files, 1);
}

#[tokio::test]
async fn idempotency_keys_older_than_seven_days_are_purged_by_the_running_service() {
    // Arrange: a key used 8 days ago and one used 6 days ago, in the app's database.
    let app = spawn_app_with(&[("SHOPLAKE_RECONCILE_INTERVAL_SECS", "1")]).await;
    let db = app.database().await;
    let day_ms = 24 * 3600 * 1000;
    let now = shoplake::db::now_ms();
    for (key, age_days) in [("old-key", 8), ("recent-key", 6)] {
        sqlx::query("insert into idempotency_keys (shop_id, idempotency_key, sha256, upload_id, created_at) values ($1, $2, $3, $4, $5)")
            .bind("001")
            .bind(key)
            .bind("0".repeat(64))
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(now - age_days * day_ms)
            .execute(&db)
            .await
            .unwrap();
    }
    let keys = || async {
        let rows = sqlx::query("select idempotency_key from idempotency_keys order by idempotency_key")
            .fetch_all(&db)
            .await
            .unwrap();
        rows.iter().map(|r| sqlx::Row::get::<String, _>(r, 0)).collect::<Vec<_>>()
    };

    // Act: the periodic sweep runs every second.
    let mut left = keys().await;
    for _ in 0..600 {
        if left.len() < 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = keys().await;
    }

    // Assert
    assert_eq!(left, vec!["recent-key".to_owned()]);
}

#[tokio::test]
async fn too_many_rejected_rows_get_422_and_leave_the_previous_partition_untouched() {
    // Arrange: a good day, then a file with 2 bad rows in 10 (20 % > 5 %).
    let app = spawn_app().await;
    upload(&app, sample_csv("2025-07-30", 8)).await;
    let before = app.read_object(PARTITION).await.unwrap();
    let mut bad = sample_csv("2025-07-30", 8);
    bad.push_str(
        "T-X1,2025-07-30T11:00:00,SKU1,Tea,two,1.00,EUR,card\nT-X2,2025-07-31T11:00:00,SKU1,Tea,1,1.00,EUR,card\n",
    );
    // Act
    let response = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", bad).await;
    // Assert
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let errors = problem["errors"].as_array().expect("row errors in the problem");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["line"], 10);
    assert_eq!(errors[0]["column"], "quantity");
    assert_eq!(errors[1]["column"], "sold_at");
    assert_eq!(app.read_object(PARTITION).await.unwrap(), before, "processed/ untouched");
    let id = problem["upload_id"].as_str().unwrap();
    let upload: Value = app.get_upload(&app.shop_token("001"), id).await.json().await.unwrap();
    assert_eq!(upload["status"], "rejected");
    assert_eq!(upload["rows_rejected"], 2);
    assert!(upload["raw_key"].is_string(), "the original is still archived");
}

#[tokio::test]
async fn rejected_rows_are_reported_and_served_as_csv_with_formulas_neutralised() {
    let app = spawn_app().await;
    let mut body = sample_csv("2025-07-30", 40);
    body.push_str("=HYPERLINK(\"x\"),2025-07-30T11:00:00,SKU1,Tea,0,1.00,EUR,card\n");
    let (status, upload) = upload(&app, body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!((upload["rows_accepted"].as_i64(), upload["rows_rejected"].as_i64()), (Some(40), Some(1)));
    assert_eq!(upload["errors"][0]["line"], 42);
    assert_eq!(upload["errors"][0]["column"], "quantity");
    let csv = app
        .client
        .get(app.url(&format!("/v1/uploads/{}/rejected-rows", upload["id"].as_str().unwrap())))
        .bearer_auth(app.shop_token("001"))
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with("line,reason"), "{text}");
    assert!(lines[1].starts_with("\"'=HYPERLINK") || lines[1].starts_with("'=HYPERLINK"), "{text}");
    assert!(lines[1].contains(",42,"), "{text}");
}

#[tokio::test]
async fn rejected_rows_of_an_upload_without_rejected_rows_is_a_csv_with_its_header_line() {
    // Arrange: a gzip-compressed, `;`-delimited (decimal comma) CRLF export with a BOM, no bad row.
    let app = spawn_app().await;
    let text = sample_csv("2025-07-30", 5).replace(',', ";").replace('.', ",").replace('\n', "\r\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, format!("\u{feff}{text}").as_bytes()).unwrap();
    let (status, upload) = upload(&app, gz.finish().unwrap()).await;
    assert_eq!((status, upload["rows_rejected"].as_i64()), (StatusCode::CREATED, Some(0)), "{upload}");

    // Act
    let url = app.url(&format!("/v1/uploads/{}/rejected-rows", upload["id"].as_str().unwrap()));
    let csv = app.client.get(url).bearer_auth(app.shop_token("001")).send().await.unwrap();

    // Assert: the original header (as a comma-separated CSV), then line and reason; no rows.
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let header = text.lines().next().unwrap().trim_end().replace(';', ",");
    assert_eq!(csv.text().await.unwrap(), format!("{header},line,reason\n"));
}

#[tokio::test]
async fn header_only_file_is_a_valid_day_without_sales() {
    let app = spawn_app().await;
    let (status, upload) = upload(&app, sample_csv("2025-07-30", 0)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(upload["rows_total"], 0);
    let (rows, _, price_type, _) = read_partition(&app, PARTITION).await;
    assert_eq!(rows, 0);
    assert_eq!(price_type, DataType::Decimal128(18, 4));
}

#[tokio::test]
async fn unusable_files_get_422_with_the_reason() {
    let app = spawn_app().await;
    let cases: [(&[u8], &str); 3] = [
        (b"transaction_id,sku,quantity,price\nT1,SKU1,1,2.00\n", "sold_at"),
        (b"\x00\x01\x02\x03binary\x00\xff\xfe", "text"),
        (b"", "empty"),
    ];
    for (body, reason) in cases {
        let response = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", body.to_vec()).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let detail = problem["detail"].as_str().unwrap().to_lowercase();
        assert!(detail.contains(reason), "{reason}: {detail}");
        assert!(problem["upload_id"].is_string());
    }
    assert_eq!(app.read_object(PARTITION).await, None);
}

#[tokio::test]
async fn concurrent_uploads_of_one_shop_day_leave_exactly_one_current_upload() {
    let app = spawn_app().await;
    let token = app.shop_token("001");
    let requests = (1..=8).map(|rows| app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", rows * 3)));
    let responses = futures_util::future::join_all(requests).await;
    assert!(responses.iter().all(|r| r.status() == StatusCode::CREATED));
    let list: Value = app.list_uploads(&token, "001", "").await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    let current: Vec<&Value> = items.iter().filter(|u| u["status"] == "succeeded").collect();
    assert_eq!(current.len(), 1, "{items:#?}");
    assert!(items.iter().filter(|u| u["status"] != "succeeded").all(|u| u["status"] == "superseded"));
    assert_eq!(
        read_partition(&app, PARTITION).await.0 as i64,
        current[0]["rows_accepted"].as_i64().unwrap(),
        "the partition holds the current upload's rows"
    );
}
