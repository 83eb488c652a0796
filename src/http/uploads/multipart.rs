//! The multipart form of an upload: an optional `date` part, then exactly one `file` part, and
//! nothing after it. The file part is handed over as a stream that, at its end, checks that no
//! part follows, so a second file (or a late `date`) fails the upload before it is committed.

use crate::http::error::{ApiError, ApiResult};
use bytes::Bytes;
use futures_util::Stream;
use multer::{Constraints, Field, Multipart, SizeLimit};

/// Bytes a `date` part may have (it holds `YYYY-MM-DD`).
const DATE_PART_BYTES: u64 = 256;

/// The form's parts up to the file: its `date` (if sent) and the file part.
pub struct FileForm {
    /// The `date` part, trimmed, if one came before the file.
    pub date: Option<String>,
    /// The file part's client file name.
    pub file_name: Option<String>,
    /// The file's bytes; fails with `InvalidData` if a part follows the file.
    pub body: std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
}

/// Reads the parts before the `file` part. `max_body_bytes` bounds the whole form.
pub async fn file_form<S>(stream: S, boundary: String, max_body_bytes: u64) -> ApiResult<FileForm>
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    let limits = SizeLimit::new().whole_stream(max_body_bytes).for_field("date", DATE_PART_BYTES);
    let mut multipart = Multipart::with_constraints(stream, boundary, Constraints::new().size_limit(limits));
    let mut date = None;
    loop {
        let Some(field) = multipart.next_field().await.map_err(form_error)? else {
            return Err(ApiError::BadRequest("the multipart body has no 'file' part".into()));
        };
        match field.name() {
            Some("date") if date.is_some() => {
                return Err(ApiError::BadRequest("the multipart body has two 'date' parts; send one".into()))
            }
            Some("date") => date = Some(field.text().await.map_err(form_error)?.trim().to_owned()),
            Some("file") => {
                let file_name = field.file_name().map(str::to_owned);
                return Ok(FileForm { date, file_name, body: Box::pin(file_then_nothing(multipart, field)) });
            }
            _ => {} // other parts before the file are ignored
        }
    }
}

/// The file part's chunks, then a check that the form ends there.
fn file_then_nothing(
    multipart: Multipart<'static>,
    field: Field<'static>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::unfold(Some((multipart, Some(field))), |state| async move {
        let (mut multipart, field) = state?;
        if let Some(mut field) = field {
            match field.chunk().await {
                Ok(Some(bytes)) => return Some((Ok(bytes), Some((multipart, Some(field))))),
                Ok(None) => drop(field),
                Err(error) => return Some((Err(io_error(error)), None)),
            }
        }
        match multipart.next_field().await {
            Ok(None) => None,
            Ok(Some(extra)) => {
                let name = extra.name().unwrap_or("(unnamed)").to_owned();
                let detail = format!(
                    "the multipart body has a '{name}' part after the 'file' part; send one file per request, with 'date' before it"
                );
                Some((Err(std::io::Error::new(std::io::ErrorKind::InvalidData, detail)), None))
            }
            Err(error) => Some((Err(io_error(error)), None)),
        }
    })
}

/// A multer error as an I/O error, keeping a body timeout recognisable (`TimedOut`).
fn io_error(error: multer::Error) -> std::io::Error {
    match error {
        multer::Error::StreamReadFailed(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => *io,
            Err(other) => std::io::Error::other(other),
        },
        other => {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the multipart body is malformed: {other}"))
        }
    }
}

/// A multer error before the file part, as the answer to the client.
fn form_error(error: multer::Error) -> ApiError {
    match io_error(error) {
        io if io.kind() == std::io::ErrorKind::TimedOut => super::body::body_timeout(),
        io if io.kind() == std::io::ErrorKind::InvalidData => ApiError::BadRequest(io.to_string()),
        io => ApiError::BadRequest(format!("the multipart body could not be read: {io}")),
    }
}
