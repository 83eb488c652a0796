//! Hostile input: path traversal in every path segment and form field of the API.

use crate::helpers::{assert_problem, sample_csv, spawn_app};
use reqwest::StatusCode;

/// Everything under the test's temporary directory (data and state), relative and sorted.
fn tree(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.to_string_lossy().contains("shoplake.db") {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn path_traversal_in_any_path_segment_or_form_field_is_refused_and_writes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.admin_token();
    let root = app.data_dir.parent().unwrap().to_path_buf();
    let before = tree(&root);
    let objects_before = app.files().await;
    let hostile = ["..%2F..%2Fetc", "001%2F..%2F002", "a%5C..%5Cb", "..%00", "%2F"];

    // Act + Assert: shop ids in the upload and list paths.
    for shop in hostile {
        let upload = app.upload_csv(&admin, shop, "2025-07-30", sample_csv("2025-07-30", 3)).await;
        let problem = assert_problem(upload, StatusCode::BAD_REQUEST).await;
        assert!(problem["detail"].as_str().unwrap().contains("shop_id"), "{shop}: {problem}");
        assert_problem(app.list_uploads(&admin, shop, "").await, StatusCode::BAD_REQUEST).await;
    }
    // Upload ids in the status and rejected-rows paths: no such upload.
    for id in hostile.iter().chain(&["..%2Fshoplake.db"]) {
        assert_problem(app.get_upload(&admin, id).await, StatusCode::NOT_FOUND).await;
        let rejected = app
            .client
            .get(app.url(&format!("/v1/uploads/{id}/rejected-rows")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_problem(rejected, StatusCode::NOT_FOUND).await;
    }
    // Table names in the catalog paths: no such table.
    for name in hostile {
        for tail in ["", "/partitions", "/ddl"] {
            let response =
                app.client.get(app.url(&format!("/v1/catalog/tables/{name}{tail}"))).bearer_auth(&admin).send().await;
            assert_problem(response.unwrap(), StatusCode::NOT_FOUND).await;
        }
    }
    // The multipart `date` field.
    let body = sample_csv("2025-07-30", 3).into_bytes();
    let upload = app.upload_multipart(&admin, "001", "../../../etc", "day.csv", body).await;
    assert_problem(upload, StatusCode::BAD_REQUEST).await;

    // Nothing was written anywhere under the test's directory (the state database aside), nor
    // in storage.
    assert_eq!(tree(&root), before);
    assert_eq!(app.files().await, objects_before);
}
