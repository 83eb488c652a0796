//! Hostile input (issue 14): what a shop, an analyst or an anonymous client may send to crash,
//! freeze or starve the service, one test per class of attack. Each asserts the clear error,
//! that `/healthz` and another shop's ordinary upload are still answered while (or right after)
//! the attack runs, and that nothing was half-written. Attacks that used to exhaust memory run
//! against the real binary under an address-space cap (`prlimit --as`), so a regression fails
//! the test instead of the machine.

mod connections;
mod queries;
mod uploads;

use crate::helpers::sample_csv;
use crate::server_process::{test_token, ServerProcess, BIN};
use shoplake::domain::Role;
use std::path::Path;
use std::time::Duration;

/// Address space the capped binary may use, in bytes (3 GiB; this `prlimit` takes no unit
/// suffix): the service runs well within it; the attacks this guards against reached 3.5 to
/// 20 GB.
pub const ADDRESS_SPACE_CAP: &str = "3221225472";

/// `/healthz` answers and a bystander shop's ordinary upload is accepted (the hang detector
/// is generous: this asserts service, not speed).
pub async fn assert_still_serving(base: &str, bystander_token: &str) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let health = client.get(format!("{base}/healthz")).send().await.expect("healthz answers");
    assert_eq!(health.status(), 200);
    let upload = client
        .post(format!("{base}/v1/shops/bystander/uploads?date=2025-07-30"))
        .bearer_auth(bystander_token)
        .header("content-type", "text/csv")
        .body(sample_csv("2025-07-30", 5))
        .send()
        .await
        .expect("the bystander's upload is answered");
    assert!(matches!(upload.status().as_u16(), 200 | 201), "bystander upload: {}", upload.status());
}

/// A bystander shop's token for servers started with the test secret.
pub fn bystander_token() -> String {
    test_token(Role::Shop, Some("bystander"))
}

/// The real binary under [`ADDRESS_SPACE_CAP`], with the suite's back end.
pub async fn capped_server(dir: &Path, backend: &crate::helpers::Backend, envs: &[(&str, &str)]) -> ServerProcess {
    let mut env = crate::helpers::server_env(backend, dir);
    env.extend(envs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServerProcess::start_wrapped(dir, &env, &["prlimit", &format!("--as={ADDRESS_SPACE_CAP}"), "--", BIN]).await
}

/// A gzip body of `prefix`, then `chunk` `times` times, then an end that is never reached by a
/// reader with limits (the trailer's checksum is not computed). 1 MiB of one byte deflates to
/// about 1 KiB, so a few MiB of body inflate to gigabytes.
pub fn gzip_bomb(prefix: &[u8], chunk: &[u8], times: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let deflate = |data: &[u8]| {
        // A fresh raw-deflate compressor per piece: its back-references stay inside the piece,
        // so copies of it can be concatenated (a sync flush ends each on a byte boundary).
        let mut compressor = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(data.len() / 100 + 1024);
        compressor.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        while compressor.total_in() < data.len() as u64 || out.capacity() == out.len() {
            out.reserve(64 << 10);
            let consumed = compressor.total_in() as usize;
            compressor.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync).unwrap();
        }
        out
    };
    let mut body = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    body.extend(deflate(prefix));
    let piece = deflate(chunk);
    for _ in 0..times {
        body.extend_from_slice(&piece);
    }
    body.extend_from_slice(&[0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
    body
}
