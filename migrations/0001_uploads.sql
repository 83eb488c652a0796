-- One row per upload request: the per-file status the contract promises to shops.
create table uploads (
    id              text primary key,          -- UUIDv7, sorts by arrival time
    shop_id         text not null,
    sales_date      text not null,             -- YYYY-MM-DD, the shop-day
    status          text not null,             -- received | processing | succeeded | rejected | failed | superseded
    filename        text,                      -- as sent by the client, for display only
    bytes           bigint,                    -- size of the body as received (gzip stays gzip)
    sha256          text,                      -- hex digest of the body as received
    rows_total      bigint,
    rows_accepted   bigint,
    rows_rejected   bigint,
    errors          text,                      -- JSON array, first 100 row errors
    problem         text,                      -- why the file was rejected or failed, in words
    raw_key         text,
    processed_key   text,
    rejected_key    text,
    superseded_by   text,
    duplicate_of    text,
    received_at     bigint not null,           -- ms since epoch
    finished_at     bigint,
    updated_at      bigint not null
);

-- Listing a shop's uploads newest first.
create index uploads_shop_id_id on uploads (shop_id, id);
-- Finding the current upload of a shop-day, and the duplicate check.
create index uploads_shop_date_status on uploads (shop_id, sales_date, status);
-- The start-up reconciler looks for uploads left in flight.
create index uploads_status on uploads (status);
