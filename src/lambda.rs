//! The seed's Lambda: S3 `ObjectCreated` events for files dropped under `raw/` by other systems
//! (legacy exports that write to the bucket instead of calling the API) go through the same
//! pipeline as an upload — validation, Parquet, catalog, status in the same database — so the
//! status API shows them. The binary `bootstrap` (feature `lambda`) runs [`handle`] under
//! `lambda_runtime`; tests call it with AWS-shaped event JSON.
//!
//! Which keys are taken: `<prefix>/raw/shop_id=<shop>/date=<YYYY-MM-DD>/<name>.csv[.gz]` in the
//! configured bucket. A `<name>` that is an upload id is the API's own archive of an upload and
//! is skipped (its event arrives while the API is processing it). S3 delivers events at least
//! once: a key already recorded answers its first upload and writes nothing.

use crate::domain::{SalesDate, ShopId, UploadId};
use crate::pipeline::{Incoming, Outcome, Pipeline, PipelineError};
use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use serde::Serialize;

/// What happened to one record of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handled {
    /// The object key as decoded from the event.
    pub key: String,
    /// What became of the file.
    pub outcome: RecordOutcome,
    /// The upload that records it, when there is one.
    pub upload_id: Option<String>,
    /// Why it was skipped or rejected.
    pub detail: Option<String>,
}

/// What became of one record's file; serialized (and logged) in lowercase: `created`,
/// `duplicate`, `repeated`, `rejected`, `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordOutcome {
    /// A new upload was recorded and processed.
    Created,
    /// A new upload with the same bytes as the shop-day's current one (nothing rewritten).
    Duplicate,
    /// The key was handled before (S3 delivers at least once): its first upload answers.
    Repeated,
    /// The file was refused for what it holds; its upload records why.
    Rejected,
    /// Not ours to handle (another event, bucket or area, or the API's own archive).
    Skipped,
}

impl RecordOutcome {
    /// The outcome as serialized and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Duplicate => "duplicate",
            Self::Repeated => "repeated",
            Self::Rejected => "rejected",
            Self::Skipped => "skipped",
        }
    }
}

/// A record's target once its key is understood.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DroppedFile {
    /// Key in the store (without the store's prefix).
    key: String,
    shop: ShopId,
    date: SalesDate,
    filename: String,
}

/// Handles every record of `event` for the store at `bucket`/`prefix` (the prefix without
/// slashes, possibly empty). Files that cannot be handled for a reason of their own are
/// reported (`rejected`, `skipped`); a failing dependency is an error, so Lambda retries the
/// event (records already handled answer `repeated` then).
pub async fn handle(
    pipeline: &Pipeline,
    bucket: &str,
    prefix: &str,
    event: &S3Event,
) -> Result<Vec<Handled>, PipelineError> {
    let mut handled = Vec::with_capacity(event.records.len());
    for record in &event.records {
        let file = match dropped_file(record, bucket, prefix) {
            Ok(file) => file,
            Err(reason) => {
                tracing::info!(reason, "S3 event record skipped");
                handled.push(Handled {
                    key: decoded_key(record).unwrap_or_default(),
                    outcome: RecordOutcome::Skipped,
                    upload_id: None,
                    detail: Some(reason),
                });
                continue;
            }
        };
        let incoming =
            Incoming { shop: file.shop, date: file.date, filename: Some(file.filename), idempotency_key: None };
        let (outcome, upload_id, detail) = match pipeline.accept_stored(incoming, &file.key).await {
            Ok(Outcome::Created(upload)) => (RecordOutcome::Created, Some(upload.id.to_string()), None),
            Ok(Outcome::Duplicate(upload)) => (RecordOutcome::Duplicate, Some(upload.id.to_string()), None),
            Ok(Outcome::Replayed(upload)) => (RecordOutcome::Repeated, Some(upload.id.to_string()), None),
            Err(
                PipelineError::Rejected { problem, upload_id, .. }
                | PipelineError::DecompressedTooLarge { problem, upload_id },
            ) => (RecordOutcome::Rejected, Some(upload_id.to_string()), Some(problem)),
            Err(other) => return Err(other),
        };
        tracing::info!(key = %file.key, outcome = outcome.as_str(), "S3 event record handled");
        handled.push(Handled { key: file.key, outcome, upload_id, detail });
    }
    Ok(handled)
}

