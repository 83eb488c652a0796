//! Tests of `QueryEngine` over small Hive-partitioned Parquet lakes written into a temp dir.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{
    ArrayRef, Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use serde_json::json;

use super::*;
use crate::query::{to_json, QueryError};

const SEED: &str = "SELECT shop_id, SUM(price * quantity) AS total_sales FROM sales_processed WHERE date = '2025-07-30' GROUP BY shop_id;";
const DATES: [&str; 3] = ["2025-07-29", "2025-07-30", "2025-07-31"];
const SHOPS: [&str; 2] = ["001", "002"];

/// One sale: quantity and price in ten-thousandths (Decimal(18,4) raw value).
#[derive(Clone, Copy)]
struct Sale {
    quantity: i64,
    price_e4: i128,
}

fn sales_schema(extra: &[&str]) -> SchemaRef {
    let mut fields = vec![
        Field::new("transaction_id", DataType::Utf8, false),
        Field::new("sold_at", DataType::Timestamp(TimeUnit::Microsecond, None), false),
        Field::new("sku", DataType::Utf8, false),
        Field::new("product_name", DataType::Utf8, true),
        Field::new("quantity", DataType::Int64, false),
        Field::new("price", DataType::Decimal128(18, 4), false),
        Field::new("currency", DataType::Utf8, true),
        Field::new("payment_method", DataType::Utf8, true),
    ];
    fields.extend(extra.iter().map(|name| Field::new(*name, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

/// Writes `processed/shop_id={shop}/date={date}/data.parquet`; extra columns get "x-{row}".
fn write_partition(root: &Path, shop: &str, date: &str, sales: &[Sale], extra: &[&str]) {
    let schema = sales_schema(extra);
    let n = sales.len();
    let midnight = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let text =
        |prefix: &str| -> ArrayRef { Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("{prefix}-{i}")))) };
    let mut columns: Vec<ArrayRef> = vec![
        text(&format!("{shop}-{date}")),
        Arc::new(TimestampMicrosecondArray::from_iter_values((0..n as i64).map(|i| midnight + i * 1_000_000))),
        text("sku"),
        text("name"),
        Arc::new(Int64Array::from_iter_values(sales.iter().map(|s| s.quantity))),
        Arc::new(
            Decimal128Array::from_iter_values(sales.iter().map(|s| s.price_e4))
                .with_precision_and_scale(18, 4)
                .unwrap(),
        ),
        Arc::new(StringArray::from_iter_values((0..n).map(|_| "EUR"))),
        Arc::new(StringArray::from_iter_values((0..n).map(|_| "card"))),
    ];
    columns.extend(extra.iter().map(|_| text("x")));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    let dir = root.join(format!("shop_id={shop}/date={date}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut writer = ArrowWriter::try_new(File::create(dir.join("data.parquet")).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn table(root: &Path, extra: &[&str]) -> TableSource {
    TableSource {
        name: "sales_processed".into(),
        root: format!("file://{}/", root.display()),
        file_schema: sales_schema(extra),
        partition_columns: vec!["shop_id".into(), "date".into()],
        files: None,
    }
}

fn engine_with(limits: QueryLimits) -> QueryEngine {
    QueryEngine::new(limits, None)
}

fn engine() -> QueryEngine {
    engine_with(QueryLimits::default())
}

/// Deterministic sales for a shop-day, varied so totals are not trivially equal.
fn sales_for(shop_index: usize, day_index: usize) -> Vec<Sale> {
    (0..7)
        .map(|i| Sale {
            quantity: if i == 3 { -1 } else { (i + shop_index + 1) as i64 },
            price_e4: 12_345 + (i as i128) * 1_001 + (day_index as i128) * 77 + (shop_index as i128) * 5,
        })
        .collect()
}

/// The 3 dates x 2 shops lake; returns the expected seed totals per shop (exact, 4 decimals).
fn three_dates_two_shops(root: &Path) -> BTreeMap<String, String> {
    let mut expected = BTreeMap::new();
    for (s, shop) in SHOPS.iter().enumerate() {
        for (d, date) in DATES.iter().enumerate() {
            let sales = sales_for(s, d);
            write_partition(root, shop, date, &sales, &[]);
            if *date == "2025-07-30" {
                let total: i128 = sales.iter().map(|x| x.price_e4 * x.quantity as i128).sum();
                expected.insert(shop.to_string(), format!("{}.{:04}", total / 10_000, total % 10_000));
            }
        }
    }
    expected
}

fn rows(output: &QueryOutput) -> Vec<serde_json::Value> {
    to_json(output)["rows"].as_array().unwrap().clone()
}

#[tokio::test]
async fn seed_query_runs_verbatim_with_exact_totals_and_prunes_to_one_date() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let expected = three_dates_two_shops(dir.path());
    // Act
    let output = engine().execute(SEED, &[table(dir.path(), &[])]).await.unwrap();
    // Assert
    let mut got = BTreeMap::new();
    for row in rows(&output) {
        got.insert(row["shop_id"].as_str().unwrap().to_string(), row["total_sales"].as_str().unwrap().to_string());
    }
    assert_eq!(got, expected);
    assert_eq!(output.columns[0].data_type, "varchar");
    assert!(output.columns[1].data_type.starts_with("decimal("), "{:?}", output.columns);
    assert_eq!(output.stats.files_scanned, 2);
    assert_eq!(output.stats.partitions_scanned, 2);
    assert_eq!(output.stats.rows_returned, 2);
    assert!(output.stats.bytes_scanned > 0);
    assert!(!output.truncated);
}

#[tokio::test]
async fn a_query_without_partition_filter_scans_every_file() {
    let dir = tempfile::tempdir().unwrap();
    three_dates_two_shops(dir.path());
    let sql = "SELECT shop_id, date, SUM(quantity) AS q FROM sales_processed GROUP BY shop_id, date";
    let output = engine().execute(sql, &[table(dir.path(), &[])]).await.unwrap();
    assert_eq!(output.stats.files_scanned, 6);
    assert_eq!(output.stats.partitions_scanned, 6);
    assert_eq!(output.stats.rows_returned, 6);

    let one_shop = "SELECT count(*) AS n FROM sales_processed WHERE shop_id = '002' AND date >= '2025-07-30'";
    let output = engine().execute(one_shop, &[table(dir.path(), &[])]).await.unwrap();
    assert_eq!(rows(&output), vec![json!({"n": 14})]);
    assert_eq!(output.stats.files_scanned, 2);
}

#[tokio::test]
async fn a_partition_written_after_a_query_is_seen_by_the_next_query() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let tables = [table(dir.path(), &[])];
    write_partition(dir.path(), "001", "2025-07-30", &sales_for(0, 0), &[]);
    let sql = "SELECT count(*) AS n FROM sales_processed";
    assert_eq!(rows(&engine.execute(sql, &tables).await.unwrap()), vec![json!({"n": 7})]);

    write_partition(dir.path(), "003", "2025-07-30", &sales_for(1, 1), &[]);
    assert_eq!(rows(&engine.execute(sql, &tables).await.unwrap()), vec![json!({"n": 14})]);
    // A replaced file (same path, new content) is read anew, not through a stale footer cache.
    write_partition(dir.path(), "003", "2025-07-30", &sales_for(1, 1)[..2], &[]);
    assert_eq!(rows(&engine.execute(sql, &tables).await.unwrap()), vec![json!({"n": 9})]);
}

#[tokio::test]
async fn an_old_partition_without_a_new_column_reads_it_as_null() {
    // Arrange: the old file lacks `loyalty_id`, the new one has it; the table has both.
    let dir = tempfile::tempdir().unwrap();
    write_partition(dir.path(), "001", "2025-07-29", &sales_for(0, 0)[..1], &[]);
    write_partition(dir.path(), "001", "2025-07-30", &sales_for(0, 1)[..1], &["loyalty_id"]);
    // Act
    let sql = "SELECT date, loyalty_id, quantity FROM sales_processed ORDER BY date";
    let output = engine().execute(sql, &[table(dir.path(), &["loyalty_id"])]).await.unwrap();
    // Assert
    assert_eq!(
        rows(&output),
        vec![
            json!({"date": "2025-07-29", "loyalty_id": null, "quantity": 1}),
            json!({"date": "2025-07-30", "loyalty_id": "x-0", "quantity": 1}),
        ]
    );
    let filtered = "SELECT count(*) AS n FROM sales_processed WHERE loyalty_id IS NULL";
    let output = engine().execute(filtered, &[table(dir.path(), &["loyalty_id"])]).await.unwrap();
    assert_eq!(rows(&output), vec![json!({"n": 1})]);
}

#[tokio::test]
async fn forbidden_statements_are_refused_and_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    three_dates_two_shops(dir.path());
    let out = dir.path().join("copied.parquet");
    let engine = engine();
    let tables = [table(dir.path(), &[])];
    for sql in [
        "INSERT INTO sales_processed SELECT * FROM sales_processed".to_string(),
        "DELETE FROM sales_processed".to_string(),
        "DROP TABLE sales_processed".to_string(),
        "CREATE TABLE t AS SELECT 1".to_string(),
        "CREATE VIEW v AS SELECT 1".to_string(),
        "CREATE EXTERNAL TABLE etc STORED AS CSV LOCATION '/etc/passwd'".to_string(),
        format!("COPY (SELECT * FROM sales_processed) TO '{}'", out.display()),
        "SET datafusion.execution.target_partitions = 1".to_string(),
        "SELECT 1 AS x INTO t2".to_string(),
    ] {
        let err = engine.execute(&sql, &tables).await.unwrap_err();
        assert!(matches!(err, QueryError::NotReadOnly(_)), "{sql}: {err:?}");
    }
    assert!(!out.exists());
    let output = engine.execute("SELECT count(*) AS n FROM sales_processed", &tables).await.unwrap();
    assert_eq!(rows(&output), vec![json!({"n": 42})]);
}

