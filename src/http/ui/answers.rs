//! `AnswerCache`: the reporting pages keep each widget statement's answer until one of the
//! partitions it reads changes. A day's figures are asked for again and again (every analyst
//! opens the same dashboard each morning) but change only when one of its shop-days is
//! uploaded again; the catalog says when that happens (`Catalog::range_version`). A catalog that
//! cannot vouch for its partitions (a Glue crawler registers them) gives no version, and then
//! every view runs its statements.
//!
//! Bounded: at most [`ENTRIES`] answers of at most [`ANSWER_MAX_BYTES`] each (larger ones are
//! not kept), least recently used first out.

use super::widgets::Row;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Answers kept at most.
pub const ENTRIES: usize = 256;
/// Size of one kept answer at most (as JSON text): 256 entries hold 64 MiB at most.
pub const ANSWER_MAX_BYTES: usize = 256 << 10;

/// One statement over one version of the partitions it reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AnswerKey {
    sql: String,
    version: String,
}

/// The kept answers; cheap to share.
#[derive(Debug)]
pub struct AnswerCache {
    entries: Mutex<lru::LruCache<AnswerKey, Arc<Vec<Row>>>>,
}

impl Default for AnswerCache {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(ENTRIES).expect("not zero");
        Self { entries: Mutex::new(lru::LruCache::new(capacity)) }
    }
}

/// How a widget got its answer, as counted in `shoplake_ui_answers_total{source}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Kept from an earlier view over the same partitions.
    Kept,
    /// Run now, and kept.
    Run,
    /// Run now, not kept (no version from the catalog, or too large).
    RunUnkept,
}

impl Source {
    /// Its label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Kept => "kept",
            Self::Run => "run",
            Self::RunUnkept => "run_unkept",
        }
    }
}

impl AnswerCache {
    /// The answer kept for `sql` over partitions at `version`, if any.
    pub fn get(&self, sql: &str, version: &str) -> Option<Arc<Vec<Row>>> {
        let key = AnswerKey { sql: sql.to_owned(), version: version.to_owned() };
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned()
    }

    /// Keeps `rows` as the answer of `sql` at `version` when small enough; says whether it did.
    pub fn put(&self, sql: &str, version: &str, rows: Arc<Vec<Row>>) -> bool {
        let bytes: usize = rows.iter().map(|row| serde_json::to_string(row).map_or(usize::MAX, |t| t.len())).sum();
        if bytes > ANSWER_MAX_BYTES {
            return false;
        }
        let key = AnswerKey { sql: sql.to_owned(), version: version.to_owned() };
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).put(key, rows);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, text: &str) -> Arc<Vec<Row>> {
        let mut row = Row::new();
        row.insert("c".into(), serde_json::Value::String(text.to_owned()));
        Arc::new(vec![row; n])
    }

    #[test]
    fn an_answer_is_found_only_for_its_statement_and_version() {
        let cache = AnswerCache::default();
        assert!(cache.put("SELECT 1", "1/0/5/10", rows(1, "a")));
        assert_eq!(cache.get("SELECT 1", "1/0/5/10").unwrap()[0]["c"], "a");
        assert!(cache.get("SELECT 1", "1/1/6/10").is_none(), "another version");
        assert!(cache.get("SELECT 2", "1/0/5/10").is_none(), "another statement");
    }

    #[test]
    fn answers_past_the_size_bound_are_not_kept_and_the_oldest_go_first() {
        let cache = AnswerCache::default();
        assert!(!cache.put("big", "v", rows(ANSWER_MAX_BYTES / 8, "0123456789")));
        assert!(cache.get("big", "v").is_none());
        for i in 0..=ENTRIES {
            cache.put(&format!("SELECT {i}"), "v", rows(1, "x"));
        }
        assert!(cache.get("SELECT 0", "v").is_none(), "the least recently used went out");
        assert!(cache.get(&format!("SELECT {ENTRIES}"), "v").is_some());
    }
}
