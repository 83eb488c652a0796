//! Sniffing the start of a body: gzip by magic bytes, BOM, binary data, text encoding
//! (UTF-8 or Windows-1252) and the delimiter of the header line.

use std::io::{Cursor, Read};

use flate2::read::MultiGzDecoder;

use super::error::{is_decode_error, IngestError, Result};

/// How many decompressed bytes are inspected before parsing starts.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// The text encoding of a file, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// Only ASCII seen so far: UTF-8 and Windows-1252 read it the same.
    Undecided,
    /// UTF-8 (with or without BOM).
    Utf8,
    /// Windows-1252, converted to UTF-8 field by field.
    Windows1252,
}

impl TextEncoding {
    /// The name reported in [`super::IngestReport::encoding`].
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Undecided | TextEncoding::Utf8 => "utf-8",
            TextEncoding::Windows1252 => "windows-1252",
        }
    }
}

/// The body after sniffing: a reader positioned after the BOM, and what was learned.
pub struct Sniffed<'r> {
    /// Decompressed text bytes, BOM removed.
    pub reader: Box<dyn Read + 'r>,
    /// `,` `;` `\t` or `|`.
    pub delimiter: u8,
    /// The encoding known from the first bytes.
    pub encoding: TextEncoding,
}

fn read_up_to<R: Read>(r: &mut R, n: usize, gzip: bool) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    match r.take(n as u64).read_to_end(&mut buf) {
        Ok(_) => Ok(buf),
        Err(e) if gzip && is_decode_error(&e) => {
            Err(IngestError::Undecodable { line: 1, detail: format!("the gzip data is damaged ({e})") })
        }
        Err(e) => Err(e.into()),
    }
}

/// The physical line of byte `pos` of `buf`: `\n`, `\r\n` and a lone `\r` each end a line.
fn line_at(buf: &[u8], pos: usize) -> u64 {
    let before = &buf[..pos];
    let crlf = before.windows(2).filter(|w| w == b"\r\n").count();
    1 + memchr::memchr2_iter(b'\n', b'\r', before).count() as u64 - crlf as u64
}

/// Inspects the start of `input` and returns a reader over the whole decompressed text.
pub fn sniff<'r, R: Read + 'r>(mut input: R) -> Result<Sniffed<'r>> {
    let magic = read_up_to(&mut input, 2, false)?;
    if magic.is_empty() {
        return Err(IngestError::Empty);
    }
    let gzip = magic == [0x1f, 0x8b];
    let mut reader: Box<dyn Read + 'r> = if gzip {
        Box::new(MultiGzDecoder::new(Cursor::new(magic).chain(input)))
    } else {
        Box::new(Cursor::new(magic).chain(input))
    };
    let mut buf = read_up_to(&mut reader, SNIFF_BYTES, gzip)?;
    if buf.is_empty() {
        return Err(IngestError::Empty);
    }
    let full = buf.len() == SNIFF_BYTES;
    let mut encoding = TextEncoding::Undecided;
    if buf.starts_with(b"\xEF\xBB\xBF") {
        buf.drain(..3);
        encoding = TextEncoding::Utf8;
    } else if buf.starts_with(b"\xFF\xFE") || buf.starts_with(b"\xFE\xFF") {
        return Err(IngestError::Undecodable { line: 1, detail: "it is UTF-16 text, which is not supported".into() });
    }
    check_not_binary(&buf)?;
    if encoding == TextEncoding::Undecided && !buf.is_ascii() {
        // The first non-ASCII character decides: valid UTF-8 there means UTF-8 throughout.
        encoding = match std::str::from_utf8(&buf) {
            Ok(_) => TextEncoding::Utf8,
            Err(e) if e.error_len().is_none() && full => TextEncoding::Utf8,
            Err(e) if buf[..e.valid_up_to()].is_ascii() && plausible_1252(&buf) => TextEncoding::Windows1252,
            Err(e) => {
                let detail = if buf[..e.valid_up_to()].is_ascii() {
                    "it is neither UTF-8 nor Windows-1252 text"
                } else {
                    "it is not valid UTF-8 text (did the encoding change within the file?)"
                };
                return Err(IngestError::Undecodable { line: line_at(&buf, e.valid_up_to()), detail: detail.into() });
            }
        };
    }
    let delimiter = detect_delimiter(&buf, full);
    Ok(Sniffed { reader: Box::new(Cursor::new(buf).chain(reader)), delimiter, encoding })
}

/// Refuses NUL bytes and bodies made mostly of control characters.
fn check_not_binary(buf: &[u8]) -> Result<()> {
    if let Some(pos) = buf.iter().position(|&b| b == 0) {
        return Err(IngestError::Undecodable {
            line: line_at(buf, pos),
            detail: "it contains binary data (a NUL byte); is this really a CSV file?".into(),
        });
    }
    let controls =
        buf.iter().filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)) || b == 0x7f).count();
    if controls * 10 > buf.len() {
        return Err(IngestError::Undecodable {
            line: 1,
            detail: "it looks like binary data, not text; is this really a CSV file?".into(),
        });
    }
    Ok(())
}

