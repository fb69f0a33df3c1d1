//! The protected names one check sees: the in-memory index (the corpus,
//! and any names added in memory) plus the neighbourhood of the candidate
//! fetched from the store, under one id space and one vocabulary.

use super::index::{Entry, NameIndex, Origin};
use super::probe::Neighbourhood;
use super::words;

pub(super) struct Protected<'a> {
    memory: &'a NameIndex,
    /// The stored names near the candidate, indexed for this check only.
    /// Ids above `memory.len()` are theirs.
    nearby: NameIndex,
    hood: &'a Neighbourhood,
}

impl<'a> Protected<'a> {
    pub fn new(memory: &'a NameIndex, hood: &'a Neighbourhood) -> Self {
        let mut nearby = NameIndex::default();
        for name in &hood.names {
            // A stored name that is also in memory keeps its memory origin
            // (a private project named like a popular one is that one).
            if memory.id_of(name).is_none() {
                nearby.insert(name, Origin::Private);
            }
        }
        Self {
            memory,
            nearby,
            hood,
        }
    }

    fn offset(&self) -> u32 {
        u32::try_from(self.memory.len()).unwrap_or(u32::MAX)
    }

    fn shift(&self, local: &mut [u32]) {
        let offset = self.offset();
        for id in local {
            *id = id.saturating_add(offset);
        }
    }

    pub fn entry(&self, id: u32) -> Option<&Entry> {
        match id.checked_sub(self.offset()) {
            Some(local) => self.nearby.entry(local),
            None => self.memory.entry(id),
        }
    }

    pub fn id_of(&self, name: &str) -> Option<u32> {
        self.memory.id_of(name).or_else(|| {
            self.nearby
                .id_of(name)
                .map(|id| id.saturating_add(self.offset()))
        })
    }

    pub fn near(&self, stripped: &str, depth: usize, out: &mut Vec<u32>) {
        self.memory.near(stripped, depth, out);
        let mut local = Vec::new();
        self.nearby.near(stripped, depth, &mut local);
        self.shift(&mut local);
        out.extend(local);
    }

    /// The ids `lookup` finds in memory and among the nearby names.
    fn in_both(&self, lookup: impl Fn(&NameIndex) -> Vec<u32>) -> Vec<u32> {
        let mut out = lookup(self.memory);
        let mut local = lookup(&self.nearby);
        self.shift(&mut local);
        out.extend(local);
        out
    }

    pub fn same_skeleton(&self, skeleton: &str) -> Vec<u32> {
        self.in_both(|ix| ix.same_skeleton(skeleton))
    }

    pub fn same_words(&self, name: &str) -> Vec<u32> {
        self.in_both(|ix| ix.same_words(name))
    }

    /// How many protected names use `word` as a word.
    pub fn word_uses(&self, word: &str) -> u32 {
        let stored = self.hood.word_uses.get(word).copied().unwrap_or(0);
        self.memory.word_uses(word).saturating_add(stored)
    }

    /// How many protected multi-word names start with `word-`.
    pub fn family_size(&self, word: &str) -> u32 {
        let stored = self.hood.families.get(word).copied().unwrap_or(0);
        self.memory.family_size(word).saturating_add(stored)
    }

    /// How many popular names open with the same two letters (memory
    /// only: popular names are never stored).
    pub fn opening_uses(&self, name: &str) -> u32 {
        self.memory.opening_uses(name)
    }

    /// See [`NameIndex::unseen_trigram_at`] (memory only, like openings).
    pub fn unseen_trigram_at(&self, stripped: &str, pos: usize) -> bool {
        self.memory.unseen_trigram_at(stripped, pos)
    }

    /// See [`NameIndex::unseen_first_three`] (memory only).
    pub fn unseen_first_three(&self, name: &str) -> bool {
        self.memory.unseen_first_three(name)
    }

    pub fn is_word(&self, word: &str) -> bool {
        words::is_word(word, &|w| self.word_uses(w))
    }

    pub fn is_compound(&self, word: &str) -> bool {
        words::is_compound(word, &|w| self.word_uses(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typo::index::strip_separators;

    #[test]
    fn stored_names_join_the_memory_index_under_one_id_space() {
        let mut memory = NameIndex::default();
        memory.insert("requests", Origin::Popular { rank: 1 });
        memory.merge_overlay();
        let hood = Neighbourhood {
            names: vec!["acme-billing".into(), "requests".into()],
            word_uses: [("billing".to_string(), 3)].into(),
            families: [("acme".to_string(), 2)].into(),
        };
        let p = Protected::new(&memory, &hood);
        let id = p.id_of("acme-billing").expect("stored name found");
        assert_eq!(id, 1);
        assert_eq!(p.entry(id).map(|e| e.origin), Some(Origin::Private));
        assert_eq!(
            p.entry(p.id_of("requests").unwrap()).map(|e| e.origin),
            Some(Origin::Popular { rank: 1 }),
            "the memory origin wins"
        );
        let mut near = Vec::new();
        p.near(&strip_separators("acme-biling"), 1, &mut near);
        assert_eq!(near, [1]);
        assert_eq!(p.same_words("billing-acme"), [1]);
        assert!(p.is_word("billing"));
        assert_eq!(p.family_size("acme"), 2, "counts come from the store");
        assert!(p.entry(2).is_none());
    }
}
