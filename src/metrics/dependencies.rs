//! Calls to the dependencies (S3, the database, Glue), counted where the calls are made.
//! Process-wide statics: the clients that count them are built before, and live apart from,
//! [`super::Metrics`]; each scrape reads them ([`record`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one dependency.
#[derive(Debug, Default)]
pub struct Calls {
    attempts: AtomicU64,
    retries: AtomicU64,
    errors: AtomicU64,
}

impl Calls {
    const fn new() -> Self {
        Self { attempts: AtomicU64::new(0), retries: AtomicU64::new(0), errors: AtomicU64::new(0) }
    }

    /// One request sent: a first try, or a `retry` of the same operation.
    pub fn attempt(&self, retry: bool) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if retry {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One operation over, after all its attempts; `failed` when it ended in an error of the
    /// dependency (unreachable, 5xx, throttled), not in an answer like 404.
    pub fn finished(&self, failed: bool) {
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One failed call of a dependency that is not retried (the database).
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// (requests sent, retries, errors).
    pub fn snapshot(&self) -> (u64, u64, u64) {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        (load(&self.attempts), load(&self.retries), load(&self.errors))
    }
}

/// S3: the storage's requests (retries included) and the query engine's reads.
pub static S3: Calls = Calls::new();
/// The state database.
pub static DATABASE: Calls = Calls::new();
/// The AWS Glue Data Catalog (errors after the SDK's retries).
pub static GLUE: Calls = Calls::new();

/// Records the counters into the recorder in scope (a scrape's).
pub(super) fn record() {
    let (s3_requests, s3_retries, s3_errors) = S3.snapshot();
    let (_, _, database_errors) = DATABASE.snapshot();
    let (_, _, glue_errors) = GLUE.snapshot();
    let counters = [
        ("shoplake_s3_requests_total", "S3 requests sent, retries included.", s3_requests),
        ("shoplake_s3_retries_total", "S3 requests that were retries (throttling, 5xx, timeouts).", s3_retries),
        ("shoplake_s3_errors_total", "S3 operations that failed after their retries.", s3_errors),
        ("shoplake_database_errors_total", "Database calls that failed (unreachable, timeout, lock).", database_errors),
        ("shoplake_glue_errors_total", "Glue Data Catalog calls that failed after their retries.", glue_errors),
    ];
    for (name, help, value) in counters {
        metrics::describe_counter!(name, help);
        metrics::counter!(name).absolute(value);
    }
}
