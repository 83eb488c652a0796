//! The embedded catalog: partitions registered in the commit step, schema evolution, DDL, crawl.

use crate::helpers::{assert_problem, sample_csv, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::Value;
use shoplake::domain::Role;

async fn get_json(app: &crate::helpers::TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let response = app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_accepted_upload_is_in_the_catalog_when_201_is_sent() {
    // Arrange + Act: two shops, two days.
    let app = spawn_app().await;
    for (shop, date, rows) in
        [("001", "2025-07-30", 10), ("001", "2025-07-31", 20), ("002", "2025-07-30", 30), ("002", "2025-07-31", 40)]
    {
        let response = app.upload_csv(&app.shop_token(shop), shop, date, sample_csv(date, rows)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    // Assert
    let analyst = app.token(Role::Analyst, None);
    let (status, table) = get_json(&app, &analyst, "/v1/catalog/tables/sales_processed").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(table["partitions"], 4);
    assert_eq!(table["rows"], 100);
    assert_eq!(table["partition_keys"], serde_json::json!(["shop_id", "date"]));
    assert!(
        table["location"] == app.store.url_of("processed/").as_str()
            && table["location"].as_str().unwrap().ends_with("/processed/")
    );
    let columns: Vec<(String, String)> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().into(), c["type"].as_str().unwrap().into()))
        .collect();
    assert!(columns.contains(&("price".into(), "decimal(18,4)".into())), "{columns:?}");
    assert!(columns.contains(&("sold_at".into(), "timestamp".into())));
    assert!(columns.contains(&("quantity".into(), "bigint".into())));
    let (_, partitions) = get_json(&app, &analyst, "/v1/catalog/tables/sales_processed/partitions").await;
    let items = partitions["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[1]["shop_id"], "001");
    assert_eq!(items[1]["date"], "2025-07-31");
    assert_eq!(items[1]["rows"], 20);
    let size = app.store.head(items[1]["location"].as_str().unwrap()).await.unwrap().expect("partition exists").size;
    assert_eq!(items[1]["bytes"], size);
    let (_, tables) = get_json(&app, &analyst, "/v1/catalog/tables").await;
    assert_eq!(tables["items"][0]["name"], "sales_processed");
}

#[tokio::test]
async fn catalog_lists_have_the_contract_list_shape_and_partitions_come_in_pages() {
    // Arrange: five partitions over three shops.
    let app = spawn_app().await;
    let days = [
        ("001", "2025-07-30"),
        ("001", "2025-07-31"),
        ("002", "2025-07-29"),
        ("002", "2025-07-30"),
        ("010", "2025-07-01"),
    ];
    for (shop, date) in days {
        let response = app.upload_csv(&app.shop_token(shop), shop, date, sample_csv(date, 2)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let analyst = app.token(Role::Analyst, None);
    let path = "/v1/catalog/tables/sales_processed/partitions";

    // Act: pages of two, following next_cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("{path}?limit=2&cursor={c}"),
            None => format!("{path}?limit=2"),
        };
        let (status, page) = get_json(&app, &analyst, &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items.iter().map(|p| (p["shop_id"].as_str().unwrap().to_owned(), p["date"].as_str().unwrap().to_owned())),
        );
        assert!(page.as_object().unwrap().contains_key("next_cursor"), "{page}");
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    // Assert: every partition once, in (shop, date) order, in three pages.
    let expected: Vec<(String, String)> = days.iter().map(|(s, d)| ((*s).to_owned(), (*d).to_owned())).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    let (_, all) = get_json(&app, &analyst, path).await;
    assert_eq!((all["items"].as_array().unwrap().len(), all["next_cursor"].clone()), (5, Value::Null));
    let (_, tables) = get_json(&app, &analyst, "/v1/catalog/tables").await;
    assert_eq!(tables["next_cursor"], Value::Null);
    assert!(tables.as_object().unwrap().contains_key("next_cursor"), "{tables}");
    for bad in ["limit=0", "limit=1001", "cursor=nonsense", "cursor=001/2025-13-01", "cursor=a%20b/2025-07-30"] {
        let response = app.client.get(app.url(&format!("{path}?{bad}"))).bearer_auth(&analyst).send().await.unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn a_new_column_is_added_to_the_table_and_old_partitions_keep_theirs() {
    let app = spawn_app().await;
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 3)).await;
    let with_extra = sample_csv("2025-07-31", 3)
        .replacen("payment_method\n", "payment_method,Loyalty Card\n", 1)
        .replace(",card\n", ",card,L-1\n");
    assert_eq!(
        app.upload_csv(&app.shop_token("001"), "001", "2025-07-31", with_extra).await.status(),
        StatusCode::CREATED
    );
    let (_, table) = get_json(&app, &app.admin_token(), "/v1/catalog/tables/sales_processed").await;
    let last = table["columns"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last, serde_json::json!({"name": "Loyalty Card", "type": "string"}));
    let (_, partitions) = get_json(&app, &app.admin_token(), "/v1/catalog/tables/sales_processed/partitions").await;
    let prints: Vec<&str> =
        partitions["items"].as_array().unwrap().iter().map(|p| p["schema_fingerprint"].as_str().unwrap()).collect();
    assert_ne!(prints[0], prints[1], "each partition keeps its own file schema");
}

#[tokio::test]
async fn a_type_conflict_rejects_the_upload_with_the_column_named_and_changes_nothing() {
    // Arrange: `points` arrives as an unknown (string) column; then the deployment declares it int64.
    let app = spawn_app().await;
    let with_points = |date: &str| {
        sample_csv(date, 3).replacen("payment_method\n", "payment_method,points\n", 1).replace(",card\n", ",card,5\n")
    };
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", with_points("2025-07-30")).await;
    let schema = app.data_dir.parent().unwrap().join("schema.toml");
    let mut toml = String::new();
    for (name, ty, required) in [
        ("transaction_id", "string", true),
        ("sold_at", "timestamp", true),
        ("sku", "string", true),
        ("product_name", "string", false),
        ("quantity", "int64", true),
        ("price", "decimal(18,4)", true),
        ("currency", "string", false),
        ("payment_method", "string", false),
        ("points", "int64", false),
    ] {
        toml.push_str(&format!("[[columns]]\nname = \"{name}\"\ntype = \"{ty}\"\nrequired = {required}\n"));
    }
    toml.push_str("aliases = []\n");
    toml = toml.replace("name = \"price\"\n", "name = \"price\"\naliases = [\"unit_price\"]\n");
    std::fs::write(&schema, toml).unwrap();
    let app = app.restart_with(&[("SHOPLAKE_SCHEMA_FILE", schema.to_str().unwrap())]).await;
    // Act
    let response = app.upload_csv(&app.shop_token("001"), "001", "2025-07-31", with_points("2025-07-31")).await;
    // Assert
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("points") && detail.contains("string") && detail.contains("bigint"), "{detail}");
    assert!(!app.files().await.iter().any(|f| f.starts_with("processed/shop_id=001/date=2025-07-31/")));
    let (_, table) = get_json(&app, &app.admin_token(), "/v1/catalog/tables/sales_processed").await;
    assert_eq!(table["partitions"], 1);
}

#[tokio::test]
async fn ddl_is_an_athena_create_external_table_with_its_partitions() {
    let app = spawn_app().await;
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", sample_csv("2025-07-30", 3)).await;
    let response = app
        .client
        .get(app.url("/v1/catalog/tables/sales_processed/ddl"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let ddl = response.text().await.unwrap();
    assert!(ddl.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS sales_processed ("), "{ddl}");
    assert!(ddl.contains("  price decimal(18,4)") && ddl.contains("  sold_at timestamp"), "{ddl}");
    assert!(ddl.contains("PARTITIONED BY (shop_id string, `date` string)"));
    assert!(ddl.contains("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"));
    assert!(
        ddl.contains(&format!(
            "ADD IF NOT EXISTS PARTITION (shop_id='001', `date`='2025-07-30') LOCATION '{}shop_id=001/date=2025-07-30/'",
            app.store.url_of("processed/")
        )),
        "{ddl}"
    );
    let (status, _) = get_json(&app, &app.admin_token(), "/v1/catalog/tables/nope/ddl").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn crawl_rebuilds_the_catalog_from_processed_and_reports_the_differences() {
    // Arrange: three partitions; then the catalog loses one row, one file disappears,
    // and one partition's catalog entry is wrong.
    let app = spawn_app().await;
    for (date, rows) in [("2025-07-01", 5), ("2025-07-02", 6), ("2025-07-03", 7)] {
        app.upload_csv(&app.shop_token("001"), "001", date, sample_csv(date, rows)).await;
    }
    let db = app.database().await;
    sqlx::query("delete from catalog_partitions where sales_date = '2025-07-01'").execute(&db).await.unwrap();
    sqlx::query("update catalog_partitions set rows = 999 where sales_date = '2025-07-02'").execute(&db).await.unwrap();
    db.close().await;
    app.delete_object("processed/shop_id=001/date=2025-07-03/data.parquet").await;
    // Act
    let forbidden =
        app.client.post(app.url("/v1/catalog/crawl")).bearer_auth(app.token(Role::Analyst, None)).send().await.unwrap();
    let response = app.client.post(app.url("/v1/catalog/crawl")).bearer_auth(app.admin_token()).send().await.unwrap();
    // Assert
    assert_problem(forbidden, StatusCode::FORBIDDEN).await;
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["added"], serde_json::json!(["shop_id=001/date=2025-07-01"]));
    assert_eq!(report["changed"], serde_json::json!(["shop_id=001/date=2025-07-02"]));
    assert_eq!(report["missing"], serde_json::json!(["shop_id=001/date=2025-07-03"]));
    let (_, table) = get_json(&app, &app.admin_token(), "/v1/catalog/tables/sales_processed").await;
    assert_eq!((table["partitions"].as_u64(), table["rows"].as_u64()), (Some(2), Some(11)));
}

#[tokio::test]
async fn catalog_routes_are_for_analysts_and_admins_only() {
    let app = spawn_app_with(&[]).await;
    let (status, _) = get_json(&app, &app.shop_token("001"), "/v1/catalog/tables").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get_json(&app, &app.token(Role::Analyst, None), "/v1/catalog/tables").await;
    assert_eq!(status, StatusCode::OK);
}
