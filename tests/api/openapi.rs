//! The committed OpenAPI document matches the code; the docs page is served offline.

use crate::helpers::spawn_app;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = shoplake::http::openapi::document_json();
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(COMMITTED, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json differs from the code: run `UPDATE_OPENAPI=1 cargo nextest run openapi` (or `cargo run -- openapi > openapi/openapi.json`) and commit it"
    );
}

#[tokio::test]
async fn served_document_is_openapi_3_1_with_every_route() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    for path in [
        "/v1/shops/{shop_id}/uploads",
        "/v1/uploads/{upload_id}",
        "/v1/uploads/{upload_id}/rejected-rows",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
    assert!(doc["components"]["schemas"].get("UploadDto").is_some());
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
}

#[tokio::test]
async fn docs_page_refers_to_no_other_host() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let initializer =
        app.client.get(app.url("/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
    for text in [&html, &initializer] {
        for needle in ["http://", "https://", "src=\"//", "href=\"//"] {
            assert!(!text.contains(needle), "docs page refers to another host ({needle}):\n{text}");
        }
    }
    assert!(initializer.contains("/openapi.json"));
    // The assets the page loads are served by us.
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"] {
        assert_eq!(app.client.get(app.url(asset)).send().await.unwrap().status(), 200, "{asset}");
    }
}
