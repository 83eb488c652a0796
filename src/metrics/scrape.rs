//! Figures read when `/metrics` is scraped: uploads by status in the database, upload slots in
//! use, the Glue crawler, dependency calls, the process itself and the build. They are
//! recorded into a recorder made for that one scrape, so a figure that cannot be read (the
//! database down) is left out rather than shown stale, and process-wide figures never mix
//! into an application's own recorder.

use super::dependencies;
use crate::domain::UploadStatus;
use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::sync::LazyLock;

/// What the caller read for one scrape.
#[derive(Debug, Default)]
pub struct ScrapeFigures<'a> {
    /// Uploads in the database by status, read from the database so they are exact across
    /// restarts and replicas; `None` while the database is unreachable (that gauge is left out,
    /// everything else is still served).
    pub uploads_by_status: Option<&'a [(String, i64)]>,
    /// The service's upload slots (`max_concurrent_uploads`).
    pub upload_slots: usize,
    /// Upload slots held now: uploads being read and processed.
    pub upload_slots_in_use: usize,
    /// The Glue crawler scheduler's figures, when one runs.
    pub crawler: Option<CrawlerFigures>,
}

/// The Glue crawler scheduler's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrawlerFigures {
    /// Runs started by shoplake.
    pub starts: u64,
    /// Starts answered `CrawlerRunningException`.
    pub found_running: u64,
    /// Crawl requests from accepted uploads.
    pub requests: u64,
    /// Whether accepted uploads wait for a run.
    pub pending: bool,
}

/// The process collector (resident memory, open file descriptors, CPU...; Linux `/proc/self`).
static PROCESS: LazyLock<metrics_process::Collector> = LazyLock::new(metrics_process::Collector::default);

/// Renders `figures` with the process's own, in the Prometheus text format.
pub(super) fn render(figures: &ScrapeFigures<'_>) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        record_uploads(figures);
        if let Some(crawler) = figures.crawler {
            record_crawler(crawler);
        }
        dependencies::record();
        PROCESS.describe();
        PROCESS.collect();
        describe_gauge!("shoplake_build_info", "The running build: its version as a label, value 1.");
        gauge!("shoplake_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    });
    recorder.handle().render()
}

fn record_uploads(figures: &ScrapeFigures<'_>) {
    if let Some(by_status) = figures.uploads_by_status {
        describe_gauge!("shoplake_uploads", "Uploads in the database by current status.");
        for status in UploadStatus::ALL {
            let n = by_status.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
            gauge!("shoplake_uploads", "status" => status.as_str()).set(n as f64);
        }
    }
    describe_gauge!("shoplake_upload_slots_max", Unit::Count, "Upload slots of the service (max_concurrent_uploads).");
    gauge!("shoplake_upload_slots_max").set(figures.upload_slots as f64);
    describe_gauge!(
        "shoplake_upload_slots_in_use",
        Unit::Count,
        "Upload slots held: uploads being read and processed."
    );
    gauge!("shoplake_upload_slots_in_use").set(figures.upload_slots_in_use as f64);
}

fn record_crawler(crawler: CrawlerFigures) {
    let counters = [
        ("shoplake_glue_crawler_starts_total", "Glue crawler runs started by shoplake.", crawler.starts),
        (
            "shoplake_glue_crawler_found_running_total",
            "Starts answered CrawlerRunningException.",
            crawler.found_running,
        ),
        ("shoplake_glue_crawler_requests_total", "Crawl requests from accepted uploads.", crawler.requests),
    ];
    for (name, help, value) in counters {
        describe_counter!(name, help);
        counter!(name).absolute(value);
    }
    describe_gauge!("shoplake_glue_crawler_pending", "Whether accepted uploads wait for a crawler run.");
    gauge!("shoplake_glue_crawler_pending").set(f64::from(u8::from(crawler.pending)));
}
