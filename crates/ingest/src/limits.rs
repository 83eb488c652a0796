//! Bounds on what one file may make the reader hold: the decompressed size of the body and the
//! length of one record. Both are enforced below the CSV parser, by the reader it pulls from,
//! so that neither a gzip bomb nor an unclosed quote can grow a buffer past its limit.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Which bound a read crossed (carried inside an `io::Error` through the CSV parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// More decompressed bytes than allowed.
    Decompressed {
        /// The limit in bytes.
        limit: u64,
    },
    /// The record being read is longer than allowed; `quoted` when it spans several lines
    /// (only an open quote keeps a newline inside a record).
    Record {
        /// The limit in bytes.
        limit: usize,
        /// Whether the record contains a newline, i.e. a quote is open.
        quoted: bool,
    },
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitHit::Decompressed { limit } => write!(f, "more than {limit} bytes once decompressed"),
            LimitHit::Record { limit, .. } => write!(f, "a record longer than {limit} bytes"),
        }
    }
}

impl std::error::Error for LimitHit {}

/// Where the record being parsed starts (byte offset in the decompressed text), written by the
/// source after each record and read by [`Bounded`].
#[derive(Debug, Default)]
pub struct RecordStart(AtomicU64);

impl RecordStart {
    /// Records that the next record starts at `byte`.
    #[inline]
    pub fn set(&self, byte: u64) {
        self.0.store(byte, Ordering::Relaxed);
    }

    /// Where the record being parsed starts.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A reader that fails with [`LimitHit`] once its consumer has read more than
/// `max_total` bytes, or is asked for more while the current record already exceeds
/// `max_record` bytes. The CSV parser asks for more input only when it has consumed everything
/// it was given, so every byte delivered since the record's start belongs to that record.
pub struct Bounded<R> {
    inner: R,
    delivered: u64,
    last_newline: Option<u64>,
    max_total: u64,
    max_record: usize,
    record_start: Arc<RecordStart>,
}

impl<R: Read> Bounded<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, max_total: u64, max_record: usize, record_start: Arc<RecordStart>) -> Self {
        Self { inner, delivered: 0, last_newline: None, max_total, max_record, record_start }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = self.record_start.get();
        if self.delivered.saturating_sub(start) > self.max_record as u64 {
            let quoted = self.last_newline.is_some_and(|at| at >= start);
            return Err(std::io::Error::other(LimitHit::Record { limit: self.max_record, quoted }));
        }
        if self.delivered > self.max_total {
            return Err(std::io::Error::other(LimitHit::Decompressed { limit: self.max_total }));
        }
        // Never hand out more than one byte past the total limit, nor far past the record's.
        let room = self.max_total.saturating_add(1).saturating_sub(self.delivered).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        if let Some(at) = buf[..n].iter().rposition(|&b| b == b'\n' || b == b'\r') {
            self.last_newline = Some(self.delivered + at as u64);
        }
        self.delivered += n as u64;
        Ok(n)
    }
}

/// The [`LimitHit`] inside an I/O error, if any.
pub fn limit_hit(error: &std::io::Error) -> Option<LimitHit> {
    error.get_ref().and_then(|inner| inner.downcast_ref::<LimitHit>()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all<R: Read>(mut r: R) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn the_total_limit_stops_reading_one_byte_past_it() {
        let data = [b'a'; 100];
        let start = Arc::new(RecordStart::default());
        start.set(100); // no record bound in play
        let err = read_all(Bounded::new(&data[..], 50, 1000, start)).unwrap_err();
        assert_eq!(limit_hit(&err), Some(LimitHit::Decompressed { limit: 50 }));
        let ok = read_all(Bounded::new(&data[..], 100, 1000, Arc::new(RecordStart::default()))).unwrap();
        assert_eq!(ok.len(), 100);
    }

    #[test]
    fn a_record_past_its_limit_is_reported_quoted_when_it_spans_lines() {
        let data = b"\"abc\ndefghijklmnopqrstuvwxyz".repeat(4);
        let err = read_all(Bounded::new(&data[..], u64::MAX, 20, Arc::new(RecordStart::default()))).unwrap_err();
        assert_eq!(limit_hit(&err), Some(LimitHit::Record { limit: 20, quoted: true }));
        let flat = [b'x'; 64];
        let err = read_all(Bounded::new(&flat[..], u64::MAX, 20, Arc::new(RecordStart::default()))).unwrap_err();
        assert_eq!(limit_hit(&err), Some(LimitHit::Record { limit: 20, quoted: false }));
    }
}
