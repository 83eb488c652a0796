-- The version of each partition's stored object as the store named it when it was written
-- (local: modification time, inode and size; S3: ETag), so the query engine can plan from the
-- catalog without listing storage and tell a replaced file from the one the catalog records.
-- Null for partitions written before it was kept (a crawl fills it in).
alter table catalog_partitions add column file_version text;
