//! Validating while archiving: `TeeReader` passes the body through to the archive and hands a
//! copy of every chunk to the ingest thread, whose `ChunkReceiver` reads them as a plain
//! `std::io::Read`. The channel is bounded, so the slower side sets the pace and memory stays
//! a few chunks whatever the size. The ingest only ever sees a complete body: the end is an
//! explicit marker, and a body that stops early (client gone, size limit, storage error) is an
//! I/O error on the ingest side, never a shorter file.

use bytes::Bytes;
use std::io::Read;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

/// Chunks in flight between the archive and the ingest thread.
const CHUNKS_IN_FLIGHT: usize = 16;

/// The end-of-body marker (a body chunk is never empty).
fn end_marker() -> Bytes {
    Bytes::new()
}

/// A bounded channel from a [`TeeReader`] to a [`ChunkReceiver`].
pub fn channel() -> (mpsc::Sender<Bytes>, mpsc::Receiver<Bytes>) {
    mpsc::channel(CHUNKS_IN_FLIGHT)
}

/// An `AsyncRead` adapter that also sends a copy of every chunk read to the ingest thread. When
/// the ingest thread has stopped listening (it refused the file early), reading goes on for the
/// archive alone.
pub struct TeeReader<R> {
    inner: R,
    copies: Option<PollSender<Bytes>>,
}

impl<R> TeeReader<R> {
    /// Wraps `inner`, sending copies to `copies`.
    pub fn new(inner: R, copies: mpsc::Sender<Bytes>) -> Self {
        Self { inner, copies: Some(PollSender::new(copies)) }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for TeeReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            // Nothing can be read, so nothing ends here either.
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        // Room for the copy first, so that no byte is read that could not be handed over.
        if let Some(copies) = &mut this.copies {
            if ready!(copies.poll_reserve(cx)).is_err() {
                this.copies = None;
            }
        }
        let before = buf.filled().len();
        let read = ready!(Pin::new(&mut this.inner).poll_read(cx, buf));
        if read.is_err() {
            // Closing without the end marker tells the ingest the body is incomplete.
            this.copies = None;
            return Poll::Ready(read);
        }
        if let Some(copies) = &mut this.copies {
            let fresh = &buf.filled()[before..];
            let copy = if fresh.is_empty() { end_marker() } else { Bytes::copy_from_slice(fresh) };
            if copies.send_item(copy).is_err() || fresh.is_empty() {
                this.copies = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The ingest thread's side: the body's chunks as a blocking reader. Call only from a thread
/// that may block (`spawn_blocking`).
pub struct ChunkReceiver {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
    ended: bool,
}

impl ChunkReceiver {
    /// Reads the chunks arriving on `chunks`.
    pub fn new(chunks: mpsc::Receiver<Bytes>) -> Self {
        Self { chunks, current: Bytes::new(), ended: false }
    }
}

impl Read for ChunkReceiver {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.ended || out.is_empty() {
                return Ok(0);
            }
            match self.chunks.blocking_recv() {
                Some(chunk) if chunk.is_empty() => self.ended = true,
                Some(chunk) => self.current = chunk,
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the body stopped before it was complete",
                    ))
                }
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A body that hands out its bytes in small reads, then optionally fails.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        fail_at_end: bool,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if self.at == self.bytes.len() && self.fail_at_end {
                return Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client gone")));
            }
            let n = (self.bytes.len() - self.at).min(buf.remaining()).min(7);
            let at = self.at;
            buf.put_slice(&self.bytes[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    fn body() -> Vec<u8> {
        (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_ingest_side_reads_exactly_the_bytes_the_archive_reads() {
        let (tx, rx) = channel();
        let copy = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            ChunkReceiver::new(rx).read_to_end(&mut all).map(|_| all)
        });
        let mut tee = TeeReader::new(Trickle { bytes: body(), at: 0, fail_at_end: false }, tx);
        let mut archived = Vec::new();
        tee.read_to_end(&mut archived).await.unwrap();
        drop(tee);
        assert_eq!(archived, body());
        assert_eq!(copy.await.unwrap().unwrap(), body());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_that_fails_is_an_error_on_the_ingest_side_not_a_shorter_file() {
        let (tx, rx) = channel();
        let copy = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            ChunkReceiver::new(rx).read_to_end(&mut all)
        });
        let mut tee = TeeReader::new(Trickle { bytes: body(), at: 0, fail_at_end: true }, tx);
        assert!(tee.read_to_end(&mut Vec::new()).await.is_err());
        drop(tee);
        let error = copy.await.unwrap().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_archive_goes_on_when_the_ingest_side_stops_listening() {
        let (tx, rx) = channel();
        drop(rx);
        let mut tee = TeeReader::new(Trickle { bytes: body(), at: 0, fail_at_end: false }, tx);
        let mut archived = Vec::new();
        tee.read_to_end(&mut archived).await.unwrap();
        assert_eq!(archived, body());
    }
}
