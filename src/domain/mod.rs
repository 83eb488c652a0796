//! Domain types: validated values with private fields and `parse()` constructors; no I/O.

mod role;
mod sales_date;
mod shop_id;
mod upload_id;
mod upload_status;

pub use role::Role;
pub use sales_date::SalesDate;
pub use shop_id::ShopId;
pub use upload_id::UploadId;
pub use upload_status::UploadStatus;

/// A value that failed domain validation; the message says what is wrong and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DomainError(pub String);