/// Bytes that Windows-1252 leaves undefined, or C0 controls other than tab/CR/LF, make a
/// non-UTF-8 text implausible as 1252.
pub fn plausible_1252(bytes: &[u8]) -> bool {
    !bytes
        .iter()
        .any(|&b| matches!(b, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D) || (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')))
}

const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Picks the candidate that splits the header into the most fields among those that split the
/// following lines (up to 10) into as many fields; `,` when none splits the header.
pub fn detect_delimiter(buf: &[u8], truncated: bool) -> u8 {
    // Per non-blank record: field counts for each candidate (quote-aware).
    let mut records: Vec<[usize; 4]> = Vec::new();
    let mut counts = [1usize; 4];
    let mut blank = true;
    let mut in_quotes = false;
    for &b in buf {
        if b == b'"' {
            in_quotes = !in_quotes;
            blank = false;
        } else if in_quotes {
            continue;
        } else if b == b'\n' || b == b'\r' {
            if !blank {
                records.push(counts);
                if records.len() > 10 {
                    break;
                }
            }
            counts = [1; 4];
            blank = true;
        } else if let Some(i) = CANDIDATES.iter().position(|&c| c == b) {
            counts[i] += 1;
            blank = false;
        } else if !b.is_ascii_whitespace() {
            blank = false;
        }
    }
    if !blank && !truncated {
        records.push(counts);
    }
    let Some((header, rest)) = records.split_first() else {
        return b',';
    };
    let mut best = (b',', (false, 0usize, 0usize));
    for (i, &c) in CANDIDATES.iter().enumerate() {
        if header[i] < 2 {
            continue;
        }
        let consistent = rest.iter().filter(|r| r[i] == header[i]).count();
        let score = (consistent == rest.len(), consistent, header[i]);
        if score > best.1 {
            best = (c, score);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_delimiter_is_detected_from_the_header_and_next_lines() {
        assert_eq!(detect_delimiter(b"a,b,c\n1,2,3\n", false), b',');
        assert_eq!(detect_delimiter(b"a;b;c\n1;2,5;3\n", false), b';');
        assert_eq!(detect_delimiter(b"a\tb\tc\n1\t2\t3\n", false), b'\t');
        assert_eq!(detect_delimiter(b"a|b|c\r\n1|2|3\r\n", false), b'|');
        assert_eq!(detect_delimiter(b"\n\n  \na;b\n\"x,y,z\";2\n", false), b';');
        assert_eq!(detect_delimiter(b"only\n1\n", false), b',');
        // Lone-CR line ends (old Mac exports) separate records too: read as one line, the
        // decimal commas would outnumber the semicolons.
        assert_eq!(detect_delimiter(b"a;b\r1,5;2,5\r3,5;4,5\r", false), b';');
    }

    #[test]
    fn a_delimiter_inconsistent_with_the_data_lines_loses() {
        // Header has two commas (3 fields) and one ';', but data lines split on ';'.
        assert_eq!(detect_delimiter(b"a,b,c;d\n1;2\n3;4\n", false), b';');
    }

    #[test]
    fn gzip_is_detected_by_magic_bytes_and_decompressed() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a;b\n1;2\n").unwrap();
        let body = gz.finish().unwrap();
        let mut s = sniff(&body[..]).unwrap();
        assert_eq!(s.delimiter, b';');
        let mut text = String::new();
        s.reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "a;b\n1;2\n");
    }

    #[test]
    fn damaged_gzip_is_undecodable() {
        let body = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff];
        assert!(matches!(sniff(&body[..]), Err(IngestError::Undecodable { .. })));
    }

    #[test]
    fn bom_is_removed_and_means_utf8() {
        let mut s = sniff(&b"\xEF\xBB\xBFa,b\n"[..]).unwrap();
        assert_eq!(s.encoding, TextEncoding::Utf8);
        let mut text = String::new();
        s.reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "a,b\n");
    }

    #[test]
    fn encodings_are_told_apart() {
        assert_eq!(sniff(&b"a,b\n1,2\n"[..]).unwrap().encoding, TextEncoding::Undecided);
        assert_eq!(sniff("a,b\ncaf\u{e9},2\n".as_bytes()).unwrap().encoding, TextEncoding::Utf8);
        assert_eq!(sniff(&b"a,b\ncaf\xE9,2\n"[..]).unwrap().encoding, TextEncoding::Windows1252);
    }

    #[test]
    fn binary_and_empty_bodies_are_refused() {
        assert!(matches!(sniff(&b""[..]), Err(IngestError::Empty)));
        assert!(matches!(sniff(&b"a,b\n1\x002\n"[..]), Err(IngestError::Undecodable { line: 2, .. })));
        assert!(matches!(sniff(&b"\x01\x02\x03\x04\x05abc"[..]), Err(IngestError::Undecodable { .. })));
        assert!(matches!(sniff(&b"a,b\n\x81\x8d\n"[..]), Err(IngestError::Undecodable { line: 2, .. })));
    }
}
