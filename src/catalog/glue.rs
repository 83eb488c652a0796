//! `GlueCatalog`: the catalog kept in the AWS Glue Data Catalog, described exactly as a Glue
//! crawler describes our files (external table, Parquet SerDe and formats, Hive column types,
//! `PARTITIONED BY (shop_id string, date string)`, `classification=parquet`), so Athena, EMR
//! and Redshift Spectrum see each partition the moment its upload is accepted.
//!
//! Partition statistics live in the partitions' parameters (`recordCount`, `sizeKey`,
//! `objectCount` as a crawler writes them, plus `shoplake.schemaFingerprint`). Partitions
//! carry the table's columns (what `Partitions inherit from table` makes a crawler do), which
//! avoids Athena's HIVE_PARTITION_SCHEMA_MISMATCH when a column is added later.

use super::types::evolve;
use super::{hive_format, Catalog, CatalogError, CatalogResult, ColumnDef, PartitionInfo, TableInfo, PARTITION_KEYS};
use crate::storage::layout;
use async_trait::async_trait;
use aws_sdk_glue::error::{DisplayErrorContext, SdkError};
use aws_sdk_glue::types::{Column, DatabaseInput, PartitionInput, SerDeInfo, StorageDescriptor, Table, TableInput};

/// The Glue Data Catalog, one database.
#[derive(Debug, Clone)]
pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
    database: String,
}

impl GlueCatalog {
    /// A client for `database` from the `AWS_*` environment (`AWS_ENDPOINT_URL_GLUE` or
    /// `AWS_ENDPOINT_URL` for a compatible server). Contacts Glue only when used.
    pub async fn connect(database: &str) -> Self {
        let sdk = crate::aws::sdk_config().await;
        let mut config = aws_sdk_glue::config::Builder::from(&sdk);
        if let Some(endpoint) = crate::aws::endpoint_url(&sdk, "GLUE") {
            config = config.endpoint_url(endpoint);
        }
        Self { client: aws_sdk_glue::Client::from_conf(config.build()), database: database.to_owned() }
    }

    /// The SDK client (tests compare what Glue holds with what a crawler writes).
    pub fn client(&self) -> &aws_sdk_glue::Client {
        &self.client
    }

