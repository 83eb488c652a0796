//! Fuzzes the CSV reader and validator: any bytes into `ingest`, with small chunks and a tiny
//! in-memory key budget so chunk boundaries and the two-pass spill path are exercised.
//! Properties: no panic, bounded memory (libFuzzer's -rss_limit_mb), counts that add up,
//! Parquet that reads back with exactly the accepted rows, and the one-pass and two-pass
//! (spilling) modes giving the same answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoplake_fuzz::check_ingest;

fuzz_target!(|data: &[u8]| {
    check_ingest(data);
});
