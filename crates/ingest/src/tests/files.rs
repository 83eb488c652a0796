//! Whole files: the rejected-rows file, the rejected fraction, gzip, refusals, a TOML schema,
//! the generated messy file's exact totals and the Parquet layout.

use super::*;

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

pub(super) fn gen_sales_script() -> std::path::PathBuf {
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
