//! The rejected-rows file of an upload none of whose rows was rejected: nothing is stored for
//! it, so its header line (the original header, `line`, `reason`) is read from the start of the
//! archived original on request.

use super::{Pipeline, PipelineError};
use crate::db::UploadRecord;
use crate::ingest::IngestError;
use crate::storage::StorageError;
use tokio::io::AsyncReadExt;

/// Bytes of the original read at most to find its header line: the record limit plus slack
/// for compression framing and blank lines.
fn header_prefix_bytes(max_record_bytes: usize) -> u64 {
    max_record_bytes as u64 + (256 << 10)
}

impl Pipeline {
    /// The header-only rejected-rows CSV of `upload`, from its archived original; `None` when
    /// no original was archived.
    pub async fn empty_rejected_file(&self, upload: &UploadRecord) -> Result<Option<Vec<u8>>, PipelineError> {
        let Some(raw_key) = &upload.raw_key else { return Ok(None) };
        let mut prefix = Vec::new();
        let reader = self.store.get(raw_key).await?;
        let limit = header_prefix_bytes(self.options.max_record_bytes);
        reader
            .take(limit)
            .read_to_end(&mut prefix)
            .await
            .map_err(|source| StorageError::Unavailable { action: format!("reading {raw_key}"), source })?;
        let options = self.options.clone();
        let header = tokio::task::spawn_blocking(move || crate::ingest::rejected_header(&prefix[..], &options))
            .await
            .map_err(|stopped| PipelineError::Internal(IngestError::Io(std::io::Error::other(stopped))))?
            .map_err(PipelineError::processing)?;
        Ok(Some(header))
    }
}
