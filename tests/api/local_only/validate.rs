//! `shoplake validate FILE`, the real binary: the upload's dry run offline — exit code 0 when
//! an upload would accept the file, 1 when it would refuse it, 2 for usage and configuration
//! errors; its JSON is the API's dry-run report; it writes nothing.

use crate::dry_run::post_to_uploads;
use crate::helpers::{files_in, sample_csv, spawn_app};
use crate::server_process::shoplake;
use std::path::Path;
use std::process::Output;

/// Runs `shoplake validate ARGS...` in `dir` (no configuration, no lake there).
fn validate(dir: &Path, args: &[&str]) -> Output {
    shoplake(dir).arg("validate").args(args).output().unwrap()
}

/// `sample_csv` for 2025-07-30 whose rows `bad` have the quantity `two`.
fn with_bad_quantities(rows: usize, bad: &[usize]) -> String {
    let text = sample_csv("2025-07-30", rows);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for row in bad {
        let mut fields: Vec<&str> = lines[row + 1].split(',').collect();
        fields[4] = "two";
        lines[row + 1] = fields.join(",");
    }
    lines.join("\n") + "\n"
}

#[test]
fn validate_exits_0_for_a_file_an_upload_would_accept_and_writes_nothing() {
    // Arrange: a file named after its shop-day.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("2025-07-30.csv"), sample_csv("2025-07-30", 12)).unwrap();
    // Act
    let output = validate(dir.path(), &["2025-07-30.csv"]);
    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("2025-07-30.csv (2025-07-30): would be accepted"), "{stdout}");
    assert!(stdout.contains("12 rows: 12 accepted, 0 rejected"), "{stdout}");
    assert_eq!(files_in(dir.path()), ["2025-07-30.csv"], "validate wrote something");
}

#[test]
fn validate_exits_1_with_the_problem_and_the_row_errors_when_the_file_would_be_rejected() {
    // Arrange: every row bad (too many rejected), and a file lacking required columns.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad-rows.csv"), with_bad_quantities(3, &[0, 1, 2])).unwrap();
    std::fs::write(dir.path().join("2025-07-30.csv"), "sku,quantity\nA,1\n").unwrap();
    // Act
    let bad_rows = validate(dir.path(), &["--date", "2025-07-30", "bad-rows.csv"]);
    let no_columns = validate(dir.path(), &["2025-07-30.csv"]);
    // Assert
    let stdout = String::from_utf8_lossy(&bad_rows.stdout);
    assert_eq!(bad_rows.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("would be REJECTED: 3 of 3 rows were rejected"), "{stdout}");
    for line in [2, 3, 4] {
        assert!(stdout.lines().any(|l| l.trim_start().starts_with(&format!("{line}  quantity"))), "{stdout}");
    }
    let stdout = String::from_utf8_lossy(&no_columns.stdout);
    assert_eq!(no_columns.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("would be REJECTED") && stdout.contains("sold_at"), "{stdout}");
}

#[test]
fn validate_exits_2_for_usage_and_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sales.csv"), sample_csv("2025-07-30", 2)).unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["sales.csv"], "--date"),
        (&["--date", "30/07/2025", "sales.csv"], "--date"),
        (&["--date", "2025-07-30", "missing.csv"], "missing.csv"),
    ];
    for (args, named) in cases {
        let output = validate(dir.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    let bad_config = shoplake(dir.path())
        .args(["validate", "--date", "2025-07-30", "sales.csv"])
        .env("SHOPLAKE_MAX_UPLOAD_BYTES", "lots")
        .output()
        .unwrap();
    assert_eq!(bad_config.status.code(), Some(2));
}

#[tokio::test]
async fn validate_json_is_the_report_the_api_dry_run_answers_for_the_same_bytes() {
    // Arrange: a file with two bad rows, checked by a running service and by the CLI.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let body = with_bad_quantities(60, &[3, 40]);
    std::fs::write(dir.path().join("2025-07-30.csv"), &body).unwrap();
    // Act
    let headers = [("content-type", "text/csv"), ("content-disposition", "attachment; filename=\"2025-07-30.csv\"")];
    let query = "dry_run=true&date=2025-07-30";
    let api = post_to_uploads(&app, &app.shop_token("001"), "001", query, &headers, body).await;
    let api: serde_json::Value = api.json().await.unwrap();
    let output = validate(dir.path(), &["--format", "json", "2025-07-30.csv"]);
    // Assert
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(cli, api);
    assert_eq!(cli["rows_rejected"], 2);
}
