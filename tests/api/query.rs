//! `POST /v1/query`: the seed query verbatim, totals from the uploaded rows, pruning, read-only.

use crate::helpers::{assert_problem, sample_csv, sample_total, spawn_app, spawn_app_with, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shoplake::domain::Role;

const SEED: &str =
    "SELECT shop_id, SUM(price * quantity) AS total_sales FROM sales_processed WHERE date = '2025-07-30' GROUP BY shop_id;";

async fn query(app: &TestApp, sql: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/query"))
        .bearer_auth(app.token(Role::Analyst, None))
        .json(&json!({ "sql": sql }))
        .send()
        .await
        .unwrap()
}

/// Three shops on 2025-07-30 and each on two other days.
async fn lake() -> TestApp {
    let app = spawn_app().await;
    for (shop, rows) in [("001", 40), ("002", 7), ("003", 123)] {
        for date in ["2025-07-29", "2025-07-30", "2025-07-31"] {
            let rows = if date == "2025-07-30" { rows } else { 3 };
            assert_eq!(app.upload_csv(&app.shop_token(shop), shop, date, sample_csv(date, rows)).await.status(), 201);
        }
    }
    app
}

#[tokio::test]
async fn seed_query_runs_verbatim_and_opens_only_that_dates_files() {
    let app = lake().await;
    let response = query(&app, SEED).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let mut totals: Vec<(String, String)> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["shop_id"].as_str().unwrap().to_owned(),
                r["total_sales"].as_str().expect("decimals are strings").to_owned(),
            )
        })
        .collect();
    totals.sort();
    assert_eq!(
        totals,
        vec![("001".into(), sample_total(40)), ("002".into(), sample_total(7)), ("003".into(), sample_total(123))]
    );
    assert_eq!(body["columns"][0]["name"], "shop_id");
    assert_eq!(body["truncated"], false);
    let stats = &body["stats"];
    assert_eq!(stats["partitions_scanned"], 3, "{stats}");
    assert_eq!(stats["files_scanned"], 3, "only the one date's files are opened: {stats}");
    assert_eq!(stats["rows_returned"], 3);
    assert!(stats["bytes_scanned"].as_u64().unwrap() > 0);
    assert!(stats["elapsed_ms"].is_number());
}

async fn count(app: &TestApp) -> i64 {
    let body: Value = query(app, "SELECT count(*) AS n FROM sales_processed").await.json().await.unwrap();
    body["rows"][0]["n"].as_i64().unwrap()
}

#[tokio::test]
async fn an_accepted_upload_is_queryable_at_once_and_a_replacement_replaces_its_rows() {
    let app = spawn_app().await;
    assert_eq!(count(&app).await, 0);
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 11)).await;
    assert_eq!(count(&app).await, 11);
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 4)).await;
    assert_eq!(count(&app).await, 4, "the re-upload replaced the partition");
}

#[tokio::test]
async fn csv_is_returned_with_accept_text_csv() {
    let app = lake().await;
    let response = app
        .client
        .post(app.url("/v1/query"))
        .bearer_auth(app.admin_token())
        .header("accept", "text/csv")
        .json(&json!({"sql": "SELECT shop_id, count(*) AS n FROM sales_processed WHERE date = '2025-07-30' GROUP BY shop_id ORDER BY shop_id"}))
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(response.text().await.unwrap(), "shop_id,n\n001,40\n002,7\n003,123\n");
}

#[tokio::test]
async fn every_kind_of_writing_or_file_reading_statement_is_refused() {
    let app = lake().await;
    let statements = [
        "INSERT INTO sales_processed VALUES ('x')",
        "CREATE TABLE t AS SELECT 1",
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/'",
        "CREATE VIEW v AS SELECT 1",
        "DROP TABLE sales_processed",
        "COPY (SELECT 1) TO '/tmp/out.csv'",
        "SET datafusion.execution.batch_size = 1",
        "DELETE FROM sales_processed",
        "SELECT 1; DROP TABLE sales_processed",
    ];
    for sql in statements {
        let response = query(&app, sql).await;
        let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
        assert_eq!(problem["type"], "/problems/read-only", "{sql}");
    }
    for sql in ["SELECT * FROM '/etc/passwd'", "SELECT * FROM 'file:///etc/passwd'"] {
        let response = query(&app, sql).await;
        assert!(
            response.status() == StatusCode::BAD_REQUEST || response.status() == StatusCode::FORBIDDEN,
            "{sql}: {}",
            response.status()
        );
    }
    let count: Value = query(&app, "SELECT count(*) AS n FROM sales_processed").await.json().await.unwrap();
    assert_eq!(count["rows"][0]["n"], 40 + 7 + 123 + 6 * 3, "nothing was changed");
}