    async fn get_table(&self, name: &str) -> CatalogResult<Option<Table>> {
        match self.client.get_table().database_name(&self.database).name(name).send().await {
            Ok(found) => Ok(found.table),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_entity_not_found_exception()) => Ok(None),
            Err(error) => Err(unavailable("reading a table", error)),
        }
    }

    async fn update_columns(&self, table: &Table, columns: &[ColumnDef]) -> CatalogResult<()> {
        let location = table.storage_descriptor().and_then(|sd| sd.location()).unwrap_or_default();
        let mut update = self
            .client
            .update_table()
            .database_name(&self.database)
            .skip_archive(true)
            .table_input(table_input(table.name(), location, columns)?);
        if let Some(version) = table.version_id() {
            update = update.version_id(version);
        }
        update.send().await.map_err(|e| unavailable("updating a table's columns", e))?;
        Ok(())
    }

    async fn all_partitions(&self, name: &str) -> CatalogResult<Vec<aws_sdk_glue::types::Partition>> {
        let mut pages =
            self.client.get_partitions().database_name(&self.database).table_name(name).into_paginator().send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => all.extend(page.partitions.unwrap_or_default()),
                Err(error) if error.as_service_error().is_some_and(|e| e.is_entity_not_found_exception()) => {
                    return Err(CatalogError::NoSuchTable(name.to_owned()))
                }
                Err(error) => return Err(unavailable("listing partitions", error)),
            }
        }
        Ok(all)
    }

    fn info(&self, table: &Table, partitions: Option<&[aws_sdk_glue::types::Partition]>) -> TableInfo {
        let sd = table.storage_descriptor();
        let parts = partitions.unwrap_or_default();
        let stat = |p: &aws_sdk_glue::types::Partition, key: &str| {
            p.parameters().and_then(|m| m.get(key)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        TableInfo {
            name: table.name().to_owned(),
            location: sd.and_then(|sd| sd.location()).unwrap_or_default().to_owned(),
            columns: sd.map(|sd| sd.columns().iter().map(column_def).collect()).unwrap_or_default(),
            partition_keys: table.partition_keys().iter().map(|c| c.name().to_owned()).collect(),
            partitions: parts.len() as u64,
            rows: parts.iter().map(|p| stat(p, "recordCount")).sum(),
            bytes: parts.iter().map(|p| stat(p, "sizeKey")).sum(),
            updated_at: table.update_time().map(|t| t.to_string()).unwrap_or_default(),
        }
    }
}

#[async_trait]
impl Catalog for GlueCatalog {
    async fn ensure_table(&self, name: &str, location: &str) -> CatalogResult<()> {
        let database = DatabaseInput::builder().name(&self.database).build().map_err(invalid)?;
        match self.client.create_database().database_input(database).send().await {
            Ok(_) => {}
            Err(error) if error.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => {}
            Err(error) => return Err(unavailable("creating the Glue database", error)),
        }
        if self.get_table(name).await?.is_some() {
            return Ok(());
        }
        let created = self
            .client
            .create_table()
            .database_name(&self.database)
            .table_input(table_input(name, location, &[])?)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another replica created it meanwhile.
            Err(error) if error.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => Ok(()),
            Err(error) => Err(unavailable("creating the table", error)),
        }
    }

    async fn table(&self, name: &str) -> CatalogResult<Option<TableInfo>> {
        let Some(table) = self.get_table(name).await? else {
            return Ok(None);
        };
        let partitions = self.all_partitions(name).await?;
        Ok(Some(self.info(&table, Some(&partitions))))
    }

    async fn tables(&self) -> CatalogResult<Vec<TableInfo>> {
        let mut infos = Vec::new();
        for table in self.glue_tables().await? {
            let partitions = self.all_partitions(table.name()).await?;
            infos.push(self.info(&table, Some(&partitions)));
        }
        Ok(infos)
    }

    async fn table_schemas(&self) -> CatalogResult<Vec<TableInfo>> {
        Ok(self.glue_tables().await?.iter().map(|table| self.info(table, None)).collect())
    }

    #[tracing::instrument(name = "catalog.glue.evolve", skip(self, file_columns))]
    async fn evolve_schema(&self, name: &str, file_columns: &[ColumnDef]) -> CatalogResult<Vec<ColumnDef>> {
        // Optimistic: Glue refuses an update made against an older table version; read again.
        let mut last_error = None;
        for _ in 0..8 {
            let table = self.get_table(name).await?.ok_or_else(|| CatalogError::NoSuchTable(name.to_owned()))?;
            let current: Vec<ColumnDef> =
                table.storage_descriptor().map(|sd| sd.columns().iter().map(column_def).collect()).unwrap_or_default();
            let Some(evolved) = evolve(&current, file_columns)? else {
                return Ok(current);
            };
            match self.update_columns(&table, &evolved).await {
                Ok(()) => return Ok(evolved),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| CatalogError::Unavailable("the table kept changing".into())))
    }

    async fn set_columns(&self, name: &str, columns: &[ColumnDef]) -> CatalogResult<()> {
        let table = self.get_table(name).await?.ok_or_else(|| CatalogError::NoSuchTable(name.to_owned()))?;
        self.update_columns(&table, columns).await
    }

    #[tracing::instrument(name = "catalog.glue.put_partition", skip(self, partition), fields(shop = %partition.shop_id, date = %partition.date))]
    async fn put_partition(&self, name: &str, partition: &PartitionInfo) -> CatalogResult<()> {
        let table = self.get_table(name).await?.ok_or_else(|| CatalogError::NoSuchTable(name.to_owned()))?;
        let input = partition_input(&table, partition);
        let created = self
            .client
            .batch_create_partition()
            .database_name(&self.database)
            .table_name(name)
            .partition_input_list(input.clone())
            .send()
            .await
            .map_err(|e| unavailable("registering a partition", e))?;
        let Some(refused) = created.errors().first() else {
            return Ok(());
        };
        let code = refused.error_detail().and_then(|d| d.error_code()).unwrap_or_default();
        if code != "AlreadyExistsException" {
            let message = refused.error_detail().and_then(|d| d.error_message()).unwrap_or_default();
            return Err(CatalogError::Unavailable(format!("Glue refused the partition: {code}: {message}")));
        }
        self.client
            .update_partition()
            .database_name(&self.database)
            .table_name(name)
            .set_partition_value_list(Some(vec![partition.shop_id.clone(), partition.date.clone()]))
            .partition_input(input)
            .send()
            .await
            .map_err(|e| unavailable("updating a partition", e))?;
        Ok(())
    }

    async fn remove_partition(&self, name: &str, shop_id: &str, date: &str) -> CatalogResult<()> {
        let deleted = self
            .client
            .delete_partition()
            .database_name(&self.database)
            .table_name(name)
            .set_partition_values(Some(vec![shop_id.to_owned(), date.to_owned()]))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_entity_not_found_exception()) => Ok(()),
            Err(error) => Err(unavailable("removing a partition", error)),
        }
    }

    async fn partitions(&self, name: &str) -> CatalogResult<Vec<PartitionInfo>> {
        let mut found: Vec<PartitionInfo> = self
            .all_partitions(name)
            .await?
            .iter()
            // The service checks what it reads: a partition with other than two values is not ours.
            .filter(|p| p.values().len() == PARTITION_KEYS.len())
            .map(partition_info)
            .collect();
        found.sort_by(|a, b| (&a.shop_id, &a.date).cmp(&(&b.shop_id, &b.date)));
        Ok(found)
    }
}

