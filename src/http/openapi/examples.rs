//! Examples of every request and response body, from the contract's own: shop 001's file for
//! 2025-07-30, its upload resource, the seed query and its answer.

use serde_json::{json, Value};

/// The upload id the examples share (a UUIDv7).
pub const UPLOAD_ID: &str = "0198a5c2-7f3e-7c41-9b1a-2f6d3e8a4b10";

/// A shop's daily file in the contract's columns.
pub const SALES_CSV: &str = "transaction_id,sold_at,sku,product_name,quantity,unit_price,currency,payment_method\n\
T-1001,2025-07-30T09:14:05,SKU-MILK-1L,Milk 1 L,2,1.19,EUR,card\n\
T-1002,2025-07-30T09:20:41,SKU-BREAD,\"Bread, rye\",1,2.49,EUR,cash\n";

fn upload(status: &str) -> Value {
    let (superseded_by, finished) = match status {
        "superseded" => (json!("0198a5d0-1b22-7a9c-8e55-6c1f0d2b3a77"), json!("2025-07-30T21:02:11.482Z")),
        _ => (Value::Null, json!("2025-07-30T21:02:11.482Z")),
    };
    json!({
        "id": UPLOAD_ID,
        "shop_id": "001",
        "date": "2025-07-30",
        "status": status,
        "filename": "sales-2025-07-30.csv",
        "bytes": 214,
        "sha256": "9f2b6c1e4d8a7f3b2c5e1d9a8b7c6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a",
        "rows_total": 2,
        "rows_accepted": 2,
        "rows_rejected": 0,
        "errors": [],
        "problem": null,
        "raw_key": format!("raw/shop_id=001/date=2025-07-30/{UPLOAD_ID}.csv"),
        "processed_key": "processed/shop_id=001/date=2025-07-30/data.parquet",
        "superseded_by": superseded_by,
        "received_at": "2025-07-30T21:02:11.391Z",
        "finished_at": finished,
        "duplicate_of": null
    })
}

fn columns() -> Value {
    json!([
        {"name": "transaction_id", "type": "string"},
        {"name": "sold_at", "type": "timestamp"},
        {"name": "sku", "type": "string"},
        {"name": "product_name", "type": "string"},
        {"name": "quantity", "type": "bigint"},
        {"name": "price", "type": "decimal(18,4)"},
        {"name": "currency", "type": "string"},
        {"name": "payment_method", "type": "string"}
    ])
}

fn table() -> Value {
    json!({
        "name": "sales_processed",
        "location": "s3://retail-lake/lake/processed/",
        "columns": columns(),
        "partition_keys": ["shop_id", "date"],
        "partitions": 1500,
        "rows": 3000000,
        "bytes": 110000000,
        "updated_at": "2025-07-30T21:02:11.482Z"
    })
}

fn partition() -> Value {
    json!({
        "shop_id": "001",
        "date": "2025-07-30",
        "location": "processed/shop_id=001/date=2025-07-30/data.parquet",
        "rows": 2,
        "bytes": 2525,
        "schema_fingerprint": "c1f0e2d3",
        "updated_at": "2025-07-30T21:02:11.482Z"
    })
}

/// A dry run's report of a file with one bad row and one column the table does not have yet.
fn check_report() -> Value {
    json!({
        "dry_run": true,
        "date": "2025-07-30",
        "filename": "sales-2025-07-30.csv",
        "bytes": 301,
        "sha256": "4b1d0e6f2a9c8b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d",
        "status": "succeeded",
        "rows_total": 3,
        "rows_accepted": 2,
        "rows_rejected": 1,
        "errors": [{"line": 4, "column": "quantity", "value": "two", "reason": "quantity is not an integer"}],
        "problem": null,
        "new_columns": [{"name": "loyalty_card", "type": "string"}],
        "schema_problem": null,
        "encoding": "utf-8",
        "delimiter": ","
    })
}

/// Named examples of a response content whose body has several shapes (chosen by its schema):
/// the upload route's `200` is the earlier upload, or a dry run's report.
pub fn named_responses(body: &Value) -> Option<Value> {
    match body.pointer("/schema/$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
        Some("UploadOrCheckReport") => Some(json!({
            "earlier_upload": {
                "summary": "Same bytes as the shop-day's current upload, or an Idempotency-Key replay",
                "value": upload("succeeded")
            },
            "dry_run": {"summary": "?dry_run=true: what an upload of these bytes would do", "value": check_report()}
        })),
        _ => None,
    }
}

