//! End-to-end tests of `ingest`: fixtures and hand-made bodies in, Parquet read back with the
//! parquet crate and compared value by value and type by type.

use std::io::{Seek, SeekFrom, Write};

use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use arrow::array::AsArray;
use arrow::datatypes::{DataType, Decimal128Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;

use super::*;

const HEADER: &str = "transaction_id,sold_at,sku,product_name,quantity,unit_price,currency,payment_method";
const DAY: &str = "2025-07-30";

fn day() -> NaiveDate {
    NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap()
}

/// The repository's root (this crate lives in `crates/ingest`).
fn repository_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = repository_root().join("tests/fixtures/csv").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The outcome of one ingest: the result, the Parquet read back, the rejected CSV.
struct Run {
    result: Result<IngestReport>,
    batch: Option<RecordBatch>,
    rejected: String,
}

impl Run {
    fn report(&self) -> &IngestReport {
        match &self.result {
            Ok(r) => r,
            Err(e) => panic!("ingest failed: {e}"),
        }
    }
    fn batch(&self) -> &RecordBatch {
        self.batch.as_ref().expect("a parquet file")
    }
    fn strings(&self, col: &str) -> Vec<Option<String>> {
        let a = self.batch().column_by_name(col).unwrap_or_else(|| panic!("column {col}"));
        a.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
    }
    fn ints(&self, col: &str) -> Vec<i64> {
        self.batch().column_by_name(col).unwrap().as_primitive::<Int64Type>().values().to_vec()
    }
    fn prices(&self) -> Vec<i128> {
        self.batch().column_by_name("price").unwrap().as_primitive::<Decimal128Type>().values().to_vec()
    }
    fn reasons(&self) -> Vec<String> {
        self.report().errors.iter().map(|e| e.reason.clone()).collect()
    }
}

fn run_with(body: &[u8], options: &IngestOptions) -> Run {
    let mut parquet = tempfile::tempfile().unwrap();
    let mut rejected = Vec::new();
    let result = ingest(body, day(), options, &mut parquet, &mut rejected);
    parquet.seek(SeekFrom::Start(0)).unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(parquet).ok().map(|b| {
        let schema = b.schema().clone();
        let batches: Vec<RecordBatch> = b.build().unwrap().map(|r| r.unwrap()).collect();
        arrow::compute::concat_batches(&schema, &batches).unwrap()
    });
    Run { result, batch, rejected: String::from_utf8(rejected).unwrap() }
}

fn run(body: &[u8]) -> Run {
    run_with(body, &IngestOptions { max_rejected_fraction: 1.0, ..IngestOptions::default() })
}

fn rows(lines: &[&str]) -> Vec<u8> {
    let mut s = format!("{HEADER}\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.into_bytes()
}

fn row(id: &str, sold_at: &str, qty: &str, price: &str, currency: &str) -> String {
    format!("{id},{sold_at},SKU1,Milk,{qty},{price},{currency},card")
}

fn ok_row(id: &str) -> String {
    row(id, "2025-07-30T10:00:00", "1", "1.00", "EUR")
}

#[test]
fn utf8_with_bom_and_crlf_is_read_and_bom_is_not_part_of_a_column_name() {
    let r = run(&fixture("utf8_bom_crlf.csv"));
    assert_eq!(r.report().rows_accepted, 2);
    assert_eq!(r.report().encoding, "utf-8");
    assert_eq!(r.strings("transaction_id"), vec![Some("001-1".into()), Some("001-2".into())]);
    assert_eq!(r.strings("product_name")[0].as_deref(), Some("Café"));
    assert_eq!(r.strings("payment_method")[1].as_deref(), Some("cash"), "CR is not part of the last value");
}

#[test]
fn windows_1252_text_is_detected_and_converted() {
    let r = run(&fixture("windows1252.csv"));
    assert_eq!(r.report().encoding, "windows-1252");
    assert_eq!(r.strings("product_name"), vec![Some("café crème".into()), Some("Straße € 5".into())]);
    assert_eq!(r.prices(), vec![25_000, 30_000], "0x80 is the euro sign before a price");
}

#[test]
fn windows_1252_first_seen_after_the_sniffed_prefix_is_still_converted() {
    let mut body = rows(&[]);
    for i in 0..2000 {
        body.extend_from_slice(ok_row(&format!("id{i}")).as_bytes());
        body.push(b'\n');
    }
    body.extend_from_slice(b"late,2025-07-30T10:00:00,SKU1,caf\xe9,1,1.00,EUR,card\n");
    let r = run(&body);
    assert_eq!(r.report().rows_accepted, 2001);
    assert_eq!(r.report().encoding, "windows-1252");
    assert_eq!(r.strings("product_name")[2000].as_deref(), Some("café"));
}

#[test]
fn invalid_utf8_after_utf8_text_is_undecodable_with_its_line() {
    let mut body = rows(&["a,2025-07-30T10:00:00,SKU1,Café,1,1.00,EUR,card"]);
    body.extend_from_slice(b"b,2025-07-30T10:00:00,SKU1,caf\xe9,1,1.00,EUR,card\n");
    let err = run(&body).result.unwrap_err();
    assert!(matches!(err, IngestError::Undecodable { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("Line 3"), "{err}");
}

#[test]
fn semicolon_files_use_the_decimal_comma() {
    let r = run(&fixture("semicolon_comma_decimal.csv"));
    assert_eq!(r.report().delimiter, b';');
    assert_eq!(r.report().rows_rejected, 0, "{:?}", r.report().errors);
    assert_eq!(r.prices(), vec![12_345_000, 34_900, 5_000]);
    assert_eq!(r.strings("product_name")[1].as_deref(), Some("Tea, green"));
    assert_eq!(r.strings("currency"), vec![Some("EUR".into()); 3], "lower-case and empty currency");
}

#[test]
fn tab_and_pipe_delimiters_are_detected() {
    let tab = run(&fixture("tab_delimited.csv"));
    assert_eq!(tab.report().delimiter, b'\t');
    assert_eq!(tab.prices(), vec![12_345_000]);
    assert_eq!(tab.strings("product_name")[0].as_deref(), Some("Milk, 1l"));
    let pipe = run(&fixture("pipe_delimited.csv"));
    assert_eq!(pipe.report().delimiter, b'|');
    assert_eq!(pipe.strings("product_name")[1].as_deref(), Some("Pipe | inside"));
    assert_eq!(pipe.strings("currency")[1].as_deref(), Some("USD"));
}

#[test]
fn quoted_fields_keep_delimiters_quotes_and_newlines_and_lines_count_physically() {
    let r = run(&fixture("quoted_multiline.csv"));
    let names = r.strings("product_name");
    assert_eq!(names[0].as_deref(), Some("Olive oil, 6 pack"));
    assert_eq!(names[1].as_deref(), Some("Chocolate \"special\""));
    assert_eq!(names[2].as_deref(), Some("Gift box\ntwo lines\nthree"));
    assert_eq!(r.report().errors.len(), 1);
    assert_eq!(r.report().errors[0].line, 7, "the record after a 3-line field starts on line 7");
}

#[test]
fn header_aliases_map_and_unknown_columns_are_kept_as_strings() {
    let r = run(&fixture("aliases_and_extra_columns.csv"));
    let report = r.report();
    assert_eq!(report.rows_accepted, 2, "{:?}", report.errors);
    let fields: Vec<&str> = report.schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        fields,
        [
            "transaction_id",
            "sold_at",
            "sku",
            "product_name",
            "quantity",
            "price",
            "currency",
            "payment_method",
            "Store Note",
            "column_10"
        ]
    );
    assert_eq!(r.batch().schema().field_with_name("Store Note").unwrap().data_type(), &DataType::Utf8);
    assert_eq!(r.strings("Store Note"), vec![Some("window seat".into()), None]);
    assert_eq!(r.strings("column_10"), vec![None, Some("x".into())]);
    assert_eq!(r.strings("payment_method"), vec![Some("card".into()), Some("cash".into())]);
}

#[test]
fn header_only_file_gives_a_valid_parquet_file_with_the_schema_and_no_rows() {
    let r = run(&fixture("header_only.csv"));
    assert_eq!(r.report().rows_total, 0);
    assert!(r.report().parquet_bytes > 0);
    let b = r.batch();
    assert_eq!(b.num_rows(), 0);
    assert_eq!(b.schema().fields().len(), 8);
    assert_eq!(b.schema().field_with_name("price").unwrap().data_type(), &DataType::Decimal128(18, 4));
}

#[test]
fn empty_and_blank_only_bodies_are_refused() {
    assert!(matches!(run(b"").result, Err(IngestError::Empty)));
    assert!(matches!(run(b"\n  \n\t\n").result, Err(IngestError::NoHeader { .. })));
}

#[test]
fn blank_lines_are_skipped_not_counted_and_lines_stay_physical() {
    let r = run(&fixture("blank_lines.csv"));
    assert_eq!(r.report().rows_total, 2);
    assert_eq!(r.report().rows_rejected, 1);
    assert_eq!(r.report().errors[0].line, 7);
    assert_eq!(r.report().errors[0].reason, "quantity must not be zero");
}

#[test]
fn records_with_the_wrong_number_of_fields_are_rejected() {
    let r =
        run(&rows(&[&ok_row("a"), "b,2025-07-30T10:00:00,SKU1,Milk,1,1.00,EUR", &format!("{},extra", ok_row("c"))]));
    assert_eq!(r.reasons(), vec!["expected 8 fields, found 7", "expected 8 fields, found 9"]);
    assert_eq!(r.report().errors[0].column, None);
    let lines: Vec<&str> = r.rejected.lines().collect();
    assert_eq!(lines[1], "b,2025-07-30T10:00:00,SKU1,Milk,1,1.00,EUR,,3,\"expected 8 fields, found 7\"");
    assert_eq!(lines[2], "c,2025-07-30T10:00:00,SKU1,Milk,1,1.00,EUR,card,4,\"expected 8 fields, found 9\",extra");
}

#[test]
fn accepted_price_forms_are_stored_exactly() {
    let r = run(&rows(&[
        &row("a", "2025-07-30T10:00:00", "1", "\"€1,234.50\"", "EUR"),
        &row("b", "2025-07-30T10:00:00", "1", "1234.5", "EUR"),
        &row("c", "2025-07-30T10:00:00", "1", "€3.49", "EUR"),
        &row("d", "2025-07-30T10:00:00", "1", "EUR 3.49", "EUR"),
        &row("e", "2025-07-30T10:00:00", "1", "3.49 €", "EUR"),
        &row("f", "2025-07-30T10:00:00", "1", " 0.0001 ", "EUR"),
        &row("g", "2025-07-30T10:00:00", "1", "0", "EUR"),
    ]));
    assert_eq!(r.report().rows_rejected, 0, "{:?}", r.report().errors);
    assert_eq!(r.prices(), vec![12_345_000, 12_345_000, 34_900, 34_900, 34_900, 1, 0]);
}

#[test]
fn bad_prices_are_rejected_with_a_reason_and_never_rounded() {
    let r = run(&rows(&[
        &row("a", "2025-07-30T10:00:00", "1", "-1.00", "EUR"),
        &row("b", "2025-07-30T10:00:00", "1", "1.23456", "EUR"),
        &row("c", "2025-07-30T10:00:00", "1", "\"12,50\"", "EUR"),
        &row("d", "2025-07-30T10:00:00", "1", "abc", "EUR"),
        &row("e", "2025-07-30T10:00:00", "1", "", "EUR"),
    ]));
    assert_eq!(r.report().rows_accepted, 0);
    let reasons = r.reasons();
    assert_eq!(reasons[0], "price must not be negative");
    assert_eq!(reasons[1], "price has more than 4 decimals");
    assert!(reasons[2].contains("groups of three digits"), "{}", reasons[2]);
    assert_eq!(reasons[3], "price is not a number");
    assert_eq!(reasons[4], "price is required but empty");
    assert!(r.report().errors.iter().all(|e| e.column.as_deref() == Some("price")));
    assert_eq!(r.report().errors[1].value.as_deref(), Some("1.23456"));
}

#[test]
fn quantity_forms_are_whole_numbers_and_zero_is_rejected() {
    let r = run(&rows(&[
        &row("a", "2025-07-30T10:00:00", "+3", "1", "EUR"),
        &row("b", "2025-07-30T10:00:00", "03", "1", "EUR"),
        &row("c", "2025-07-30T10:00:00", "3.0", "1", "EUR"),
        &row("d", "2025-07-30T10:00:00", "-2", "1", "EUR"),
        &row("e", "2025-07-30T10:00:00", "3.5", "1", "EUR"),
        &row("f", "2025-07-30T10:00:00", "0", "1", "EUR"),
        &row("g", "2025-07-30T10:00:00", "two", "1", "EUR"),
    ]));
    assert_eq!(r.ints("quantity"), vec![3, 3, 3, -2]);
    assert_eq!(
        r.reasons(),
        vec!["quantity must be a whole number", "quantity must not be zero", "quantity is not a number"]
    );
}

#[test]
fn sold_at_forms_keep_the_written_wall_clock_and_must_be_on_the_upload_date() {
    let r = run(&rows(&[
        &row("a", "2025-07-30T14:03:27", "1", "1", "EUR"),
        &row("b", "2025-07-30 14:03:27", "1", "1", "EUR"),
        &row("c", "2025-07-30T14:03:27.250Z", "1", "1", "EUR"),
        &row("d", "2025-07-30T23:30:00-05:00", "1", "1", "EUR"),
        &row("e", "2025-07-31T09:15:00", "1", "1", "EUR"),
        &row("f", "2025-07-30T25:61:00", "1", "1", "EUR"),
        &row("g", "31/02/2025 10:00", "1", "1", "EUR"),
    ]));
    let ts = r.batch().column_by_name("sold_at").unwrap().as_primitive::<TimestampMicrosecondType>();
    let shown: Vec<String> =
        (0..ts.len()).map(|i| ts.value_as_datetime(i).unwrap().format("%F %T%.3f").to_string()).collect();
    assert_eq!(
        shown,
        ["2025-07-30 14:03:27.000", "2025-07-30 14:03:27.000", "2025-07-30 14:03:27.250", "2025-07-30 23:30:00.000"]
    );
    let reasons = r.reasons();
    assert_eq!(reasons[0], "sold_at is on 2025-07-31 but the file is for 2025-07-30");
    assert!(reasons[1].starts_with("sold_at is not a valid date and time"));
    assert_eq!(reasons.len(), 3);
}

#[test]
fn a_configured_timestamp_format_is_accepted_besides_iso() {
    let options = IngestOptions {
        timestamp_format: Some("%d/%m/%Y %H:%M".into()),
        max_rejected_fraction: 1.0,
        ..IngestOptions::default()
    };
    let r = run_with(
        &rows(&[&row("a", "30/07/2025 10:00", "1", "1", "EUR"), &row("b", "31/07/2025 10:00", "1", "1", "EUR")]),
        &options,
    );
    assert_eq!(r.report().rows_accepted, 1);
    assert_eq!(r.reasons(), vec!["sold_at is on 2025-07-31 but the file is for 2025-07-30"]);
}

#[test]
fn currency_defaults_is_upper_cased_and_must_be_iso_4217() {
    let options = IngestOptions { default_currency: "CHF".into(), max_rejected_fraction: 1.0, ..Default::default() };
    let r = run_with(
        &rows(&[
            &row("a", "2025-07-30T10:00:00", "1", "1", ""),
            &row("b", "2025-07-30T10:00:00", "1", "1", "usd"),
            &row("c", "2025-07-30T10:00:00", "1", "1", "XYZ"),
            &row("d", "2025-07-30T10:00:00", "1", "1", "EURO"),
        ]),
        &options,
    );
    assert_eq!(r.strings("currency"), vec![Some("CHF".into()), Some("USD".into())]);
    assert_eq!(r.report().errors[0].reason, "currency is not an ISO 4217 currency code such as EUR");
    assert_eq!(r.report().rows_rejected, 2);
}

#[test]
fn a_missing_currency_column_means_the_default_currency() {
    let body = b"transaction_id,sold_at,sku,quantity,price\na,2025-07-30T10:00:00,S,1,1\n";
    assert_eq!(run(body).strings("currency"), vec![Some("EUR".into())]);
}

#[test]
fn duplicates_count_only_against_earlier_accepted_rows() {
    let r =
        run(&rows(&[&row("x", "2025-07-30T10:00:00", "zero", "1", "EUR"), &ok_row("x"), &ok_row("x"), &ok_row("y")]));
    assert_eq!(r.strings("transaction_id"), vec![Some("x".into()), Some("y".into())]);
    assert_eq!(r.report().errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 4]);
    assert_eq!(r.report().errors[1].reason, "transaction_id repeats the transaction_id of an earlier row of this file");
}

#[test]
fn every_defect_of_a_row_is_reported_and_the_row_counted_once() {
    let r = run(&rows(&["=1+1,2025-07-31T10:00:00,,Milk,0,-1,XYZ,@card"]));
    let report = r.report();
    assert_eq!(report.rows_rejected, 1);
    let cols: Vec<&str> = report.errors.iter().map(|e| e.column.as_deref().unwrap()).collect();
    assert_eq!(cols, ["sold_at", "sku", "quantity", "price", "currency"]);
    let line = r.rejected.lines().nth(1).unwrap();
    assert!(line.starts_with("'=1+1,2025-07-31T10:00:00,,Milk,0,'-1,XYZ,'@card,2,"), "{line}");
    assert!(line.contains("; sku is required but empty; quantity must not be zero; "), "{line}");
}

#[test]
fn rejected_rows_file_has_the_original_header_plus_line_and_reason() {
    let r = run(&rows(&[&row("a", "2025-07-30T10:00:00", "1", "\t-3", "EUR")]));
    let mut lines = r.rejected.lines();
    assert_eq!(lines.next().unwrap(), format!("{HEADER},line,reason"));
    assert!(lines.next().unwrap().starts_with("a,2025-07-30T10:00:00,SKU1,Milk,1,'\t-3,EUR,card,2,"));
}

#[test]
fn more_rejected_rows_than_the_fraction_refuses_the_file() {
    let mut lines: Vec<String> = (0..19).map(|i| ok_row(&format!("id{i}"))).collect();
    lines.push(row("bad", "2025-07-30T10:00:00", "0", "1", "EUR"));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let body = rows(&refs);
    // 1 of 20 = 5 %: not more than the default limit.
    assert!(run_with(&body, &IngestOptions::default()).result.is_ok());
    let strict = IngestOptions { max_rejected_fraction: 0.04, ..IngestOptions::default() };
    match run_with(&body, &strict).result {
        Err(e @ IngestError::TooManyRejected { .. }) => {
            let text = e.to_string();
            assert!(text.contains("1 of 20 rows were rejected (5.0 %)"), "{text}");
            assert!(text.contains("line 21, column quantity"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn gzip_bodies_give_the_same_parquet_as_plain_ones() {
    let plain = fixture("quoted_multiline.csv");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let a = run(&plain);
    let b = run(&gz.finish().unwrap());
    assert_eq!(a.batch(), b.batch());
    assert_eq!(a.report().errors, b.report().errors);
}

#[test]
fn missing_required_columns_and_data_without_header_are_refused_whole() {
    let err = run(b"transaction_id,sold_at,sku,quantity\na,2025-07-30T10:00:00,S,1\n").result.unwrap_err();
    assert_eq!(err.to_string(), "The header line (line 1) lacks the required column(s): price.");
    let err = run(ok_row("a").as_bytes()).result.unwrap_err();
    assert!(matches!(err, IngestError::NoHeader { .. }), "{err}");
}

#[test]
fn binary_input_is_undecodable() {
    let err = run(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR").result.unwrap_err();
    assert!(matches!(err, IngestError::Undecodable { .. }), "{err}");
}

#[test]
fn a_toml_schema_drives_types_and_checks() {
    let schema = TableSchema::from_toml(
        r#"
        [[columns]]
        name = "day"
        type = "date"
        required = true
        checks = ["same-date-as-partition"]
        [[columns]]
        name = "paid"
        type = "bool"
        [[columns]]
        name = "amount"
        type = "decimal(10,2)"
        checks = ["non-zero"]
        "#,
    )
    .unwrap();
    let options = IngestOptions { schema, max_rejected_fraction: 1.0, ..IngestOptions::default() };
    let r = run_with(b"Day,Paid,Amount\n2025-07-30,yes,1.5\n2025-07-29,no,0\n2025-07-30,maybe,1.234\n", &options);
    assert_eq!(r.report().rows_accepted, 1);
    assert_eq!(r.batch().schema().field(2).data_type(), &DataType::Decimal128(10, 2));
    assert_eq!(
        r.reasons(),
        vec![
            "day is on 2025-07-29 but the file is for 2025-07-30",
            "amount must not be zero",
            "paid must be yes or no (true/false, 1/0)",
            "amount has more than 2 decimals",
        ]
    );
}

fn gen_sales_script() -> std::path::PathBuf {
    repository_root().join("tests/fixtures/gen_sales.py")
}

/// `"123.45"` (2 decimals, maybe negative) as a scale-4 integer.
fn scaled(total: &str) -> i128 {
    let (neg, t) = total.strip_prefix('-').map_or((false, total), |t| (true, t));
    let (i, f) = t.split_once('.').unwrap();
    let v = i.parse::<i128>().unwrap() * 10_000 + f.parse::<i128>().unwrap() * 100;
    if neg {
        -v
    } else {
        v
    }
}

#[test]
fn messy_generated_file_round_trips_with_types_and_the_exact_total_sales() {
    // Arrange: a messy shop-day from the shared generator.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("python3")
        .arg(gen_sales_script())
        .args(["--shops", "1", "--days", "1", "--rows-per-file", "20000", "--messy", "0.05"])
        .args(["--start-date", DAY, "--out"])
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let body = std::fs::read(dir.path().join(format!("shop_001/{DAY}.csv"))).unwrap();

    // Act: the default 5 % limit applies (about 3 % of rows are rejectable).
    let r = run_with(&body, &IngestOptions { batch_rows: 4096, row_group_rows: 8192, ..IngestOptions::default() });

    // Assert
    let report = r.report();
    assert_eq!(report.rows_total, 20_000);
    assert_eq!(report.rows_rejected, summary["rows_rejectable"].as_u64().unwrap(), "{:?}", &report.errors[..5]);
    let b = r.batch();
    assert_eq!(b.num_rows() as u64, report.rows_accepted);
    let s = b.schema();
    assert_eq!(s.field_with_name("price").unwrap().data_type(), &DataType::Decimal128(18, 4));
    assert_eq!(s.field_with_name("sold_at").unwrap().data_type(), &DataType::Timestamp(TimeUnit::Microsecond, None));
    assert_eq!(s.field_with_name("quantity").unwrap().data_type(), &DataType::Int64);
    assert_eq!(s.field_with_name("sku").unwrap().data_type(), &DataType::Utf8);
    let total: i128 = r.prices().iter().zip(r.ints("quantity")).map(|(p, q)| p * q as i128).sum();
    assert_eq!(total, scaled(summary["total_sales"].as_str().unwrap()));
    assert_eq!(r.rejected.lines().count() as u64, 1 + report.rows_rejected);
}

#[test]
fn parquet_has_zstd_row_groups_page_index_and_decimal_logical_type() {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    let mut body = rows(&[]);
    for i in 0..100 {
        body.extend_from_slice(format!("{}\n", ok_row(&format!("id{i}"))).as_bytes());
    }
    let mut file = tempfile::tempfile().unwrap();
    let options = IngestOptions { batch_rows: 16, row_group_rows: 40, ..IngestOptions::default() };
    ingest(&body[..], day(), &options, &mut file, std::io::sink()).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    let opts = ::parquet::file::serialized_reader::ReadOptionsBuilder::new().with_page_index().build();
    let reader = SerializedFileReader::new_with_options(file, opts).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.num_row_groups(), 3);
    assert!(meta.column_index().is_some() && meta.offset_index().is_some());
    let price = meta.row_group(0).column(5);
    assert_eq!(price.compression(), ::parquet::basic::Compression::ZSTD(Default::default()));
    assert!(price.statistics().is_some());
    let descr = meta.file_metadata().schema_descr().column(5);
    assert_eq!(descr.physical_type(), ::parquet::basic::Type::INT64);
    assert_eq!(descr.logical_type_ref(), Some(&::parquet::basic::LogicalType::decimal(4, 18)));
}

#[test]
fn every_refusal_reads_as_a_sentence_naming_the_place() {
    let texts = [
        IngestError::Empty.to_string(),
        IngestError::Undecodable { line: 7, detail: "x".into() }.to_string(),
        IngestError::MissingRequiredColumns { columns: vec!["price".into()] }.to_string(),
        IngestError::DuplicateColumn { column: "price".into(), first: 2, second: 5 }.to_string(),
    ];
    for t in &texts {
        assert!(t.ends_with('.') && t.chars().next().unwrap().is_uppercase(), "{t}");
    }
    assert!(texts[1].contains("Line 7"));
}

/// The full outcome of one ingest with `options`, as bytes: Parquet file, rejected CSV, and
/// the report's counts and errors (or the refusal).
fn outcome(
    options: &IngestOptions,
    f: impl FnOnce(&IngestOptions, &mut Vec<u8>, &mut Vec<u8>) -> Result<IngestReport>,
) -> (Vec<u8>, Vec<u8>, String) {
    let (mut parquet, mut rejected) = (Vec::new(), Vec::new());
    let report = match f(options, &mut parquet, &mut rejected) {
        Ok(r) => format!(
            "{} {} {} {} {} {:?}",
            r.rows_total, r.rows_accepted, r.rows_rejected, r.encoding, r.parquet_bytes, r.errors
        ),
        Err(e) => format!("refused: {e}"),
    };
    (parquet, rejected, report)
}

fn messy_body(rows: &str, messy: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("python3")
        .arg(gen_sales_script())
        .args(["--shops", "1", "--days", "1", "--rows-per-file", rows, "--messy", messy])
        .args(["--start-date", DAY, "--out"])
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(dir.path().join(format!("shop_001/{DAY}.csv"))).unwrap()
}

#[test]
fn many_validating_threads_give_the_same_bytes_and_report_as_one() {
    let body = messy_body("20000", "0.05");
    let one = IngestOptions { threads: 1, batch_rows: 700, ..IngestOptions::default() };
    let many = IngestOptions { threads: 4, ..one.clone() };
    let a = outcome(&one, |o, p, r| ingest(&body[..], day(), o, p, r));
    let b = outcome(&many, |o, p, r| ingest(&body[..], day(), o, p, r));
    assert!(a.2.starts_with("20000 "), "{}", a.2);
    assert!(String::from_utf8_lossy(&a.1).contains("repeats the transaction_id"), "the file has duplicates");
    assert_eq!(a.2, b.2);
    assert_eq!(a.1, b.1);
    assert!(a.0 == b.0, "the Parquet bytes differ");
}

#[test]
fn two_passes_past_the_key_budget_give_the_same_bytes_and_report_as_one_pass() {
    let body = messy_body("20000", "0.05");
    let options = IngestOptions { batch_rows: 1000, threads: 2, ..IngestOptions::default() };
    let small = IngestOptions { max_unique_in_memory: 3000, ..options.clone() };
    let one_pass = outcome(&options, |o, p, r| ingest(&body[..], day(), o, p, r));
    let mut opened = 0;
    let two_pass = outcome(&small, |o, p, r| {
        ingest_reopenable(
            || {
                opened += 1;
                Ok(&body[..])
            },
            day(),
            o,
            p,
            r,
        )
    });
    assert_eq!(opened, 2, "the budget was exceeded, so the input is read twice");
    assert!(String::from_utf8_lossy(&one_pass.1).contains("repeats the transaction_id"));
    assert_eq!(one_pass.2, two_pass.2);
    assert_eq!(one_pass.1, two_pass.1);
    assert!(one_pass.0 == two_pass.0, "the Parquet bytes differ");
}

#[test]
fn after_the_budget_duplicates_count_only_against_earlier_accepted_rows() {
    // Budget of 2 ids with chunks of 2 rows: rows from the third on are resolved from spill files.
    let body = rows(&[
        &ok_row("a"),
        &ok_row("b"),
        &ok_row("a"),                                      // dup of a frozen id
        &row("c", "2025-07-30T10:00:00", "0", "1", "EUR"), // invalid: c is not accepted
        &ok_row("c"),                                      // accepted
        &row("c", "2025-07-30T10:00:00", "0", "1", "EUR"), // invalid and a dup: two errors
        &ok_row("c"),                                      // dup
        &ok_row("d"),
    ]);
    let options =
        IngestOptions { batch_rows: 2, max_unique_in_memory: 1, max_rejected_fraction: 1.0, ..Default::default() };
    let mut parquet = tempfile::tempfile().unwrap();
    let mut rejected = Vec::new();
    let report = ingest_reopenable(|| Ok(&body[..]), day(), &options, &mut parquet, &mut rejected).unwrap();
    let lines: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    let dup = "transaction_id repeats the transaction_id of an earlier row of this file";
    assert_eq!(
        lines,
        vec![(4, dup), (5, "quantity must not be zero"), (7, dup), (7, "quantity must not be zero"), (8, dup)]
    );
    assert_eq!((report.rows_total, report.rows_accepted, report.rows_rejected), (8, 4, 4));
    parquet.seek(SeekFrom::Start(0)).unwrap();
    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(parquet).unwrap().build().unwrap().map(|b| b.unwrap()).collect();
    let ids: Vec<String> = batches
        .iter()
        .flat_map(|b| b.column(0).as_string::<i32>().iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>())
        .collect();
    assert_eq!(ids, vec!["a", "b", "c", "d"]);
}

#[test]
fn an_input_that_changes_between_its_two_readings_is_an_error() {
    let first = rows(&[&ok_row("a"), &ok_row("b"), &ok_row("c")]);
    let second = rows(&[&ok_row("a"), &ok_row("b")]);
    let options = IngestOptions { batch_rows: 1, max_unique_in_memory: 1, ..Default::default() };
    let mut reads = 0;
    let result = ingest_reopenable(
        || {
            reads += 1;
            Ok(if reads == 1 { &first[..] } else { &second[..] })
        },
        day(),
        &options,
        std::io::sink(),
        std::io::sink(),
    );
    assert!(matches!(result, Err(IngestError::Io(_))), "{result:?}");
}

#[test]
fn utf8_valid_only_across_a_delimiter_is_not_taken_for_utf8() {
    // `\xC3` ends one field and `\xA9` starts the next: not UTF-8 text, plausible Windows-1252.
    let body = format!("{HEADER}\n")
        .into_bytes()
        .into_iter()
        .chain(*b"a\xC3,\xA92025-07-30T10:00:00,S,,1,1,EUR,\n")
        .collect::<Vec<u8>>();
    let r = run(&body);
    assert_eq!(r.report().encoding, "windows-1252");
}

mod line_numbers;

#[test]
fn the_rejected_header_of_a_file_without_rejected_rows_is_the_rejected_files_first_line() {
    let header = "\u{feff}Transaction ID;sold_at;SKU;product_name;quantity;unit_price;currency;payment_method;=note";
    let bad = format!("{header}\r\nb;2025-07-30T10:00:00;SKU1;Milk;0;1,00;EUR;card;x\r\n");
    let good = format!("{header}\r\nb;2025-07-30T10:00:00;SKU1;Milk;1;1,00;EUR;card;x\r\n");
    let with_rejected = run(bad.as_bytes());
    let first_line = with_rejected.rejected.lines().next().unwrap().to_owned();
    let only_header = rejected_header(good.as_bytes(), &IngestOptions::default()).unwrap();
    assert_eq!(String::from_utf8(only_header).unwrap(), format!("{first_line}\n"));
    assert!(
        first_line.starts_with("Transaction ID,sold_at,SKU,") && first_line.ends_with(",'=note,line,reason"),
        "{first_line}"
    );
}
