//! Reading the text: encodings, delimiters, quoting, headers and aliases, blank lines, field
//! counts.

use super::*;

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
