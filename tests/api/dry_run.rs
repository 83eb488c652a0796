//! `?dry_run=true`: the report an upload of the same bytes would carry, answered `200`, and
//! nothing kept — storage (every object and its bytes; the whole bucket on S3), upload
//! records, idempotency keys, the catalog's tables and partitions and the upload metrics are
//! as they were.

use crate::helpers::{assert_problem, files_in, s3_store, sample_csv, spawn_app, spawn_app_with};
use crate::helpers::{Backend, TestApp};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shoplake::domain::Role;

const DAY: &str = "2025-07-30";
const CSV: (&str, &str) = ("content-type", "text/csv");

/// `POST /v1/shops/{shop}/uploads?{query}` with `headers` and `body`.
pub async fn post_to_uploads(
    app: &TestApp,
    token: &str,
    shop: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut request = app.client.post(app.url(&format!("/v1/shops/{shop}/uploads?{query}"))).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(body).send().await.unwrap()
}

/// `POST /v1/shops/{shop}/uploads?dry_run=true&date=` with a raw `text/csv` body.
async fn dry_run(app: &TestApp, token: &str, shop: &str, body: impl Into<reqwest::Body>) -> Response {
    post_to_uploads(app, token, shop, &format!("dry_run=true&date={DAY}"), &[CSV], body).await
}

/// A dry run of shop 001's file expected to answer `200`; its report.
async fn report_of(app: &TestApp, body: impl Into<reqwest::Body>) -> Value {
    let response = dry_run(app, &app.shop_token("001"), "001", body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["dry_run"], true, "{report}");
    report
}

/// A real upload of the same bytes for shop 001: its status and the upload resource (read
/// back by id, also when the file was refused with 422).
async fn real_upload(app: &TestApp, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let token = app.shop_token("001");
    let response = app.upload_csv(&token, "001", DAY, body).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    let id = answer.get("upload_id").or_else(|| answer.get("id")).and_then(Value::as_str).expect("an upload id");
    (status, app.get_upload(&token, id).await.json().await.unwrap())
}

/// `sample_csv` with the fields of some rows replaced: `(row, column index, value)`.
fn with_bad_values(rows: usize, bad: &[(usize, usize, &str)]) -> String {
    let text = sample_csv(DAY, rows);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (row, column, value) in bad {
        let mut fields: Vec<&str> = lines[row + 1].split(',').collect();
        fields[*column] = value;
        lines[row + 1] = fields.join(",");
    }
    lines.join("\n") + "\n"
}

/// `sample_csv` with extra columns (every row's value `x`).
fn with_extra_columns(rows: usize, names: &[&str]) -> String {
    let text = sample_csv(DAY, rows);
    let mut lines = text.lines();
    let header = format!("{},{}", lines.next().unwrap(), names.join(","));
    let values = vec!["x"; names.len()].join(",");
    std::iter::once(header).chain(lines.map(|l| format!("{l},{values}"))).collect::<Vec<_>>().join("\n") + "\n"
}

/// Everything a dry run must leave as it was.
#[derive(Debug, PartialEq)]
struct LakeState {
    /// Every object with the digest of its bytes: the whole data directory (its scratch
    /// directory included), or the whole bucket and its open multipart uploads.
    objects: Vec<(String, String)>,
    uploads: Vec<(String, String)>,
    idempotency_keys: Vec<String>,
    tables: Value,
    partitions: Value,
    upload_metrics: Vec<String>,
}

