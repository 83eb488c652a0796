//! Prometheus metrics through the `metrics` crate, rendered by `metrics-exporter-prometheus`
//! (text format 0.0.4; render only: the exporter opens no socket and pushes nowhere).
//!
//! Events (requests, uploads, rows, queries, uploads waiting for a slot) are recorded as they
//! happen into a recorder each [`Metrics`] owns. The process-global recorder is never
//! installed: several applications in one process (the tests) each count their own, and
//! nothing recorded elsewhere in the process leaks into `/metrics`. Figures read at scrape time
//! (uploads by status, slots in use, dependency calls, the process) are in [`scrape`].

pub mod dependencies;
mod scrape;

pub use scrape::{CrawlerFigures, ScrapeFigures};

use crate::domain::{UploadId, UploadStatus};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HTTP_REQUEST_DURATION: &str = "shoplake_http_request_duration_seconds";
const UPLOADS_FINISHED: &str = "shoplake_uploads_finished_total";
const UPLOAD_DURATION: &str = "shoplake_upload_duration_seconds";
const UPLOAD_RECEIVED_BYTES: &str = "shoplake_upload_received_bytes_total";
const ROWS_ACCEPTED: &str = "shoplake_rows_accepted_total";
const ROWS_REJECTED: &str = "shoplake_rows_rejected_total";
const QUERY_DURATION: &str = "shoplake_query_duration_seconds";
const UPLOADS_WAITING: &str = "shoplake_uploads_waiting";
const UI_ANSWERS: &str = "shoplake_ui_answers_total";

/// Upper bounds (seconds) the duration histograms take, up to the request timeout.
const BUCKET_LADDER_SECONDS: [f64; 19] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0,
];

/// The service's metrics: a recorder of its own, and handles to its unlabelled series.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    received_bytes: Counter,
    rows_accepted: Counter,
    rows_rejected: Counter,
    uploads_waiting: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    /// Histograms up to 60 s, for the tools that never serve `/metrics` (CLI, Lambda handler).
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

impl Metrics {
    /// Metrics whose duration histograms reach `request_timeout` (no request takes longer).
    pub fn new(request_timeout: Duration) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets_up_to(request_timeout))
            .expect("the bucket list always holds the request timeout")
            .build_recorder();
        let handle = recorder.handle();
        let (received_bytes, rows_accepted, rows_rejected, uploads_waiting) = metrics::with_local_recorder(
            &recorder,
            || {
                describe_histogram!(HTTP_REQUEST_DURATION, Unit::Seconds, "HTTP request durations by route.");
                describe_counter!(UPLOADS_FINISHED, "Uploads that reached a status in this process.");
                describe_histogram!(
                    UPLOAD_DURATION,
                    Unit::Seconds,
                    "Time from an upload's arrival to the status it ended in, by that status."
                );
                describe_counter!(UPLOAD_RECEIVED_BYTES, Unit::Bytes, "Bytes of upload bodies archived.");
                describe_counter!(ROWS_ACCEPTED, Unit::Count, "Rows written to the lake by uploads that succeeded.");
                describe_counter!(
                    ROWS_REJECTED,
                    Unit::Count,
                    "Rows refused by validation (their upload may still succeed with the others)."
                );
                describe_histogram!(
                    QUERY_DURATION,
                    Unit::Seconds,
                    "POST /v1/query durations by engine (embedded or athena), failures included."
                );
                describe_counter!(
                    UI_ANSWERS,
                    Unit::Count,
                    "Widget answers of the reporting pages by source: kept (unchanged partitions), run (and kept), run_unkept."
                );
                describe_gauge!(
                    UPLOADS_WAITING,
                    Unit::Count,
                    "Uploads waiting for an upload slot (their shop's or the service's)."
                );
                (
                    counter!(UPLOAD_RECEIVED_BYTES),
                    counter!(ROWS_ACCEPTED),
                    counter!(ROWS_REJECTED),
                    gauge!(UPLOADS_WAITING),
                )
            },
        );
        Self { recorder, handle, received_bytes, rows_accepted, rows_rejected, uploads_waiting }
    }

    /// Counts the bytes of an archived upload body.
    pub fn add_bytes_received(&self, bytes: u64) {
        self.received_bytes.increment(bytes);
    }

    /// Counts rows written to the lake by an upload that succeeded.
    pub fn add_rows_accepted(&self, rows: u64) {
        self.rows_accepted.increment(rows);
    }

    /// Counts rows that validation refused.
    pub fn add_rows_rejected(&self, rows: u64) {
        self.rows_rejected.increment(rows);
    }

    /// Counts upload `id` reaching `status` in this process, and records how long it took
    /// since it arrived (the time its UUIDv7 id holds).
    pub fn upload_reached(&self, id: &UploadId, status: UploadStatus) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!(UPLOADS_FINISHED, "status" => status.as_str()).increment(1);
            if let Some(elapsed) = since_received(id) {
                histogram!(UPLOAD_DURATION, "status" => status.as_str()).record(elapsed.as_secs_f64());
            }
        });
    }

    /// Counts one widget answer of the reporting pages by where it came from.
    pub fn widget_answered(&self, source: &'static str) {
        metrics::with_local_recorder(&self.recorder, || counter!(UI_ANSWERS, "source" => source).increment(1));
    }

    /// Counts an upload waiting for a slot until the returned guard is dropped.
    pub fn wait_for_upload_slot(&self) -> WaitingForSlot {
        self.uploads_waiting.increment(1.0);
        WaitingForSlot { uploads_waiting: self.uploads_waiting.clone() }
    }

    /// Times one query on `engine` (`embedded` or `athena`) until the returned timer is dropped.
    pub fn time_query(&self, engine: &'static str) -> QueryTimer {
        let duration = metrics::with_local_recorder(&self.recorder, || histogram!(QUERY_DURATION, "engine" => engine));
        QueryTimer { duration, started: Instant::now() }
    }

    /// Records one HTTP request's duration under its route template (never the raw path, which
    /// would make one series per upload id).
    /// `method` becomes a label only when it is a standard one (others count as `OTHER`), so
    /// no client can make up series; `route` must be a route template, never a raw path.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"];
        let method = KNOWN.iter().find(|known| **known == method).copied().unwrap_or("OTHER");
        metrics::with_local_recorder(&self.recorder, || {
            histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route.to_owned(), "status" => status.to_string())
                .record(elapsed.as_secs_f64());
        });
    }

    /// Renders the Prometheus text exposition format: this application's events, then the
    /// figures read for this scrape.
    pub fn render(&self, figures: &ScrapeFigures<'_>) -> String {
        let mut text = self.handle.render();
        text.push_str(&scrape::render(figures));
        text
    }
}

