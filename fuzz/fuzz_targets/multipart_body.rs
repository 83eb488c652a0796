//! Fuzzes the multipart path the upload route takes (multer, as `src/http/uploads.rs` drives
//! it): (1) any bytes as a multipart body, fed in chunks of fuzzed sizes, must end in fields or
//! a clean error, never a panic or a hang; (2) a well-formed form carrying a `date` part and the
//! fuzzed file must hand the ingest exactly the file's bytes, whatever the chunking, and so
//! give exactly the outcome of the plain file.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shoplake_fuzz::{check_ingest, outcome};

const BOUNDARY: &str = "shoplake-fuzz-boundary-7Hq2";

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// Sizes of the chunks the body arrives in (cycled; 0 read as 1).
    chunk_sizes: Vec<u8>,
    /// The client's file name.
    filename: &'a str,
    /// The file part's bytes, or the whole raw body in the first check.
    bytes: &'a [u8],
}

/// The body split into chunks of the fuzzed sizes, as a stream like axum's body stream.
fn chunked(body: Vec<u8>, sizes: &[u8]) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let sizes: Vec<usize> = if sizes.is_empty() { vec![4096] } else { sizes.iter().map(|&s| s.max(1) as usize).collect() };
    let mut chunks = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < body.len() {
        let end = (at + sizes[i % sizes.len()]).min(body.len());
        chunks.push(Ok(bytes::Bytes::copy_from_slice(&body[at..end])));
        at = end;
        i += 1;
    }
    futures_util::stream::iter(chunks)
}

/// Every field of a multipart body as (name, file name, bytes), or multer's error.
fn fields(body: Vec<u8>, sizes: &[u8]) -> Result<Vec<(Option<String>, Option<String>, Vec<u8>)>, multer::Error> {
    futures_executor::block_on(async move {
        let mut multipart = multer::Multipart::new(chunked(body, sizes), BOUNDARY);
        let mut found = Vec::new();
        while let Some(mut field) = multipart.next_field().await? {
            let (name, filename) = (field.name().map(str::to_owned), field.file_name().map(str::to_owned));
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await? {
                bytes.extend_from_slice(&chunk);
            }
            found.push((name, filename, bytes));
        }
        Ok(found)
    })
}

fuzz_target!(|input: Input| {
    // (1) Hostile bodies: fields or an error, nothing else; any file part is safe to ingest.
    if let Ok(found) = fields(input.bytes.to_vec(), &input.chunk_sizes) {
        for (name, _, bytes) in found {
            if name.as_deref() == Some("file") {
                check_ingest(&bytes);
            }
        }
    }

    // (2) A real client's form: the file part arrives byte for byte. A client picks a boundary
    // its content does not contain, and escapes quotes, backslashes and control characters in
    // the file name (a raw control character makes the part header invalid: the first finding,
    // kept as `corpus/multipart_body/regression_control_char_in_filename`).
    let boundary = BOUNDARY.as_bytes();
    if input.bytes.windows(boundary.len()).any(|w| w == boundary)
        || input.filename.chars().any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return;
    }
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"date\"\r\n\r\n2025-07-30\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: text/csv\r\n\r\n",
        input.filename
    )
    .into_bytes();
    body.extend_from_slice(input.bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let found = fields(body, &input.chunk_sizes).expect("a well-formed form parses");
    assert_eq!(found.len(), 2, "two parts");
    assert_eq!(found[0].0.as_deref(), Some("date"));
    assert_eq!(found[0].2, b"2025-07-30");
    assert_eq!(found[1].0.as_deref(), Some("file"));
    assert_eq!(found[1].2, input.bytes, "the file part is the file, byte for byte");
    assert_eq!(outcome(&found[1].2, usize::MAX), outcome(input.bytes, usize::MAX));
});
