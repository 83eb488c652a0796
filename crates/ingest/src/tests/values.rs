//! Values: prices, quantities, timestamps, currencies, duplicates, and every defect of a row.

use super::*;

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
