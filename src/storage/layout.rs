//! Object keys of the contract's storage layout, built only from validated domain values.

use crate::domain::{SalesDate, ShopId, UploadId};

/// `raw/shop_id={shop}/date={date}/{upload_id}.csv[.gz]`: the original bytes, never modified.
pub fn raw_key(shop: &ShopId, date: &SalesDate, upload: &UploadId, gzip: bool) -> String {
    let extension = if gzip { "csv.gz" } else { "csv" };
    format!("raw/{}/{upload}.{extension}", partition_path(shop, date))
}

/// `processed/shop_id={shop}/date={date}/data.parquet`: one file per shop-day.
pub fn processed_key(shop: &ShopId, date: &SalesDate) -> String {
    format!("processed/{}/data.parquet", partition_path(shop, date))
}

/// `rejected/shop_id={shop}/date={date}/{upload_id}.csv`: rejected rows with line and reason.
pub fn rejected_key(shop: &ShopId, date: &SalesDate, upload: &UploadId) -> String {
    format!("rejected/{}/{upload}.csv", partition_path(shop, date))
}

/// The Hive-style partition directory `shop_id={shop}/date={date}`.
pub fn partition_path(shop: &ShopId, date: &SalesDate) -> String {
    format!("shop_id={shop}/date={date}")
}

/// Prefix under which all processed partitions live.
pub const PROCESSED_PREFIX: &str = "processed/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_contract_layout() {
        let shop = ShopId::parse("001").unwrap();
        let date = SalesDate::parse("2025-07-30").unwrap();
        let id = UploadId::parse("0198a0a0-0000-7000-8000-000000000001").unwrap();
        assert_eq!(
            raw_key(&shop, &date, &id, false),
            "raw/shop_id=001/date=2025-07-30/0198a0a0-0000-7000-8000-000000000001.csv"
        );
        assert_eq!(
            raw_key(&shop, &date, &id, true),
            "raw/shop_id=001/date=2025-07-30/0198a0a0-0000-7000-8000-000000000001.csv.gz"
        );
        assert_eq!(processed_key(&shop, &date), "processed/shop_id=001/date=2025-07-30/data.parquet");
        assert_eq!(
            rejected_key(&shop, &date, &id),
            "rejected/shop_id=001/date=2025-07-30/0198a0a0-0000-7000-8000-000000000001.csv"
        );
    }
}
