//! What the document says for every operation alike, added once after the routes' own
//! annotations are collected: the `401` of every secured operation, the headers every answer
//! carries (`X-Request-Id`; `WWW-Authenticate` on 401, `Retry-After` on 503), a description
//! and an example on every response, the formats our naming conventions promise (`*_at` is an
//! RFC 3339 date-time, `date` a `YYYY-MM-DD` date, upload ids UUIDs), and the bounds of the
//! path and query parameters the handlers enforce.

use super::examples;
use crate::http::problems::PROBLEM_TYPES;
use serde_json::{json, Map, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// Refines the collected document in place.
pub fn refine(doc: &mut Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                if let Some(operation) = item.get_mut(method) {
                    refine_operation(path, operation);
                }
            }
        }
    }
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for schema in schemas.values_mut() {
            if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                for (name, property) in properties.iter_mut() {
                    add_format(name, property);
                }
            }
        }
        if let Some(problem_type) = schemas.get_mut("Problem").and_then(|p| p.pointer_mut("/properties/type")) {
            problem_type["format"] = json!("uri-reference");
            problem_type["examples"] = json!(["/problems/invalid-csv"]);
        }
    }
}

fn refine_operation(path: &str, operation: &mut Value) {
    let secured = operation.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    if let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) {
        for parameter in parameters {
            refine_parameter(parameter);
        }
    }
    if let Some(content) = operation.pointer_mut("/requestBody/content").and_then(Value::as_object_mut) {
        for (media_type, body) in content.iter_mut() {
            if body.get("example").is_none() && body.get("examples").is_none() {
                if let Some(example) = examples::request(path, media_type) {
                    body["example"] = example;
                }
            }
        }
    }
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { return };
    if secured && !responses.contains_key("401") {
        responses.insert(
            "401".into(),
            json!({
                "description": "No bearer token, or an invalid or expired one",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
            }),
        );
    }
    for (status, response) in responses.iter_mut() {
        refine_response(path, status, response);
    }
}

fn refine_response(path: &str, status: &str, response: &mut Value) {
    let code: u16 = status.parse().unwrap_or(0);
    if response.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
        response["description"] = json!(default_description(code));
    }
    let description = response["description"].as_str().unwrap_or_default().to_owned();
    let headers = response.as_object_mut().expect("a response object").entry("headers").or_insert_with(|| json!({}));
    let headers = headers.as_object_mut().expect("headers object");
    headers.entry("X-Request-Id").or_insert_with(|| {
        json!({"description": "The request's id (sent by the client, or made by the service): quote it when reporting a problem; it is in the service's log", "schema": {"type": "string"}})
    });
    if code == 401 {
        headers.entry("WWW-Authenticate").or_insert_with(|| {
            json!({"description": "The authentication scheme to use", "schema": {"type": "string", "example": "Bearer realm=\"shoplake\""}})
        });
    }
    if code == 503 {
        headers.entry("Retry-After").or_insert_with(
            || json!({"description": "Seconds to wait before retrying", "schema": {"type": "integer", "minimum": 1}}),
        );
    }
    if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) {
        for (media_type, body) in content.iter_mut() {
            if body.get("example").is_some() || body.get("examples").is_some() {
                continue;
            }
            if let Some(named) = examples::named_responses(body) {
                body["examples"] = named;
                continue;
            }
            let example = if media_type.starts_with("application/problem+json") {
                Some(problem_example(path, code, &description))
            } else {
                examples::response(path, media_type, body)
            };
            if let Some(example) = example {
                body["example"] = example;
            }
        }
    }
}

/// A problem document as the service answers it for `code` on `path` (the route's own problem
/// type where a status has several).
fn problem_example(path: &str, code: u16, description: &str) -> Value {
    let kind = match (path, code) {
        ("/v1/query", 400) => "sql-error",
        ("/v1/query", 403) => "read-only",
        ("/v1/query", 408) => "query-timeout",
        ("/v1/query", 422) => "query-memory",
        ("/v1/shops/{shop_id}/uploads", 408) => "body-timeout",
        (_, 503) if !path.ends_with("/uploads") && path != "/v1/query" => "unavailable",
        _ => PROBLEM_TYPES.iter().find(|p| p.status == code).map_or("bad-request", |p| p.slug),
    };
    let title = axum::http::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let mut example = Map::new();
    example.insert("type".into(), json!(format!("/problems/{kind}")));
    example.insert("title".into(), json!(title));
    example.insert("status".into(), json!(code));
    example.insert("detail".into(), json!(description));
    example.insert(
        "instance".into(),
        json!(path
            .replace("{shop_id}", "001")
            .replace("{upload_id}", examples::UPLOAD_ID)
            .replace("{name}", "sales_processed")),
    );
    if code == 422 && path.ends_with("/uploads") {
        example.insert("upload_id".into(), json!(examples::UPLOAD_ID));
        example.insert(
            "errors".into(),
            json!([{"line": 3, "column": "quantity", "value": "two", "reason": "quantity is not an integer"}]),
        );
    }
    Value::Object(example)
}

fn default_description(code: u16) -> String {
    match code {
        200 => "OK".into(),
        400 => "Bad request: a parameter or the body is malformed; `detail` says which".into(),
        403 => "The token's role or shop does not allow this".into(),
        404 => "Not found".into(),
        other => axum::http::StatusCode::from_u16(other)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Answer")
            .to_owned(),
    }
}

fn refine_parameter(parameter: &mut Value) {
    let name = parameter["name"].as_str().unwrap_or_default().to_owned();
    let location = parameter["in"].as_str().unwrap_or_default().to_owned();
    let schema = parameter.as_object_mut().expect("a parameter object").entry("schema").or_insert_with(|| json!({}));
    match (name.as_str(), location.as_str()) {
        ("shop_id", "path") => {
            schema["pattern"] = json!("^[A-Za-z0-9_-]{1,64}$");
            parameter["example"] = json!("001");
        }
        ("upload_id", "path") => {
            schema["format"] = json!("uuid");
            parameter["example"] = json!(examples::UPLOAD_ID);
        }
        ("name", "path") => parameter["example"] = json!("sales_processed"),
        ("date", "query") => {
            schema["format"] = json!("date");
            parameter["example"] = json!("2025-07-30");
        }
        ("status", "query") => {
            *schema = json!({"oneOf": [{"$ref": "#/components/schemas/UploadStatus"}, {"type": "null"}]});
        }
        ("Idempotency-Key", "header") => {
            schema["minLength"] = json!(1);
            schema["maxLength"] = json!(255);
            schema["pattern"] = json!("^[\\x21-\\x7E]+$");
            parameter["example"] = json!("pos-7-20250730");
        }
        _ => {}
    }
}

/// Formats promised by the field naming conventions.
fn add_format(name: &str, property: &mut Value) {
    let format = match name {
        "id" | "upload_id" | "duplicate_of" | "superseded_by" => "uuid",
        "date" => "date",
        n if n.ends_with("_at") => "date-time",
        _ => return,
    };
    let is_string = match &property["type"] {
        Value::String(t) => t == "string",
        Value::Array(types) => types.iter().any(|t| t == "string"),
        _ => false,
    };
    if is_string && property.get("format").is_none() {
        property["format"] = json!(format);
    }
}
