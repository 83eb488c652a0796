//! `CatalogListing`: one query's listing of the tables the catalog describes file by file, so
//! the per-query stores (`snapshot`) answer `list` without reading storage. Each file carries the
//! version the store named when it was written (as its entity tag) and a time unique to the
//! catalog's record of it, which keys the footer and statistics caches kept across queries.

use super::engine::CatalogFile;
use object_store::path::Path;
use object_store::ObjectMeta;

/// The files of the tables the catalog describes, as one query's listing of them.
#[derive(Debug, Default)]
pub struct CatalogListing {
    /// Each table's root and its files, in path order.
    tables: Vec<(Path, Vec<ObjectMeta>)>,
}

impl CatalogListing {
    /// Lists `files` for the table whose root is `root`.
    pub fn add_table(&mut self, root: &Path, files: &[CatalogFile]) {
        let mut metas: Vec<ObjectMeta> = files.iter().map(|file| catalog_object(root, file)).collect();
        metas.sort_by(|a, b| a.location.cmp(&b.location));
        self.tables.push((root.clone(), metas));
    }

    /// The listed files under `prefix`, if `prefix` lies within a table listed here.
    pub(super) fn list(&self, prefix: Option<&Path>) -> Option<Vec<ObjectMeta>> {
        let prefix = prefix?;
        let (_, files) = self.tables.iter().find(|(root, _)| prefix.prefix_matches(root))?;
        Some(files.iter().filter(|meta| meta.location.prefix_matches(prefix)).cloned().collect())
    }
}

/// A catalog file as the store would list it: its path below `root`, its size, its version as
/// the entity tag, and a time unique to the catalog's record of it (the record's time plus a
/// sub-millisecond part taken from the version).
fn catalog_object(root: &Path, file: &CatalogFile) -> ObjectMeta {
    use std::hash::{Hash, Hasher};
    let location = file.relative_path.split('/').fold(root.clone(), |path, part| path.join(part));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    file.version.hash(&mut hasher);
    let sub_millisecond = chrono::Duration::nanoseconds((hasher.finish() % 1_000_000) as i64);
    ObjectMeta {
        location,
        last_modified: file.recorded_at + sub_millisecond,
        size: file.size,
        e_tag: Some(file.version.clone()),
        version: None,
    }
}
