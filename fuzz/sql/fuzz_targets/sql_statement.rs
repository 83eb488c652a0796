//! Fuzzes the SQL path of `POST /v1/query`: limits, guard, parse, plan (see `src/lib.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sql) = std::str::from_utf8(data) {
        shoplake_fuzz_sql::check_sql(sql.to_owned());
    }
});
