//! The Glue Data Catalog as the catalog (`SHOPLAKE_CATALOG=glue`), against the S3/Glue server:
//! each accepted upload's partition is in Glue before the 201, described as a Glue crawler
//! describes Parquet files, and queries and crawls work from it.

use crate::helpers::{get_json, query_json, sample_csv, sample_total, spawn_app_with, TestApp};
use serde_json::Value;
use shoplake::catalog::GlueCatalog;
use shoplake::domain::Role;

async fn app_on_glue() -> (TestApp, GlueCatalog, String) {
    let database = format!("lake_{}", uuid::Uuid::now_v7().simple());
    let app = spawn_app_with(&[("SHOPLAKE_CATALOG", "glue"), ("SHOPLAKE_GLUE_DATABASE", &database)]).await;
    (app, GlueCatalog::connect(&database).await, database)
}

/// One partition of `sales_processed` as Glue holds it, `None` when it is not there.
async fn stored_partition(
    glue: &GlueCatalog,
    database: &str,
    shop: &str,
    date: &str,
) -> Option<aws_sdk_glue::types::Partition> {
    let found = glue
        .client()
        .get_partition()
        .database_name(database)
        .table_name("sales_processed")
        .set_partition_values(Some(vec![shop.to_owned(), date.to_owned()]))
        .send()
        .await;
    found.ok().and_then(|f| f.partition)
}

/// What a Glue crawler writes for Hive-partitioned Parquet files (the fields Athena reads).
const CRAWLER_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
const CRAWLER_INPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
const CRAWLER_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";

fn assert_crawler_shaped(sd: &aws_sdk_glue::types::StorageDescriptor, location: &str) {
    assert_eq!(sd.location(), Some(location));
    assert_eq!(sd.input_format(), Some(CRAWLER_INPUT));
    assert_eq!(sd.output_format(), Some(CRAWLER_OUTPUT));
    let serde = sd.serde_info().expect("serde info");
    assert_eq!(serde.serialization_library(), Some(CRAWLER_SERDE));
    assert_eq!(serde.parameters().and_then(|p| p.get("serialization.format")).map(String::as_str), Some("1"));
    assert_eq!((sd.compressed(), sd.number_of_buckets(), sd.stored_as_sub_directories()), (false, -1, false));
    let columns: Vec<(&str, &str)> = sd.columns().iter().map(|c| (c.name(), c.r#type().unwrap_or(""))).collect();
    for expected in [("quantity", "bigint"), ("price", "decimal(18,4)"), ("sold_at", "timestamp"), ("sku", "string")] {
        assert!(columns.contains(&expected), "{expected:?} in {columns:?}");
    }
    assert!(!columns.iter().any(|(name, _)| *name == "shop_id" || *name == "date"), "partition keys are not columns");
}

#[tokio::test]
async fn an_accepted_upload_is_in_glue_as_a_crawler_would_describe_it_before_the_201() {
    // Arrange
    let (app, glue, database) = app_on_glue().await;
    // Act
    let response = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 20)).await;
    assert_eq!(response.status(), 201);
    // Assert: the table, field by field.
    let table = glue.client().get_table().database_name(&database).name("sales_processed").send().await.unwrap();
    let table = table.table().unwrap();
    let root = app.store.url_of("processed/");
    assert!(root.starts_with("s3://"), "{root}");
    assert_eq!(table.table_type(), Some("EXTERNAL_TABLE"));
    assert_eq!(table.parameters().and_then(|p| p.get("classification")).map(String::as_str), Some("parquet"));
    let keys: Vec<(&str, &str)> = table.partition_keys().iter().map(|c| (c.name(), c.r#type().unwrap_or(""))).collect();
    assert_eq!(keys, [("shop_id", "string"), ("date", "string")]);
    assert_crawler_shaped(table.storage_descriptor().unwrap(), &root);
    // The partition, registered in the commit step.
    let partition = stored_partition(&glue, &database, "001", "2025-07-30").await;
    let partition = partition.expect("the partition is in Glue when the 201 arrives");
    assert_crawler_shaped(partition.storage_descriptor().unwrap(), &format!("{root}shop_id=001/date=2025-07-30/"));
    assert_eq!(partition.parameters().and_then(|p| p.get("recordCount")).map(String::as_str), Some("20"));

    // A re-upload updates the same partition (no duplicate, new row count).
    let again = app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 35)).await;
    assert_eq!(again.status(), 201);
    let listed = glue.client().get_partitions().database_name(&database).table_name("sales_processed").send().await;
    let listed = listed.unwrap();
    assert_eq!(listed.partitions().len(), 1);
    assert_eq!(listed.partitions()[0].parameters().and_then(|p| p.get("recordCount")).map(String::as_str), Some("35"));
}

