//! Physical line numbers. The contract numbers a record by the physical line where it starts
//! (header = 1), counting every line break of the text — `\n`, `\r\n` and a lone `\r` alike,
//! inside quoted fields too, and the empty lines the CSV parser skips. The parser's own
//! position counts `\n` bytes at the start of its read call, which is one short on CRLF text
//! (its position sits between the `\r` it ended the record on and the `\n`), blind to lone-CR
//! text and to empty lines before a record. So the text's line breaks are counted here, by the
//! reader the parser pulls from, and a record's start offset is turned into its line.

use std::collections::VecDeque;
use std::io::Read;

/// A run of consecutive line breaks in the text: `count` breaks from byte `start` to `end`
/// (exclusive).
#[derive(Debug, Clone, Copy)]
struct BreakRun {
    start: u64,
    end: u64,
    count: u64,
}

/// A reader that notes where the line breaks of the text it passes on are, so that
/// [`LineCounter::line_of`] can answer the physical line of a record from its start offset.
/// It keeps only the breaks not yet passed by a query; the source asks the line of every record
/// (blank ones too), so those are the breaks of the record being read (bounded by the record
/// length limit below it, empty lines skipped before it included) and of the parser's
/// read-ahead: at most about (1 MiB + 256 KiB) / 2 runs of 24 bytes on hostile input.
pub struct LineCounter<R> {
    inner: R,
    /// Bytes passed on so far.
    offset: u64,
    /// Where the last byte passed on was a `\r` (a `\n` right after it belongs to its break).
    last_cr: Option<u64>,
    pending: VecDeque<BreakRun>,
    /// Breaks before the last queried position.
    passed: u64,
}

impl<R: Read> LineCounter<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner, offset: 0, last_cr: None, pending: VecDeque::new(), passed: 0 }
    }

    fn note_break(&mut self, start: u64, end: u64) {
        match self.pending.back_mut() {
            Some(run) if run.end == start => {
                run.end = end;
                run.count += 1;
            }
            _ => self.pending.push_back(BreakRun { start, end, count: 1 }),
        }
    }

    /// The physical line (1-based) of the record the parser reported at byte `position`: the
    /// first byte at or after `position` that is not a line break (the parser skips empty
    /// lines, and may report a record's start between the `\r` and the `\n` of a CRLF).
    /// Positions must not decrease from one call to the next.
    pub fn line_of(&mut self, position: u64) -> u64 {
        let mut cursor = position;
        while let Some(run) = self.pending.front().copied() {
            if run.start > cursor {
                break;
            }
            self.pending.pop_front();
            self.passed += run.count;
            cursor = cursor.max(run.end);
        }
        self.passed + 1
    }

    /// Runs of line breaks held (for tests of the memory bound).
    #[cfg(test)]
    pub fn pending_runs(&self) -> usize {
        self.pending.len()
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let base = self.offset;
        for at in memchr::memchr2_iter(b'\n', b'\r', &buf[..n]) {
            let abs = base + at as u64;
            if buf[at] == b'\r' {
                self.note_break(abs, abs + 1);
                self.last_cr = Some(abs);
            } else if self.last_cr.is_some_and(|cr| cr + 1 == abs) {
                // The `\n` of a CRLF: the same break, one byte longer.
                if let Some(run) = self.pending.back_mut().filter(|run| run.end == abs) {
                    run.end = abs + 1;
                }
            } else {
                self.note_break(abs, abs + 1);
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` through a counter in reads of `step` bytes, then asks the line of each
    /// position in `positions`.
    fn lines_at(text: &[u8], step: usize, positions: &[u64]) -> Vec<u64> {
        let mut counter = LineCounter::new(text);
        let mut buf = vec![0u8; step];
        while counter.read(&mut buf).unwrap() > 0 {}
        positions.iter().map(|&p| counter.line_of(p)).collect()
    }

    #[test]
    fn every_kind_of_line_break_counts_once_whatever_the_read_boundaries() {
        // "a" on line 1, "b" on 2, "c" on 3, "d" on 4: LF, CRLF, lone CR.
        let text = b"a\nb\r\nc\rd";
        for step in 1..=text.len() {
            assert_eq!(lines_at(text, step, &[0, 2, 5, 7]), vec![1, 2, 3, 4], "reads of {step}");
            // The parser may report the record after a CRLF between its `\r` and `\n`.
            assert_eq!(lines_at(text, step, &[0, 4]), vec![1, 3], "reads of {step}");
        }
    }

    #[test]
    fn empty_lines_before_a_record_are_counted() {
        // Record "x" starts on line 4 after two empty lines; the parser reports it at byte 2.
        for text in [&b"a\n\n\nx"[..], b"a\r\n\r\n\r\nx", b"a\r\r\rx"] {
            assert_eq!(lines_at(text, 3, &[0, 2]), vec![1, 4], "{text:?}");
        }
    }
}
