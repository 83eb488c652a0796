//! `ActiveUploads`: the uploads this process is handling right now, so the periodic reconciler
//! only touches uploads that nobody is working on (left in flight by a failed dependency).

use crate::domain::UploadId;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The set of upload ids with a request (or a reconciliation) in progress in this process.
#[derive(Debug, Default)]
pub struct ActiveUploads {
    ids: Mutex<HashSet<UploadId>>,
}

/// Keeps an id in the set until dropped.
#[derive(Debug)]
pub struct Tracked {
    set: Arc<ActiveUploads>,
    id: UploadId,
}

impl ActiveUploads {
    /// Marks `id` active until the returned guard is dropped; None when it already is.
    pub fn track(self: &Arc<Self>, id: UploadId) -> Option<Tracked> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).insert(id).then(|| Tracked { set: Arc::clone(self), id })
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.set.ids.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_active_until_its_guard_is_dropped_and_cannot_be_taken_twice() {
        let set = Arc::new(ActiveUploads::default());
        let id = UploadId::new();
        let guard = set.track(id).expect("first");
        assert!(set.track(id).is_none(), "already active");
        drop(guard);
        assert!(set.track(id).is_some(), "free again");
    }
}
