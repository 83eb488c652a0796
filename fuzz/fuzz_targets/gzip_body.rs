//! Fuzzes the gzip path: the input as a (usually damaged) gzip stream, and the input
//! compressed, which must give the same outcome as the plain bytes (the first finding, kept in
//! the corpus as `regression_gzip_in_gzip`: gzip data inside gzip is decompressed once only).
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use shoplake_fuzz::{check_ingest, outcome};

fuzz_target!(|data: &[u8]| {
    // Damaged or truncated gzip: the decoder's errors must become a clean refusal.
    let mut damaged = vec![0x1f, 0x8b];
    damaged.extend_from_slice(data);
    check_ingest(&damaged);

    // Compressed: the same answer as the plain bytes. A body that is itself gzip data is
    // decompressed once only (then refused as binary), unlike the plain bytes, so it is skipped.
    if data.starts_with(&[0x1f, 0x8b]) {
        return;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    let compressed = encoder.finish().unwrap();
    assert_eq!(outcome(&compressed, usize::MAX), outcome(data, usize::MAX), "gzip changes the outcome");
});
