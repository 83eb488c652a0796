//! `AppState`: what the request handlers use, built by the application's wiring (`app`) and
//! handed to [`super::router`].

use super::admission::ShopSlots;
use crate::auth::Keys;
use crate::catalog::glue_crawler::CrawlScheduler;
use crate::catalog::Catalog;
use crate::config::Settings;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::query::SqlEngine;
use crate::storage::BlobStore;
use std::sync::Arc;

/// Everything a request handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The effective configuration.
    pub settings: Arc<Settings>,
    /// Token verification keys.
    pub keys: Arc<Keys>,
    /// State database.
    pub db: Db,
    /// Blob storage.
    pub store: Arc<dyn BlobStore>,
    /// Tables and partitions.
    pub catalog: Arc<dyn Catalog>,
    /// The upload use case.
    pub pipeline: Pipeline,
    /// The SQL engine chosen by the settings (embedded or Athena).
    pub sql: Arc<dyn SqlEngine>,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
    /// Admission control: one permit per upload being read and processed.
    pub upload_slots: Arc<tokio::sync::Semaphore>,
    /// Each shop's share of the upload slots.
    pub shop_slots: Arc<ShopSlots>,
    /// The Glue crawler scheduler, when `SHOPLAKE_GLUE_CRAWLER` is set.
    pub crawls: Option<CrawlScheduler>,
    /// The reporting pages' widget answers, kept until their partitions change.
    pub answers: Arc<super::ui::AnswerCache>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("catalog", &self.catalog)
            .field("sql", &self.sql.name())
            .finish_non_exhaustive()
    }
}