/// The example of a request body of `path` in `media_type`.
pub fn request(path: &str, media_type: &str) -> Option<Value> {
    match (path, media_type) {
        ("/v1/shops/{shop_id}/uploads", "text/csv") => Some(json!(SALES_CSV)),
        ("/v1/shops/{shop_id}/uploads", "multipart/form-data") => Some(json!({"file": SALES_CSV})),
        ("/v1/query", "application/json") => Some(json!({
            "sql": "SELECT shop_id, SUM(price * quantity) AS total_sales FROM sales_processed WHERE date = '2025-07-30' GROUP BY shop_id;"
        })),
        _ => None,
    }
}

/// The example of a successful response of `path` in `media_type` whose content is `body`
/// (chosen by its schema, else by route).
pub fn response(path: &str, media_type: &str, body: &Value) -> Option<Value> {
    let schema = body.pointer("/schema/$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next());
    let example = match schema {
        Some("HealthDto") => json!({"status": "ok"}),
        Some("UploadDto") if path == "/v1/uploads/{upload_id}" => upload("superseded"),
        Some("UploadDto") => upload("succeeded"),
        Some("UploadListDto") => json!({"items": [upload("succeeded")], "next_cursor": UPLOAD_ID}),
        Some("QueryResultDto") => json!({
            "columns": [{"name": "shop_id", "type": "varchar"}, {"name": "total_sales", "type": "decimal(38,4)"}],
            "rows": [{"shop_id": "001", "total_sales": "4.8700"}, {"shop_id": "002", "total_sales": "1250.5000"}],
            "truncated": false,
            "stats": {"elapsed_ms": 8.4, "partitions_scanned": 2, "files_scanned": 2, "bytes_scanned": 5050, "rows_returned": 2}
        }),
        Some("TableListDto") => json!({"items": [table()], "next_cursor": null}),
        Some("TableInfo") => table(),
        Some("PartitionListDto") => json!({"items": [partition()], "next_cursor": "001/2025-07-30"}),
        Some("CrawlReport") => crawl_report(),
        Some("CrawlStatus") => json!({
            "crawler": "shoplake-sales", "state": "idle", "pending": false, "starts": 12, "found_running": 1,
            "requests": 1500, "last_started_at": "2025-07-30T21:07:11Z", "last_error": null
        }),
        Some(_) => return None,
        None => match (path, media_type) {
            ("/metrics", _) => json!(
                "# TYPE shoplake_uploads_total counter\nshoplake_uploads_total{status=\"succeeded\"} 1500\n"
            ),
            ("/v1/uploads/{upload_id}/rejected-rows", _) => json!(
                "transaction_id,sold_at,sku,product_name,quantity,unit_price,currency,payment_method,line,reason\n\
                 T-1003,2025-07-30T09:31:00,SKU-TEA,Tea,two,1.00,EUR,card,4,quantity is not an integer\n"
            ),
            ("/v1/query", "text/csv") => json!("shop_id,total_sales\n001,4.8700\n002,1250.5000\n"),
            ("/v1/catalog/tables/{name}/ddl", _) => json!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS sales_processed (\n  transaction_id string,\n  sold_at timestamp,\n  sku string,\n  product_name string,\n  quantity bigint,\n  price decimal(18,4),\n  currency string,\n  payment_method string\n)\nPARTITIONED BY (shop_id string, date string)\nSTORED AS PARQUET\nLOCATION 's3://retail-lake/lake/processed/';\nALTER TABLE sales_processed ADD IF NOT EXISTS PARTITION (shop_id = '001', date = '2025-07-30') LOCATION 's3://retail-lake/lake/processed/shop_id=001/date=2025-07-30/';\n"
            ),
            _ => return None,
        },
    };
    Some(example)
}

fn crawl_report() -> Value {
    json!({
        "added": ["shop_id=001/date=2025-07-30"],
        "changed": [],
        "missing": [],
        "unchanged": 1499,
        "columns": columns(),
        "elapsed_ms": 840
    })
}
