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
