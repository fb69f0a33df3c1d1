//! A compact multimap from 32-bit keys to name ids: one sorted vector of
//! `(key, id)` pairs (8 bytes an entry) plus a small overlay map for ids
//! added since the last merge. A hash map of vectors costs ~40 bytes and an
//! allocation per key, which at 100,000 protected names was most of the
//! typosquat detector's memory.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct PairTable {
    /// Sorted by key after [`PairTable::merge`]; pairs pushed in bulk stay
    /// unsorted until then.
    sorted: Vec<(u32, u32)>,
    overlay: HashMap<u32, Vec<u32>>,
    overlay_len: usize,
}

impl PairTable {
    pub fn reserve(&mut self, additional: usize) {
        self.sorted.reserve(additional);
    }

    /// Add a pair while bulk-building; not visible to [`Self::get`] until
    /// [`Self::merge`].
    pub fn push_bulk(&mut self, key: u32, id: u32) {
        self.sorted.push((key, id));
    }

    /// Add a pair, visible at once.
    pub fn insert(&mut self, key: u32, id: u32) {
        self.overlay.entry(key).or_default().push(id);
        self.overlay_len += 1;
    }

    /// Pairs waiting in the overlay.
    pub fn overlay_len(&self) -> usize {
        self.overlay_len
    }

    /// Fold the overlay (and bulk pushes) into the sorted vector.
    pub fn merge(&mut self) {
        for (k, ids) in self.overlay.drain() {
            self.sorted.extend(ids.into_iter().map(|id| (k, id)));
        }
        self.overlay_len = 0;
        self.overlay.shrink_to_fit();
        self.sorted.sort_unstable();
        self.sorted.dedup();
        self.sorted.shrink_to_fit();
    }

    /// Append the ids stored under `key` to `out`.
    pub fn get(&self, key: u32, out: &mut Vec<u32>) {
        let start = self.sorted.partition_point(|(k, _)| *k < key);
        out.extend(
            self.sorted[start..]
                .iter()
                .take_while(|(k, _)| *k == key)
                .map(|(_, id)| *id),
        );
        if let Some(ids) = self.overlay.get(&key) {
            out.extend_from_slice(ids);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(t: &PairTable, key: u32) -> Vec<u32> {
        let mut out = Vec::new();
        t.get(key, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn bulk_overlay_and_merge_agree() {
        let mut t = PairTable::default();
        t.reserve(4);
        t.push_bulk(7, 1);
        t.push_bulk(3, 2);
        t.push_bulk(7, 3);
        t.push_bulk(7, 1);
        t.merge();
        assert_eq!(ids(&t, 7), [1, 3], "sorted, duplicates dropped");
        assert_eq!(ids(&t, 3), [2]);
        assert!(ids(&t, 5).is_empty());
        t.insert(7, 9);
        t.insert(5, 4);
        assert_eq!(t.overlay_len(), 2);
        assert_eq!(ids(&t, 7), [1, 3, 9], "overlay visible before a merge");
        assert_eq!(ids(&t, 5), [4]);
        t.merge();
        assert_eq!(t.overlay_len(), 0);
        assert_eq!(ids(&t, 7), [1, 3, 9]);
        assert_eq!(ids(&t, 5), [4]);
        assert_eq!(ids(&t, u32::MAX), Vec::<u32>::new());
    }
}
