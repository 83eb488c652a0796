//! The stored `uploads` row and the typed record it decodes into: ids, shop, date and status
//! parsed, row errors decoded from their JSON. A value that does not decode is
//! [`DbError::Corrupt`], never a silent default.

use crate::db::{DbError, DbResult};
use crate::domain::{SalesDate, ShopId, UploadId, UploadStatus};
use crate::ingest::RowError;

/// A stored upload, as the status API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRecord {
    /// UUIDv7.
    pub id: UploadId,
    /// The shop.
    pub shop_id: ShopId,
    /// The shop-day.
    pub date: SalesDate,
    /// Where the upload is in its state machine.
    pub status: UploadStatus,
    /// Client-supplied file name, if any.
    pub filename: Option<String>,
    /// Size of the body as received.
    pub bytes: Option<i64>,
    /// sha256 (hex) of the body as received.
    pub sha256: Option<String>,
    /// Data rows read (blank lines not counted).
    pub rows_total: Option<i64>,
    /// Rows written to `processed/`.
    pub rows_accepted: Option<i64>,
    /// Rows written to `rejected/`.
    pub rows_rejected: Option<i64>,
    /// The first 100 row errors (none before processing recorded them).
    pub errors: Vec<RowError>,
    /// Why the whole file was rejected or failed.
    pub problem: Option<String>,
    /// Key of the archived original.
    pub raw_key: Option<String>,
    /// Key of the partition file written.
    pub processed_key: Option<String>,
    /// Key of the rejected-rows CSV.
    pub rejected_key: Option<String>,
    /// The upload that replaced this one.
    pub superseded_by: Option<String>,
    /// The earlier upload with identical bytes.
    pub duplicate_of: Option<String>,
    /// ms since epoch.
    pub received_at: i64,
    /// ms since epoch, when terminal.
    pub finished_at: Option<i64>,
    /// The instance (replica or CLI run) that handled it while in flight.
    pub instance_id: Option<String>,
    /// ms since epoch of the last change.
    pub updated_at: i64,
}

/// The columns of an [`UploadRow`], for `select`.
pub(super) const COLUMNS: &str = "id, shop_id, sales_date, status, filename, bytes, sha256, rows_total, rows_accepted, rows_rejected, errors, problem, raw_key, processed_key, rejected_key, superseded_by, duplicate_of, received_at, finished_at, instance_id, updated_at";

/// An `uploads` row as stored, before its values are parsed.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct UploadRow {
    id: String,
    shop_id: String,
    sales_date: String,
    status: String,
    filename: Option<String>,
    bytes: Option<i64>,
    sha256: Option<String>,
    rows_total: Option<i64>,
    rows_accepted: Option<i64>,
    rows_rejected: Option<i64>,
    /// JSON array of [`RowError`]s.
    errors: Option<String>,
    problem: Option<String>,
    raw_key: Option<String>,
    processed_key: Option<String>,
    rejected_key: Option<String>,
    superseded_by: Option<String>,
    duplicate_of: Option<String>,
    received_at: i64,
    finished_at: Option<i64>,
    instance_id: Option<String>,
    updated_at: i64,
}

impl TryFrom<UploadRow> for UploadRecord {
    type Error = DbError;

    fn try_from(row: UploadRow) -> DbResult<Self> {
        let id = UploadId::parse(&row.id).map_err(|e| corrupt(e.0))?;
        let errors = decode_row_errors(row.errors.as_deref())
            .map_err(|e| corrupt(format!("the row errors of upload {id} are not a JSON list of row errors: {e}")))?;
        Ok(Self {
            id,
            shop_id: ShopId::parse(&row.shop_id).map_err(|e| corrupt(e.0))?,
            date: SalesDate::parse(&row.sales_date).map_err(|e| corrupt(e.0))?,
            status: UploadStatus::parse(&row.status).map_err(|e| corrupt(e.0))?,
            filename: row.filename,
            bytes: row.bytes,
            sha256: row.sha256,
            rows_total: row.rows_total,
            rows_accepted: row.rows_accepted,
            rows_rejected: row.rows_rejected,
            errors,
            problem: row.problem,
            raw_key: row.raw_key,
            processed_key: row.processed_key,
            rejected_key: row.rejected_key,
            superseded_by: row.superseded_by,
            duplicate_of: row.duplicate_of,
            received_at: row.received_at,
            finished_at: row.finished_at,
            instance_id: row.instance_id,
            updated_at: row.updated_at,
        })
    }
}

/// The stored form of row errors (the `errors` column).
pub(super) fn encode_row_errors(errors: &[RowError]) -> String {
    serde_json::to_string(errors).expect("row errors serialise")
}

/// Row errors from the `errors` column; none when nothing was recorded (`NULL`).
fn decode_row_errors(stored: Option<&str>) -> serde_json::Result<Vec<RowError>> {
    stored.map_or_else(|| Ok(Vec::new()), serde_json::from_str)
}

fn corrupt(detail: String) -> DbError {
    DbError::Corrupt { table: "uploads", detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored_row(errors: Option<&str>) -> UploadRow {
        UploadRow {
            id: "0198a0a0-0000-7000-8000-000000000001".into(),
            shop_id: "001".into(),
            sales_date: "2025-07-30".into(),
            status: "succeeded".into(),
            filename: None,
            bytes: Some(10),
            sha256: None,
            rows_total: Some(2),
            rows_accepted: Some(1),
            rows_rejected: Some(1),
            errors: errors.map(str::to_owned),
            problem: None,
            raw_key: None,
            processed_key: None,
            rejected_key: None,
            superseded_by: None,
            duplicate_of: None,
            received_at: 1,
            finished_at: Some(2),
            instance_id: None,
            updated_at: 2,
        }
    }

    #[test]
    fn stored_row_errors_decode_into_typed_row_errors() {
        let error = RowError {
            line: 3,
            column: Some("quantity".into()),
            value: Some("two".into()),
            reason: "quantity is not an integer".into(),
        };
        let stored = encode_row_errors(std::slice::from_ref(&error));

        let record = UploadRecord::try_from(stored_row(Some(&stored))).unwrap();

        assert_eq!(record.errors, vec![error]);
    }

    #[test]
    fn no_stored_row_errors_decode_as_none() {
        let record = UploadRecord::try_from(stored_row(None)).unwrap();

        assert_eq!(record.errors, Vec::new());
    }

    #[test]
    fn corrupt_stored_row_errors_are_a_corrupt_row_not_an_empty_list() {
        for stored in ["not json", "{\"line\": 3}", "[{\"line\": \"three\", \"reason\": \"x\"}]"] {
            let decoded = UploadRecord::try_from(stored_row(Some(stored)));

            assert!(
                matches!(&decoded, Err(DbError::Corrupt { table: "uploads", detail }) if detail.contains("row errors")),
                "{stored}: {decoded:?}"
            );
        }
    }
}
