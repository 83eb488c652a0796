//! Dependencies failing under a running service: storage full or read-only, the database
//! locked or its file removed. The client gets 503 with Retry-After, the upload ends failed (or
//! is never recorded), nothing half-written is visible, and the service recovers without a
//! restart once the dependency is back.

use crate::helpers::{assert_problem, files_in, sample_csv, spawn_app, spawn_app_with, TestApp};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// A small tmpfs mounted for one test (root only: CI runs as root); unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts `size` (like `1m`); `None` when not running as root.
    fn mount(size: &str) -> Option<Self> {
        if !is_root() {
            eprintln!("SKIPPED: mounting a tmpfs needs root; this check runs in CI, which runs as root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        mount(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", path_str(dir.path())]);
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, mode: &str) {
        mount(&["-o", &format!("remount,{mode}"), path_str(self.path())]);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
}

fn mount(args: &[&str]) {
    let status = Command::new("mount").args(args).status().expect("mount runs");
    assert!(status.success(), "mount {args:?} failed");
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// An app whose storage is `storage` and whose database lives elsewhere.
async fn app_on(storage: &Path) -> TestApp {
    spawn_app_with(&[("SHOPLAKE_STORAGE", path_str(storage)), ("SHOPLAKE_DATABASE_TIMEOUT_MS", "300")]).await
}

fn assert_retry_after(response: &reqwest::Response) {
    assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("5"));
}

/// Statuses of shop 001's uploads, newest first.
async fn statuses(app: &TestApp) -> Vec<String> {
    let list: Value = app.list_uploads(&app.admin_token(), "001", "").await.json().await.unwrap();
    list["items"].as_array().unwrap().iter().map(|u| u["status"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn full_storage_gets_503_keeps_the_previous_partition_and_recovers_when_space_is_back() {
    // Arrange: storage on a 1 MiB tmpfs holding one accepted day, and a filler file.
    let Some(disk) = Tmpfs::mount("1m") else { return };
    let app = app_on(disk.path()).await;
    let token = app.shop_token("001");
    assert_eq!(app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 10)).await.status(), 201);
    let partition = disk.path().join("processed/shop_id=001/date=2025-07-30/data.parquet");
    let before = std::fs::read(&partition).unwrap();
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; 700 << 10]).unwrap();
    let files_before = files_in(disk.path());

    // Act: a 20,000-row file (about 1.3 MB) does not fit.
    let response = app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 20_000)).await;

    // Assert
    assert_retry_after(&response);
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(statuses(&app).await, ["failed", "succeeded"]);
    assert_eq!(std::fs::read(&partition).unwrap(), before, "the previous partition is untouched");
    assert_eq!(files_in(disk.path()), files_before, "nothing half-written is left");
    // Space is back: the same service accepts the file.
    std::fs::remove_file(&filler).unwrap();
    let retried = app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 5_000)).await;
    assert_eq!(retried.status(), 201);
}

#[tokio::test]
async fn read_only_storage_gets_503_writes_nothing_and_recovers_when_writable_again() {
    // Arrange: storage on a tmpfs that turns read-only (as a failing disk does; root ignores
    // file permissions, not a read-only mount).
    let Some(disk) = Tmpfs::mount("8m") else { return };
    let app = app_on(disk.path()).await;
    let token = app.shop_token("001");
    assert_eq!(app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 10)).await.status(), 201);
    let files_before = files_in(disk.path());
    disk.remount("ro");

    // Act
    let response = app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 20)).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();

    // Assert
    assert_retry_after(&response);
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(statuses(&app).await, ["failed", "succeeded"]);
    assert_eq!(ready.status(), 503);
    assert_eq!(files_in(disk.path()), files_before);
    disk.remount("rw");
    let retried = app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 20)).await;
    assert_eq!(retried.status(), 201);
    assert_eq!(app.client.get(app.url("/readyz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn locked_database_gets_503_with_retry_after_and_recovers_when_released() {
    // Arrange: another process holds an exclusive lock on the state database.
    let app = spawn_app_with(&[("SHOPLAKE_DATABASE_TIMEOUT_MS", "300")]).await;
    let token = app.shop_token("001");
    assert_eq!(app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 10)).await.status(), 201);
    let files_before = app.files().await;
    let db = app.database().await;
    let mut locker = db.acquire().await.unwrap();
    sqlx::raw_sql("begin exclusive").execute(&mut *locker).await.unwrap();

    // Act
    let response = app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 20)).await;

    // Assert: refused before anything was stored.
    assert_retry_after(&response);
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(app.files().await, files_before);
    sqlx::raw_sql("rollback").execute(&mut *locker).await.unwrap();
    drop(locker);
    let retried = app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 20)).await;
    assert_eq!(retried.status(), 201);
    let list: Value = app.list_uploads(&app.admin_token(), "001", "?status=processing").await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "no upload is left in flight: {list}");
}

#[tokio::test]
async fn removed_database_file_gets_503_and_no_upload_is_accepted_into_a_ghost_file() {
    // Arrange: the SQLite file (and its WAL) is deleted under the running service; SQLite
    // would go on writing into the unlinked file, and every answer would be forgotten.
    let app = spawn_app().await;
    let token = app.shop_token("001");
    assert_eq!(app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 10)).await.status(), 201);
    let files_before = app.files().await;
    let db_file = app.settings.database_url.trim_start_matches("sqlite://").to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db_file}{suffix}"));
    }

    // Act
    let response = app.upload_csv(&token, "001", "2025-07-30", sample_csv("2025-07-30", 20)).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();

    // Assert
    assert_retry_after(&response);
    let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(!problem["detail"].as_str().unwrap().contains(&db_file), "no internals in 5xx: {problem}");
    assert_eq!(ready.status(), 503);
    assert_eq!(app.files().await, files_before, "nothing was stored");
}

#[tokio::test]
async fn an_upload_refused_with_503_can_be_retried_with_the_same_idempotency_key() {
    // Arrange: the database is locked for the first attempt only.
    let app = spawn_app_with(&[("SHOPLAKE_DATABASE_TIMEOUT_MS", "300")]).await;
    let token = app.shop_token("001");
    let db = app.database().await;
    let mut locker = db.acquire().await.unwrap();
    sqlx::raw_sql("begin exclusive").execute(&mut *locker).await.unwrap();
    let send = || {
        app.client
            .post(app.url("/v1/shops/001/uploads?date=2025-07-30"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .header("idempotency-key", "pos-7-2025-07-30")
            .body(sample_csv("2025-07-30", 30))
            .send()
    };
    // Act
    let first = send().await.unwrap();
    sqlx::raw_sql("rollback").execute(&mut *locker).await.unwrap();
    drop(locker);
    let second = send().await.unwrap();
    let third = send().await.unwrap();
    // Assert: the key was not burnt by the failed attempt.
    assert_eq!(first.status(), 503);
    assert_eq!(second.status(), 201);
    assert_eq!(third.status(), 200);
}