#[tokio::test]
async fn sql_errors_carry_the_engines_message_and_only_analysts_and_admins_may_query() {
    let app = spawn_app().await;
    let problem = assert_problem(query(&app, "SELECT nope FROM sales_processed").await, StatusCode::BAD_REQUEST).await;
    assert!(problem["detail"].as_str().unwrap().contains("nope"), "{problem}");
    let problem = assert_problem(query(&app, "SELEC 1").await, StatusCode::BAD_REQUEST).await;
    assert!(problem["detail"].as_str().unwrap().to_lowercase().contains("line"), "{problem}");
    let shop = app
        .client
        .post(app.url("/v1/query"))
        .bearer_auth(app.shop_token("001"))
        .json(&json!({"sql": "SELECT 1"}))
        .send()
        .await
        .unwrap();
    assert_problem(shop, StatusCode::FORBIDDEN).await;
    let bad_json = app
        .client
        .post(app.url("/v1/query"))
        .bearer_auth(app.admin_token())
        .header("content-type", "application/json")
        .body("{\"sql\":")
        .send()
        .await
        .unwrap();
    assert!(bad_json.status().is_client_error());
    assert_eq!(bad_json.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn old_partitions_read_a_new_column_as_null() {
    let app = spawn_app().await;
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 1)).await;
    let with_extra = sample_csv("2025-07-31", 1)
        .replacen("payment_method\n", "payment_method,loyalty_card\n", 1)
        .replace(",card\n", ",card,L-7\n");
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-31", with_extra).await;
    let body: Value =
        query(&app, "SELECT date, loyalty_card FROM sales_processed ORDER BY date").await.json().await.unwrap();
    assert_eq!(
        body["rows"],
        json!([{"date": "2025-07-30", "loyalty_card": null}, {"date": "2025-07-31", "loyalty_card": "L-7"}])
    );
}

#[tokio::test]
async fn the_row_limit_truncates_and_says_so() {
    let app = spawn_app_with(&[("SHOPLAKE_QUERY_MAX_ROWS", "5")]).await;
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 20)).await;
    let body: Value = query(&app, "SELECT transaction_id FROM sales_processed").await.json().await.unwrap();
    assert_eq!(body["rows"].as_array().unwrap().len(), 5);
    assert_eq!(body["truncated"], true);
}

/// Rows per shop, as `(shop, rows)`, by shop (counted from a column's pages, not from footers).
async fn rows_per_shop(app: &TestApp) -> Vec<(String, i64)> {
    let sql = "SELECT shop_id, COUNT(price) AS n FROM sales_processed GROUP BY shop_id ORDER BY shop_id";
    let body: Value = query(app, sql).await.json().await.unwrap();
    body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|r| (r["shop_id"].as_str().unwrap().to_owned(), r["n"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn queries_are_planned_from_the_catalog_so_a_file_it_does_not_record_is_read_after_a_crawl() {
    // Arrange: two shop-days through the API; a third file put under processed/ behind the
    // catalog's back (a copy of shop 001's).
    let app = spawn_app().await;
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 5)).await;
    app.upload_csv(&app.shop_token("002"), "002", "2025-07-30", sample_csv("2025-07-30", 7)).await;
    let copy = app.read_object("processed/shop_id=001/date=2025-07-30/data.parquet").await.unwrap();
    app.write_object("processed/shop_id=003/date=2025-07-30/data.parquet", &copy).await;

    // Act
    let before_crawl = rows_per_shop(&app).await;
    let crawl = app.client.post(app.url("/v1/catalog/crawl")).bearer_auth(app.admin_token()).send().await.unwrap();
    let after_crawl = rows_per_shop(&app).await;
    let db = app.database().await;
    let (unversioned,): (i64,) = sqlx::query_as("select count(*) from catalog_partitions where file_version is null")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;

    // Assert
    let shops = |pairs: &[(&str, i64)]| pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect::<Vec<_>>();
    assert_eq!(before_crawl, shops(&[("001", 5), ("002", 7)]), "only the partitions the catalog records");
    assert_eq!(crawl.status(), StatusCode::OK);
    assert_eq!(after_crawl, shops(&[("001", 5), ("002", 7), ("003", 5)]));
    assert_eq!(unversioned, 0, "the crawl records the version of the file it found, so queries stay catalog-planned");
}

#[tokio::test]
async fn a_file_replaced_behind_the_catalogs_back_is_read_as_it_is_now_never_with_its_former_footer() {
    // Arrange: both files read once (their footers are kept), then shop 002's file is written
    // over shop 001's without the catalog knowing.
    let app = spawn_app().await;
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 5)).await;
    app.upload_csv(&app.shop_token("002"), "002", "2025-07-30", sample_csv("2025-07-30", 7)).await;
    let first = rows_per_shop(&app).await;
    let other = app.read_object("processed/shop_id=002/date=2025-07-30/data.parquet").await.unwrap();
    app.write_object("processed/shop_id=001/date=2025-07-30/data.parquet", &other).await;

    // Act
    let after = rows_per_shop(&app).await;
    let total: Value = query(&app, SEED).await.json().await.unwrap();

    // Assert
    assert_eq!(first, vec![("001".to_owned(), 5), ("002".to_owned(), 7)]);
    assert_eq!(after, vec![("001".to_owned(), 7), ("002".to_owned(), 7)], "the stale record falls back to listing");
    let totals: Vec<&str> =
        total["rows"].as_array().unwrap().iter().map(|r| r["total_sales"].as_str().unwrap()).collect();
    assert_eq!(totals[0], totals[1], "shop 001 now holds 002's rows: {total}");
}
