//! The real binary: `token`, configuration errors, the embedded default, graceful shutdown.

use crate::helpers::{sample_csv, sample_total, spawn_app, TEST_SECRET};
use crate::server_process::{shoplake, ServerProcess};
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn token_command_output_is_accepted_by_the_server() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let output = shoplake(dir.path())
        .args(["token", "--role", "shop", "--shop-id", "001", "--ttl", "1h"])
        .env("SHOPLAKE_JWT_SECRET", TEST_SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let response = app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 1)).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(app.upload_csv(&token, "002", "2025-07-30", "x").await.status(), 403);
}

#[test]
fn invalid_configuration_exits_2_with_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 3] = [
        ("SHOPLAKE_MAX_UPLOAD_BYTES", "lots", "SHOPLAKE_MAX_UPLOAD_BYTES"),
        ("SHOPLAKE_LISTEN", "nowhere", "SHOPLAKE_LISTEN"),
        ("SHOPLAKE_STORAGEE", "/tmp/x", "SHOPLAKE_STORAGEE"),
    ];
    for (name, value, named) in cases {
        let output = shoplake(dir.path()).arg("serve").env(name, value).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("invalid configuration") && stderr.contains(named), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one message: {stderr}");
    }
    let missing_file = shoplake(dir.path()).args(["--config", "nope.toml", "migrate"]).output().unwrap();
    assert_eq!(missing_file.status.code(), Some(2));
}