async fn lake_state(app: &TestApp) -> LakeState {
    let objects = match &app.backend {
        Backend::Local => files_in(&app.data_dir)
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(app.data_dir.join(&path)).unwrap();
                (path, hex::encode(Sha256::digest(bytes)))
            })
            .collect(),
        Backend::S3 { bucket, .. } => {
            let client = s3_store(bucket).await.client().clone();
            let listed = client.list_objects_v2().bucket(bucket).send().await.unwrap();
            assert!(!listed.is_truncated().unwrap_or(false), "a test bucket fits one page");
            let mut objects: Vec<(String, String)> = listed
                .contents()
                .iter()
                .map(|o| {
                    (o.key().unwrap().to_owned(), format!("{} {}", o.e_tag().unwrap_or(""), o.size().unwrap_or(0)))
                })
                .collect();
            let open = client.list_multipart_uploads().bucket(bucket).send().await.unwrap();
            objects.extend(open.uploads().iter().map(|u| (u.key().unwrap_or("").to_owned(), "open upload".into())));
            objects
        }
    };
    let db = app.database().await;
    let rows = |sql: &'static str| {
        let db = db.clone();
        async move {
            let rows = sqlx::query(sql).fetch_all(&db).await.unwrap();
            rows.iter().map(|r| sqlx::Row::get::<String, _>(r, 0)).collect::<Vec<String>>()
        }
    };
    let uploads = rows("select id || ' ' || status from uploads order by id").await;
    let uploads = uploads.into_iter().map(|r| r.split_once(' ').map(|(a, b)| (a.into(), b.into())).unwrap()).collect();
    let idempotency_keys = rows("select idempotency_key from idempotency_keys order by idempotency_key").await;
    let admin = app.admin_token();
    let get = |path: &'static str| {
        let request = app.client.get(app.url(path)).bearer_auth(&admin);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    // What uploads count (finished, durations, bytes, rows), not the slot gauges; sorted, as
    // the exporter's order is not stable.
    let counted = ["shoplake_uploads_finished", "shoplake_upload_", "shoplake_rows_"];
    let mut upload_metrics: Vec<String> = metrics
        .lines()
        .filter(|l| counted.iter().any(|m| l.starts_with(m)) && !l.starts_with("shoplake_upload_slots"))
        .map(str::to_owned)
        .collect();
    upload_metrics.sort();
    LakeState {
        objects,
        uploads,
        idempotency_keys,
        tables: get("/v1/catalog/tables").await,
        partitions: get("/v1/catalog/tables/sales_processed/partitions").await,
        upload_metrics,
    }
}

