//! The same bytes and report whatever the threads, batch sizes or passes over the file.

use super::files::gen_sales_script;
use super::*;

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
