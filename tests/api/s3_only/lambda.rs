//! The S3-event Lambda handler (`shoplake::lambda::handle`, what the `bootstrap` binary runs),
//! called with AWS-shaped event JSON against the S3 server and the database of a running app:
//! a file dropped under `raw/` becomes the same partition and status as the same file uploaded
//! through the API; a repeated event changes nothing; keys with spaces and escapes work.

use crate::helpers::{sample_csv, spawn_app, Backend, TestApp};
use serde_json::Value;
use shoplake::app::Backends;
use shoplake::lambda::RecordOutcome;
use shoplake::pipeline::Pipeline;

/// An S3 ObjectCreated event as AWS delivers it (key URL-encoded, `+` for spaces).
fn s3_event(bucket: &str, encoded_key: &str) -> aws_lambda_events::event::s3::S3Event {
    serde_json::from_value(serde_json::json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2025-07-30T23:01:02.123Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.7"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "raw-object-created",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": encoded_key, "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"}}
    }]}))
    .expect("an AWS-shaped S3 event")
}

/// The pipeline a Lambda would run, on the app's own bucket and database.
async fn lambda_pipeline(app: &TestApp) -> Pipeline {
    let backends = Backends::open(&app.settings).await.unwrap();
    backends.pipeline(&app.settings, Default::default()).unwrap()
}

#[tokio::test]
async fn a_file_dropped_in_raw_is_processed_like_an_upload_once_however_often_its_event_comes() {
    // Arrange: a legacy export with spaces and a percent sign in its name, dropped in raw/.
    let app = spawn_app().await;
    let Backend::S3 { bucket, .. } = &app.backend else { panic!("runs on the s3 back end") };
    let body = sample_csv("2025-07-30", 40);
    let key = "raw/shop_id=001/date=2025-07-30/POS export 30 July 100%.csv";
    app.write_object(key, body.as_bytes()).await;
    let event = s3_event(bucket, "lake/raw/shop_id%3D001/date%3D2025-07-30/POS+export+30+July+100%25.csv");
    let pipeline = lambda_pipeline(&app).await;

    // Act: the event, then the same event again (S3 delivers at least once).
    let first = shoplake::lambda::handle(&pipeline, bucket, "lake", &event).await.unwrap();
    let partition = "processed/shop_id=001/date=2025-07-30/data.parquet";
    let after_first = app.read_object(partition).await.expect("the partition was written");
    let again = shoplake::lambda::handle(&pipeline, bucket, "lake", &event).await.unwrap();

    // Assert: created once, then answered with the same upload; nothing written twice.
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].key.as_str(), first[0].outcome.as_str()), (key, "created"), "{first:?}");
    let id = first[0].upload_id.clone().unwrap();
    assert_eq!((again[0].outcome.as_str(), again[0].upload_id.as_deref()), ("repeated", Some(id.as_str())));
    assert_eq!(app.read_object(partition).await.unwrap(), after_first, "the repeat rewrote nothing");
    assert_eq!(app.read_object(key).await.unwrap(), body.as_bytes(), "the dropped file is left as it was");
    let list: Value = app.list_uploads(&app.admin_token(), "001", "").await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one upload for one file: {list}");
    assert_eq!(items[0]["status"], "succeeded");
    assert_eq!((items[0]["rows_accepted"].as_i64(), items[0]["raw_key"].as_str()), (Some(40), Some(key)));
    assert_eq!(items[0]["filename"], "POS export 30 July 100%.csv");

    // The same bytes through the API (another shop): the same Parquet, byte for byte.
    let response = app.upload_csv(&app.shop_token("002"), "002", "2025-07-30", body.clone()).await;
    assert_eq!(response.status(), 201);
    let through_api = app.read_object("processed/shop_id=002/date=2025-07-30/data.parquet").await.unwrap();
    assert!(through_api == after_first, "the Lambda and the API write identical partitions");
}

#[tokio::test]
async fn events_for_the_apis_own_archives_and_for_bad_files_change_nothing_they_should_not() {
    // Arrange: an upload through the API (its raw object raises an event too) and a dropped
    // file that is not a sales file.
    let app = spawn_app().await;
    let Backend::S3 { bucket, .. } = &app.backend else { panic!("runs on the s3 back end") };
    let upload: Value = app
        .upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 12))
        .await
        .json()
        .await
        .unwrap();
    let own_key = upload["raw_key"].as_str().unwrap().to_owned();
    app.write_object("raw/shop_id=001/date=2025-07-31/notes.csv", b"just,some\nnotes,here\n").await;
    let pipeline = lambda_pipeline(&app).await;

    // Act
    let own = shoplake::lambda::handle(&pipeline, bucket, "lake", &s3_event(bucket, &format!("lake/{own_key}"))).await;
    let bad = shoplake::lambda::handle(
        &pipeline,
        bucket,
        "lake",
        &s3_event(bucket, "lake/raw/shop_id%3D001/date%3D2025-07-31/notes.csv"),
    )
    .await;

    // Assert: the API's archive is skipped; the bad file is recorded as rejected (the shop sees
    // why in the status API), and no partition is written for it.
    assert_eq!(own.unwrap()[0].outcome, RecordOutcome::Skipped);
    let bad = bad.unwrap();
    assert_eq!(bad[0].outcome, RecordOutcome::Rejected, "{bad:?}");
    let list: Value = app.list_uploads(&app.admin_token(), "001", "?date=2025-07-31").await.json().await.unwrap();
    assert_eq!(list["items"][0]["status"], "rejected", "{list}");
    let problem = list["items"][0]["problem"].as_str().unwrap();
    assert!(problem.contains("sold_at"), "the problem names a missing column: {problem}");
    assert_eq!(app.read_object("processed/shop_id=001/date=2025-07-31/data.parquet").await, None);
    let uploads_of_the_day: Value =
        app.list_uploads(&app.admin_token(), "001", "?date=2025-07-30").await.json().await.unwrap();
    assert_eq!(uploads_of_the_day["items"].as_array().unwrap().len(), 1, "the API's upload was not taken twice");
}
