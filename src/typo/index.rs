//! Lookup structures over the protected names, so that one check touches a few
//! hundred hash probes instead of every name.
//!
//! * a deletion neighbourhood (SymSpell): every name, with separators stripped,
//!   is stored under itself and each string obtained by deleting one character.
//!   Probing with the candidate's own deletions finds every name within one
//!   edit, and many within two.
//! * visual skeletons ([`super::confusables::skeleton`]) for homoglyphs,
//! * sorted word sets for swapped words,
//! * exact names, and the vocabulary of words used in protected names.

use std::collections::{HashMap, HashSet};

/// Where a protected name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The popularity corpus, with its rank (1 = most popular).
    Popular { rank: u32 },
    /// A project hosted on this server.
    Private,
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// PEP 503 normalised name.
    pub name: String,
    pub origin: Origin,
}

/// Above this many names added since the last build, the overlay is merged.
const OVERLAY_MERGE_KEYS: usize = 1 << 16;

#[derive(Debug, Default)]
pub struct NameIndex {
    entries: Vec<Entry>,
    by_name: HashMap<String, u32>,
    /// (hash of a deletion variant, entry id), sorted.
    deletions: Vec<(u64, u32)>,
    /// Deletion variants of names added after the last merge.
    overlay: HashMap<u64, Vec<u32>>,
    overlay_keys: usize,
    skeletons: HashMap<u64, Vec<u32>>,
    word_sets: HashMap<u64, Vec<u32>>,
    vocabulary: HashSet<String>,
    /// How many multi-word names start with each first word.
    families: HashMap<String, usize>,
}

/// FNV-1a: fast, deterministic, good enough for keys that are verified afterwards.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn strip_separators(name: &str) -> String {
    name.chars().filter(|c| *c != '-').collect()
}

/// The key for "same words in any order".
pub fn word_set_key(name: &str) -> u64 {
    let mut words: Vec<&str> = name.split('-').collect();
    words.sort_unstable();
    hash(words.join("-").as_bytes())
}

/// Hashes of `s` and of every string made by deleting up to `depth` (1 or 2) characters.
fn deletion_hashes(s: &str, depth: usize, out: &mut Vec<u64>) {
    let b = s.as_bytes();
    out.push(hash(b));
    let mut buf = Vec::with_capacity(b.len());
    for i in 0..b.len() {
        buf.clear();
        buf.extend_from_slice(&b[..i]);
        buf.extend_from_slice(&b[i + 1..]);
        out.push(hash(&buf));
        if depth >= 2 {
            for j in i..buf.len() {
                let mut two = buf.clone();
                two.remove(j);
                out.push(hash(&two));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
}

impl NameIndex {
    /// Add a name; returns false when it was already present (the first origin wins).
    pub fn insert(&mut self, name: &str, origin: Origin) -> bool {
        if self.by_name.contains_key(name) {
            return false;
        }
        let Ok(id) = u32::try_from(self.entries.len()) else {
            return false;
        };
        self.entries.push(Entry {
            name: name.to_string(),
            origin,
        });
        self.by_name.insert(name.to_string(), id);
        let mut keys = Vec::new();
        deletion_hashes(&strip_separators(name), 1, &mut keys);
        self.overlay_keys += keys.len();
        for k in keys {
            self.overlay.entry(k).or_default().push(id);
        }
        self.skeletons
            .entry(hash(super::confusables::skeleton(name).as_bytes()))
            .or_default()
            .push(id);
        if let Some((first, _)) = name.split_once('-') {
            *self.families.entry(first.to_string()).or_default() += 1;
            self.word_sets
                .entry(word_set_key(name))
                .or_default()
                .push(id);
        }
        for word in name.split('-').filter(|w| w.len() >= 3) {
            if !self.vocabulary.contains(word) {
                self.vocabulary.insert(word.to_string());
            }
        }
        if self.overlay_keys > OVERLAY_MERGE_KEYS {
            self.merge_overlay();
        }
        true
    }

    /// Move the overlay into the sorted deletion table.
    pub fn merge_overlay(&mut self) {
        for (k, ids) in self.overlay.drain() {
            self.deletions.extend(ids.into_iter().map(|id| (k, id)));
        }
        self.overlay_keys = 0;
        self.deletions.sort_unstable();
    }

    pub fn entry(&self, id: u32) -> Option<&Entry> {
        self.entries.get(id as usize)
    }

    pub fn id_of(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many protected multi-word names start with `word-`.
    pub fn family_size(&self, word: &str) -> usize {
        self.families.get(word).copied().unwrap_or(0)
    }

    pub fn is_word(&self, word: &str) -> bool {
        self.vocabulary.contains(word)
    }

    /// Ids of names whose separator-free form may be within `depth` edits of
    /// `stripped` (a superset for depth 1; verify with an alignment).
    pub fn near(&self, stripped: &str, depth: usize, out: &mut Vec<u32>) {
        let mut keys = Vec::new();
        deletion_hashes(stripped, depth, &mut keys);
        for k in keys {
            let start = self.deletions.partition_point(|(h, _)| *h < k);
            out.extend(
                self.deletions[start..]
                    .iter()
                    .take_while(|(h, _)| *h == k)
                    .map(|(_, id)| *id),
            );
            if let Some(ids) = self.overlay.get(&k) {
                out.extend_from_slice(ids);
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    pub fn same_skeleton(&self, skeleton: &str) -> &[u32] {
        self.skeletons
            .get(&hash(skeleton.as_bytes()))
            .map_or(&[], Vec::as_slice)
    }

    pub fn same_words(&self, name: &str) -> &[u32] {
        self.word_sets
            .get(&word_set_key(name))
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(names: &[&str]) -> NameIndex {
        let mut ix = NameIndex::default();
        for (i, n) in names.iter().enumerate() {
            ix.insert(n, Origin::Popular { rank: i as u32 + 1 });
        }
        ix.merge_overlay();
        ix
    }

    fn near(ix: &NameIndex, q: &str, depth: usize) -> Vec<String> {
        let mut ids = Vec::new();
        ix.near(&strip_separators(q), depth, &mut ids);
        let mut v: Vec<_> = ids
            .iter()
            .filter_map(|i| ix.entry(*i))
            .map(|e| e.name.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn finds_names_within_one_edit() {
        let ix = index(&["requests", "numpy", "more-itertools", "six"]);
        assert_eq!(near(&ix, "reqests", 1), ["requests"]);
        assert_eq!(near(&ix, "requestss", 1), ["requests"]);
        assert_eq!(near(&ix, "reqeusts", 1), ["requests"]);
        assert_eq!(near(&ix, "requesrs", 1), ["requests"]);
        assert_eq!(near(&ix, "moreitertools", 1), ["more-itertools"]);
        assert!(near(&ix, "pandas", 1).is_empty());
    }

    #[test]
    fn overlay_and_merged_agree() {
        let mut ix = NameIndex::default();
        ix.insert("acme-billing", Origin::Private);
        assert_eq!(near(&ix, "acme-biling", 1), ["acme-billing"]);
        ix.merge_overlay();
        assert_eq!(near(&ix, "acme-biling", 1), ["acme-billing"]);
        assert!(!ix.insert("acme-billing", Origin::Private));
    }

    #[test]
    fn word_sets_and_vocabulary() {
        let ix = index(&["confluent-kafka", "requests"]);
        assert_eq!(ix.same_words("kafka-confluent").len(), 1);
        assert!(ix.same_words("kafka-python").is_empty());
        assert!(ix.is_word("kafka"));
        assert!(!ix.is_word("kafk"));
    }
}
