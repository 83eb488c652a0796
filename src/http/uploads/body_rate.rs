//! Slow-client protection: a request body must keep an average rate once its grace period is
//! over, so a client trickling bytes cannot hold a connection, a worker and a scratch file for
//! the whole request timeout. (The idle timeout alone does not catch a byte every few seconds.)

use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Watches one body's rate; [`MinimumRate::check`] fails once the average falls below the
/// minimum after the grace period. Cloning shares the verdict.
#[derive(Debug, Clone)]
pub struct MinimumRate {
    started: Instant,
    grace: Duration,
    bytes_per_sec: u64,
    received_bytes: u64,
    tripped: Arc<AtomicBool>,
}

impl MinimumRate {
    /// A guard starting now; `bytes_per_sec == 0` never trips.
    pub fn new(bytes_per_sec: u64, grace: Duration) -> Self {
        Self { started: Instant::now(), grace, bytes_per_sec, received_bytes: 0, tripped: Arc::default() }
    }

    /// Counts a chunk; an error (kind `TimedOut`) when the body is too slow.
    pub fn check(&mut self, chunk: Bytes) -> std::io::Result<Bytes> {
        self.received_bytes += chunk.len() as u64;
        let elapsed = self.started.elapsed();
        if self.bytes_per_sec > 0
            && elapsed > self.grace
            && (self.received_bytes as f64) < self.bytes_per_sec as f64 * elapsed.as_secs_f64()
        {
            self.tripped.store(true, Ordering::Relaxed);
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, self.explain()));
        }
        Ok(chunk)
    }

    /// Whether this body (or a clone's) was cut off for being too slow.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::Relaxed)
    }

    /// The refusal, in words.
    pub fn explain(&self) -> String {
        format!(
            "the body arrived slower than the minimum of {} bytes per second (after the first {} s); \
             the upload was cut off and nothing was kept",
            self.bytes_per_sec,
            self.grace.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_never_cut_off_during_its_grace_period() {
        let mut guard = MinimumRate::new(1_000_000, Duration::from_secs(60));
        assert!(guard.check(Bytes::from_static(b"x")).is_ok());
        assert!(!guard.tripped());
    }

    #[test]
    fn a_body_below_the_rate_after_the_grace_period_is_cut_off_and_says_why() {
        let mut guard = MinimumRate::new(1_000_000, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        let error = guard.check(Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("1000000 bytes per second"), "{error}");
        assert!(guard.clone().tripped());
    }

    #[test]
    fn a_fast_body_and_a_zero_minimum_pass() {
        let mut fast = MinimumRate::new(1, Duration::ZERO);
        assert!(fast.check(Bytes::from(vec![0u8; 1 << 20])).is_ok());
        let mut off = MinimumRate::new(0, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert!(off.check(Bytes::from_static(b"x")).is_ok());
    }
}
