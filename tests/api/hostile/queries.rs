//! Hostile SQL: statements that overflowed the stack, allocated outside the memory pool, or
//! kept the runtime busy past the time limit.

use super::{assert_still_serving, bystander_token, capped_server};
use crate::helpers::{sample_csv, spawn_app, Backend};
use crate::server_process::test_token;
use serde_json::{json, Value};
use shoplake::domain::Role;
use std::time::Duration;

async fn query(client: &reqwest::Client, base: &str, token: &str, sql: &str) -> (u16, Value) {
    let response =
        client.post(format!("{base}/v1/query")).bearer_auth(token).json(&json!({ "sql": sql })).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn statements_deep_enough_to_overflow_the_stack_are_refused_and_the_service_keeps_answering() {
    // Arrange
    let app = spawn_app().await;
    let analyst = app.token(Role::Analyst, None);
    let attacks = [
        format!("SELECT {}", vec!["1"; 1000].join("+")),
        format!("SELECT 1 WHERE {}", (0..1000).map(|i| format!("{i} = 1")).collect::<Vec<_>>().join(" OR ")),
        format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500)),
        format!("SELECT {}", "NOT ".repeat(5000) + "true"),
        format!("SELECT '{}'", "x".repeat(70_000)),
    ];
    for sql in &attacks {
        // Act
        let (status, problem) = query(&app.client, &app.address, &analyst, sql).await;
        // Assert
        assert_eq!(status, 400, "{}: {problem}", &sql[..40]);
        assert!(
            ["/problems/sql-limit", "/problems/sql-error"].contains(&problem["type"].as_str().unwrap()),
            "{problem}"
        );
    }
    let (status, _) = query(&app.client, &app.address, &analyst, "SELECT 1+1 AS two").await;
    assert_eq!(status, 200);
    assert_still_serving(&app.address, &app.shop_token("bystander")).await;
}

#[tokio::test]
async fn scalar_functions_cannot_allocate_past_the_limit_even_outside_the_memory_pool() {
    // Arrange: the capped binary, a 200k-row partition.
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::fresh().await;
    let server = capped_server(dir.path(), &backend, &[]).await;
    let client = reqwest::Client::new();
    let shop = test_token(Role::Shop, Some("001"));
    let upload = client
        .post(server.url("/v1/shops/001/uploads?date=2025-07-30"))
        .bearer_auth(&shop)
        .header("content-type", "text/csv")
        .body(sample_csv("2025-07-30", 200_000))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    let analyst = test_token(Role::Analyst, None);

    for sql in [
        "SELECT length(repeat('a', 2000000000)) AS n",
        "SELECT SUM(length(repeat(product_name, 20000))) AS n FROM sales_processed",
        "SELECT MAX(length(rpad(sku, 100000000))) AS n FROM sales_processed",
    ] {
        // Act
        let (status, problem) = query(&client, &server.url, &analyst, sql).await;
        // Assert
        assert_eq!(status, 422, "{sql}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("per function call"), "{problem}");
    }
    assert_still_serving(&server.url, &bystander_token()).await;
}

#[tokio::test]
async fn cpu_bound_and_backtracking_queries_never_stop_health_uploads_or_shutdown() {
    // Arrange: the real binary, a 2 s query limit, two query slots.
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::fresh().await;
    let envs = [("SHOPLAKE_QUERY_TIMEOUT_SECS", "2"), ("SHOPLAKE_QUERY_MAX_CONCURRENT", "2")];
    let mut server = capped_server(dir.path(), &backend, &envs).await;
    let analyst = test_token(Role::Analyst, None);
    let client = reqwest::Client::new();
    let cross =
        "SELECT SUM(a.value * b.value % 7) AS s FROM generate_series(1, 200000) a, generate_series(1, 200000) b";
    let arrays = format!("SELECT {}1 +{}", "ARRAY[".repeat(48), "]".repeat(48));
    let wide = format!("SELECT {}", (0..10_000).map(|i| i.to_string()).collect::<Vec<_>>().join(","));

    // Act: four attacks at once...
    let mut attacks = Vec::new();
    for sql in [cross.to_string(), cross.to_string(), arrays, wide] {
        let (client, base, token) = (client.clone(), server.url.clone(), analyst.clone());
        attacks.push(tokio::spawn(async move { query(&client, &base, &token, &sql).await }));
    }
    // ...while the service keeps serving.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_still_serving(&server.url, &bystander_token()).await;

    // Assert: the CPU-bound ones stop at the time limit (or wait for a slot and are refused as
    // busy); the others are refused before planning.
    let mut statuses = Vec::new();
    for attack in attacks {
        let (status, problem) = attack.await.unwrap();
        assert!(problem["type"].is_string(), "{problem}");
        statuses.push(status);
    }
    assert!(statuses[..2].iter().all(|s| [408, 503].contains(s)), "{statuses:?}");
    assert_eq!(statuses[2..], [400, 400], "{statuses:?}");
    // A query still runs afterwards (the slots were given back).
    let (status, answer) = query(&client, &server.url, &analyst, "SELECT 1 AS one").await;
    assert_eq!(status, 200, "{answer}");

    // Act: SIGTERM while a CPU-bound query runs.
    let (c, base, token) = (client.clone(), server.url.clone(), analyst.clone());
    let running = tokio::spawn(async move { query(&c, &base, &token, cross).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::process::Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();

    // Assert: the process exits (the query is answered or cut, never waited for past its limit).
    let mut exited = false;
    for _ in 0..600 {
        if !server.running() {
            exited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(exited, "the server did not stop after SIGTERM");
    let _ = running.await;
}

#[tokio::test]
async fn the_csv_answer_neutralises_spreadsheet_formulas_in_text_but_not_numbers() {
    // Arrange
    let app = spawn_app().await;
    let body =
        "transaction_id,sold_at,sku,product_name,quantity,unit_price\nT1,2025-07-30T10:00:00,=1+2,@SUM(A1),-2,3.49\n";
    assert_eq!(app.upload_csv(&app.shop_token("001"), "001", "2025-07-30", body).await.status(), 201);

    // Act
    let csv = app
        .client
        .post(app.url("/v1/query"))
        .bearer_auth(app.token(Role::Analyst, None))
        .header("accept", "text/csv")
        .json(&json!({ "sql": "SELECT sku, product_name, quantity FROM sales_processed" }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // Assert
    assert_eq!(csv, "sku,product_name,quantity\n'=1+2,'@SUM(A1),-2\n");
}
