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

/// Deserialises each domain value from its text through its own `parse`, so a malformed value
/// is refused with the same message wherever it arrives (a path, a query string, a file).
macro_rules! deserialize_by_parse {
    ($($value:ty),* $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $value {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

deserialize_by_parse!(ShopId, SalesDate, UploadId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_value_arriving_as_text_is_checked_by_its_own_parse() {
        let shop: ShopId = serde_json::from_str("\"shop_001\"").unwrap();
        assert_eq!(shop.as_str(), "shop_001");
        let refused = serde_json::from_str::<ShopId>("\"../etc\"").unwrap_err().to_string();
        assert!(refused.starts_with("invalid shop_id '../etc'"), "{refused}");
        let refused = serde_json::from_str::<SalesDate>("\"2025-02-30\"").unwrap_err().to_string();
        assert!(refused.starts_with("invalid date '2025-02-30'"), "{refused}");
        assert!(serde_json::from_str::<UploadId>("\"not-a-uuid\"").is_err());
    }
}
