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
//!
//! The server keeps only the popularity corpus here; its own project names
//! live in the store under the same keys ([`super::probe`]).

use std::collections::{HashMap, HashSet};

use super::pair_table::PairTable;

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

use super::words::MIN_PARTICLE_LEN;

/// Above this many names added since the last build, the overlay is merged.
const OVERLAY_MERGE_KEYS: usize = 1 << 16;

#[derive(Debug, Default)]
pub struct NameIndex {
    entries: Vec<Entry>,
    /// (32-bit hash of the name, entry id); the name is compared on lookup.
    by_name: PairTable,
    /// (hash of a deletion variant, entry id), sorted.
    /// (32-bit hash of a deletion variant, entry id). Collisions of the
    /// short hash only add candidates, which are verified anyway.
    deletions: PairTable,
    /// (32-bit hash of a visual skeleton, entry id).
    skeletons: PairTable,
    /// (32-bit hash of the sorted word set, entry id), multi-word names.
    word_sets: PairTable,
    /// Every word of two or more letters used in a protected name, with how
    /// many protected names use it.
    vocabulary: HashMap<String, u32>,
    /// How many multi-word names start with each first word.
    families: HashMap<String, u32>,
    /// How many popular names (separators aside) start with each two
    /// letters: a look-alike whose opening no popular name has is a slip
    /// of the first key (`kwscli` for `awscli`), not a name of its own.
    /// Popular names only, so a server that keeps its own names in the
    /// store counts the same as one holding them in memory.
    openings: HashMap<[u8; 2], u32>,
    /// Every three letters in a row of a popular name (separators aside,
    /// `^` and `$` marking its ends): a letter replaced so that it makes
    /// three no popular name has (`dccker`, `isorv`) is a slip, not a name
    /// chosen to be read. Popular names only, like [`Self::openings`].
    trigrams: HashSet<[u8; 3]>,
}

/// The three-letter windows of `name` (separators aside, `^`/`$` at its
/// ends) that contain the letter at `pos` of the separator-free name.
pub fn trigrams_at(stripped: &str, pos: usize) -> impl Iterator<Item = [u8; 3]> + '_ {
    let b = stripped.as_bytes();
    let at = move |i: usize| match i {
        0 => b'^',
        i if i == b.len() + 1 => b'$',
        i => b.get(i - 1).copied().unwrap_or(b'$'),
    };
    // Windows [p-2, p], [p-1, p+1], [p, p+2] in the padded string, p = pos + 1.
    let p = pos + 1;
    (p.saturating_sub(2)..=p)
        .filter(move |start| start + 2 <= b.len() + 1)
        .map(move |start| [at(start), at(start + 1), at(start + 2)])
}