/// A shop-001 token made by `shoplake token` with the test secret.
fn shop_token_from_cli(dir: &std::path::Path) -> String {
    let output = shoplake(dir)
        .args(["token", "--role", "shop", "--shop-id", "001"])
        .env("SHOPLAKE_JWT_SECRET", TEST_SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn with_nothing_set_it_runs_on_data_with_a_generated_secret_once() {
    // Arrange: an empty working directory, no configuration at all.
    let dir = tempfile::tempdir().unwrap();
    // Act: first start.
    let server = ServerProcess::start(dir.path(), &[]).await;
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    let first_log = server.terminate();
    // Assert
    assert_eq!(ready.status(), 200);
    let secret = dir.path().join("data/jwt-dev-secret");
    assert!(dir.path().join("data/shoplake.db").exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(first_log.contains("generated a development JWT secret"), "{first_log}");
    let contents = std::fs::read_to_string(&secret).unwrap();
    // Second start reuses it and says nothing about generating.
    let second_log = ServerProcess::start(dir.path(), &[]).await.terminate();
    let second_log = second_log.strip_prefix(first_log.as_str()).unwrap_or(&second_log);
    assert!(!second_log.contains("generated a development JWT secret"), "{second_log}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), contents);
    // A token from `shoplake token` in the same directory is signed with that secret.
    let token = shoplake(dir.path()).args(["token", "--role", "admin"]).output().unwrap();
    assert!(token.status.success());
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_upload_finish() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[("SHOPLAKE_JWT_SECRET", TEST_SECRET)]).await;
    let url = server.url.clone();
    let token = shop_token_from_cli(dir.path());
    let body = sample_csv("2025-07-30", 2000);
    let chunks: Vec<Vec<u8>> = body.as_bytes().chunks(body.len() / 10 + 1).map(|c| c.to_vec()).collect();
    let expected_len = body.len();
    // Act: trickle the body over ~1 s and send SIGTERM half-way.
    let stream = futures_util::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(chunk)
    });
    let request = reqwest::Client::new()
        .post(format!("{url}/v1/shops/001/uploads?date=2025-07-30"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let upload = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let terminated = tokio::task::spawn_blocking(move || server.terminate());
    let response = upload.await.unwrap().expect("the in-flight upload is answered");
    // Assert
    assert!(response.status().is_success(), "{}", response.status());
    let upload: serde_json::Value = response.json().await.unwrap();
    assert_eq!(upload["bytes"], expected_len);
    let log = terminated.await.unwrap();
    assert!(log.contains("shoplake stopped"), "{log}");
}

use futures_util::StreamExt;

/// Runs the data generator into `dir`; returns its JSON summary line.
pub fn generate(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gen_sales.py");
    let output = Command::new("python3").arg(script).arg("--out").arg(dir).args(args).output().expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn ingest_dir_accepts_a_generated_tree_and_rejects_exactly_the_bad_rows() {
    // Arrange: 2 shops x 3 days with 2 % defective rows.
    let dir = tempfile::tempdir().unwrap();
    let facts = generate(
        &dir.path().join("gen"),
        &["--shops", "2", "--days", "3", "--rows-per-file", "400", "--messy", "0.02"],
    );
    // Act
    let output = shoplake(dir.path()).args(["ingest", "--dir", "gen"]).output().unwrap();
    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let rejectable = facts["rows_rejectable"].as_u64().unwrap();
    let rows = facts["rows"].as_u64().unwrap();
    assert!(
        stdout.contains(&format!("6 files: 6 succeeded, 0 duplicate, 0 superseded, 0 rejected, 0 failed; {} rows accepted, {rejectable} rejected", rows - rejectable)),
        "{stdout}"
    );
    for shop in ["001", "002"] {
        for day in ["01", "02", "03"] {
            assert!(dir.path().join(format!("data/processed/shop_id={shop}/date=2025-07-{day}/data.parquet")).exists());
        }
    }
}

#[test]
fn ingest_exits_non_zero_when_a_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.csv"), "sku,quantity\nA,1\n").unwrap();
    let output =
        shoplake(dir.path()).args(["ingest", "--shop", "001", "--date", "2025-07-30", "bad.csv"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("rejected") && stdout.contains("sold_at"), "{stdout}");
    assert!(!dir.path().join("data/processed").exists());
}

#[test]
fn sql_command_prints_the_seed_query_as_a_table_csv_or_json() {
    // Arrange: two shops' files for the seed date, ingested through the CLI.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), sample_csv("2025-07-30", 12)).unwrap();
    std::fs::write(dir.path().join("b.csv"), sample_csv("2025-07-30", 3)).unwrap();
    for (shop, file) in [("001", "a.csv"), ("002", "b.csv")] {
        let status = shoplake(dir.path())
            .args(["ingest", "--shop", shop, "--date", "2025-07-30", file])
            .output()
            .unwrap()
            .status;
        assert!(status.success());
    }
    let seed = "SELECT shop_id, SUM(price * quantity) AS total_sales FROM sales_processed WHERE date = '2025-07-30' GROUP BY shop_id ORDER BY shop_id;";
    // Act
    let table = shoplake(dir.path()).args(["sql", seed]).output().unwrap();
    let csv = shoplake(dir.path()).args(["sql", "--format", "csv", seed]).output().unwrap();
    let json = shoplake(dir.path()).args(["sql", "--format", "json", seed]).output().unwrap();
    // Assert: 12 rows -> 1.49x1 + 2.49x2 + ... computed independently.
    let table_text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{}", String::from_utf8_lossy(&table.stderr));
    assert!(table_text.contains("| shop_id | total_sales"), "{table_text}");
    assert!(table_text.contains(&format!("| 001     | {}", sample_total(12))), "{table_text}");
    let timing = String::from_utf8_lossy(&table.stderr);
    assert!(timing.contains("2 rows in") && timing.contains("2 partitions"), "{timing}");
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout),
        format!("shop_id,total_sales\n001,{}\n002,{}\n", sample_total(12), sample_total(3))
    );
    let body: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(body["rows"][1]["total_sales"], sample_total(3));
}

#[tokio::test]
async fn secrets_and_tokens_never_appear_in_the_logs_even_at_debug_level() {
    // Arrange: the real binary, logging everything of its own at trace level and the HTTP
    // stack at debug.
    let dir = tempfile::tempdir().unwrap();
    let envs = [("SHOPLAKE_JWT_SECRET", TEST_SECRET), ("SHOPLAKE_LOG", "debug,shoplake=trace")];
    let server = ServerProcess::start(dir.path(), &envs).await;
    let url = server.url.clone();
    let token = shop_token_from_cli(dir.path());
    let token = token.as_str();
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJmb3JnZWQtc2VjcmV0LXRva2VuIn0.";
    let client = reqwest::Client::new();

    // Act: an accepted upload, a status read, and a forged token.
    let upload = client
        .post(format!("{url}/v1/shops/001/uploads?date=2025-07-30"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(sample_csv("2025-07-30", 20))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    let listed = client.get(format!("{url}/v1/shops/001/uploads")).bearer_auth(token).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    let refused = client.get(format!("{url}/v1/shops/001/uploads")).bearer_auth(forged).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let log = server.terminate();

    // Assert: the requests were logged in detail, but no secret and no token (nor a piece of one).
    assert!(log.contains("/v1/shops/001/uploads") && log.contains("shoplake stopped"), "{log}");
    for secret in [TEST_SECRET, token, forged, token.split('.').nth(2).unwrap(), token.split('.').nth(1).unwrap()] {
        assert!(!log.contains(secret), "the log shows a secret or token part `{secret}`:\n{log}");
    }
}
