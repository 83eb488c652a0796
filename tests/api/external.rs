//! Other engines read our files directly: DuckDB over `processed/` with Hive partitioning.

use crate::helpers::{sample_csv, sample_total, spawn_app};
use std::process::Command;

/// The Python that has DuckDB: `SHOPLAKE_TEST_PYTHON` (set by scripts/test.sh, which installs
/// it into a venv), else `python3`.
fn python() -> String {
    std::env::var("SHOPLAKE_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[tokio::test]
async fn duckdb_reads_processed_and_gets_the_seed_query_totals_to_the_cent() {
    // Arrange: three shops upload that day (and one the day after, which must not count).
    let app = spawn_app().await;
    let mut expected = std::collections::BTreeMap::new();
    for (shop, rows) in [("001", 17), ("002", 250), ("003", 1)] {
        let body = sample_csv("2025-07-30", rows);
        assert_eq!(app.upload_csv(&app.shop_token(shop), shop, "2025-07-30", body).await.status(), 201);
        expected.insert(shop.to_owned(), sample_total(rows));
    }
    app.upload_csv(&app.shop_token("001"), "001", "2025-07-31", sample_csv("2025-07-31", 9)).await;
    // DuckDB reads a directory; on S3 (its S3 reader is an extension downloaded at run time,
    // which this machine cannot) the objects are copied out byte for byte first.
    let copy = tempfile::tempdir().unwrap();
    for key in app.files().await.into_iter().filter(|k| k.starts_with("processed/")) {
        let target = copy.path().join(&key);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, app.read_object(&key).await.unwrap()).unwrap();
    }
    // Act
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/external/duckdb_seed_query.py");
    let output = Command::new(python()).arg(script).arg(copy.path()).arg("2025-07-30").output().expect("python runs");
    // Assert
    assert!(
        output.status.success(),
        "DuckDB check failed (run the suite with scripts/test.sh, which installs duckdb):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let totals: std::collections::BTreeMap<String, String> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(totals, expected);
}

/// Runs `tests/external/openapi_client.py` with `args` (without blocking the runtime that
/// serves the app it talks to); panics with its output when it fails.
async fn openapi_client(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/external/openapi_client.py");
    let output = tokio::process::Command::new(python())
        .arg(script)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("python runs");
    assert!(
        output.status.success(),
        "openapi_client.py {} failed (run the suite with scripts/test.sh, which installs openapi-spec-validator and openapi-python-client):\n{}{}",
        args[0],
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_served_openapi_document_passes_an_openapi_3_1_validator() {
    // Arrange
    let app = spawn_app().await;
    let document = app.client.get(app.url("/openapi.json")).send().await.unwrap().text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, document).unwrap();
    // Act + Assert: openapi-spec-validator finds no error.
    openapi_client(&["validate", path.to_str().unwrap()]).await;
}

#[tokio::test]
async fn a_python_client_generated_from_the_document_checks_uploads_reads_the_status_and_runs_the_seed_query() {
    // Arrange: the client is generated from the document the running service serves.
    let app = spawn_app().await;
    let document = app.client.get(app.url("/openapi.json")).send().await.unwrap().text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let doc_path = dir.path().join("openapi.json");
    std::fs::write(&doc_path, document).unwrap();
    let out = dir.path().to_str().unwrap();
    openapi_client(&["generate", doc_path.to_str().unwrap(), out]).await;
    let rows = [("001", 12), ("002", 300)];
    for (shop, count) in rows {
        std::fs::write(dir.path().join(format!("{shop}.csv")), sample_csv("2025-07-30", count)).unwrap();
    }
    // Act: check (dry run), upload (multipart and gzip), read each status, run the seed query —
    // generated code only.
    let analyst = app.token(shoplake::domain::Role::Analyst, None);
    let output =
        openapi_client(&["exercise", out, &app.address, &app.shop_token("001"), &app.shop_token("002"), &analyst])
            .await;
    // Assert
    let answer: serde_json::Value = serde_json::from_str(&output).unwrap();
    for (shop, count) in rows {
        assert_eq!(answer["checks"][shop]["status"], "succeeded", "{answer}");
        assert_eq!(answer["checks"][shop]["rows_accepted"], count, "{answer}");
        assert_eq!(answer["uploads"][shop]["status"], "succeeded", "{answer}");
        assert_eq!(answer["uploads"][shop]["rows_accepted"], count, "{answer}");
        assert_eq!(answer["totals"][shop], sample_total(count), "{answer}");
    }
    assert_eq!(answer["totals"].as_object().unwrap().len(), 2, "{answer}");
}