#[tokio::test]
async fn a_dry_run_of_a_good_file_answers_its_report_and_leaves_the_lake_unchanged() {
    // Arrange: a lake with one accepted upload for the shop-day (and its idempotency key).
    let app = spawn_app().await;
    let token = app.shop_token("001");
    let upload = format!("date={DAY}");
    let first_key = [CSV, ("idempotency-key", "pos-7-first")];
    let first = post_to_uploads(&app, &token, "001", &upload, &first_key, sample_csv(DAY, 10)).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let before = lake_state(&app).await;
    assert!(before.objects.iter().any(|(key, _)| key.contains("processed/")), "{before:?}");

    // Act: a dry run of another file for the same shop-day, with an Idempotency-Key.
    let body = sample_csv(DAY, 40);
    let check_key = [CSV, ("idempotency-key", "pos-7-check")];
    let check = format!("dry_run=true&date={DAY}");
    let response = post_to_uploads(&app, &token, "001", &check, &check_key, body.clone()).await;

    // Assert: the report, and nothing changed.
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("location").is_none());
    let report: Value = response.json().await.unwrap();
    let expected_sha = hex::encode(Sha256::digest(body.as_bytes()));
    assert_eq!(
        report,
        json!({
            "dry_run": true, "date": DAY, "filename": null, "bytes": body.len(), "sha256": expected_sha,
            "status": "succeeded", "rows_total": 40, "rows_accepted": 40, "rows_rejected": 0, "errors": [],
            "problem": null, "new_columns": [], "schema_problem": null, "encoding": "utf-8", "delimiter": ","
        })
    );
    assert_eq!(lake_state(&app).await, before, "a dry run changed the lake");
    // The key was not claimed: a real upload of other bytes under it is a new upload.
    let real = post_to_uploads(&app, &token, "001", &upload, &check_key, sample_csv(DAY, 41)).await;
    assert_eq!(real.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_dry_run_reports_the_bad_rows_a_real_upload_of_the_same_bytes_then_records() {
    // Arrange: 100 rows, two of them bad (2 %, under the rejected-rows limit).
    let app = spawn_app().await;
    let body = with_bad_values(100, &[(2, 4, "two"), (6, 5, "cheap")]);
    // Act
    let report = report_of(&app, body.clone()).await;
    let before_upload = lake_state(&app).await;
    let (status, upload) = real_upload(&app, body).await;
    // Assert: the same verdict, counts and row errors (line, column, value, reason).
    assert_eq!(before_upload.uploads, vec![], "the dry run recorded no upload");
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!((report["status"].clone(), upload["status"].clone()), (json!("succeeded"), json!("succeeded")));
    for count in ["rows_total", "rows_accepted", "rows_rejected"] {
        assert_eq!(report[count], upload[count], "{count}");
    }
    assert_eq!(report["rows_rejected"], 2);
    assert_eq!(report["errors"], upload["errors"]);
    let lines: Vec<&Value> = report["errors"].as_array().unwrap().iter().map(|e| &e["line"]).collect();
    assert_eq!(lines, [&json!(4), &json!(8)], "{report}");
    assert_eq!((&report["errors"][0]["column"], &report["errors"][0]["value"]), (&json!("quantity"), &json!("two")));
}

#[tokio::test]
async fn a_file_with_a_new_column_reports_it_and_the_table_gains_it_only_with_the_real_upload() {
    // Arrange
    let app = spawn_app().await;
    let body = with_extra_columns(5, &["loyalty_card"]);
    // Act
    let report = report_of(&app, body.clone()).await;
    // Assert: reported, not added.
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["new_columns"], json!([{"name": "loyalty_card", "type": "string"}]));
    let columns = lake_state(&app).await.tables.to_string();
    assert!(!columns.contains("loyalty_card"), "{columns}");
    // Once uploaded, the table has it: nothing new any more.
    assert_eq!(real_upload(&app, body.clone()).await.0, StatusCode::CREATED);
    assert!(lake_state(&app).await.tables.to_string().contains("loyalty_card"));
    assert_eq!(report_of(&app, body).await["new_columns"], json!([]));
}

#[tokio::test]
async fn a_file_whose_columns_would_not_fit_the_table_is_rejected_with_its_schema_problem() {
    // Arrange: one upload may add one new column; this file brings two.
    let app = spawn_app_with(&[("SHOPLAKE_MAX_NEW_COLUMNS_PER_UPLOAD", "1")]).await;
    let body = with_extra_columns(5, &["loyalty_card", "till_no"]);
    // Act
    let report = report_of(&app, body.clone()).await;
    let (status, upload) = real_upload(&app, body).await;
    // Assert: the same refusal, worded the same.
    assert_eq!(report["status"], "rejected");
    let problem = report["problem"].as_str().unwrap();
    assert!(problem.contains("more than the 1 new columns"), "{problem}");
    assert_eq!(report["schema_problem"], report["problem"]);
    assert_eq!(report["new_columns"].as_array().unwrap().len(), 2);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!((&upload["status"], &upload["problem"]), (&report["status"], &report["problem"]));
}

#[tokio::test]
async fn a_wholly_refused_file_is_answered_200_with_status_rejected_and_the_problem_the_upload_records() {
    let app = spawn_app().await;
    let all_rows_bad = with_bad_values(4, &[(0, 4, "x"), (1, 4, "x"), (2, 4, "x"), (3, 4, "x")]);
    let cases: [(&str, String); 3] =
        [("empty", String::new()), ("missing columns", "sku,quantity\nA,1\n".into()), ("bad rows", all_rows_bad)];
    for (case, body) in cases {
        // Act
        let report = report_of(&app, body.clone()).await;
        let (status, upload) = real_upload(&app, body).await;
        // Assert
        assert_eq!(report["status"], "rejected", "{case}: {report}");
        assert!(report["problem"].as_str().is_some_and(|p| !p.is_empty()), "{case}: {report}");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}");
        for field in ["status", "problem", "errors"] {
            assert_eq!(report[field], upload[field], "{case}: {field}");
        }
    }
    let empty = report_of(&app, "").await;
    assert_eq!((&empty["rows_total"], &empty["encoding"]), (&json!(0), &Value::Null));
}