/// The object key of a record, URL-decoded (`+` is a space in S3 event keys).
fn decoded_key(record: &S3EventRecord) -> Option<String> {
    let raw = record.s3.object.key.as_deref()?;
    let decoded: String = url::form_urlencoded::parse(format!("k={raw}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    Some(decoded)
}

/// Understands a record's key, or says why it is not ours to handle.
fn dropped_file(record: &S3EventRecord, bucket: &str, prefix: &str) -> Result<DroppedFile, String> {
    let event_name = record.event_name.as_deref().unwrap_or_default();
    if !event_name.starts_with("ObjectCreated") {
        return Err(format!("event {event_name:?} is not an object creation"));
    }
    let event_bucket = record.s3.bucket.name.as_deref().unwrap_or_default();
    if event_bucket != bucket {
        return Err(format!("bucket {event_bucket:?} is not the lake's ({bucket})"));
    }
    let full_key = decoded_key(record).ok_or("the record has no object key")?;
    let key = if prefix.is_empty() {
        full_key.as_str()
    } else {
        full_key
            .strip_prefix(prefix)
            .and_then(|k| k.strip_prefix('/'))
            .ok_or(format!("{full_key} is outside {prefix}/"))?
    };
    let segments: Vec<&str> = key.split('/').collect();
    let [area, shop_segment, date_segment, filename] = segments[..] else {
        return Err(format!("{key} is not raw/shop_id=<shop>/date=<YYYY-MM-DD>/<file>"));
    };
    if area != "raw" {
        return Err(format!("{key} is not under raw/"));
    }
    let shop = shop_segment
        .strip_prefix("shop_id=")
        .and_then(|s| ShopId::parse(s).ok())
        .ok_or(format!("{key}: '{shop_segment}' is not shop_id=<shop id>"))?;
    let date = date_segment
        .strip_prefix("date=")
        .and_then(|d| SalesDate::parse(d).ok())
        .ok_or(format!("{key}: '{date_segment}' is not date=<YYYY-MM-DD>"))?;
    let stem = filename.strip_suffix(".csv.gz").or_else(|| filename.strip_suffix(".csv"));
    let Some(stem) = stem else {
        return Err(format!("{key} is not a .csv or .csv.gz file"));
    };
    if UploadId::parse(stem).is_ok() {
        return Err(format!("{key} is the API's own archive of an upload"));
    }
    Ok(DroppedFile { key: key.to_owned(), shop, date, filename: filename.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bucket: &str, key: &str, event: &str) -> S3EventRecord {
        let json = serde_json::json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
            "eventTime": "2025-07-30T23:01:02.123Z", "eventName": event,
            "userIdentity": {"principalId": "AWS:EXAMPLE"}, "requestParameters": {"sourceIPAddress": "10.0.0.1"},
            "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "raw-created",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": 10, "eTag": "abc", "sequencer": "0A1B"}}
        });
        serde_json::from_value(json).expect("an AWS-shaped record")
    }

    #[test]
    fn outcomes_serialize_as_the_lowercase_words_they_log() {
        use RecordOutcome::*;
        for (outcome, word) in [
            (Created, "created"),
            (Duplicate, "duplicate"),
            (Repeated, "repeated"),
            (Rejected, "rejected"),
            (Skipped, "skipped"),
        ] {
            assert_eq!(serde_json::to_value(outcome).unwrap(), word);
            assert_eq!(outcome.as_str(), word);
        }
    }

    #[test]
    fn keys_with_spaces_and_escapes_are_decoded_and_checked() {
        let file = dropped_file(
            &record("lake", "p/raw/shop_id%3D001/date%3D2025-07-30/July+30+export%25.csv", "ObjectCreated:Put"),
            "lake",
            "p",
        )
        .unwrap();
        assert_eq!(file.key, "raw/shop_id=001/date=2025-07-30/July 30 export%.csv");
        assert_eq!((file.shop.as_str(), file.date.to_string().as_str()), ("001", "2025-07-30"));
        assert_eq!(file.filename, "July 30 export%.csv");
    }

    #[test]
    fn other_buckets_areas_events_and_the_apis_own_archives_are_skipped() {
        let ours = "raw/shop_id=001/date=2025-07-30/0198a0a0-0000-7000-8000-000000000001.csv";
        for (bucket, key, event) in [
            ("other", "raw/shop_id=001/date=2025-07-30/a.csv", "ObjectCreated:Put"),
            ("lake", "processed/shop_id=001/date=2025-07-30/data.parquet", "ObjectCreated:Put"),
            ("lake", "raw/shop_id=001/date=2025-07-30/a.csv", "ObjectRemoved:Delete"),
            ("lake", "raw/shop_id=../date=2025-07-30/a.csv", "ObjectCreated:Put"),
            ("lake", "raw/shop_id=001/date=2025-02-30/a.csv", "ObjectCreated:Put"),
            ("lake", "raw/shop_id=001/date=2025-07-30/a.xlsx", "ObjectCreated:Put"),
            ("lake", ours, "ObjectCreated:CompleteMultipartUpload"),
        ] {
            assert!(dropped_file(&record(bucket, key, event), "lake", "").is_err(), "{bucket} {key} {event}");
        }
    }
}
