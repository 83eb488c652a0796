//! The crawler: rebuilds a table's schema and partitions from `processed/` by reading only
//! Parquet footers (two small ranged reads per file, never data pages).

use super::types::{columns_of, evolve, fingerprint};
use super::{Catalog, CatalogError, CatalogResult, ColumnDef, PartitionInfo};
use crate::domain::{SalesDate, ShopId};
use crate::storage::{layout, BlobStore, ObjectMeta};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// What a crawl found, partition paths as `shop_id=…/date=…`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CrawlReport {
    /// Partitions found in storage but not in the catalog.
    pub added: Vec<String>,
    /// Partitions whose rows, size or columns differed from the catalog.
    pub changed: Vec<String>,
    /// Partitions in the catalog whose file is gone (removed from the catalog).
    pub missing: Vec<String>,
    /// Partitions that matched.
    pub unchanged: u64,
    /// Table columns after the crawl.
    pub columns: Vec<ColumnDef>,
    /// Wall time of the crawl.
    pub elapsed_ms: u64,
}

/// Footer facts of one partition file.
struct Found {
    shop_id: String,
    date: String,
    meta: ObjectMeta,
    columns: Vec<ColumnDef>,
    rows: u64,
}

/// Crawls `processed/` into `table`.
#[tracing::instrument(name = "catalog.crawl", skip(store, catalog))]
pub async fn crawl(store: &Arc<dyn BlobStore>, catalog: &Arc<dyn Catalog>, table: &str) -> CatalogResult<CrawlReport> {
    let started = Instant::now();
    catalog.ensure_table(table, &store.url_of(layout::PROCESSED_PREFIX)).await?;
    let objects = store.list(layout::PROCESSED_PREFIX).await.map_err(|e| CatalogError::Unavailable(e.to_string()))?;
    let candidates: Vec<(String, String, ObjectMeta)> = objects
        .into_iter()
        .filter_map(|meta| {
            let (shop, date) = partition_of(&meta.key)?;
            Some((shop, date, meta))
        })
        .collect();
    let mut found: Vec<Found> = futures_util::stream::iter(candidates)
        .map(|(shop_id, date, meta)| async move {
            let (columns, rows) = read_footer(store.as_ref(), &meta).await?;
            Ok::<_, CatalogError>(Found { shop_id, date, meta, columns, rows })
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<CatalogResult<_>>()?;
    found.sort_by(|a, b| (&a.shop_id, &a.date).cmp(&(&b.shop_id, &b.date)));

    // Schema: the union of every file's columns, in first-seen order, widened where safe.
    let mut columns: Vec<ColumnDef> = Vec::new();
    for file in &found {
        if let Some(next) = evolve(&columns, &file.columns)? {
            columns = next;
        }
    }
    if !columns.is_empty() {
        catalog.set_columns(table, &columns).await?;
    }

    let mut known: BTreeMap<(String, String), PartitionInfo> =
        catalog.partitions(table).await?.into_iter().map(|p| ((p.shop_id.clone(), p.date.clone()), p)).collect();
    let mut report = CrawlReport { columns, ..CrawlReport::default() };
    for file in found {
        let partition = PartitionInfo {
            shop_id: file.shop_id.clone(),
            date: file.date.clone(),
            location: file.meta.key.clone(),
            rows: file.rows,
            bytes: file.meta.size,
            schema_fingerprint: fingerprint(&file.columns),
            updated_at: String::new(),
            file_version: file.meta.version.clone(),
        };
        let path = format!("shop_id={}/date={}", file.shop_id, file.date);
        match known.remove(&(file.shop_id, file.date)) {
            None => report.added.push(path),
            Some(old)
                if old.rows == partition.rows
                    && old.bytes == partition.bytes
                    && old.schema_fingerprint == partition.schema_fingerprint =>
            {
                report.unchanged += 1;
                if old.file_version != partition.file_version {
                    // Same rows, another record of the stored object (a catalog from before
                    // versions were kept): the query engine may plan from it once it has one.
                    catalog.put_partition(table, &partition).await?;
                }
                continue;
            }
            Some(_) => report.changed.push(path),
        }
        catalog.put_partition(table, &partition).await?;
    }
    for ((shop_id, date), _) in known {
        catalog.remove_partition(table, &shop_id, &date).await?;
        report.missing.push(format!("shop_id={shop_id}/date={date}"));
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        added = report.added.len(),
        changed = report.changed.len(),
        missing = report.missing.len(),
        unchanged = report.unchanged,
        "crawl finished"
    );
    Ok(report)
}

/// `processed/shop_id={shop}/date={date}/data.parquet` -> (shop, date), validated.
fn partition_of(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix(layout::PROCESSED_PREFIX)?.strip_suffix("/data.parquet")?;
    let (shop_part, date_part) = rest.split_once('/')?;
    let shop = ShopId::parse(shop_part.strip_prefix("shop_id=")?).ok()?;
    let date = SalesDate::parse(date_part.strip_prefix("date=")?).ok()?;
    Some((shop.to_string(), date.to_string()))
}

/// Reads a Parquet footer with two ranged reads: the 8-byte tail, then the metadata.
pub async fn read_footer(store: &dyn BlobStore, meta: &ObjectMeta) -> CatalogResult<(Vec<ColumnDef>, u64)> {
    let bad = |detail: String| CatalogError::BadFile { key: meta.key.clone(), detail };
    if meta.size < 12 {
        return Err(bad("too small to be Parquet".into()));
    }
    let tail = store.get_range(&meta.key, meta.size - 8..meta.size).await.map_err(|e| bad(e.to_string()))?;
    if &tail[4..] != b"PAR1" {
        return Err(bad("no Parquet magic at the end".into()));
    }
    let footer_len = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")) as u64;
    if footer_len + 8 > meta.size {
        return Err(bad("footer length larger than the file".into()));
    }
    let footer =
        store.get_range(&meta.key, meta.size - 8 - footer_len..meta.size - 8).await.map_err(|e| bad(e.to_string()))?;
    let metadata =
        parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&footer).map_err(|e| bad(e.to_string()))?;
    let file = metadata.file_metadata();
    let schema = parquet::arrow::parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|e| bad(e.to_string()))?;
    Ok((columns_of(&schema)?, file.num_rows() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_partition_paths_count() {
        assert_eq!(
            partition_of("processed/shop_id=001/date=2025-07-30/data.parquet"),
            Some(("001".into(), "2025-07-30".into()))
        );
        for key in [
            "processed/shop_id=001/date=2025-13-30/data.parquet",
            "processed/shop_id=0.1/date=2025-07-30/data.parquet",
            "processed/shop_id=001/date=2025-07-30/other.parquet",
            "raw/shop_id=001/date=2025-07-30/data.parquet",
        ] {
            assert_eq!(partition_of(key), None, "{key}");
        }
    }
}
