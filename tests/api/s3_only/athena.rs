//! `POST /v1/query` on Athena (`SHOPLAKE_QUERY_ENGINE=athena`) against moto's Athena, which
//! returns canned results queued through its API. What moto shows: the request (query,
//! workgroup, Glue database, output location), the header row dropped, Athena's types turned
//! into the same response shape as the embedded engine (decimals exact, as strings), the row
//! limit, and the read-only rule applied before anything reaches Athena. What it cannot show:
//! polling (its queries are SUCCEEDED at once), paging (it ignores MaxResults and never returns
//! NextToken) and real data-scanned figures (always 0); those paths are exercised on AWS only.

use crate::helpers::{assert_problem, spawn_app_with, Backend};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shoplake::domain::Role;

fn column(name: &str, athena_type: &str, precision: i32, scale: i32) -> Value {
    json!({"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name, "Type": athena_type,
           "Precision": precision, "Scale": scale, "Nullable": "UNKNOWN", "CaseSensitive": false})
}

fn row(values: &[&str]) -> Value {
    json!({"Data": values.iter().map(|v| json!({"VarCharValue": v})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn queries_run_on_athena_with_the_same_answer_shape_and_read_only_rule() {
    // Arrange: the Glue catalog and Athena; one canned result queued in moto.
    let database = format!("lake_{}", uuid::Uuid::now_v7().simple());
    let Backend::S3 { bucket, .. } = Backend::fresh().await else { panic!("runs on the s3 back end") };
    let output = format!("s3://{bucket}/athena-results/");
    let app = spawn_app_with(&[
        ("SHOPLAKE_CATALOG", "glue"),
        ("SHOPLAKE_GLUE_DATABASE", &database),
        ("SHOPLAKE_QUERY_ENGINE", "athena"),
        ("SHOPLAKE_ATHENA_WORKGROUP", "primary"),
        ("SHOPLAKE_ATHENA_OUTPUT_LOCATION", &output),
        ("SHOPLAKE_QUERY_MAX_ROWS", "2"),
    ])
    .await;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let canned = json!({"account_id": "123456789012", "region": "us-east-1", "results": [{
        "rows": [row(&["shop_id", "total_sales", "n"]), row(&["001", "1234.5600", "40"]), row(&["002", "99.0000", "7"]),
                 row(&["003", "0.4900", "1"])],
        "column_info": [column("shop_id", "varchar", 0, 0), column("total_sales", "decimal", 38, 4), column("n", "bigint", 19, 0)]
    }]});
    let queued =
        reqwest::Client::new().post(format!("{endpoint}/moto-api/static/athena/query-results")).json(&canned).send();
    assert!(queued.await.unwrap().status().is_success());
    let analyst = app.token(Role::Analyst, None);
    let seed = "SELECT shop_id, SUM(price * quantity) AS total_sales, count(*) AS n FROM sales_processed WHERE date = '2025-07-30' GROUP BY shop_id;";
    let query = |sql: &'static str| {
        app.client.post(app.url("/v1/query")).bearer_auth(&analyst).json(&json!({ "sql": sql })).send()
    };

    // Act
    let refused = query("DELETE FROM sales_processed").await.unwrap();
    let answered = query(seed).await.unwrap();

    // Assert: the write is refused before Athena; the answer has the embedded engine's shape.
    assert_problem(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(answered.status(), StatusCode::OK);
    let body: Value = answered.json().await.unwrap();
    let columns: Vec<(&str, &str)> = body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap()))
        .collect();
    assert_eq!(columns, [("shop_id", "varchar"), ("total_sales", "decimal(38,4)"), ("n", "bigint")], "{body}");
    assert_eq!(
        body["rows"],
        json!([{"shop_id": "001", "total_sales": "1234.5600", "n": 40}, {"shop_id": "002", "total_sales": "99.0000", "n": 7}])
    );
    assert_eq!(body["truncated"], true, "three rows over a limit of two");
    assert_eq!(body["stats"]["rows_returned"], 2);
    // What reached Athena: the statement, in the workgroup, over the Glue database.
    let client = aws_sdk_athena_client().await;
    let executions = client.list_query_executions().work_group("primary").send().await.unwrap();
    let mut mine = Vec::new();
    for id in executions.query_execution_ids() {
        let execution = client.get_query_execution().query_execution_id(id).send().await.unwrap();
        let execution = execution.query_execution().unwrap().clone();
        if execution.query_execution_context().and_then(|c| c.database()) == Some(database.as_str()) {
            mine.push(execution);
        }
    }
    assert_eq!(mine.len(), 1, "only the seed query reached Athena, not the refused DELETE");
    assert_eq!(mine[0].query(), Some(seed));
    assert_eq!(mine[0].work_group(), Some("primary"));
    let results_at = mine[0].result_configuration().and_then(|r| r.output_location()).unwrap_or_default();
    assert!(results_at.starts_with(&output), "results under the configured location: {results_at}");
}

async fn aws_sdk_athena_client() -> aws_sdk_athena::Client {
    let sdk = shoplake::aws::sdk_config().await;
    let mut config = aws_sdk_athena::config::Builder::from(&sdk);
    if let Some(endpoint) = shoplake::aws::endpoint_url(&sdk, "ATHENA") {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_athena::Client::from_conf(config.build())
}