#[tokio::test]
async fn a_dry_run_takes_multipart_and_gzip_bodies_as_an_upload_does() {
    // Arrange
    let app = spawn_app().await;
    let before = lake_state(&app).await;
    let token = app.shop_token("001");
    let body = sample_csv(DAY, 12);
    let form = reqwest::multipart::Form::new().text("date", DAY).part(
        "file",
        reqwest::multipart::Part::bytes(body.clone().into_bytes())
            .file_name("till-7.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, body.as_bytes()).unwrap();
    let gzip = gzip.finish().unwrap();
    // Act
    let url = app.url("/v1/shops/001/uploads?dry_run=true");
    let multipart = app.client.post(&url).bearer_auth(&token).multipart(form).send().await.unwrap();
    let gzipped = app
        .client
        .post(format!("{url}&date={DAY}"))
        .bearer_auth(&token)
        .header("content-type", "application/gzip")
        .body(gzip.clone())
        .send()
        .await
        .unwrap();
    // Assert
    let multipart: Value = multipart.json().await.unwrap();
    assert_eq!((&multipart["filename"], &multipart["date"]), (&json!("till-7.csv"), &json!(DAY)), "{multipart}");
    assert_eq!(multipart["rows_accepted"], 12);
    let gzipped: Value = gzipped.json().await.unwrap();
    assert_eq!((&gzipped["rows_accepted"], &gzipped["bytes"]), (&json!(12), &json!(gzip.len())), "{gzipped}");
    assert_eq!(lake_state(&app).await, before);
}

#[tokio::test]
async fn request_level_refusals_stay_as_for_an_upload_and_keep_nothing() {
    // Arrange: bodies over 1000 bytes are refused.
    let app = spawn_app_with(&[("SHOPLAKE_MAX_UPLOAD_BYTES", "1000")]).await;
    let before = lake_state(&app).await;
    let shop = app.shop_token("001");
    // Act + Assert: another shop's path, a role without uploads, no token.
    let other_shop = dry_run(&app, &app.shop_token("002"), "001", sample_csv(DAY, 2)).await;
    assert_problem(other_shop, StatusCode::FORBIDDEN).await;
    let analyst = dry_run(&app, &app.token(Role::Analyst, None), "001", sample_csv(DAY, 2)).await;
    assert_problem(analyst, StatusCode::FORBIDDEN).await;
    let anonymous = app.client.post(app.url("/v1/shops/001/uploads?dry_run=true&date=2025-07-30")).send().await;
    assert_problem(anonymous.unwrap(), StatusCode::UNAUTHORIZED).await;
    // A date outside the accepted shop-days, and a media type the upload does not take.
    let old_day = post_to_uploads(&app, &shop, "001", "dry_run=true&date=1999-01-01", &[CSV], "x").await;
    assert_problem(old_day, StatusCode::BAD_REQUEST).await;
    let json = [("content-type", "application/json")];
    let json_body = post_to_uploads(&app, &shop, "001", &format!("dry_run=true&date={DAY}"), &json, "{}").await;
    assert_problem(json_body, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // A body over the limit, streamed without a length: 413 naming no upload.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..10).map(|_| Ok(vec![b'x'; 300])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let too_large = dry_run(&app, &shop, "001", body).await;
    let problem = assert_problem(too_large, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(problem.get("upload_id").is_none(), "{problem}");
    assert_eq!(lake_state(&app).await, before);
}
