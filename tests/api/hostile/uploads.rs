//! Hostile files: wide headers, gzip bombs, spoofed partition keys, unclosed quotes, table
//! pollution, unfair slot use, and malformed forms.

use super::{assert_still_serving, bystander_token, capped_server, gzip_bomb};
use crate::helpers::{assert_problem, channel_body, get_json, sample_csv, spawn_app, spawn_app_with, Backend};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

const HEADER: &str = "transaction_id,sold_at,sku,product_name,quantity,unit_price,currency,payment_method";

fn processed(app: &[String]) -> Vec<&String> {
    app.iter().filter(|k| k.starts_with("processed/")).collect()
}

#[tokio::test]
async fn a_header_past_the_column_limit_is_refused_before_allocating_and_a_restart_with_it_in_flight_starts() {
    // Arrange: the file (100,000 columns, one row of commas), against the capped binary.
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::fresh().await;
    let server = capped_server(dir.path(), &backend, &[]).await;
    let columns: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
    let wide = format!("{HEADER},{}\n{}\n", columns.join(","), ",".repeat(100_007));
    let token = crate::server_process::test_token(shoplake::domain::Role::Shop, Some("001"));
    let client = reqwest::Client::new();

    // Act
    let response = client
        .post(server.url("/v1/shops/001/uploads?date=2025-07-30"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(wide.clone())
        .send()
        .await
        .unwrap();

    // Assert: the named limit, the service alive, nothing processed.
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("100008 columns") && detail.contains("limit of 256"), "{detail}");
    assert_still_serving(&server.url, &bystander_token()).await;
    drop(server);

    // Arrange: the same file left in flight (as if the process had died processing it), and
    // an upload whose processing already stopped the process three times.
    // (A shop of its own: on PostgreSQL, shop-day locks are shared by the tests running at once.)
    let app = spawn_app().await;
    let shop = app.shop_token("poisoned");
    let rejected: Value = app.upload_csv(&shop, "poisoned", "2025-07-30", wide).await.json().await.unwrap();
    let poisoned: Value =
        app.upload_csv(&shop, "poisoned", "2025-07-31", sample_csv("2025-07-31", 3)).await.json().await.unwrap();
    let db = app.database().await;
    for (id, attempts) in [(&rejected["upload_id"], 0), (&poisoned["id"], 3)] {
        sqlx::query("update uploads set status = 'processing', finished_at = null, problem = null, processed_key = null, recovery_attempts = $1, updated_at = 0 where id = $2")
            .bind(attempts as i64)
            .bind(id.as_str().unwrap())
            .execute(&db)
            .await
            .unwrap();
    }
    db.close().await;

    // Act: a restart (its reconciler runs before the listener is bound).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let app = app.restart_with(&[("SHOPLAKE_REQUEST_TIMEOUT_SECS", "1")]).await;

    // Assert: it started; the wide file is rejected with its reason, the other one failed.
    let wide_now =
        get_json(&app.client, &app.url(&format!("/v1/uploads/{}", rejected["upload_id"].as_str().unwrap())), &shop)
            .await;
    assert_eq!(wide_now["status"], "rejected", "{wide_now}");
    assert!(wide_now["problem"].as_str().unwrap().contains("limit of 256 columns"), "{wide_now}");
    let poisoned_now =
        get_json(&app.client, &app.url(&format!("/v1/uploads/{}", poisoned["id"].as_str().unwrap())), &shop).await;
    assert_eq!(poisoned_now["status"], "failed", "{poisoned_now}");
    assert!(poisoned_now["problem"].as_str().unwrap().contains("interrupted 3 times"), "{poisoned_now}");
    assert_still_serving(&app.address, &app.shop_token("bystander")).await;
}

#[tokio::test]
async fn a_gzip_bomb_is_stopped_at_the_record_or_decompressed_limit_with_bounded_memory() {
    // Arrange: the capped binary; a 1 MiB run of one byte deflates to about 1 KiB.
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::fresh().await;
    let server = capped_server(dir.path(), &backend, &[("SHOPLAKE_MAX_DECOMPRESSED_BYTES", "64MiB")]).await;
    let token = crate::server_process::test_token(shoplake::domain::Role::Shop, Some("001"));
    let client = reqwest::Client::new();
    let send = |body: Vec<u8>| {
        client
            .post(server.url("/v1/shops/001/uploads?date=2025-07-30"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    // One record of 10 GiB (10 MiB of gzip), as in the issue.
    let endless = gzip_bomb(format!("{HEADER}\nT1,2025-07-30T10:00:00,").as_bytes(), &vec![b'a'; 1 << 20], 10 << 10);
    // 64 MiB and more of short rows.
    let row = "T1,2025-07-30T10:00:00,SKU1,Olive oil,1,3.49,EUR,card\n";
    let rows = gzip_bomb(format!("{HEADER}\n").as_bytes(), row.repeat((1 << 20) / row.len()).as_bytes(), 1 << 10);

    // Act + Assert
    let problem = assert_problem(send(endless).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("line 2") && detail.contains("limit of 1048576 bytes"), "{detail}");
    assert_still_serving(&server.url, &bystander_token()).await;
    let problem = assert_problem(send(rows).await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(problem["detail"].as_str().unwrap().contains("limit of 67108864 bytes once decompressed"), "{problem}");
    assert!(problem["upload_id"].is_string(), "the rejected upload is named: {problem}");
    assert_still_serving(&server.url, &bystander_token()).await;
    let listed = get_json(&client, &server.url("/v1/shops/001/uploads"), &token).await;
    assert!(listed["items"].as_array().unwrap().iter().all(|u| u["status"] == "rejected"), "{listed}");
}

#[tokio::test]
async fn columns_named_like_the_partition_keys_are_refused_whatever_their_spelling() {
    // Arrange
    let app = spawn_app().await;
    let token = app.shop_token("001");
    let analyst = app.token(shoplake::domain::Role::Analyst, None);
    for (extra, key) in [("shop_id", "shop_id"), ("SHOP_ID", "shop_id"), ("Shop Id", "shop_id"), ("Date", "date")] {
        let body = format!("{HEADER},{extra}\nT1,2025-07-30T10:00:00,SKU1,Oil,1,3.49,EUR,card,002\n");

        // Act
        let response = app.upload_csv(&token, "001", "2025-07-30", body).await;

        // Assert
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("partition key `{key}`")) && detail.contains("column 9"), "{extra}: {detail}");
    }
    assert!(processed(&app.files().await).is_empty(), "nothing was written to processed/");
    let table = get_json(&app.client, &app.url("/v1/catalog/tables/sales_processed"), &analyst).await;
    let names: Vec<String> =
        table["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_lowercase()).collect();
    assert!(!names.contains(&"shop_id".to_string()) && !names.contains(&"date".to_string()), "{names:?}");
    assert_still_serving(&app.address, &app.shop_token("bystander")).await;
}

#[tokio::test]
async fn an_unclosed_quote_is_refused_at_the_record_limit_naming_the_line_where_it_opens() {
    // Arrange: a quote opened on line 3 and never closed, followed by 5 MiB of rows; and a
    // small file whose last row opens a quote.
    let app = spawn_app().await;
    let token = app.shop_token("001");
    let mut long = format!("{HEADER}\nT1,2025-07-30T10:00:00,SKU1,Oil,1,3.49,EUR,card\nT2,2025-07-30T10:01:00,SKU2,\"Olive oil,1,3.49,EUR,card\n");
    let row = "T9,2025-07-30T10:02:00,SKU9,Bread,1,1.20,EUR,cash\n";
    long.push_str(&row.repeat((5 << 20) / row.len()));
    let mut short = format!("{HEADER}\n");
    for i in 0..40 {
        short.push_str(&format!("T{i},2025-07-30T10:00:00,SKU1,Oil,1,3.49,EUR,card\n"));
    }
    short.push_str(
        "T99,2025-07-30T10:00:00,SKU1,\"Oil,1,3.49,EUR,card\nT100,2025-07-30T10:00:00,SKU1,Oil,1,3.49,EUR,card\n",
    );

    // Act
    let long_answer = app.upload_csv(&token, "001", "2025-07-30", long).await;
    let short_answer: Value =
        app.upload_csv(&app.shop_token("002"), "002", "2025-07-30", short).await.json().await.unwrap();

    // Assert
    let problem = assert_problem(long_answer, StatusCode::UNPROCESSABLE_ENTITY).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("line 3") && detail.contains("quote"), "{detail}");
    let error = &short_answer["errors"][0];
    assert_eq!(error["line"], 42, "{short_answer}");
    assert!(error["reason"].as_str().unwrap().contains("closing quote missing"), "{short_answer}");
    assert!(!app.files().await.iter().any(|k| k.starts_with("processed/shop_id=001/")), "the long file wrote nothing");
}

#[tokio::test]
async fn one_upload_may_not_widen_the_table_past_its_limits() {
    // Arrange
    let app = spawn_app_with(&[("SHOPLAKE_MAX_TABLE_COLUMNS", "14")]).await;
    let token = app.shop_token("001");
    let analyst = app.token(shoplake::domain::Role::Analyst, None);
    let with_extras = |date: &str, names: &[String]| {
        let values = vec!["x"; names.len()].join(",");
        format!("{HEADER},{}\nT1,{date}T10:00:00,SKU1,Oil,1,3.49,EUR,card,{values}\n", names.join(","))
    };
    let forty: Vec<String> = (0..40).map(|i| format!("note_{i}")).collect();
    let three: Vec<String> = (0..3).map(|i| format!("tag_{i}")).collect();
    let four_more: Vec<String> = (0..4).map(|i| format!("flag_{i}")).collect();

    // Act + Assert: 40 new columns in one file (limit 32).
    let problem = assert_problem(
        app.upload_csv(&token, "001", "2025-07-30", with_extras("2025-07-30", &forty)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("40 columns the table sales_processed does not have"),
        "{problem}"
    );
    // 3 new columns: the table reaches 11; 4 more would make it 15 (limit 14).
    assert_eq!(app.upload_csv(&token, "001", "2025-07-31", with_extras("2025-07-31", &three)).await.status(), 201);
    let problem = assert_problem(
        app.upload_csv(&token, "001", "2025-08-01", with_extras("2025-08-01", &four_more)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("15 columns wide, more than its limit of 14"), "{problem}");
    let table = get_json(&app.client, &app.url("/v1/catalog/tables/sales_processed"), &analyst).await;
    assert_eq!(table["columns"].as_array().unwrap().len(), 11, "{table}");
    assert_still_serving(&app.address, &app.shop_token("bystander")).await;
}

#[tokio::test]
async fn one_shops_stalled_uploads_hold_only_its_own_slots() {
    // Arrange: 4 slots in all, 2 per shop; shop A opens 6 uploads that send nothing.
    let app = spawn_app_with(&[
        ("SHOPLAKE_MAX_CONCURRENT_UPLOADS", "4"),
        ("SHOPLAKE_MAX_UPLOADS_PER_SHOP", "2"),
        ("SHOPLAKE_UPLOAD_QUEUE_TIMEOUT_SECS", "2"),
        ("SHOPLAKE_BODY_IDLE_TIMEOUT_SECS", "60"),
    ])
    .await;
    let hostile = app.shop_token("hostile");
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let mut senders = Vec::new();
    for _ in 0..6 {
        let (sender, body) = channel_body();
        sender.send(Ok(format!("{HEADER}\n").into_bytes())).await.unwrap();
        senders.push(sender);
        let request = app.client.post(app.url("/v1/shops/hostile/uploads?date=2025-07-30")).bearer_auth(&hostile);
        let request = request.header("content-type", "text/csv").body(body);
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            let _ = done_tx.send(request.send().await.map(|r| r.status().as_u16()).unwrap_or(0));
        });
    }

    // Act: another shop's uploads meanwhile.
    let other = app.shop_token("other");
    let mut answers = Vec::new();
    for day in 1..=4 {
        let date = format!("2025-07-0{day}");
        answers.push(app.upload_csv(&other, "other", &date, sample_csv(&date, 5)).await.status());
    }

    // Assert: all accepted. Of the hostile shop's six, the four beyond its two slots are
    // refused as busy while the two holding them still stall...
    assert!(answers.iter().all(|s| *s == 201), "{answers:?}");
    let mut first = Vec::new();
    for _ in 0..4 {
        first.push(tokio::time::timeout(Duration::from_secs(60), done.recv()).await.unwrap().unwrap());
    }
    assert_eq!(first, [503, 503, 503, 503]);
    // ...and those two finish once their bodies end (header only: one accepted, one duplicate).
    drop(senders);
    let mut last = vec![done.recv().await.unwrap(), done.recv().await.unwrap()];
    last.sort();
    assert_eq!(last, [200, 201]);
}

#[tokio::test]
async fn malformed_forms_dates_and_stalled_bodies_get_clear_refusals_and_write_nothing() {
    // Arrange
    let app =
        spawn_app_with(&[("SHOPLAKE_BODY_IDLE_TIMEOUT_SECS", "1"), ("SHOPLAKE_MIN_BODY_BYTES_PER_SEC", "0")]).await;
    let token = app.shop_token("001");
    let url = app.url("/v1/shops/001/uploads?date=2025-07-30");
    let csv = sample_csv("2025-07-30", 3);
    let part = |name: &'static str| reqwest::multipart::Part::text(csv.clone()).file_name(format!("{name}.csv"));

    // Act + Assert: dates outside the window.
    for date in ["0000-01-01", "1999-12-31", "9999-12-31"] {
        let problem =
            assert_problem(app.upload_csv(&token, "001", date, csv.clone()).await, StatusCode::BAD_REQUEST).await;
        assert!(problem["detail"].as_str().unwrap().contains("outside the accepted shop-days"), "{date}: {problem}");
    }
    // A date part that disagrees with ?date=.
    let form = reqwest::multipart::Form::new().text("date", "2025-07-31").part("file", part("a"));
    let problem = assert_problem(
        app.client.post(&url).bearer_auth(&token).multipart(form).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("disagree"), "{problem}");
    // Two file parts.
    let form = reqwest::multipart::Form::new().part("file", part("a")).part("file", part("b"));
    let problem = assert_problem(
        app.client.post(&url).bearer_auth(&token).multipart(form).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("after the 'file' part"), "{problem}");
    // A body that stops sending.
    let (sender, body) = channel_body();
    sender.send(Ok(csv.as_bytes()[..40].to_vec())).await.unwrap();
    let stalled =
        app.client.post(&url).bearer_auth(&token).header("content-type", "text/csv").body(body).send().await.unwrap();
    let problem = assert_problem(stalled, StatusCode::REQUEST_TIMEOUT).await;
    assert_eq!(problem["type"], "/problems/body-timeout", "{problem}");
    drop(sender);
    assert!(processed(&app.files().await).is_empty(), "nothing was committed: {:?}", app.files().await);
    assert_still_serving(&app.address, &app.shop_token("bystander")).await;
}
