//! "An accepted upload triggers a Glue crawl", coalesced (`SHOPLAKE_GLUE_CRAWLER`): uploads
//! only mark a crawl as wanted, never wait for Glue; one task starts the crawler after a quiet
//! period (a burst of uploads makes one run), keeps at most one run in flight, reads
//! `CrawlerRunningException` as "running: start again once it ends", and retries failures
//! later. Partitions are registered by the catalog itself in the commit step, so the crawler is
//! for whatever else the account relies on it for (its own tables, classifiers, lineage).
//!
//! [`create_crawler`] (`shoplake glue-setup`) creates a crawler with the settings that avoid its
//! known traps: one table for the prefix, new folders only, partitions inheriting the table's
//! schema.

use crate::metrics::CrawlerFigures;
use aws_sdk_glue::error::DisplayErrorContext;
use aws_sdk_glue::types::{CrawlerState, CrawlerTargets, RecrawlBehavior, RecrawlPolicy, S3Target, SchemaChangePolicy};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// What the scheduler is doing, for `GET /v1/catalog/crawl` and `/metrics`.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CrawlStatus {
    /// The Glue crawler's name.
    pub crawler: String,
    /// What the scheduler is doing now.
    pub state: CrawlState,
    /// Whether uploads accepted since the last start still wait for a run.
    pub pending: bool,
    /// StartCrawler calls that started a run.
    pub starts: u64,
    /// StartCrawler calls answered `CrawlerRunningException` (started elsewhere).
    pub found_running: u64,
    /// Crawl requests from accepted uploads.
    pub requests: u64,
    /// When the last run was started (RFC 3339).
    pub last_started_at: Option<String>,
    /// The last error from Glue, if the last attempt failed.
    pub last_error: Option<String>,
}

/// What the crawler scheduler is doing: `idle` (no crawl wanted), `waiting` (the quiet period
/// before a start), `running` (a run is in flight), or `retrying` (the last start failed; it is
/// tried again after the quiet period).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CrawlState {
    /// No crawl wanted: waiting for an accepted upload.
    #[default]
    Idle,
    /// The quiet period before a start (a burst of uploads makes one run).
    Waiting,
    /// A run is in flight.
    Running,
    /// The last start failed; it is tried again after the quiet period.
    Retrying,
}

/// Starts the crawler after accepted uploads, coalesced. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CrawlScheduler {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    status: Mutex<CrawlStatus>,
    wake: Notify,
}

impl CrawlScheduler {
    /// Spawns the task that runs `crawler` at most once at a time, `quiet` after the first of a
    /// burst of requests; a run in flight is polled every `quiet` (at most 10 s).
    pub fn start(client: aws_sdk_glue::Client, crawler: &str, quiet: Duration) -> Self {
        let shared = Arc::new(Shared {
            status: Mutex::new(CrawlStatus {
                crawler: crawler.to_owned(),
                state: CrawlState::Idle,
                ..Default::default()
            }),
            wake: Notify::new(),
        });
        tokio::spawn(run(client, crawler.to_owned(), quiet, Arc::clone(&shared)));
        Self { shared }
    }

    /// Asks for a crawl (after an accepted upload): returns at once, whatever Glue is doing.
    pub fn request(&self) {
        {
            let mut status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
            status.requests += 1;
            status.pending = true;
        }
        self.shared.wake.notify_one();
    }

    /// The scheduler's state now.
    pub fn status(&self) -> CrawlStatus {
        self.shared.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The scheduler's counters, for `/metrics`.
    pub fn metrics(&self) -> CrawlerFigures {
        let status = self.status();
        CrawlerFigures {
            starts: status.starts,
            found_running: status.found_running,
            requests: status.requests,
            pending: status.pending,
        }
    }
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut CrawlStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Takes the pending flag (true when a run is wanted).
    fn take_pending(&self) -> bool {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut status.pending)
    }
}

