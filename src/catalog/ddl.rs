//! Athena/Hive DDL for a catalog table: `CREATE EXTERNAL TABLE` (Parquet SerDe, partitioned by
//! shop_id and date) and one `ALTER TABLE ... ADD PARTITION` per partition.

use super::{hive_format, PartitionInfo, TableInfo};

/// The statements that make Athena, Trino or Spark see the same files.
pub fn athena_ddl(table: &TableInfo, partitions: &[PartitionInfo]) -> String {
    let location = with_slash(&table.location);
    let columns =
        table.columns.iter().map(|c| format!("  {} {}", quote(&c.name), c.data_type)).collect::<Vec<_>>().join(",\n");
    let keys = table.partition_keys.iter().map(|k| format!("{} string", quote(k))).collect::<Vec<_>>().join(", ");
    let mut ddl = format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{columns}\n)\nPARTITIONED BY ({keys})\n\
         ROW FORMAT SERDE '{serde}'\n\
         STORED AS INPUTFORMAT '{input}'\n\
         OUTPUTFORMAT '{output}'\n\
         LOCATION '{location}'\n\
         TBLPROPERTIES ('classification'='parquet', 'parquet.compression'='ZSTD');\n",
        name = quote(&table.name),
        serde = hive_format::SERDE,
        input = hive_format::INPUT_FORMAT,
        output = hive_format::OUTPUT_FORMAT,
    );
    for p in partitions {
        ddl.push_str(&format!(
            "ALTER TABLE {name} ADD IF NOT EXISTS PARTITION (shop_id='{shop}', `date`='{date}') LOCATION '{location}shop_id={shop}/date={date}/';\n",
            name = quote(&table.name),
            shop = p.shop_id,
            date = p.date,
        ));
    }
    ddl
}

/// Backtick-quotes names that are reserved words in Athena (`date`, `timestamp`...) or unusual.
fn quote(name: &str) -> String {
    const RESERVED: [&str; 8] = ["date", "timestamp", "time", "user", "table", "partition", "order", "group"];
    let plain = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !RESERVED.contains(&name) {
        name.to_owned()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

fn with_slash(location: &str) -> String {
    if location.ends_with('/') {
        location.to_owned()
    } else {
        format!("{location}/")
    }
}

#[cfg(test)]
mod tests {
    use super::super::ColumnDef;
    use super::*;

    #[test]
    fn ddl_declares_parquet_serde_partitions_and_locations() {
        let table = TableInfo {
            name: "sales_processed".into(),
            location: "s3://lake/processed".into(),
            columns: vec![
                ColumnDef { name: "price".into(), data_type: "decimal(18,4)".into() },
                ColumnDef { name: "Loyalty Card".into(), data_type: "string".into() },
            ],
            partition_keys: vec!["shop_id".into(), "date".into()],
            partitions: 1,
            rows: 10,
            bytes: 100,
            updated_at: String::new(),
        };
        let partition = PartitionInfo {
            shop_id: "001".into(),
            date: "2025-07-30".into(),
            location: "processed/shop_id=001/date=2025-07-30/data.parquet".into(),
            rows: 10,
            bytes: 100,
            schema_fingerprint: "x".into(),
            updated_at: String::new(),
            file_version: None,
        };
        let ddl = athena_ddl(&table, &[partition]);
        assert!(ddl.contains("CREATE EXTERNAL TABLE IF NOT EXISTS sales_processed (\n  price decimal(18,4),\n  `Loyalty Card` string\n)"), "{ddl}");
        assert!(ddl.contains("PARTITIONED BY (shop_id string, `date` string)"));
        assert!(ddl.contains("ParquetHiveSerDe") && ddl.contains("LOCATION 's3://lake/processed/'"));
        assert!(ddl.contains("ADD IF NOT EXISTS PARTITION (shop_id='001', `date`='2025-07-30') LOCATION 's3://lake/processed/shop_id=001/date=2025-07-30/'"), "{ddl}");
    }
}
