//! The `uploads` table: insert, status transitions, lookups and cursor-paginated lists.

/// Status changes of an upload, from its insert to its commit.
mod lifecycle;
/// Lookups of one upload and pages of a shop's uploads.
mod lookup;
/// The stored row and the typed record it decodes into.
mod record;

pub use lifecycle::{IngestResult, NewUpload};
pub use lookup::ListFilter;
pub use record::UploadRecord;

use super::{DbError, InstanceId};
use crate::domain::{UploadId, UploadStatus};
use sqlx::AnyPool;

/// Repository over the `uploads` table.
#[derive(Debug, Clone, Copy)]
pub struct Uploads<'p> {
    pool: &'p AnyPool,
    instance: &'p InstanceId,
}

impl<'p> Uploads<'p> {
    pub(in crate::db) fn new(pool: &'p AnyPool, instance: &'p InstanceId) -> Self {
        Self { pool, instance }
    }
}

/// The state machine refused, or the row was not in the status expected.
fn conflict(id: &UploadId, from: UploadStatus, to: UploadStatus) -> DbError {
    DbError::Conflict { id: id.to_string(), actual: from.as_str().into(), wanted: to.as_str().into() }
}
