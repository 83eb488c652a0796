//! Every error is problem+json, including the framework's own rejections; request ids; a
//! corrupt stored row is an error, never a silent default.

use crate::helpers::{assert_problem, sample_csv, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn unknown_route_and_wrong_method_are_problems() {
    let app = spawn_app().await;
    let problem =
        assert_problem(app.client.get(app.url("/v1/nothing")).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    assert_eq!(problem["instance"], "/v1/nothing");
    let wrong_method =
        app.client.delete(app.url("/v1/shops/001/uploads")).bearer_auth(app.admin_token()).send().await.unwrap();
    assert_problem(wrong_method, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn malformed_query_and_multipart_without_file_part_are_problems() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let bad_limit = app.list_uploads(&admin, "001", "?limit=abc").await;
    let problem = assert_problem(bad_limit, StatusCode::BAD_REQUEST).await;
    assert!(problem["detail"].as_str().unwrap().contains("limit"), "{problem}");
    let form = reqwest::multipart::Form::new().text("date", "2025-07-30");
    let no_file =
        app.client.post(app.url("/v1/shops/001/uploads")).bearer_auth(&admin).multipart(form).send().await.unwrap();
    let problem = assert_problem(no_file, StatusCode::BAD_REQUEST).await;
    assert!(problem["detail"].as_str().unwrap().contains("'file'"), "{problem}");
    let broken = app
        .client
        .post(app.url("/v1/shops/001/uploads?date=2025-07-30"))
        .bearer_auth(&admin)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    assert_problem(broken, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_clients() {
    let app = spawn_app().await;
    let generated = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let given = app.client.get(app.url("/nope")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn corrupt_stored_row_errors_answer_500_instead_of_an_empty_list() {
    // Arrange: a processed upload whose stored row errors are then damaged (a bug or a hand edit).
    // (A shop of its own: on PostgreSQL, shop-day locks are shared by the tests running at once.)
    let app = spawn_app().await;
    let token = app.shop_token("rowerrors");
    let upload: serde_json::Value =
        app.upload_csv(&token, "rowerrors", "2025-07-30", sample_csv("2025-07-30", 3)).await.json().await.unwrap();
    let id = upload["id"].as_str().unwrap();
    let db = app.database().await;
    sqlx::query("update uploads set errors = $1 where id = $2")
        .bind("[{\"line\": \"not a line number\"}]")
        .bind(id.to_owned())
        .execute(&db)
        .await
        .unwrap();
    db.close().await;

    // Act
    let one = app.get_upload(&token, id).await;
    let page = app.list_uploads(&token, "rowerrors", "").await;

    // Assert: both fail as a server error instead of showing the upload without its errors.
    assert_problem(one, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_problem(page, StatusCode::INTERNAL_SERVER_ERROR).await;
}