/// The first two letters of a name, separators aside.
pub fn opening(name: &str) -> Option<[u8; 2]> {
    let mut letters = name.bytes().filter(|b| *b != b'-');
    Some([letters.next()?, letters.next()?])
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

/// A 64-bit hash folded to 32 bits, for the deletion table.
pub fn short(h: u64) -> u32 {
    (h ^ (h >> 32)) as u32
}

/// The key of a name's visual skeleton.
pub fn skeleton_key(skeleton: &str) -> u32 {
    short(hash(skeleton.as_bytes()))
}

/// Hashes of `s` and of every string made by deleting up to `depth` (1 or 2) characters.
pub fn deletion_hashes(s: &str, depth: usize, out: &mut Vec<u32>) {
    let b = s.as_bytes();
    out.push(short(hash(b)));
    let mut buf = Vec::with_capacity(b.len());
    for i in 0..b.len() {
        buf.clear();
        buf.extend_from_slice(&b[..i]);
        buf.extend_from_slice(&b[i + 1..]);
        out.push(short(hash(&buf)));
        if depth >= 2 {
            for j in i..buf.len() {
                let mut two = buf.clone();
                two.remove(j);
                out.push(short(hash(&two)));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
}

impl NameIndex {
    /// Add a name; returns false when it was already present (the first origin wins).
    pub fn insert(&mut self, name: &str, origin: Origin) -> bool {
        self.add(name, origin, false)
    }

    /// Room for `names` more names totalling `chars` characters before a
    /// bulk build, so the tables do not double on the way.
    pub fn reserve_bulk(&mut self, names: usize, chars: usize) {
        self.deletions.reserve(names + chars);
        self.skeletons.reserve(names);
        self.word_sets.reserve(names);
        self.entries.reserve(names);
    }

    /// [`Self::insert`] while building the whole index: the pairs go
    /// straight into the tables' vectors, sorted once by
    /// [`Self::merge_overlay`].
    pub fn insert_bulk(&mut self, name: &str, origin: Origin) -> bool {
        self.add(name, origin, true)
    }

    fn add(&mut self, name: &str, origin: Origin, bulk: bool) -> bool {
        if self.id_of(name).is_some() {
            return false;
        }
        let Ok(id) = u32::try_from(self.entries.len()) else {
            return false;
        };
        self.entries.push(Entry {
            name: name.to_string(),
            origin,
        });
        // Always through the overlay: later names of the same build must
        // see it (the first origin of a name wins).
        self.by_name.insert(short(hash(name.as_bytes())), id);
        let mut keys = Vec::new();
        deletion_hashes(&strip_separators(name), 1, &mut keys);
        let skeleton = skeleton_key(&super::confusables::skeleton(name));
        let words = name
            .split_once('-')
            .map(|(first, _)| (first, short(word_set_key(name))));
        let add = |table: &mut PairTable, key: u32| {
            if bulk {
                table.push_bulk(key, id)
            } else {
                table.insert(key, id)
            }
        };
        for k in keys {
            add(&mut self.deletions, k);
        }
        add(&mut self.skeletons, skeleton);
        if let Some((first, key)) = words {
            let family = self.families.entry(first.to_string()).or_default();
            *family = family.saturating_add(1);
            add(&mut self.word_sets, key);
        }
        if let (Origin::Popular { .. }, Some(key)) = (origin, opening(name)) {
            let uses = self.openings.entry(key).or_default();
            *uses = uses.saturating_add(1);
            let stripped = strip_separators(name);
            for pos in 0..stripped.len() {
                self.trigrams.extend(trigrams_at(&stripped, pos));
            }
        }
        for word in name.split('-').filter(|w| w.len() >= MIN_PARTICLE_LEN) {
            match self.vocabulary.get_mut(word) {
                Some(uses) => *uses = uses.saturating_add(1),
                None => {
                    self.vocabulary.insert(word.to_string(), 1);
                }
            }
        }
        if self.deletions.overlay_len() > OVERLAY_MERGE_KEYS {
            self.merge_overlay();
        }
        true
    }

    /// Fold names added one by one (and bulk-built ones) into the sorted
    /// tables, and drop spare capacity.
    pub fn merge_overlay(&mut self) {
        self.deletions.merge();
        self.skeletons.merge();
        self.word_sets.merge();
        self.entries.shrink_to_fit();
        self.by_name.merge();
        self.vocabulary.shrink_to_fit();
        self.families.shrink_to_fit();
        self.openings.shrink_to_fit();
        self.trigrams.shrink_to_fit();
    }

    pub fn entry(&self, id: u32) -> Option<&Entry> {
        self.entries.get(id as usize)
    }

    pub fn id_of(&self, name: &str) -> Option<u32> {
        let mut ids = Vec::new();
        self.by_name.get(short(hash(name.as_bytes())), &mut ids);
        ids.into_iter().find(|id| {
            self.entries
                .get(*id as usize)
                .is_some_and(|e| e.name == name)
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many protected multi-word names start with `word-`.
    pub fn family_size(&self, word: &str) -> u32 {
        self.families.get(word).copied().unwrap_or(0)
    }

    /// How many popular names start with the same two letters as `name`.
    pub fn opening_uses(&self, name: &str) -> u32 {
        opening(name)
            .and_then(|key| self.openings.get(&key).copied())
            .unwrap_or(0)
    }

    /// True when a three-letter window around `pos` of the separator-free
    /// `stripped` occurs in no popular name.
    pub fn unseen_trigram_at(&self, stripped: &str, pos: usize) -> bool {
        trigrams_at(stripped, pos).any(|t| !self.trigrams.contains(&t))
    }

    /// True when the first three letters of `name` (separators aside)
    /// start or sit inside no popular name.
    pub fn unseen_first_three(&self, name: &str) -> bool {
        let mut letters = name.bytes().filter(|b| *b != b'-');
        match (letters.next(), letters.next(), letters.next()) {
            (Some(a), Some(b), Some(c)) => !self.trigrams.contains(&[a, b, c]),
            _ => false,
        }
    }

    /// How many protected names use `word` as a word (two letters or more).
    pub fn word_uses(&self, word: &str) -> u32 {
        self.vocabulary.get(word).copied().unwrap_or(0)
    }

    /// Ids of names whose separator-free form may be within `depth` edits of
    /// `stripped` (a superset for depth 1; verify with an alignment).
    pub fn near(&self, stripped: &str, depth: usize, out: &mut Vec<u32>) {
        let mut keys = Vec::new();
        deletion_hashes(stripped, depth, &mut keys);
        for k in keys {
            self.deletions.get(k, out);
        }
        out.sort_unstable();
        out.dedup();
    }

    pub fn same_skeleton(&self, skeleton: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.skeletons.get(skeleton_key(skeleton), &mut out);
        out
    }

    pub fn same_words(&self, name: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.word_sets.get(short(word_set_key(name)), &mut out);
        out
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
        assert_eq!(ix.word_uses("kafka"), 1);
        assert_eq!(ix.word_uses("kafk"), 0);
        assert_eq!(ix.family_size("confluent"), 1);
        assert_eq!(
            ix.family_size("requests"),
            0,
            "single-word names make no family"
        );
    }
}
