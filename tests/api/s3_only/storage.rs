//! The S3 blob store against the S3 server, through the trait the pipeline uses: multipart puts
//! round-trip, raw keys are never overwritten, a body that fails mid-way leaves nothing.

use crate::helpers::Backend;
use shoplake::storage::{BlobStore, PutMode, S3Options, S3Store, StorageError};

async fn store_with_small_parts() -> (S3Store, String) {
    let Backend::S3 { bucket, .. } = Backend::fresh().await else { panic!("runs on the s3 back end") };
    let options =
        S3Options { bucket: bucket.clone(), prefix: "lake".into(), part_size: 5 << 20, force_path_style: None };
    (S3Store::connect(&options).await.unwrap(), bucket)
}

async fn open_multipart_uploads(store: &S3Store, bucket: &str) -> usize {
    store.client().list_multipart_uploads().bucket(bucket).send().await.unwrap().uploads().len()
}

fn body(bytes: usize) -> Vec<u8> {
    (0..bytes).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn a_body_of_several_parts_round_trips_and_a_raw_key_is_never_overwritten() {
    let (store, bucket) = store_with_small_parts().await;
    let original = body(12 << 20); // three parts of 5 MiB, 5 MiB and 2 MiB
    let written = store.put_stream("raw/a/x.csv", &mut &original[..], PutMode::CreateNew).await.unwrap();
    assert_eq!(written, original.len() as u64);
    let mut read = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut store.get("raw/a/x.csv").await.unwrap(), &mut read).await.unwrap();
    assert!(read == original, "the object is the body byte for byte");
    assert_eq!(store.get_range("raw/a/x.csv", 10..20).await.unwrap().as_ref(), &original[10..20]);

    // CreateNew on an existing key, single PUT or multipart: refused, object unchanged.
    let small = store.put_stream("raw/a/x.csv", &mut &b"other"[..], PutMode::CreateNew).await;
    assert!(matches!(small, Err(StorageError::AlreadyExists(_))), "{small:?}");
    let large = store.put_stream("raw/a/x.csv", &mut &body(6 << 20)[..], PutMode::CreateNew).await;
    assert!(matches!(large, Err(StorageError::AlreadyExists(_))), "{large:?}");
    assert_eq!(store.head("raw/a/x.csv").await.unwrap().unwrap().size, original.len() as u64);
    assert_eq!(open_multipart_uploads(&store, &bucket).await, 0, "the refused multipart upload was aborted");

    // Replace does replace.
    store.put_stream("raw/a/x.csv", &mut &b"new"[..], PutMode::Replace).await.unwrap();
    assert_eq!(store.get_range("raw/a/x.csv", 0..3).await.unwrap().as_ref(), b"new");
}

#[tokio::test]
async fn a_body_that_fails_after_the_first_part_leaves_no_object_and_no_open_upload() {
    let (store, bucket) = store_with_small_parts().await;
    let failing = futures_util::stream::iter(vec![
        Ok(bytes::Bytes::from(body(7 << 20))),
        Err(std::io::Error::other("client went away")),
    ]);
    let mut reader = tokio_util::io::StreamReader::new(failing);
    let result = store.put_stream("raw/a/y.csv", &mut reader, PutMode::CreateNew).await;
    assert!(matches!(result, Err(StorageError::Source(_))), "{result:?}");
    assert_eq!(store.head("raw/a/y.csv").await.unwrap(), None, "nothing visible");
    assert_eq!(open_multipart_uploads(&store, &bucket).await, 0, "no parts left billed");
}

#[tokio::test]
async fn keys_that_would_leave_the_prefix_are_refused() {
    let (store, _) = store_with_small_parts().await;
    for key in ["../x", "/etc/passwd", "a/../../x", "", "a//b"] {
        assert!(matches!(store.get(key).await, Err(StorageError::InvalidKey(_))), "{key}");
    }
}

/// S3 requests counted by the app so far (`/metrics`).
async fn s3_requests(app: &crate::helpers::TestApp) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("shoplake_s3_requests_total ")).expect("S3 counter");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_one_date_query_reads_only_that_dates_objects() {
    // Arrange: one shop, six days.
    let app = crate::helpers::spawn_app().await;
    let dates = ["2025-07-25", "2025-07-26", "2025-07-27", "2025-07-28", "2025-07-29", "2025-07-30"];
    for date in dates {
        let response = app.upload_csv(&app.shop_token("001"), "001", date, crate::helpers::sample_csv(date, 30)).await;
        assert_eq!(response.status(), 201);
    }
    let analyst = app.token(shoplake::domain::Role::Analyst, None);
    let query = |sql: &'static str| {
        let (app, analyst) = (&app, analyst.clone());
        async move {
            let before = s3_requests(app).await;
            let response =
                app.client.post(app.url("/v1/query")).bearer_auth(&analyst).json(&serde_json::json!({ "sql": sql }));
            let answer: serde_json::Value = response.send().await.unwrap().json().await.unwrap();
            (answer, s3_requests(app).await - before)
        }
    };

    // Act
    let (one_day, one_day_reads) = query(
        "SELECT shop_id, SUM(price * quantity) AS total_sales FROM sales_processed WHERE date = '2025-07-30' GROUP BY shop_id;",
    )
    .await;
    let (all_days, all_days_reads) = query("SELECT SUM(price * quantity) AS total_sales FROM sales_processed").await;

    // Assert: one object read for one day (fetched whole, once), six for six days.
    assert_eq!(one_day["rows"][0]["total_sales"], crate::helpers::sample_total(30), "{one_day}");
    assert!(all_days["rows"][0]["total_sales"].is_string(), "{all_days}");
    assert_eq!(one_day_reads, 1, "object reads of the one-date query");
    assert_eq!(all_days_reads, dates.len() as u64, "object reads of the query over every date");
}
