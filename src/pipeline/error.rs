//! How an upload stops short of success: `PipelineError` (what the caller is answered) and
//! `Stop` (the status the upload ends in, with the problem recorded on it).

use crate::catalog::CatalogError;
use crate::db::DbError;
use crate::domain::{UploadId, UploadStatus};
use crate::ingest::{IngestError, RowError};
use crate::storage::StorageError;

/// Why an upload could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The body exceeded the configured limit; nothing was kept.
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: u64,
        /// The upload recorded as failed (none for a dry run).
        upload_id: Option<UploadId>,
    },
    /// The body inflates past the decompressed-size limit; the raw archive is kept, nothing else.
    #[error("{problem}")]
    DecompressedTooLarge {
        /// In words, with the limit.
        problem: String,
        /// The upload recorded as rejected.
        upload_id: UploadId,
    },
    /// The client stopped sending before the body was complete; nothing was kept.
    #[error("the upload was interrupted before the body was complete: {source}")]
    Interrupted {
        /// What the body stream reported.
        source: std::io::Error,
        /// The upload recorded as failed (none for a dry run).
        upload_id: Option<UploadId>,
    },
    /// The whole file is refused (empty, undecodable, too many bad rows...); `processed/` untouched.
    #[error("{problem}")]
    Rejected {
        /// In words, what and where.
        problem: String,
        /// The upload recorded as rejected.
        upload_id: UploadId,
        /// The first row errors, when rows were the reason.
        errors: Vec<RowError>,
    },
    /// The `Idempotency-Key` was first used with other bytes.
    #[error("Idempotency-Key '{key}' was already used by upload {first} with different bytes")]
    KeyReused {
        /// The key.
        key: String,
        /// The upload that used it first.
        first: String,
    },
    /// Storage failed: retry later.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database failed: retry later.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The catalog failed: retry later.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Local disk I/O failed while processing (scratch space full or unwritable): retry later.
    #[error("processing failed on the local disk: {0}")]
    LocalIo(#[source] std::io::Error),
    /// Writing the partition failed for a reason that is not the file's fault (a bug).
    #[error("processing failed: {0}")]
    Internal(#[source] IngestError),
}

impl PipelineError {
    /// A failure of the ingest core that is not the file's fault, by its cause: the local disk
    /// (retry later), or anything else (a bug).
    pub fn processing(error: IngestError) -> Self {
        match error {
            IngestError::Io(io) => Self::LocalIo(io),
            other => Self::Internal(other),
        }
    }
}

/// An upload that cannot go on: the status it ends in, the problem recorded on it, and the
/// error its caller is answered. Every early end goes through [`super::Pipeline::end`].
#[derive(Debug)]
pub(super) struct Stop {
    /// `failed` (not the file's fault) or `rejected` (the file's).
    pub status: UploadStatus,
    /// In words, recorded on the upload.
    pub problem: String,
    /// What the caller is answered.
    pub error: PipelineError,
}

impl Stop {
    /// Not the file's fault: the upload is `failed` with `problem`, the caller gets `error`.
    pub fn failed(problem: String, error: impl Into<PipelineError>) -> Self {
        Self { status: UploadStatus::Failed, problem, error: error.into() }
    }

    /// The whole file is refused: `rejected`, answered with the problem and its row errors.
    pub fn rejected(problem: String, upload_id: UploadId, errors: Vec<RowError>) -> Self {
        Self {
            status: UploadStatus::Rejected,
            error: PipelineError::Rejected { problem: problem.clone(), upload_id, errors },
            problem,
        }
    }
}

/// Why a step returned early: an end to record ([`Stop`]), or a failure to pass on as it is
/// (a dependency that failed where the reconciler finishes the upload later).
#[derive(Debug)]
pub(super) enum Halt {
    /// Record the end, answer its error.
    End(Stop),
    /// Answer this error; the upload's status stays for the reconciler.
    Error(PipelineError),
}

impl From<Stop> for Halt {
    fn from(stop: Stop) -> Self {
        Self::End(stop)
    }
}

impl From<PipelineError> for Halt {
    fn from(error: PipelineError) -> Self {
        Self::Error(error)
    }
}

impl From<DbError> for Halt {
    fn from(error: DbError) -> Self {
        Self::Error(error.into())
    }
}

impl From<StorageError> for Halt {
    fn from(error: StorageError) -> Self {
        Self::Error(error.into())
    }
}

impl From<CatalogError> for Halt {
    fn from(error: CatalogError) -> Self {
        Self::Error(error.into())
    }
}
