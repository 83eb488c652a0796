//! `DigestReader`: passes bytes through while computing their sha256 and size, and stops with an
//! error once the configured size limit is exceeded.

use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Size and digest of what went through a [`DigestReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSummary {
    /// Bytes read.
    pub bytes: u64,
    /// Lowercase hex sha256 of those bytes.
    pub sha256_hex: String,
    /// Whether reading stopped because the limit was exceeded.
    pub over_limit: bool,
}

/// An `AsyncRead` adapter that hashes, counts and limits.
#[derive(Debug)]
pub struct DigestReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    limit: u64,
    over_limit: bool,
}

impl<R> DigestReader<R> {
    /// Wraps `inner`; reading more than `limit` bytes fails.
    pub fn new(inner: R, limit: u64) -> Self {
        Self { inner, hasher: Sha256::new(), bytes: 0, limit, over_limit: false }
    }

    /// What went through so far.
    pub fn summary(&self) -> DigestSummary {
        DigestSummary {
            bytes: self.bytes,
            sha256_hex: hex::encode(self.hasher.clone().finalize()),
            over_limit: self.over_limit,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for DigestReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh_len = buf.filled().len() - before;
                this.bytes += fresh_len as u64;
                if this.bytes > this.limit {
                    this.over_limit = true;
                    // A failed read must not hand out bytes.
                    buf.set_filled(before);
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::FileTooLarge,
                        "body exceeds the size limit",
                    )));
                }
                this.hasher.update(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn digest_matches_sha256_of_the_bytes() {
        let mut reader = DigestReader::new(&b"abc"[..], 10);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        let summary = reader.summary();
        assert_eq!(summary.bytes, 3);
        assert_eq!(summary.sha256_hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(!summary.over_limit);
    }

    #[tokio::test]
    async fn one_byte_over_the_limit_fails() {
        let mut reader = DigestReader::new(&b"abcd"[..], 3);
        let mut out = Vec::new();
        assert!(reader.read_to_end(&mut out).await.is_err());
        assert!(reader.summary().over_limit);
        let mut exact = DigestReader::new(&b"abc"[..], 3);
        assert!(exact.read_to_end(&mut Vec::new()).await.is_ok());
    }
}