#[tokio::test]
async fn queries_and_crawls_run_on_the_glue_catalog() {
    // Arrange: two shops' days; then Glue loses one partition behind the service's back.
    let (app, glue, database) = app_on_glue().await;
    for (shop, rows) in [("001", 12), ("002", 7)] {
        let response = app.upload_csv(&app.shop_token(shop), shop, "2025-07-30", sample_csv("2025-07-30", rows)).await;
        assert_eq!(response.status(), 201);
    }
    let analyst = app.token(Role::Analyst, None);
    let seed = "SELECT shop_id, SUM(price * quantity) AS total_sales FROM sales_processed WHERE date = '2025-07-30' GROUP BY shop_id ORDER BY shop_id;";
    let answer = query_json(&app.client, &app.address, &analyst, seed).await;
    assert_eq!(answer["rows"][0]["total_sales"], sample_total(12), "{answer}");
    assert_eq!(answer["rows"][1]["total_sales"], sample_total(7), "{answer}");
    glue.client()
        .delete_partition()
        .database_name(&database)
        .table_name("sales_processed")
        .set_partition_values(Some(vec!["002".into(), "2025-07-30".into()]))
        .send()
        .await
        .unwrap();

    // Act
    let crawl = app.client.post(app.url("/v1/catalog/crawl")).bearer_auth(app.admin_token()).send().await.unwrap();

    // Assert: the crawl put it back from processed/ (footers only), and the catalog API reads Glue.
    assert_eq!(crawl.status(), 200);
    let report: Value = crawl.json().await.unwrap();
    assert_eq!(report["added"], serde_json::json!(["shop_id=002/date=2025-07-30"]), "{report}");
    let table = get_json(&app.client, &app.url("/v1/catalog/tables/sales_processed"), &analyst).await;
    assert_eq!((table["partitions"].as_u64(), table["rows"].as_u64()), (Some(2), Some(19)), "{table}");
}

