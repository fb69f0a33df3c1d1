//! Release-file rows recently looked up by downloads, so that serving a
//! file does not ask the database each time (with `--database postgres://`
//! that is a round trip to another machine per download).
//!
//! An entry is the answer (the row, or that there is none) as of a
//! [`super::Registry::content_generation`] read *before* the database was
//! asked, and is served only while the generation is still that number:
//! any committed change on this node, or on another node once this one has
//! synced with it (before every request), makes every entry stale at once.
//! A change landing between the generation read and the database read only
//! makes the new entry stale sooner, never the reverse.

use crate::store::releases::FileRow;

/// Entries kept (a row is a few hundred bytes).
const ENTRIES: usize = 16 * 1024;

type Key = (i64, String);

pub(super) struct FileRows {
    rows: quick_cache::sync::Cache<Key, (u64, Option<FileRow>)>,
}

impl Default for FileRows {
    fn default() -> Self {
        Self {
            rows: quick_cache::sync::Cache::new(ENTRIES),
        }
    }
}

impl FileRows {
    /// The answer for `filename` on index `index_id` if it was found at
    /// `generation`.
    pub fn get(&self, index_id: i64, filename: &str, generation: u64) -> Option<Option<FileRow>> {
        let key = (index_id, filename.to_string());
        self.rows
            .get(&key)
            .filter(|(at, _)| *at == generation)
            .map(|(_, row)| row)
    }

    pub fn insert(&self, index_id: i64, filename: &str, generation: u64, row: Option<FileRow>) {
        self.rows
            .insert((index_id, filename.to_string()), (generation, row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_served_only_at_its_generation() {
        let rows = FileRows::default();
        rows.insert(1, "a-1.0.tar.gz", 7, None);
        assert!(matches!(rows.get(1, "a-1.0.tar.gz", 7), Some(None)));
        assert!(
            rows.get(1, "a-1.0.tar.gz", 8).is_none(),
            "a later generation"
        );
        assert!(rows.get(2, "a-1.0.tar.gz", 7).is_none(), "another index");
        assert!(rows.get(1, "b-1.0.tar.gz", 7).is_none(), "another file");
    }
}
