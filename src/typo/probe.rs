//! The typosquat index outside memory. The server keeps its own project
//! names in the store, not in RAM (100,000 names cost ~30 MiB in memory):
//! each name is stored with the same lookup keys [`super::index::NameIndex`]
//! uses ([`StoredName`]), and a check first fetches the few stored names
//! near the candidate ([`Probe`] → [`Neighbourhood`]) and then runs in
//! memory over the corpus plus that neighbourhood.

use std::collections::HashMap;

use super::confusables::skeleton;
use super::index::{deletion_hashes, short, skeleton_key, strip_separators, word_set_key};
use super::words::MIN_PARTICLE_LEN;

/// Bump when the keys a name is stored under change (hash, skeleton map,
/// deletion depth): stored keys of another version are rebuilt.
pub const KEYS_VERSION: i64 = 1;

/// What a stored key indexes, in the key's upper 32 bits.
#[derive(Debug, Clone, Copy)]
enum KeyKind {
    /// The separator-free name with up to one character deleted.
    Deletion = 1,
    /// The visual skeleton.
    Skeleton = 2,
    /// The sorted set of words (multi-word names).
    WordSet = 3,
}

fn key(kind: KeyKind, hash: u32) -> i64 {
    ((kind as i64) << 32) | i64::from(hash)
}

/// A protected name as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredName {
    /// PEP 503 normalised name.
    pub name: String,
    /// Lookup keys, sorted, without duplicates.
    pub keys: Vec<i64>,
    /// Its words of two or more letters, once per use.
    pub words: Vec<String>,
    /// The first word of a multi-word name: the plugin family it belongs to.
    pub family: Option<String>,
}

impl StoredName {
    /// The stored form of `name` (PEP 503 normalised).
    pub fn new(name: &str) -> Self {
        let mut hashes = Vec::new();
        deletion_hashes(&strip_separators(name), 1, &mut hashes);
        let mut keys: Vec<i64> = hashes
            .into_iter()
            .map(|h| key(KeyKind::Deletion, h))
            .collect();
        keys.push(key(KeyKind::Skeleton, skeleton_key(&skeleton(name))));
        let family = name.split_once('-').map(|(first, _)| {
            keys.push(key(KeyKind::WordSet, short(word_set_key(name))));
            first.to_string()
        });
        keys.sort_unstable();
        keys.dedup();
        Self {
            name: name.to_string(),
            keys,
            words: name
                .split('-')
                .filter(|w| w.len() >= MIN_PARTICLE_LEN)
                .map(str::to_string)
                .collect(),
            family,
        }
    }
}

/// What to fetch from the store to check one candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// Stored names under any of these keys may be look-alikes.
    pub keys: Vec<i64>,
    /// Exact names the check asks about (the candidate, affix bases).
    pub names: Vec<String>,
    /// Words whose use counts the check may ask about.
    pub words: Vec<String>,
}

impl Probe {
    /// The probe for the normalised candidate `name`: its deletions to
    /// `depth` (0 = none, too short to be fuzzy), its skeleton and word set.
    pub(super) fn new(name: &str, depth: usize, names: Vec<String>, words: Vec<String>) -> Self {
        let mut keys = Vec::new();
        if depth > 0 {
            let mut hashes = Vec::new();
            deletion_hashes(&strip_separators(name), depth, &mut hashes);
            keys.extend(hashes.into_iter().map(|h| key(KeyKind::Deletion, h)));
        }
        keys.push(key(KeyKind::Skeleton, skeleton_key(&skeleton(name))));
        if name.contains('-') {
            keys.push(key(KeyKind::WordSet, short(word_set_key(name))));
        }
        keys.sort_unstable();
        keys.dedup();
        Self { keys, names, words }
    }
}

/// What the store knows near one candidate: the stored names matching the
/// probe, and how many stored names use each probed word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Neighbourhood {
    pub names: Vec<String>,
    /// Word → how many stored names use it.
    pub word_uses: HashMap<String, u32>,
    /// Word → how many stored multi-word names start with it.
    pub families: HashMap<String, u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_edit_look_alike_shares_a_key_with_the_stored_name() {
        let stored = StoredName::new("acme-billing");
        assert_eq!(stored.family.as_deref(), Some("acme"));
        assert_eq!(stored.words, ["acme", "billing"]);
        for candidate in ["acme-biling", "acmebilling", "acme-bililng", "billing-acme"] {
            let probe = Probe::new(candidate, 2, vec![], vec![]);
            assert!(
                probe
                    .keys
                    .iter()
                    .any(|k| stored.keys.binary_search(k).is_ok()),
                "{candidate}"
            );
        }
        let unrelated = Probe::new("numpy", 2, vec![], vec![]);
        assert!(!unrelated
            .keys
            .iter()
            .any(|k| stored.keys.binary_search(k).is_ok()));
    }

    #[test]
    fn keys_of_different_kinds_never_collide() {
        assert_ne!(key(KeyKind::Deletion, 7), key(KeyKind::Skeleton, 7));
        assert_ne!(key(KeyKind::Skeleton, 7), key(KeyKind::WordSet, 7));
        assert!(key(KeyKind::WordSet, u32::MAX) > 0);
    }
}
