//! The `idempotency_keys` table: first claim of a key wins; replays find the first upload.

use super::{now_ms, DbResult};
use crate::domain::{ShopId, UploadId};
use sqlx::AnyPool;

/// How long a key is remembered (contract: 7 days).
pub const KEY_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// The first use of a key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRecord {
    /// Digest of the body first sent with the key.
    pub sha256: String,
    /// The upload that answered.
    pub upload_id: String,
}

/// Repository over `idempotency_keys`.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyKeys<'p> {
    pool: &'p AnyPool,
}

impl<'p> IdempotencyKeys<'p> {
    pub(super) fn new(pool: &'p AnyPool) -> Self {
        Self { pool }
    }

    /// Claims `key` for `upload`; returns `None` if this call claimed it, or the earlier,
    /// unexpired claim. An expired claim is replaced.
    #[tracing::instrument(name = "db.idempotency.claim", skip_all, fields(shop = %shop))]
    pub async fn claim(
        &self,
        shop: &ShopId,
        key: &str,
        sha256: &str,
        upload: &UploadId,
    ) -> DbResult<Option<KeyRecord>> {
        let now = now_ms();
        sqlx::query("delete from idempotency_keys where shop_id = $1 and idempotency_key = $2 and created_at < $3")
            .bind(shop.as_str().to_owned())
            .bind(key.to_owned())
            .bind(now - KEY_LIFETIME_MS)
            .execute(self.pool)
            .await?;
        let inserted = sqlx::query(
            "insert into idempotency_keys (shop_id, idempotency_key, sha256, upload_id, created_at) values ($1, $2, $3, $4, $5) on conflict (shop_id, idempotency_key) do nothing",
        )
        .bind(shop.as_str().to_owned())
        .bind(key.to_owned())
        .bind(sha256.to_owned())
        .bind(upload.to_string())
        .bind(now)
        .execute(self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(None);
        }
        let first = sqlx::query_as(
            "select sha256, upload_id from idempotency_keys where shop_id = $1 and idempotency_key = $2",
        )
        .bind(shop.as_str().to_owned())
        .bind(key.to_owned())
        .fetch_one(self.pool)
        .await?;
        Ok(Some(first))
    }

    /// Forgets the keys older than their lifetime (as of `now_ms`); returns how many.
    pub async fn purge_expired(&self, now_ms: i64) -> DbResult<u64> {
        let done = sqlx::query("delete from idempotency_keys where created_at < $1")
            .bind(now_ms - KEY_LIFETIME_MS)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
