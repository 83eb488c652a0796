//! Fuzzes the ingest limits: the input (repeated up to 64 times, so records and bodies outgrow
//! small limits; plain and gzip-compressed) through `ingest` with tight bounds on columns,
//! record and field length and decompressed size. Properties: no panic, memory under the RSS
//! limit whatever the input, a refusal names a limit only when the input exceeds it, and
//! accepted rows never hold a value longer than the field limit.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use shoplake_fuzz::check_limits;

fuzz_target!(|data: &[u8]| {
    let Some((&repeat, body)) = data.split_first() else { return };
    let body = body.repeat(1 + (repeat as usize % 64));
    check_limits(&body, false);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&body).unwrap();
    check_limits(&encoder.finish().unwrap(), true);
});
