//! The committed OpenAPI document matches the code; the docs page is served offline.

use crate::helpers::spawn_app;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = shoplake::http::openapi_json();
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

/// Every operation of the document, as (method, path, operation).
fn operations(doc: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            found.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    found
}

#[test]
fn every_response_has_a_description_an_example_and_the_request_id_header() {
    let doc = serde_json::to_value(shoplake::http::openapi_document()).unwrap();
    for (method, path, operation) in operations(&doc) {
        let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
        let responses = operation["responses"].as_object().unwrap();
        if secured {
            assert!(responses.contains_key("401"), "{method} {path} is secured but documents no 401");
            assert!(responses["401"]["headers"].get("WWW-Authenticate").is_some(), "{method} {path} 401");
        }
        for (status, response) in responses {
            let at = format!("{method} {path} {status}");
            assert!(response["description"].as_str().is_some_and(|d| !d.is_empty()), "{at}: no description");
            assert!(response["headers"].get("X-Request-Id").is_some(), "{at}: no X-Request-Id header");
            if status == "503" {
                assert!(response["headers"].get("Retry-After").is_some(), "{at}: no Retry-After header");
            }
            for (media_type, content) in response["content"].as_object().into_iter().flatten() {
                let named =
                    content["examples"].as_object().is_some_and(|e| e.values().all(|e| e.get("value").is_some()));
                assert!(content.get("example").is_some() || named, "{at} {media_type}: no example");
                if media_type == "application/problem+json" {
                    let kind = content["example"]["type"].as_str().unwrap();
                    let slug = kind.strip_prefix("/problems/").unwrap();
                    assert!(
                        shoplake::http::problems::problem_type(slug).is_some(),
                        "{at}: unknown problem type {kind}"
                    );
                }
            }
        }
        for (media_type, content) in operation["requestBody"]["content"].as_object().into_iter().flatten() {
            // A gzip body is bytes: it has no example a document can show.
            if media_type != "application/gzip" {
                assert!(content.get("example").is_some(), "{method} {path} request {media_type}: no example");
            }
        }
    }
    let upload = &doc["paths"]["/v1/shops/{shop_id}/uploads"]["post"];
    let csv_schema = upload["requestBody"]["content"]["text/csv"]["schema"]["$ref"].as_str().unwrap();
    let csv_schema = &doc["components"]["schemas"][csv_schema.rsplit('/').next().unwrap()];
    assert_eq!((csv_schema["type"].as_str(), csv_schema.get("format")), (Some("string"), None), "the CSV body is text");
    assert!(upload["responses"]["201"]["headers"].get("Location").is_some());
    let query = &doc["paths"]["/v1/query"]["post"]["responses"]["200"]["content"];
    assert!(query.get("text/csv").is_some() && query.get("application/json").is_some(), "{query}");
    let upload_dto = &doc["components"]["schemas"]["UploadDto"]["properties"];
    assert_eq!(upload_dto["id"]["format"], "uuid");
    assert_eq!(upload_dto["date"]["format"], "date");
    assert_eq!(upload_dto["received_at"]["format"], "date-time");
    let list = doc["paths"]["/v1/shops/{shop_id}/uploads"]["get"]["parameters"].as_array().unwrap().clone();
    let limit = list.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!((limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()), (Some(1), Some(500)));
}

#[tokio::test]
async fn every_problem_type_uri_leads_to_a_page_describing_it() {
    // Arrange
    let app = spawn_app().await;
    // Act + Assert: each type the service answers with has its page; an unknown one is 404.
    for problem in shoplake::http::problems::PROBLEM_TYPES {
        let page = app.client.get(app.url(&problem.uri())).send().await.unwrap();
        assert_eq!(page.status(), 200, "{}", problem.uri());
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = page.text().await.unwrap();
        assert!(html.contains(problem.slug) && html.contains(&problem.status.to_string()), "{html}");
    }
    let index = app.client.get(app.url("/problems")).send().await.unwrap().text().await.unwrap();
    assert!(index.contains("/problems/invalid-csv"), "{index}");
    let unknown = app.client.get(app.url("/problems/no-such-thing")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    // A real problem's type is one of them.
    let problem: serde_json::Value =
        app.client.get(app.url("/v1/uploads/not-an-id")).send().await.unwrap().json().await.unwrap();
    let slug = problem["type"].as_str().unwrap().strip_prefix("/problems/").unwrap();
    assert!(shoplake::http::problems::problem_type(slug).is_some(), "{problem}");
}
