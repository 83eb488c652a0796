//! SDK errors read for their HTTP status and turned into [`StorageError`]s.

use crate::storage::StorageError;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};

/// A 404 that says the key does not exist (not a missing bucket, which is a misconfiguration
/// that must never read as "no object": the reconciler would drop partitions on it).
pub(super) fn no_such_key<R>(error: &SdkError<aws_sdk_s3::operation::get_object::GetObjectError, R>) -> bool {
    error.as_service_error().is_some_and(|e| e.is_no_such_key())
}

/// HTTP status of an SDK error, when the server answered.
pub(super) fn status_of<E, R: HasStatus>(error: &SdkError<E, R>) -> Option<u16> {
    error.raw_response().map(HasStatus::status_code)
}

/// The SDK's HTTP response type, seen only for its status.
pub(super) trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// A failed SDK call as [`StorageError::Unavailable`], with the SDK's whole error context.
pub(super) fn unavailable<E, R>(action: &str, error: SdkError<E, R>) -> StorageError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let message = DisplayErrorContext(&error).to_string();
    StorageError::Unavailable { action: action.to_owned(), source: std::io::Error::other(message) }
}

/// A failure outside the SDK's calls (files, configuration) as [`StorageError::Unavailable`].
pub(super) fn unavailable_io(action: &str, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StorageError {
    StorageError::Unavailable { action: action.to_owned(), source: std::io::Error::other(error) }
}