#[tokio::test]
async fn files_outside_the_tables_cannot_be_read_by_path_or_table_function() {
    let dir = tempfile::tempdir().unwrap();
    three_dates_two_shops(dir.path());
    let inside = dir.path().join("shop_id=001/date=2025-07-30/data.parquet");
    let tables = [table(dir.path(), &[])];
    for sql in [
        "SELECT * FROM '/etc/passwd'".to_string(),
        "SELECT * FROM 'file:///etc/passwd'".to_string(),
        format!("SELECT * FROM '{}'", inside.display()),
        format!("SELECT * FROM \"{}\"", inside.display()),
        format!("SELECT * FROM read_parquet('{}')", inside.display()),
        "SELECT * FROM read_csv('/etc/passwd')".to_string(),
        format!("SELECT * FROM parquet_metadata('{}')", inside.display()),
    ] {
        let err = engine().execute(&sql, &tables).await.unwrap_err();
        assert!(matches!(err, QueryError::Sql { .. }), "{sql}: {err:?}");
    }
}

#[tokio::test]
async fn show_describe_and_explain_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    three_dates_two_shops(dir.path());
    let tables = [table(dir.path(), &[])];
    let shown = engine().execute("SHOW TABLES", &tables).await.unwrap();
    assert!(rows(&shown).iter().any(|r| r["table_name"] == "sales_processed"));
    let described = engine().execute("DESCRIBE sales_processed", &tables).await.unwrap();
    assert_eq!(described.stats.rows_returned, 10, "8 file columns + shop_id + date");
    let explained = engine().execute(&format!("EXPLAIN {SEED}"), &tables).await.unwrap();
    assert!(explained.stats.rows_returned >= 2);
    let analyzed = engine().execute(&format!("EXPLAIN ANALYZE {SEED}"), &tables).await.unwrap();
    assert_eq!(analyzed.stats.files_scanned, 2);
}

