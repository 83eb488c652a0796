//! After a crash, start-up finishes every upload left in flight and removes temporary files.

use crate::helpers::{sample_csv, spawn_app, spawn_app_with};
use serde_json::Value;

#[tokio::test]
async fn restart_finishes_uploads_left_in_flight_and_removes_temporary_files() {
    // Arrange: A then B accepted for one shop-day...
    let app = spawn_app().await;
    let token = app.shop_token("001");
    let a: Value =
        app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 10)).await.json().await.unwrap();
    let b: Value =
        app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 20)).await.json().await.unwrap();
    let (a_id, b_id) = (a["id"].as_str().unwrap().to_owned(), b["id"].as_str().unwrap().to_owned());
    // ...then rewind the state to "B was processing when its process died, a while ago" (A
    // still current), plus C, whose body was stored but not yet recorded by another instance
    // that died too, and a stray temporary file.
    let db = app.database().await;
    sqlx::query("update uploads set status = 'processing', finished_at = null, processed_key = null, updated_at = 0 where id = $1")
        .bind(&b_id)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("update uploads set status = 'succeeded', superseded_by = null where id = $1")
        .bind(&a_id)
        .execute(&db)
        .await
        .unwrap();
    let c_id = uuid::Uuid::now_v7().to_string();
    sqlx::query("insert into uploads (id, shop_id, sales_date, status, received_at, updated_at, instance_id) values ($1, '001', '2025-07-31', 'received', 0, 0, $2)")
        .bind(&c_id)
        .bind(uuid::Uuid::now_v7().to_string())
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let c_raw = format!("raw/shop_id=001/date=2025-07-31/{c_id}.csv");
    app.write_object(&c_raw, b"half a file").await;
    app.leave_incomplete_put().await;

    // Act: a restart once no request can still be writing (older than the request timeout).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let app = app.restart_with(&[("SHOPLAKE_REQUEST_TIMEOUT_SECS", "1")]).await;

    // Assert
    let get = |id: String| {
        let app = &app;
        let token = token.clone();
        async move { app.get_upload(&token, &id).await.json::<Value>().await.unwrap() }
    };
    let (a_now, b_now, c_now) = (get(a_id.clone()).await, get(b_id.clone()).await, get(c_id.clone()).await);
    assert_eq!(b_now["status"], "succeeded", "{b_now}");
    assert_eq!(b_now["rows_accepted"], 20);
    assert_eq!(a_now["status"], "superseded");
    assert_eq!(a_now["superseded_by"], b_id.as_str());
    assert_eq!(c_now["status"], "failed");
    assert_eq!(app.read_object(&c_raw).await, None, "an unrecorded raw object is removed");
    assert!(app.temp_files().await.is_empty(), "{:?}", app.temp_files().await);
    let in_flight: Value =
        app.list_uploads(&app.admin_token(), "001", "?status=processing").await.json().await.unwrap();
    assert_eq!(in_flight["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn restart_rebuilds_a_missing_partition_file_from_raw_or_drops_it_from_the_catalog() {
    // Arrange: two accepted shop-days; one loses its Parquet file, the other its Parquet file
    // and its raw original.
    let app = spawn_app().await;
    for (shop, rows) in [("001", 12), ("002", 5)] {
        let response = app.upload_csv(&app.shop_token(shop), shop, "2025-07-30", sample_csv("2025-07-30", rows)).await;
        assert_eq!(response.status(), 201);
    }
    let parquet = |shop: &str| format!("processed/shop_id={shop}/date=2025-07-30/data.parquet");
    let original_001 = app.read_object(&parquet("001")).await.unwrap();
    app.delete_object(&parquet("001")).await;
    app.delete_object(&parquet("002")).await;
    app.delete_objects_under("raw/shop_id=002/").await;

    // Act
    let app = app.restart().await;

    // Assert: 001 is rebuilt byte for byte; 002 is no longer claimed by the catalog.
    assert_eq!(app.read_object(&parquet("001")).await.unwrap(), original_001);
    let partitions: Value = app
        .client
        .get(app.url("/v1/catalog/tables/sales_processed/partitions"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shops: Vec<&str> =
        partitions["items"].as_array().unwrap().iter().map(|p| p["shop_id"].as_str().unwrap()).collect();
    assert_eq!(shops, ["001"], "{partitions}");
    assert!(app.temp_files().await.is_empty(), "{:?}", app.temp_files().await);
}

#[tokio::test]
async fn the_running_service_finishes_an_upload_abandoned_in_flight_without_a_restart() {
    // Arrange: an accepted upload rewound to "processing" as if the database had failed at
    // the step recording its end, in a service that reconciles every second.
    let app =
        spawn_app_with(&[("SHOPLAKE_RECONCILE_INTERVAL_SECS", "1"), ("SHOPLAKE_REQUEST_TIMEOUT_SECS", "1")]).await;
    let token = app.shop_token("001");
    let upload: Value =
        app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 15)).await.json().await.unwrap();
    let id = upload["id"].as_str().unwrap().to_owned();
    let db = app.database().await;
    sqlx::query("update uploads set status = 'processing', finished_at = null where id = $1")
        .bind(&id)
        .execute(&db)
        .await
        .unwrap();

    // Act: wait (at most 15 s) for the periodic reconciler.
    let mut status = String::new();
    for _ in 0..150 {
        let now: Value = app.get_upload(&token, &id).await.json().await.unwrap();
        status = now["status"].as_str().unwrap().to_owned();
        if status != "processing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Assert
    assert_eq!(status, "succeeded", "the abandoned upload was finished from its raw file");
    let in_flight: Value =
        app.list_uploads(&app.admin_token(), "001", "?status=processing").await.json().await.unwrap();
    assert_eq!(in_flight["items"].as_array().unwrap().len(), 0);
}