async fn run(client: aws_sdk_glue::Client, crawler: String, quiet: Duration, shared: Arc<Shared>) {
    let poll = quiet.clamp(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        if !shared.status.lock().unwrap_or_else(|e| e.into_inner()).pending {
            shared.update(|s| s.state = CrawlState::Idle);
            shared.wake.notified().await;
        }
        // A burst of uploads: one run for all of them.
        shared.update(|s| s.state = CrawlState::Waiting);
        tokio::time::sleep(quiet).await;
        if !shared.take_pending() {
            continue;
        }
        match client.start_crawler().name(&crawler).send().await {
            Ok(_) => shared.update(|s| {
                s.starts += 1;
                s.state = CrawlState::Running;
                s.last_started_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                s.last_error = None;
            }),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_crawler_running_exception()) => {
                // Running already (started elsewhere): what it crawls may predate our uploads.
                shared.update(|s| {
                    s.found_running += 1;
                    s.pending = true;
                    s.state = CrawlState::Running;
                });
            }
            Err(error) => {
                let message = DisplayErrorContext(&error).to_string();
                tracing::warn!(crawler, error = %message, "could not start the Glue crawler; trying again later");
                crate::metrics::dependencies::GLUE.error();
                shared.update(|s| {
                    s.pending = true;
                    s.state = CrawlState::Retrying;
                    s.last_error = Some(message);
                });
                continue;
            }
        }
        wait_until_ready(&client, &crawler, poll).await;
    }
}

/// Polls until the crawler is READY again (or cannot be read: then it is left to the next start).
async fn wait_until_ready(client: &aws_sdk_glue::Client, crawler: &str, poll: Duration) {
    let mut failures = 0;
    loop {
        tokio::time::sleep(poll).await;
        match client.get_crawler().name(crawler).send().await {
            Ok(found) => {
                if found.crawler().and_then(|c| c.state()) != Some(&CrawlerState::Running)
                    && found.crawler().and_then(|c| c.state()) != Some(&CrawlerState::Stopping)
                {
                    return;
                }
            }
            Err(error) => {
                failures += 1;
                if failures >= 5 {
                    tracing::warn!(crawler, error = %DisplayErrorContext(&error), "cannot read the Glue crawler's state");
                    return;
                }
            }
        }
    }
}

/// Creates `name`: crawls `s3_path` (the processed prefix) into `database` with the settings
/// that avoid a crawler's known traps over our layout — one table for the whole prefix
/// (`CombineCompatibleSchemas`, table level from the prefix), only new folders on each run (a
/// run costs little however large the lake), partitions inheriting the table's schema (no
/// HIVE_PARTITION_SCHEMA_MISMATCH), and schema changes only logged (shoplake's catalog owns
/// the schema). Returns false when a crawler of that name exists already (left unchanged).
pub async fn create_crawler(
    client: &aws_sdk_glue::Client,
    name: &str,
    database: &str,
    s3_path: &str,
    role: &str,
) -> Result<bool, String> {
    let table_level = s3_path.trim_start_matches("s3://").trim_end_matches('/').split('/').count();
    let configuration = serde_json::json!({
        "Version": 1.0,
        "Grouping": { "TableGroupingPolicy": "CombineCompatibleSchemas", "TableLevelConfiguration": table_level },
        "CrawlerOutput": { "Partitions": { "AddOrUpdateBehavior": "InheritFromTable" } }
    });
    let created = client
        .create_crawler()
        .name(name)
        .role(role)
        .database_name(database)
        .targets(CrawlerTargets::builder().s3_targets(S3Target::builder().path(s3_path).build()).build())
        .recrawl_policy(RecrawlPolicy::builder().recrawl_behavior(RecrawlBehavior::CrawlNewFoldersOnly).build())
        .schema_change_policy(
            SchemaChangePolicy::builder()
                .update_behavior(aws_sdk_glue::types::UpdateBehavior::Log)
                .delete_behavior(aws_sdk_glue::types::DeleteBehavior::Log)
                .build(),
        )
        .configuration(configuration.to_string())
        .send()
        .await;
    match created {
        Ok(_) => Ok(true),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => Ok(false),
        Err(error) => Err(DisplayErrorContext(&error).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crawl_states_serialize_as_the_lowercase_words_of_the_status_route() {
        for (state, word) in [
            (CrawlState::Idle, "idle"),
            (CrawlState::Waiting, "waiting"),
            (CrawlState::Running, "running"),
            (CrawlState::Retrying, "retrying"),
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), word);
        }
    }
}
