-- Idempotency-Key records: the same key from the same shop replays the first answer for 7 days.
create table idempotency_keys (
    shop_id          text not null,
    idempotency_key  text not null,
    sha256           text not null,            -- digest of the body first sent with this key
    upload_id        text not null,            -- the upload that answered first
    created_at       bigint not null,          -- ms since epoch; older than 7 days = expired
    primary key (shop_id, idempotency_key)
);
