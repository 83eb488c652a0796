-- The embedded catalog: tables over a storage prefix, their columns, and their partitions.
create table catalog_tables (
    name            text primary key,          -- e.g. sales_processed
    location        text not null,             -- URL of the table's prefix (file:///..., s3://...)
    columns         text not null,             -- JSON [{"name","type"}], Hive type names
    partition_keys  text not null,             -- JSON ["shop_id","date"]
    created_at      bigint not null,
    updated_at      bigint not null
);

create table catalog_partitions (
    table_name         text not null,
    shop_id            text not null,
    sales_date         text not null,
    location           text not null,          -- storage key of the partition's file
    rows               bigint not null,
    bytes              bigint not null,
    schema_fingerprint text not null,          -- of the file's own columns
    updated_at         bigint not null,
    primary key (table_name, shop_id, sales_date)
);
