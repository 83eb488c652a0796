//! `shoplake ingest`: the upload pipeline over local files, without HTTP — a progress bar for
//! many files, a summary table, and a non-zero exit when any file was rejected or failed.

use crate::domain::{SalesDate, ShopId, UploadStatus};
use crate::pipeline::{Incoming, Outcome, Pipeline, PipelineError};
use anyhow::{bail, Context};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One file to ingest and the shop-day it reports.
#[derive(Debug, Clone)]
pub struct Job {
    /// The shop.
    pub shop: ShopId,
    /// The shop-day.
    pub date: SalesDate,
    /// The file.
    pub path: PathBuf,
}

/// How one file ended.
#[derive(Debug)]
struct Finished {
    job: Job,
    verdict: &'static str,
    rows_accepted: i64,
    rows_rejected: i64,
    bytes: u64,
    note: String,
}

/// Jobs for `--shop S --date D FILE...`.
pub fn jobs_from_files(shop: &str, date: &str, files: &[PathBuf]) -> anyhow::Result<Vec<Job>> {
    let shop = ShopId::parse(shop).map_err(|e| anyhow::anyhow!("--shop: {e}"))?;
    let date = SalesDate::parse(date).map_err(|e| anyhow::anyhow!("--date: {e}"))?;
    Ok(files.iter().map(|path| Job { shop: shop.clone(), date, path: path.clone() }).collect())
}

/// Jobs for `--dir DIR`: `DIR/<shop>/<YYYY-MM-DD>.csv[.gz]`, where `<shop>` may be written
/// `shop_001` (the generator's layout), `shop_id=001` or `001`.
pub fn jobs_from_dir(dir: &Path) -> anyhow::Result<Vec<Job>> {
    let mut jobs = Vec::new();
    let shops = std::fs::read_dir(dir).with_context(|| format!("Failed to read {}", dir.display()))?;
    for shop_dir in shops {
        let shop_dir = shop_dir?.path();
        if !shop_dir.is_dir() {
            continue;
        }
        let name = shop_dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let raw_shop = name.strip_prefix("shop_id=").or_else(|| name.strip_prefix("shop_")).unwrap_or(&name);
        let shop = ShopId::parse(raw_shop).map_err(|e| anyhow::anyhow!("{}: {e}", shop_dir.display()))?;
        for file in std::fs::read_dir(&shop_dir)? {
            let path = file?.path();
            let file_name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let Some(stem) = file_name.strip_suffix(".csv.gz").or_else(|| file_name.strip_suffix(".csv")) else {
                continue;
            };
            let date = SalesDate::parse(stem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            jobs.push(Job { shop: shop.clone(), date, path });
        }
    }
    if jobs.is_empty() {
        bail!("no <shop>/<YYYY-MM-DD>.csv files under {}", dir.display());
    }
    jobs.sort_by(|a, b| (&a.shop, a.date, &a.path).cmp(&(&b.shop, b.date, &b.path)));
    Ok(jobs)
}

/// Runs the jobs `parallel` at a time; returns whether every file succeeded.
pub async fn run(pipeline: &Pipeline, jobs: Vec<Job>, parallel: usize) -> anyhow::Result<bool> {
    let started = Instant::now();
    let progress = indicatif::ProgressBar::new(jobs.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {per_sec} eta {eta}")
            .expect("valid template"),
    );
    if jobs.len() < 2 {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut results: Vec<Finished> = futures_util::stream::iter(jobs)
        .map(|job| {
            let progress = progress.clone();
            async move {
                let finished = ingest_one(pipeline, job).await;
                progress.inc(1);
                finished
            }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    progress.finish_and_clear();
    results.sort_by(|a, b| (&a.job.shop, a.job.date).cmp(&(&b.job.shop, b.job.date)));
    print_summary(&results, started.elapsed());
    Ok(results.iter().all(|r| r.verdict == "succeeded" || r.verdict == "duplicate"))
}

async fn ingest_one(pipeline: &Pipeline, job: Job) -> Finished {
    let mut finished = Finished {
        job: job.clone(),
        verdict: "failed",
        rows_accepted: 0,
        rows_rejected: 0,
        bytes: 0,
        note: String::new(),
    };
    let mut file = match tokio::fs::File::open(&job.path).await {
        Ok(file) => file,
        Err(e) => {
            finished.note = format!("cannot open: {e}");
            return finished;
        }
    };
    finished.bytes = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let incoming = Incoming {
        shop: job.shop.clone(),
        date: job.date,
        filename: job.path.file_name().map(|n| n.to_string_lossy().into_owned()),
        idempotency_key: None,
    };
    match pipeline.accept(incoming, &mut file).await {
        Ok(Outcome::Created(record)) => {
            finished.verdict = if record.status == UploadStatus::Superseded { "superseded" } else { "succeeded" };
            finished.rows_accepted = record.rows_accepted.unwrap_or(0);
            finished.rows_rejected = record.rows_rejected.unwrap_or(0);
            finished.note = record.id.to_string();
        }
        Ok(Outcome::Duplicate(record) | Outcome::Replayed(record)) => {
            finished.verdict = "duplicate";
            finished.note = format!("same bytes as upload {}", record.id);
        }
        Err(PipelineError::Rejected { problem, .. } | PipelineError::DecompressedTooLarge { problem, .. }) => {
            finished.verdict = "rejected";
            finished.note = problem;
        }
        Err(other) => finished.note = other.to_string(),
    }
    finished
}

/// Prints every file when there are few, else only the ones that need attention, then totals.
fn print_summary(results: &[Finished], elapsed: std::time::Duration) {
    let show_all = results.len() <= 50;
    println!("{:<10} {:<10} {:<10} {:>10} {:>9}  upload / problem", "shop", "date", "status", "accepted", "rejected");
    for r in results.iter().filter(|r| show_all || (r.verdict != "succeeded" && r.verdict != "duplicate")) {
        println!(
            "{:<10} {:<10} {:<10} {:>10} {:>9}  {}",
            r.job.shop.as_str(),
            r.job.date.to_string(),
            r.verdict,
            r.rows_accepted,
            r.rows_rejected,
            r.note
        );
    }
    let count = |verdict: &str| results.iter().filter(|r| r.verdict == verdict).count();
    let bytes: u64 = results.iter().map(|r| r.bytes).sum();
    let seconds = elapsed.as_secs_f64().max(1e-9);
    println!(
        "{} files: {} succeeded, {} duplicate, {} superseded, {} rejected, {} failed; {} rows accepted, {} rejected; {:.2} s, {:.0} files/s, {:.1} MB/s",
        results.len(),
        count("succeeded"),
        count("duplicate"),
        count("superseded"),
        count("rejected"),
        count("failed"),
        results.iter().map(|r| r.rows_accepted).sum::<i64>(),
        results.iter().map(|r| r.rows_rejected).sum::<i64>(),
        seconds,
        results.len() as f64 / seconds,
        bytes as f64 / 1e6 / seconds,
    );
}
