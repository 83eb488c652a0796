//! The contract's line rule — a record is numbered by the physical line where it starts
//! (header = 1), counting line breaks inside quoted fields and the empty lines skipped — for
//! every line ending (LF, CRLF, lone CR), with or without BOM, plain or gzip, with quoted line
//! breaks of either kind before the bad rows.

use std::io::Write;

use super::*;

/// The line endings a POS export may use.
const ENDINGS: [(&str, &str); 3] = [("LF", "\n"), ("CRLF", "\r\n"), ("CR", "\r")];

/// A file whose rejected rows are on known physical lines, and those lines.
fn body_with_bad_rows(eol: &str, quoted_break: &str, bom: bool) -> (Vec<u8>, Vec<u64>) {
    let mut text = String::new();
    if bom {
        text.push('\u{feff}');
    }
    let mut line = 1u64;
    let mut bad_lines = Vec::new();
    let mut push = |text: &mut String, record: &str, bad: bool| {
        if bad {
            bad_lines.push(line);
        }
        text.push_str(record);
        text.push_str(eol);
        line += 1 + record.matches(quoted_break).count() as u64;
    };
    push(&mut text, HEADER, false);
    push(&mut text, &ok_row("a"), false);
    push(&mut text, &row("b", "2025-07-30T10:00:00", "0", "1.00", "EUR"), true);
    let gift =
        format!("c,2025-07-30T10:00:00,SKU3,\"Gift box{quoted_break}two lines{quoted_break}three\",1,19.99,EUR,card");
    push(&mut text, &gift, false);
    push(&mut text, &row("d", "2025-07-30T10:00:00", "zero", "1.00", "EUR"), true);
    push(&mut text, "", false); // an empty line: skipped by the parser, still a physical line
    push(&mut text, "", false);
    push(&mut text, "  \t ", false); // a blank one
    push(&mut text, &row("e", "2025-07-30T10:00:00", "1", "-2", "EUR"), true);
    let gift_bad = format!("f,2025-07-30T10:00:00,SKU3,\"Two{quoted_break}lines\",0,19.99,EUR,card");
    push(&mut text, &gift_bad, true);
    push(&mut text, &row("g", "2025-07-30T10:00:00", "1", "1.00", "XX"), true);
    (text.into_bytes(), bad_lines)
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body).unwrap();
    gz.finish().unwrap()
}

/// The lines in the rejected-rows file's `line` column (the column before the reason).
fn rejected_file_lines(run: &Run) -> Vec<u64> {
    let mut reader = csv::ReaderBuilder::new().from_reader(run.rejected.as_bytes());
    let at = reader.headers().unwrap().iter().position(|h| h == "line").expect("a line column");
    reader.records().map(|r| r.unwrap()[at].parse().unwrap()).collect()
}

#[test]
fn rejected_rows_carry_their_physical_line_for_every_line_ending_bom_and_compression() {
    for (name, eol) in ENDINGS {
        for (quoted_name, quoted_break) in [("LF", "\n"), ("CRLF", "\r\n")] {
            for bom in [false, true] {
                for compressed in [false, true] {
                    let (plain, expected) = body_with_bad_rows(eol, quoted_break, bom);
                    let body = if compressed { gzip(&plain) } else { plain };
                    let case = format!("{name} endings, {quoted_name} in quotes, bom {bom}, gzip {compressed}");
                    let run = run(&body);
                    let report = run.report();
                    assert_eq!(report.rows_accepted, 2, "{case}");
                    let reported: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
                    assert_eq!(reported, expected, "{case}: the upload's errors");
                    assert_eq!(rejected_file_lines(&run), expected, "{case}: the rejected-rows file");
                }
            }
        }
    }
}

#[test]
fn a_record_past_the_length_limit_is_reported_on_its_physical_line_in_crlf_text() {
    let options = IngestOptions { max_record_bytes: 1000, max_rejected_fraction: 1.0, ..IngestOptions::default() };
    for (name, eol) in ENDINGS {
        // Longer than the parser's buffer, so that it has to ask for more of the record.
        let body = format!("{HEADER}{eol}{}{eol}{eol}{}{eol}", ok_row("a"), "x".repeat(1 << 20));
        match run_with(body.as_bytes(), &options).result {
            Err(IngestError::RecordTooLong { line, .. }) => assert_eq!(line, 4, "{name}"),
            other => panic!("{name}: expected RecordTooLong, got {other:?}"),
        }
    }
}

#[test]
fn an_undecodable_row_in_crlf_text_is_reported_on_its_physical_line() {
    for (name, eol) in ENDINGS {
        let mut body = format!("{HEADER}{eol}{}{eol}{eol}", ok_row("a")).into_bytes();
        body.extend_from_slice(b"b,2025-07-30T10:00:00,SKU1,Mil\x00k,1,1.00,EUR,card");
        body.extend_from_slice(eol.as_bytes());
        match run(&body).result {
            Err(IngestError::Undecodable { line, .. }) => assert_eq!(line, 4, "{name}"),
            other => panic!("{name}: expected Undecodable, got {other:?}"),
        }
    }
}