/// An upload counted as waiting for a slot while this lives.
#[derive(Debug)]
pub struct WaitingForSlot {
    uploads_waiting: Gauge,
}

impl Drop for WaitingForSlot {
    fn drop(&mut self) {
        self.uploads_waiting.decrement(1.0);
    }
}

/// A query being timed; its duration is recorded when this is dropped.
#[derive(Debug)]
pub struct QueryTimer {
    duration: Histogram,
    started: Instant,
}

impl Drop for QueryTimer {
    fn drop(&mut self) {
        self.duration.record(self.started.elapsed().as_secs_f64());
    }
}

/// The ladder's bounds below `limit`, then `limit` itself.
fn buckets_up_to(limit: Duration) -> Vec<f64> {
    let limit = limit.as_secs_f64();
    let mut buckets: Vec<f64> = BUCKET_LADDER_SECONDS.into_iter().filter(|bound| *bound < limit).collect();
    buckets.push(limit);
    buckets
}

/// Time since upload `id` arrived: its UUIDv7 holds the moment it was created (`None` for an
/// id of another version).
fn since_received(id: &UploadId) -> Option<Duration> {
    let (seconds, nanos) = id.uuid().get_timestamp()?.to_unix();
    let received = UNIX_EPOCH + Duration::new(seconds, nanos);
    Some(SystemTime::now().duration_since(received).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(metrics: &Metrics, uploads_by_status: Option<&[(String, i64)]>) -> String {
        metrics.render(&ScrapeFigures { uploads_by_status, ..Default::default() })
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::default();
        metrics.observe_request("GET", "/healthz", 200, Duration::from_millis(3));
        metrics.observe_request("GET", "/healthz", 200, Duration::from_millis(300));
        let text = render(&metrics, Some(&[("succeeded".into(), 2)]));
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
        let text = render(&metrics, None);
        assert!(!text.contains("M1"), "a made-up method became a label");
        assert!(text.contains("method=\"OTHER\""), "{text}");
        let series = text.lines().filter(|l| l.starts_with(&format!("{HTTP_REQUEST_DURATION}_count"))).count();
        assert_eq!(series, 2, "{text}");
    }

    #[test]
    fn buckets_end_at_the_request_timeout() {
        assert_eq!(buckets_up_to(Duration::from_secs(900)).last(), Some(&900.0));
        assert_eq!(buckets_up_to(Duration::from_secs(60)).iter().filter(|b| **b == 60.0).count(), 1);
        let short = buckets_up_to(Duration::from_millis(200));
        assert_eq!(short, vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2]);
    }

    #[test]
    fn an_upload_duration_is_counted_from_its_arrival_under_its_final_status() {
        let metrics = Metrics::default();
        let id = UploadId::new();
        metrics.upload_reached(&id, UploadStatus::Rejected);
        let text = render(&metrics, None);
        assert!(text.contains("shoplake_uploads_finished_total{status=\"rejected\"} 1"), "{text}");
        assert!(text.contains("shoplake_upload_duration_seconds_count{status=\"rejected\"} 1"), "{text}");
    }

    #[test]
    fn the_waiting_gauge_falls_back_when_the_wait_ends() {
        let metrics = Metrics::default();
        let first = metrics.wait_for_upload_slot();
        let second = metrics.wait_for_upload_slot();
        assert!(render(&metrics, None).contains("shoplake_uploads_waiting 2"));
        drop((first, second));
        assert!(render(&metrics, None).contains("shoplake_uploads_waiting 0"));
    }

    #[test]
    fn two_applications_in_one_process_count_apart() {
        let one = Metrics::default();
        let other = Metrics::default();
        one.add_bytes_received(7);
        assert!(render(&one, None).contains("shoplake_upload_received_bytes_total 7"));
        assert!(render(&other, None).contains("shoplake_upload_received_bytes_total 0"));
    }
}
