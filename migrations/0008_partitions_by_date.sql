-- The reporting pages select partitions by day across shops (freshness, shops not reported).
create index catalog_partitions_by_date on catalog_partitions (table_name, sales_date);
