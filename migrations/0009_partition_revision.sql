-- Counts the replacements of each partition, so that "the partitions of these days are as they
-- were" can be checked from the catalog alone (the reporting pages keep answers until it changes).
alter table catalog_partitions add column revision bigint not null default 0;