#[tokio::test]
async fn a_slow_query_is_cancelled_at_the_time_limit() {
    let limits = QueryLimits { timeout: Duration::from_millis(200), ..QueryLimits::default() };
    let sql = "SELECT SUM(value % 7) AS s FROM generate_series(1, 100000000000)";
    let started = std::time::Instant::now();
    let err = engine_with(limits).execute(sql, &[]).await.unwrap_err();
    assert!(matches!(err, QueryError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn rows_beyond_the_limit_are_cut_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    three_dates_two_shops(dir.path());
    let limits = QueryLimits { max_rows: 5, ..QueryLimits::default() };
    let tables = [table(dir.path(), &[])];
    let output = engine_with(limits.clone()).execute("SELECT * FROM sales_processed", &tables).await.unwrap();
    assert_eq!(output.stats.rows_returned, 5);
    assert_eq!(rows(&output).len(), 5);
    assert!(output.truncated);
    let exact = "SELECT * FROM sales_processed WHERE shop_id = '001' AND date = '2025-07-30' LIMIT 5";
    let output = engine_with(limits).execute(exact, &tables).await.unwrap();
    assert_eq!(output.stats.rows_returned, 5);
    assert!(!output.truncated, "exactly max_rows rows is not truncated");
}

#[tokio::test]
async fn a_query_over_the_memory_limit_fails_with_a_clear_error() {
    let limits = QueryLimits { memory_bytes: 256 * 1024, ..QueryLimits::default() };
    for sql in [
        "SELECT value, count(*) AS n FROM generate_series(1, 2000000) GROUP BY value",
        "SELECT value FROM generate_series(1, 2000000) ORDER BY value DESC",
    ] {
        match engine_with(limits.clone()).execute(sql, &[]).await {
            Err(QueryError::MemoryExceeded { limit_bytes, detail }) => {
                assert_eq!(limit_bytes, 256 * 1024);
                assert!(!detail.is_empty());
            }
            other => panic!("{sql}: expected MemoryExceeded, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sql_errors_carry_the_engines_message_and_position() {
    let dir = tempfile::tempdir().unwrap();
    three_dates_two_shops(dir.path());
    let tables = [table(dir.path(), &[])];
    match engine().execute("SELECT shop_id,\n  nope FROM sales_processed", &tables).await {
        Err(QueryError::Sql { message, line, column }) => {
            assert!(message.contains("nope"), "{message}");
            assert_eq!((line, column), (Some(2), Some(3)), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    match engine().execute("SELECT * FROM sales_processed\nWHERE date = = 1", &tables).await {
        Err(QueryError::Sql { message, line, column }) => {
            assert_eq!((line, column), (Some(2), Some(14)), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = engine().execute("SELECT * FROM no_such_table", &tables).await.unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
}

#[tokio::test]
async fn values_of_each_type_come_back_in_the_contract_json_shape() {
    let dir = tempfile::tempdir().unwrap();
    write_partition(dir.path(), "001", "2025-07-30", &sales_for(0, 0)[..1], &[]);
    let sql = "SELECT transaction_id, sold_at, quantity, price, CAST(date AS DATE) AS day, \
               CAST(NULL AS BIGINT) AS nothing, quantity > 0 AS positive, 0.5 AS half \
               FROM sales_processed";
    let output = engine().execute(sql, &[table(dir.path(), &[])]).await.unwrap();
    let body = to_json(&output);
    assert_eq!(
        body["rows"],
        json!([{
            "transaction_id": "001-2025-07-30-0",
            "sold_at": "2025-07-30T09:00:00",
            "quantity": 1,
            "price": "1.2345",
            "day": "2025-07-30",
            "nothing": null,
            "positive": true,
            "half": 0.5,
        }])
    );
    let types: Vec<&str> = output.columns.iter().map(|c| c.data_type.as_str()).collect();
    assert_eq!(types, ["varchar", "timestamp", "bigint", "decimal(18,4)", "date", "bigint", "boolean", "double"]);
    for key in ["elapsed_ms", "partitions_scanned", "files_scanned", "bytes_scanned", "rows_returned"] {
        assert!(body["stats"][key].is_number(), "{key}");
    }
    assert_eq!(body["truncated"], json!(false));
}

#[tokio::test]
async fn a_table_whose_directory_does_not_exist_yet_is_empty_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("processed");
    let output = engine().execute(SEED, &[table(&missing, &[])]).await.unwrap();
    assert_eq!(output.stats.rows_returned, 0);
    assert_eq!(output.stats.files_scanned, 0);
    assert_eq!(to_json(&output)["rows"], json!([]));
    assert_eq!(output.columns.len(), 2);
}

#[tokio::test]
async fn a_thousand_chained_terms_are_refused_with_a_clear_error_not_a_stack_overflow() {
    for sql in [
        format!("SELECT {}", vec!["1"; 1000].join("+")),
        format!("SELECT 1 WHERE {}", (0..1000).map(|i| format!("{i} = 1")).collect::<Vec<_>>().join(" OR ")),
    ] {
        match engine().execute(&sql, &[]).await {
            Err(QueryError::Limit(message)) => assert!(message.contains("deep"), "{message}"),
            other => panic!("expected a limit error, got {other:?}"),
        }
    }
    // The engine still answers.
    assert_eq!(engine().execute("SELECT 1+1 AS two", &[]).await.unwrap().stats.rows_returned, 1);
}

#[tokio::test]
async fn functions_that_would_allocate_past_the_cap_are_refused_before_allocating() {
    for sql in [
        "SELECT length(repeat('a', 2000000000)) AS n",
        "SELECT length(lpad('a', 2000000000)) AS n",
        "SELECT array_length(array_repeat(1, 2000000000)) AS n",
        "SELECT cardinality(range(0, 100000000000)) AS n",
        "SELECT SUM(length(repeat(CAST(value AS VARCHAR), 20000))) AS n FROM generate_series(1, 200000)",
        "SELECT length(replace(repeat('a', 100000), 'a', repeat('b', 10000))) AS n",
        "SELECT length(regexp_replace(repeat('a', 100000), 'a', repeat('b', 10000), 'g')) AS n",
        "SELECT cardinality(array_resize([1], 2000000000)) AS n",
    ] {
        match engine().execute(sql, &[]).await {
            Err(QueryError::MemoryExceeded { detail, .. }) => {
                assert!(detail.contains("per function call"), "{sql}: {detail}")
            }
            other => panic!("{sql}: expected a memory error, got {other:?}"),
        }
    }
    // Ordinary uses stay allowed.
    let output = engine().execute("SELECT repeat('ab', 3) AS r, lpad('7', 3, '0') AS p", &[]).await.unwrap();
    assert_eq!(rows(&output)[0]["r"], "ababab");
    assert_eq!(rows(&output)[0]["p"], "007");
}

#[tokio::test]
async fn a_cpu_bound_query_past_its_time_limit_is_stopped_and_gives_its_slot_back() {
    // One slot: the second query can only run once the first one's task has really stopped.
    let limits = QueryLimits { timeout: Duration::from_millis(300), max_concurrent: 1, ..QueryLimits::default() };
    let engine = engine_with(limits);
    let cross =
        "SELECT SUM(a.value * b.value % 7) AS n FROM generate_series(1, 200000) a, generate_series(1, 200000) b";
    let err = engine.execute(cross, &[]).await.unwrap_err();
    assert!(matches!(err, QueryError::Timeout { .. }), "{err:?}");
    let after = engine.execute("SELECT 1 AS one", &[]).await;
    assert!(after.is_ok(), "the slot was not given back: {after:?}");
}

#[tokio::test]
async fn queries_beyond_the_concurrency_bound_wait_and_then_are_refused_as_busy() {
    let limits = QueryLimits { timeout: Duration::from_secs(30), max_concurrent: 1, ..QueryLimits::default() };
    let engine = Arc::new(engine_with(limits));
    let long = "SELECT SUM(a.value * b.value) AS n FROM generate_series(1, 200000) a, generate_series(1, 200000) b";
    let busy = Arc::clone(&engine);
    let first = tokio::spawn(async move { busy.execute(long, &[]).await });
    while engine.queries_running() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = engine.execute("SELECT 1 AS one", &[]).await;
    assert!(matches!(second, Err(QueryError::Busy(_))), "{second:?}");
    first.abort();
}
