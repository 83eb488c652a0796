//! The pipeline end to end on the embedded back ends (temp directory + SQLite), for paths the
//! HTTP tests cannot reach through configuration.

use super::*;
use crate::catalog::{EmbeddedCatalog, SALES_TABLE};
use crate::db::DbOptions;
use crate::storage::layout;
use crate::storage::LocalFs;

/// `rows` sales rows for `date`; the transaction ids in `repeats` appear a second time at the end.
fn body(date: &str, rows: usize, repeats: &[usize]) -> String {
    let mut text = String::from("transaction_id,sold_at,sku,quantity,unit_price\n");
    let ids = (0..rows).chain(repeats.iter().copied());
    for (line, i) in ids.enumerate() {
        text.push_str(&format!(
            "T-{i:05},{date}T10:{:02}:00,SKU{:03},{},{}.25\n",
            line % 60,
            i % 97,
            1 + i % 3,
            1 + i % 7
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_past_the_key_budget_is_read_again_from_its_archive_with_the_same_verdict() {
    // Arrange: a pipeline that keeps only 16 transaction ids in memory, so the ingest spills
    // and must re-open the archived raw file once the archive (running alongside) is complete.
    let temp = tempfile::tempdir().unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(LocalFs::open(temp.path().join("data")).await.unwrap());
    let database_url = format!("sqlite://{}", temp.path().join("state.db").display());
    let db = Db::connect(&database_url, &DbOptions::default()).await.unwrap();
    db.migrate().await.unwrap();
    let catalog: Arc<dyn Catalog> = Arc::new(EmbeddedCatalog::new(db.clone()));
    catalog.ensure_table(SALES_TABLE, &store.url_of(layout::PROCESSED_PREFIX)).await.unwrap();
    let options = IngestOptions { max_unique_in_memory: 16, batch_rows: 64, ..IngestOptions::default() };
    let pipeline = Pipeline::new(db, store.clone(), catalog, Arc::default(), 1 << 30, options);
    let incoming = Incoming {
        shop: ShopId::parse("001").unwrap(),
        date: SalesDate::parse("2025-07-30").unwrap(),
        filename: None,
        idempotency_key: None,
    };
    let text = body("2025-07-30", 2_000, &[3, 1_999]);

    // Act
    let outcome = pipeline.accept(incoming, &mut text.as_bytes()).await.unwrap();

    // Assert: both repeated ids rejected (one kept early in memory, one among the spilled keys).
    let Outcome::Created(record) = outcome else { panic!("expected a new upload, got {outcome:?}") };
    assert_eq!(record.status, UploadStatus::Succeeded);
    assert_eq!((record.rows_total, record.rows_accepted, record.rows_rejected), (Some(2_002), Some(2_000), Some(2)));
    let parquet = std::fs::read(temp.path().join("data").join(record.processed_key.unwrap())).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(parquet)).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 2_000);
    let leftovers: Vec<_> = std::fs::read_dir(store.scratch_dir()).unwrap().collect();
    assert!(leftovers.is_empty(), "scratch files left behind: {leftovers:?}");
}
