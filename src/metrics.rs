//! Prometheus metrics, kept by hand (a few counters and one histogram need no registry crate).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request-duration histogram buckets.
const BUCKETS_SECONDS: [f64; 12] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0];

/// One histogram series: per-bucket counts, total count, sum of seconds.
#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS_SECONDS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Calls to the dependencies (S3, the database), counted where the calls are made. Process-wide
/// statics: the clients that count them are built before, and live apart from, [`Metrics`].
pub mod dependencies {
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
}

/// Process-wide metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    bytes_received: AtomicU64,
    uploads_finished: Mutex<BTreeMap<&'static str, u64>>,
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl Metrics {
    /// Counts the bytes of an archived upload body.
    pub fn add_bytes_received(&self, bytes: u64) {
        self.bytes_received.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts an upload that reached `status` in this process.
    pub fn upload_reached(&self, status: crate::domain::UploadStatus) {
        *self.uploads_finished.lock().expect("metrics lock").entry(status.as_str()).or_default() += 1;
    }

    /// Records one HTTP request's duration under its route template (never the raw path, which
    /// would make one series per upload id).
    /// `method` becomes a label only when it is a standard one (others count as `OTHER`), so
    /// no client can make up series; `route` must be a route template, never a raw path.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"];
        let method = KNOWN.iter().find(|known| **known == method).copied().unwrap_or("OTHER");
        let seconds = elapsed.as_secs_f64();
        let mut requests = self.requests.lock().expect("metrics lock");
        let series = requests.entry((method.to_owned(), route.to_owned(), status)).or_default();
        for (bound, bucket) in BUCKETS_SECONDS.iter().zip(series.buckets.iter_mut()) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        series.count += 1;
        series.sum_seconds += seconds;
    }

    /// Renders the Prometheus text exposition format; `uploads_by_status` comes from the
    /// database so it is exact across restarts and replicas (`None` while the database is
    /// unreachable: that gauge is left out, the process's own counters are still served).
    pub fn render(&self, uploads_by_status: Option<&[(String, i64)]>) -> String {
        let mut out = String::new();
        if let Some(uploads_by_status) = uploads_by_status {
            out.push_str(
                "# HELP shoplake_uploads Uploads in the database by current status.\n# TYPE shoplake_uploads gauge\n",
            );
            for status in crate::domain::UploadStatus::ALL {
                let n = uploads_by_status.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
                let _ = writeln!(out, "shoplake_uploads{{status=\"{}\"}} {n}", status.as_str());
            }
        }
        out.push_str("# HELP shoplake_uploads_finished_total Uploads that reached a status in this process.\n# TYPE shoplake_uploads_finished_total counter\n");
        for (status, n) in self.uploads_finished.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "shoplake_uploads_finished_total{{status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP shoplake_upload_bytes_received_total Bytes of upload bodies archived.\n# TYPE shoplake_upload_bytes_received_total counter\n");
        let _ = writeln!(out, "shoplake_upload_bytes_received_total {}", self.bytes_received.load(Ordering::Relaxed));
        let (s3_requests, s3_retries, s3_errors) = dependencies::S3.snapshot();
        let (_, _, database_errors) = dependencies::DATABASE.snapshot();
        let (_, _, glue_errors) = dependencies::GLUE.snapshot();
        out.push_str("# HELP shoplake_s3_requests_total S3 requests sent, retries included.\n# TYPE shoplake_s3_requests_total counter\n");
        let _ = writeln!(out, "shoplake_s3_requests_total {s3_requests}");
        out.push_str("# HELP shoplake_s3_retries_total S3 requests that were retries (throttling, 5xx, timeouts).\n# TYPE shoplake_s3_retries_total counter\n");
        let _ = writeln!(out, "shoplake_s3_retries_total {s3_retries}");
        out.push_str("# HELP shoplake_s3_errors_total S3 operations that failed after their retries.\n# TYPE shoplake_s3_errors_total counter\n");
        let _ = writeln!(out, "shoplake_s3_errors_total {s3_errors}");
        out.push_str("# HELP shoplake_database_errors_total Database calls that failed (unreachable, timeout, lock).\n# TYPE shoplake_database_errors_total counter\n");
        let _ = writeln!(out, "shoplake_database_errors_total {database_errors}");
        out.push_str("# HELP shoplake_glue_errors_total Glue Data Catalog calls that failed after their retries.\n# TYPE shoplake_glue_errors_total counter\n");
        let _ = writeln!(out, "shoplake_glue_errors_total {glue_errors}");
        out.push_str("# HELP shoplake_http_request_duration_seconds HTTP request durations by route.\n# TYPE shoplake_http_request_duration_seconds histogram\n");
        for ((method, route, status), h) in self.requests.lock().expect("metrics lock").iter() {
            let labels = format!("method=\"{method}\",route=\"{}\",status=\"{status}\"", route.replace('"', "\\\""));
            for (bound, n) in BUCKETS_SECONDS.iter().zip(h.buckets.iter()) {
                let _ = writeln!(out, "shoplake_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(out, "shoplake_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "shoplake_http_request_duration_seconds_sum{{{labels}}} {}", h.sum_seconds);
            let _ = writeln!(out, "shoplake_http_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::default();
        metrics.observe_request("GET", "/healthz", 200, Duration::from_millis(3));
        metrics.observe_request("GET", "/healthz", 200, Duration::from_millis(300));
        let text = metrics.render(Some(&[("succeeded".into(), 2)]));
        assert!(text.contains("route=\"/healthz\",status=\"200\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("route=\"/healthz\",status=\"200\",le=\"0.5\"} 2"), "{text}");
        assert!(text.contains("shoplake_uploads{status=\"succeeded\"} 2"));
        assert!(text.contains("shoplake_uploads{status=\"failed\"} 0"));
    }

    #[test]
    fn made_up_methods_share_one_label() {
        let metrics = Metrics::default();
        for i in 0..1000 {
            metrics.observe_request(&format!("M{i}"), "unmatched", 405, Duration::from_millis(1));
        }
        metrics.observe_request("GET", "/healthz", 200, Duration::from_millis(1));
        let text = metrics.render(None);
        assert!(!text.contains("M1"), "a made-up method became a label");
        assert!(text.contains("method=\"OTHER\""), "{text}");
        assert_eq!(metrics.requests.lock().unwrap().len(), 2);
    }
}
