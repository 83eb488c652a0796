//! Many writers on one shop-day with readers querying it all the while; slow clients.

use crate::helpers::{assert_problem, channel_body, sample_csv, sample_total, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shoplake::domain::Role;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_during_replacements_see_the_old_or_the_new_partition_never_both_or_neither() {
    // Arrange: one accepted file, then 6 writers replacing the shop-day 5 times each with files
    // of distinct sizes, while 2 readers query its count and exact sum in a loop.
    let app = std::sync::Arc::new(spawn_app_with(&[]).await);
    let token = app.shop_token("001");
    let sizes: Vec<usize> = (1..=31).map(|n| n * 7).collect();
    assert_eq!(app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", sizes[0])).await.status(), 201);
    let possible: BTreeSet<(u64, String)> = sizes.iter().map(|&n| (n as u64, sample_total(n))).collect();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Act
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let (app, token, sizes) = (app.clone(), token.clone(), sizes.clone());
            tokio::spawn(async move {
                for round in 0..5 {
                    let rows = sizes[1 + w * 5 + round];
                    let response = app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", rows)).await;
                    assert_eq!(response.status(), StatusCode::CREATED);
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (app, done) = (app.clone(), done.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let sql = "SELECT count(*) AS n, SUM(price * quantity) AS total FROM sales_processed WHERE shop_id = '001' AND date = '2025-07-30'";
                // At least 5 each, however fast the writers are (no floor that depends on speed).
                while !done.load(std::sync::atomic::Ordering::Relaxed) || seen.len() < 5 {
                    let response = app
                        .client
                        .post(app.url("/v1/query"))
                        .bearer_auth(app.token(Role::Analyst, None))
                        .json(&json!({ "sql": sql }))
                        .send()
                        .await
                        .unwrap();
                    let status = response.status();
                    let body: Value = response.json().await.unwrap();
                    assert_eq!(status, StatusCode::OK, "a query during a replacement failed: {body}");
                    let row = &body["rows"][0];
                    seen.push((row["n"].as_u64().unwrap(), row["total"].as_str().unwrap_or("none").to_owned()));
                }
                seen
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut observations = Vec::new();
    for reader in readers {
        observations.extend(reader.await.unwrap());
    }

    // Assert: every answer is exactly one whole file's rows.
    assert!(observations.len() >= 10, "each reader runs at least 5 queries: {}", observations.len());
    for seen in &observations {
        assert!(possible.contains(seen), "a reader saw {seen:?}, which is no single upload's rows");
    }
    let distinct: BTreeSet<_> = observations.iter().collect();
    eprintln!("{} queries during 30 replacements saw {} distinct partitions", observations.len(), distinct.len());
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_with_408_and_holds_no_lock_on_its_shop_day() {
    // Arrange: after a 1 s grace period a body must average 100 bytes/s; this one sends a
    // byte every 100 ms (10 bytes/s), for ever.
    let app =
        spawn_app_with(&[("SHOPLAKE_BODY_IDLE_TIMEOUT_SECS", "1"), ("SHOPLAKE_MIN_BODY_BYTES_PER_SEC", "100")]).await;
    let token = app.shop_token("001");
    let text = sample_csv("2025-07-30", 1000).into_bytes();
    let trickle = futures_util::stream::unfold(0usize, move |n| {
        let byte = text[n % text.len()];
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok::<_, std::io::Error>(vec![byte]), n + 1))
        }
    });
    let slow = app
        .client
        .post(app.url("/v1/shops/001/uploads?date=2025-07-30"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(trickle))
        .send();
    let slow = tokio::spawn(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act: a normal upload of the same shop-day while the slow one is still arriving.
    let normal = app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 10)).await;
    let slow_was_pending = !slow.is_finished();
    let slow = slow.await.unwrap().expect("the slow client gets an answer");

    // Assert
    assert_eq!(normal.status(), StatusCode::CREATED, "the shop-day was not held by the slow client");
    assert!(slow_was_pending, "the normal upload was answered while the slow body was still arriving");
    let problem = assert_problem(slow, StatusCode::REQUEST_TIMEOUT).await;
    assert!(problem["detail"].as_str().unwrap().contains("100 bytes per second"), "{problem}");
    let list: Value = app.list_uploads(&app.admin_token(), "001", "").await.json().await.unwrap();
    let statuses: Vec<&str> = list["items"].as_array().unwrap().iter().map(|u| u["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["succeeded", "failed"], "newest first: {list}");
    let raw: Vec<String> = app.files().await.into_iter().filter(|f| f.starts_with("raw/")).collect();
    assert_eq!(raw.len(), 1, "only the normal upload is archived: {raw:?}");
    assert!(app.temp_files().await.is_empty(), "{:?}", app.temp_files().await);
}

#[tokio::test]
async fn with_every_upload_slot_busy_an_upload_waits_then_gets_503_with_retry_after_and_nothing_recorded() {
    // Arrange: one slot, held by an upload whose body arrives only when the test says so.
    let app = spawn_app_with(&[
        ("SHOPLAKE_MAX_CONCURRENT_UPLOADS", "1"),
        ("SHOPLAKE_UPLOAD_QUEUE_TIMEOUT_SECS", "1"),
        ("SHOPLAKE_MIN_BODY_BYTES_PER_SEC", "0"),
    ])
    .await;
    let token = app.shop_token("001");
    let text = sample_csv("2025-07-30", 50).into_bytes();
    let (parts, waiting) = channel_body();
    parts.send(Ok(text[..100].to_vec())).await.unwrap();
    let held = app
        .client
        .post(app.url("/v1/shops/001/uploads?date=2025-07-30"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(waiting)
        .send();
    let held = tokio::spawn(held);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act
    let refused = app.upload_csv(&app.shop_token("002"), "002", "2025-07-30", sample_csv("2025-07-30", 5)).await;
    parts.send(Ok(text[100..].to_vec())).await.unwrap();
    drop(parts);
    let held = held.await.unwrap().unwrap();
    let after = app.upload_csv(&app.shop_token("002"), "002", "2025-07-30", sample_csv("2025-07-30", 5)).await;

    // Assert
    assert_eq!(refused.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"), "{}", refused.status());
    let problem = assert_problem(refused, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["type"], "/problems/busy");
    assert_eq!(held.status(), StatusCode::CREATED);
    assert_eq!(after.status(), StatusCode::CREATED, "the slot is free again");
    let list: Value = app.list_uploads(&app.admin_token(), "002", "").await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "the refused request recorded nothing: {list}");
}