impl GlueCatalog {
    async fn glue_tables(&self) -> CatalogResult<Vec<Table>> {
        let mut pages = self.client.get_tables().database_name(&self.database).into_paginator().send();
        let mut tables = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => tables.extend(page.table_list.unwrap_or_default()),
                Err(error) if error.as_service_error().is_some_and(|e| e.is_entity_not_found_exception()) => break,
                Err(error) => return Err(unavailable("listing tables", error)),
            }
        }
        Ok(tables)
    }
}

/// The storage descriptor a Glue crawler writes for Parquet files under `location`.
fn storage_descriptor(location: &str, columns: &[ColumnDef]) -> CatalogResult<StorageDescriptor> {
    let columns = columns
        .iter()
        .map(|c| Column::builder().name(&c.name).r#type(&c.data_type).build().map_err(invalid))
        .collect::<CatalogResult<Vec<_>>>()?;
    Ok(StorageDescriptor::builder()
        .set_columns(Some(columns))
        .location(location)
        .input_format(hive_format::INPUT_FORMAT)
        .output_format(hive_format::OUTPUT_FORMAT)
        .compressed(false)
        .number_of_buckets(-1)
        .stored_as_sub_directories(false)
        .serde_info(
            SerDeInfo::builder()
                .serialization_library(hive_format::SERDE)
                .parameters("serialization.format", "1")
                .build(),
        )
        .parameters("classification", "parquet")
        .build())
}

fn table_input(name: &str, location: &str, columns: &[ColumnDef]) -> CatalogResult<TableInput> {
    let keys = PARTITION_KEYS
        .iter()
        .map(|k| Column::builder().name(*k).r#type("string").build().map_err(invalid))
        .collect::<CatalogResult<Vec<_>>>()?;
    TableInput::builder()
        .name(name)
        .table_type("EXTERNAL_TABLE")
        .parameters("classification", "parquet")
        .parameters("EXTERNAL", "TRUE")
        .parameters("parquet.compression", "ZSTD")
        .set_partition_keys(Some(keys))
        .storage_descriptor(storage_descriptor(location, columns)?)
        .build()
        .map_err(invalid)
}

/// A partition as a crawler would register it, with the table's columns.
fn partition_input(table: &Table, partition: &PartitionInfo) -> PartitionInput {
    let table_location = table.storage_descriptor().and_then(|sd| sd.location()).unwrap_or_default();
    let location =
        format!("{}/shop_id={}/date={}/", table_location.trim_end_matches('/'), partition.shop_id, partition.date);
    let columns: Vec<ColumnDef> =
        table.storage_descriptor().map(|sd| sd.columns().iter().map(column_def).collect()).unwrap_or_default();
    let mut sd = storage_descriptor(&location, &columns).expect("columns read from Glue have names");
    sd.parameters.get_or_insert_default().extend([
        ("recordCount".to_owned(), partition.rows.to_string()),
        ("sizeKey".to_owned(), partition.bytes.to_string()),
        ("objectCount".to_owned(), "1".to_owned()),
    ]);
    PartitionInput::builder()
        .set_values(Some(vec![partition.shop_id.clone(), partition.date.clone()]))
        .storage_descriptor(sd)
        .parameters("recordCount", partition.rows.to_string())
        .parameters("sizeKey", partition.bytes.to_string())
        .parameters("objectCount", "1")
        .parameters("shoplake.schemaFingerprint", &partition.schema_fingerprint)
        .build()
}

fn partition_info(partition: &aws_sdk_glue::types::Partition) -> PartitionInfo {
    let values = partition.values();
    let parameter = |key: &str| partition.parameters().and_then(|m| m.get(key)).cloned().unwrap_or_default();
    let (shop, date) = (values[0].clone(), values[1].clone());
    let location = match (crate::domain::ShopId::parse(&shop), crate::domain::SalesDate::parse(&date)) {
        (Ok(shop), Ok(date)) => layout::processed_key(&shop, &date),
        _ => format!("processed/shop_id={shop}/date={date}/data.parquet"),
    };
    PartitionInfo {
        location,
        rows: parameter("recordCount").parse().unwrap_or(0),
        bytes: parameter("sizeKey").parse().unwrap_or(0),
        schema_fingerprint: parameter("shoplake.schemaFingerprint"),
        updated_at: partition
            .last_access_time()
            .or(partition.creation_time())
            .map(|t| t.to_string())
            .unwrap_or_default(),
        shop_id: shop,
        date,
        file_version: None,
    }
}

fn column_def(column: &Column) -> ColumnDef {
    ColumnDef { name: column.name().to_owned(), data_type: column.r#type().unwrap_or("string").to_owned() }
}

fn unavailable<E, R>(action: &str, error: SdkError<E, R>) -> CatalogError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    crate::metrics::dependencies::GLUE.error();
    CatalogError::Unavailable(format!("Glue failed while {action}: {}", DisplayErrorContext(&error)))
}

fn invalid(error: aws_sdk_glue::error::BuildError) -> CatalogError {
    CatalogError::Unavailable(format!("could not describe the table to Glue: {error}"))
}