/// The crawler scheduler's state (`GET /v1/catalog/crawl`).
async fn crawl_status(app: &TestApp) -> Value {
    let response = app.client.get(app.url("/v1/catalog/crawl")).bearer_auth(app.admin_token()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Polls the scheduler until `done` holds (at most 20 s).
async fn wait_for(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let status = crawl_status(app).await;
        if done(&status) {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what}: {}", crawl_status(app).await);
}

/// moto's crawler stays RUNNING until its runs are listed (its stand-in for a crawl ending).
async fn finish_crawler_run(glue: &GlueCatalog, crawler: &str) {
    glue.client().list_crawls().crawler_name(crawler).send().await.unwrap();
}

#[tokio::test]
async fn a_burst_of_uploads_starts_the_crawler_once_and_no_upload_waits_for_it() {
    // Arrange: the crawler made by `glue-setup`'s function, already running (started elsewhere).
    let database = format!("lake_{}", uuid::Uuid::now_v7().simple());
    let crawler = format!("crawler-{}", uuid::Uuid::now_v7().simple());
    let app = spawn_app_with(&[
        ("SHOPLAKE_CATALOG", "glue"),
        ("SHOPLAKE_GLUE_DATABASE", &database),
        ("SHOPLAKE_GLUE_CRAWLER", &crawler),
        ("SHOPLAKE_GLUE_CRAWL_QUIET_SECS", "1"),
    ])
    .await;
    let glue = GlueCatalog::connect(&database).await;
    let role = "arn:aws:iam::123456789012:role/shoplake-crawler";
    let path = app.store.url_of("processed/");
    let created = shoplake::catalog::glue_crawler::create_crawler(glue.client(), &crawler, &database, &path, role);
    assert_eq!(created.await, Ok(true));
    let made = glue.client().get_crawler().name(&crawler).send().await.unwrap();
    let made = made.crawler().unwrap();
    assert_eq!(
        made.recrawl_policy().and_then(|p| p.recrawl_behavior()).map(|b| b.as_str()),
        Some("CRAWL_NEW_FOLDERS_ONLY")
    );
    assert!(made.configuration().unwrap().contains("InheritFromTable"), "{:?}", made.configuration());
    glue.client().start_crawler().name(&crawler).send().await.unwrap();

    // Act: 100 uploads at once, while the crawler is running.
    let uploads: Vec<_> = (0..100)
        .map(|i| {
            let (client, url, token) =
                (app.client.clone(), app.address.clone(), app.shop_token(&format!("{:03}", i % 20)));
            tokio::spawn(async move {
                let (shop, date) = (format!("{:03}", i % 20), format!("2025-07-{:02}", 1 + i / 20));
                client
                    .post(format!("{url}/v1/shops/{shop}/uploads?date={date}"))
                    .bearer_auth(token)
                    .header("content-type", "text/csv")
                    .body(sample_csv(&date, 5))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for upload in uploads {
        assert_eq!(upload.await.unwrap(), 201, "no upload fails or waits because of the crawler");
    }

    // Assert: the running crawler is read as "start again when it ends"...
    let found = wait_for(&app, "the scheduler tries to start the crawler", |s| s["found_running"] == 1).await;
    assert_eq!((found["starts"].as_u64(), found["pending"].as_bool()), (Some(0), Some(true)), "{found}");
    finish_crawler_run(&glue, &crawler).await;
    let started = wait_for(&app, "one run for the whole burst", |s| s["starts"] == 1).await;
    assert_eq!(started["requests"], 100, "{started}");
    // ...uploads during a run wait for that run to end, then make one more.
    for i in 0..10 {
        let date = format!("2025-08-{:02}", 1 + i);
        assert_eq!(app.upload_csv(&app.shop_token("001"), "001", &date, sample_csv(&date, 5)).await.status(), 201);
    }
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let during = crawl_status(&app).await;
    assert_eq!((during["starts"].as_u64(), during["pending"].as_bool()), (Some(1), Some(true)), "{during}");
    finish_crawler_run(&glue, &crawler).await;
    let last = wait_for(&app, "a second run for the later uploads", |s| s["starts"] == 2).await;
    assert_eq!((last["requests"].as_u64(), last["found_running"].as_u64()), (Some(110), Some(1)), "{last}");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("shoplake_glue_crawler_starts_total 2"), "{metrics}");
}

#[tokio::test]
async fn a_new_column_updates_the_glue_table_and_a_type_conflict_changes_nothing() {
    // Arrange: the table with two columns and one partition.
    let database = format!("lake_{}", uuid::Uuid::now_v7().simple());
    let glue = GlueCatalog::connect(&database).await;
    let column =
        |name: &str, data_type: &str| shoplake::catalog::ColumnDef { name: name.into(), data_type: data_type.into() };
    glue.ensure_table("sales_processed", "s3://lake-bucket/lake/processed/").await.unwrap();
    use shoplake::catalog::Catalog;
    glue.evolve_schema("sales_processed", &[column("sku", "string"), column("quantity", "bigint")]).await.unwrap();

    // Act: a file with a new column, then one whose column has another type.
    let evolved = glue
        .evolve_schema(
            "sales_processed",
            &[column("sku", "string"), column("quantity", "bigint"), column("points", "bigint")],
        )
        .await
        .unwrap();
    let partition = shoplake::catalog::PartitionInfo {
        shop_id: "001".into(),
        date: "2025-07-30".into(),
        location: "processed/shop_id=001/date=2025-07-30/data.parquet".into(),
        rows: 3,
        bytes: 100,
        schema_fingerprint: "f".into(),
        updated_at: String::new(),
        file_version: None,
    };
    glue.put_partition("sales_processed", &partition).await.unwrap();
    let conflict = glue.evolve_schema("sales_processed", &[column("points", "string")]).await;

    // Assert: the table has the new column, the partition inherits it, the conflict is refused
    // and the table is unchanged.
    let names: Vec<&str> = evolved.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["sku", "quantity", "points"]);
    assert!(matches!(conflict, Err(shoplake::catalog::CatalogError::TypeConflict { .. })), "{conflict:?}");
    let table = glue.table("sales_processed").await.unwrap().unwrap();
    assert_eq!(table.columns, evolved, "the refused file changed nothing");
    let stored = stored_partition(&glue, &database, "001", "2025-07-30").await.expect("the partition is in Glue");
    let partition_columns: Vec<&str> =
        stored.storage_descriptor().unwrap().columns().iter().map(|c| c.name()).collect();
    assert_eq!(partition_columns, ["sku", "quantity", "points"], "partitions carry the table's columns");
}
