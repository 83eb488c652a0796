//! `ShopDayLocks`: serializes the commit of uploads of one shop-day inside this process; with
//! PostgreSQL the database's lock then serializes it across replicas (`ShopDayGuard` holds both).

use crate::domain::{SalesDate, ShopId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Key = (ShopId, SalesDate);

/// One async mutex per shop-day, created on demand and dropped when nobody holds it.
#[derive(Debug, Default)]
pub struct ShopDayLocks {
    locks: Mutex<HashMap<Key, Weak<AsyncMutex<()>>>>,
}

impl ShopDayLocks {
    /// Waits for and holds the lock of a shop-day until the guard is dropped.
    pub async fn lock(&self, shop: &ShopId, date: &SalesDate) -> OwnedMutexGuard<()> {
        let mutex = {
            let mut locks = self.locks.lock().expect("lock table");
            if locks.len() > 1024 {
                locks.retain(|_, weak| weak.strong_count() > 0);
            }
            let key = (shop.clone(), *date);
            match locks.get(&key).and_then(Weak::upgrade) {
                Some(existing) => existing,
                None => {
                    let fresh = Arc::new(AsyncMutex::new(()));
                    locks.insert(key, Arc::downgrade(&fresh));
                    fresh
                }
            }
        };
        mutex.lock_owned().await
    }
}

/// Both locks of a shop-day: this process's (so one task per shop-day waits on the database)
/// and the database's (across replicas). The database lock is released first.
#[derive(Debug)]
pub struct ShopDayGuard {
    database: crate::db::ShopDayLock,
    _local: OwnedMutexGuard<()>,
}

impl ShopDayGuard {
    /// Pairs the two held locks.
    pub fn new(local: OwnedMutexGuard<()>, database: crate::db::ShopDayLock) -> Self {
        Self { database, _local: local }
    }

    /// Takes the database lock again, keeping this process's: after a commit was fenced off,
    /// the first database lock is known to be lost (its connection died).
    pub async fn retake(&mut self, db: &crate::db::Db, shop: &ShopId, date: &SalesDate) -> crate::db::DbResult<()> {
        self.database = crate::db::ShopDayLock::default(); // the old one goes first
        self.database = db.lock_shop_day(shop, date).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn same_shop_day_waits_and_other_days_do_not() {
        let locks = Arc::new(ShopDayLocks::default());
        let shop = ShopId::parse("001").unwrap();
        let day = SalesDate::parse("2025-07-30").unwrap();
        let other = SalesDate::parse("2025-07-31").unwrap();
        let held = locks.lock(&shop, &day).await;
        let blocked = tokio::time::timeout(Duration::from_millis(50), locks.lock(&shop, &day)).await;
        assert!(blocked.is_err(), "a second lock of the same shop-day must wait");
        let free = tokio::time::timeout(Duration::from_millis(50), locks.lock(&shop, &other)).await;
        assert!(free.is_ok(), "another shop-day is independent");
        drop(held);
        assert!(tokio::time::timeout(Duration::from_millis(50), locks.lock(&shop, &day)).await.is_ok());
    }
}
