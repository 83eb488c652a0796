//! Fair upload slots: each shop may hold only its share of the service's upload slots, so one
//! shop's slow or hostile clients wait for that shop's own slots and never take everyone's.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::domain::ShopId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shops whose semaphores are kept before idle ones are dropped.
const KEEP_IDLE_SHOPS: usize = 1024;

/// One semaphore per shop with uploads in flight, `per_shop` permits each.
#[derive(Debug)]
pub struct ShopSlots {
    per_shop: usize,
    shops: Mutex<HashMap<ShopId, Arc<Semaphore>>>,
}

impl ShopSlots {
    /// Slots of `per_shop` permits for every shop.
    pub fn new(per_shop: usize) -> Self {
        Self { per_shop: per_shop.max(1), shops: Mutex::new(HashMap::new()) }
    }

    /// Waits for one of `shop`'s slots (cancel-safe: drop the future to give up waiting).
    pub async fn acquire(&self, shop: &ShopId) -> OwnedSemaphorePermit {
        let semaphore = {
            let mut shops = self.shops.lock().unwrap_or_else(|e| e.into_inner());
            if shops.len() >= KEEP_IDLE_SHOPS && !shops.contains_key(shop) {
                // Idle: nobody holds or waits for it (the map is its only owner).
                shops.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < self.per_shop);
            }
            Arc::clone(shops.entry(shop.clone()).or_insert_with(|| Arc::new(Semaphore::new(self.per_shop))))
        };
        semaphore.acquire_owned().await.expect("shop semaphores are never closed")
    }

    /// Shops currently tracked (for tests).
    pub fn tracked(&self) -> usize {
        self.shops.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// An admitted upload's slots (its shop's and the service's), given back when dropped.
pub struct Admitted {
    _shop_slot: OwnedSemaphorePermit,
    _slot: OwnedSemaphorePermit,
}

/// Back-pressure: waits for one of this shop's slots, then for a slot of the service, before a
/// byte of the body is read (the client's TCP window fills meanwhile). One shop's slow or
/// hostile clients thus hold at most its own share; a full queue is a 503 with Retry-After.
pub async fn admit(state: &AppState, shop: &ShopId) -> ApiResult<Admitted> {
    let queue_timeout = state.settings.upload_queue_timeout;
    let waiting = state.metrics.wait_for_upload_slot();
    let waited = tokio::time::timeout(queue_timeout, async {
        let shop_slot = state.shop_slots.acquire(shop).await;
        let slot = state.upload_slots.clone().acquire_owned().await.ok();
        (shop_slot, slot)
    })
    .await;
    drop(waiting);
    match waited {
        Ok((shop_slot, Some(slot))) => Ok(Admitted { _shop_slot: shop_slot, _slot: slot }),
        Ok((_, None)) => Err(ApiError::Busy("the service is shutting down; retry on another instance".into())),
        Err(_) => Err(ApiError::Busy(format!(
            "the upload slots stayed busy for {} s (this shop may hold {} of the {} at once); nothing was read, retry after the Retry-After seconds",
            queue_timeout.as_secs(),
            state.settings.max_uploads_per_shop,
            state.settings.max_concurrent_uploads,
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_shop_past_its_share_waits_while_another_shop_goes_ahead() {
        let slots = ShopSlots::new(2);
        let busy = ShopId::parse("busy").unwrap();
        let other = ShopId::parse("other").unwrap();
        let _a = slots.acquire(&busy).await;
        let _b = slots.acquire(&busy).await;
        let third = tokio::time::timeout(Duration::from_millis(50), slots.acquire(&busy)).await;
        assert!(third.is_err(), "a third slot for the same shop must wait");
        let others = tokio::time::timeout(Duration::from_millis(50), slots.acquire(&other)).await;
        assert!(others.is_ok(), "another shop must not wait for the busy one");
    }

    #[tokio::test]
    async fn idle_shops_are_forgotten_once_many_are_tracked() {
        let slots = ShopSlots::new(1);
        for i in 0..KEEP_IDLE_SHOPS + 10 {
            drop(slots.acquire(&ShopId::parse(&format!("s{i}")).unwrap()).await);
        }
        assert!(slots.tracked() <= KEEP_IDLE_SHOPS, "{} shops tracked", slots.tracked());
    }
}
