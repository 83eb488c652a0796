//! Archiving a request's body: streamed to its `raw/` key (complete or not at all) while it is
//! hashed, counted against the size limit and copied to the validator running alongside.

use super::error::{Halt, PipelineError, Stop};
use super::{tee, DigestReader, DigestSummary, Incoming, Pipeline};
use crate::domain::{UploadId, UploadStatus};
use crate::storage::{layout, PutMode, StorageError};
use tokio::io::{AsyncRead, AsyncReadExt};

impl Pipeline {
    /// Streams the body to its `raw/` key while hashing it; records size, digest and key. An
    /// upload that cannot be archived ends `failed` (nothing of it is kept).
    pub(super) async fn archive(
        &self,
        id: UploadId,
        incoming: &Incoming,
        body: &mut (dyn AsyncRead + Send + Unpin),
        copies: tokio::sync::mpsc::Sender<bytes::Bytes>,
    ) -> Result<(String, DigestSummary), PipelineError> {
        let archived: Result<_, Halt> = async {
            let interrupted = |source: std::io::Error| {
                Stop::failed(
                    "the upload was interrupted before the body was complete".into(),
                    PipelineError::Interrupted { source, upload_id: Some(id) },
                )
            };
            // Peek the first bytes to name the archive `.csv` or `.csv.gz` by content, not by header.
            let mut head = Vec::with_capacity(2);
            while head.len() < 2 {
                let mut byte = [0u8; 1];
                match body.read(&mut byte).await {
                    Ok(0) => break,
                    Ok(_) => head.push(byte[0]),
                    Err(source) => return Err(interrupted(source).into()),
                }
            }
            let gzip = head == [0x1f, 0x8b];
            let raw_key = layout::raw_key(&incoming.shop, &incoming.date, &id, gzip);
            let chained = std::io::Cursor::new(head).chain(body);
            let mut reader = DigestReader::new(tee::TeeReader::new(chained, copies), self.max_upload_bytes);
            let stored = self.store.put_stream(&raw_key, &mut reader, PutMode::CreateNew).await;
            let summary = reader.summary();
            match stored {
                Ok(_) => {}
                Err(StorageError::Source(_)) if summary.over_limit => {
                    let limit = self.max_upload_bytes;
                    let problem = format!("the body is larger than the limit of {limit} bytes");
                    return Err(Stop::failed(problem, PipelineError::TooLarge { limit, upload_id: Some(id) }).into());
                }
                Err(StorageError::Source(source)) => return Err(interrupted(source).into()),
                Err(other) => {
                    return Err(Stop::failed(format!("storage failed while archiving: {other}"), other).into())
                }
            }
            self.metrics.add_bytes_received(summary.bytes);
            self.db.uploads().record_archive(&id, summary.bytes, &summary.sha256_hex, &raw_key).await?;
            Ok((raw_key, summary))
        }
        .await;
        self.settle(id, UploadStatus::Received, archived).await
    }
}
