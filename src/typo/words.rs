//! Words of protected names. A changed word that protected names already use
//! is another word, not a typo (`pytest-csv` next to `pytest-cov`), and so is
//! one built from such words (`typedpy` next to `typepy`).
//!
//! The vocabulary is given as a function from a word to how many protected
//! names use it, so it can be counted in memory or looked up in the store.

/// Words shorter than this are not words for [`is_word`].
pub const MIN_WORD_LEN: usize = 3;
/// Two-letter words count as name parts ([`is_compound`]) when at least this
/// many protected names use them as a word (`py`, `ai`).
pub const MIN_PARTICLE_LEN: usize = 2;
const MIN_PARTICLE_USES: u32 = 10;
/// Longest word split into parts; longer words are never compounds.
pub const MAX_COMPOUND_LEN: usize = 64;

/// True for a word of three or more letters that a protected name uses.
pub fn is_word(word: &str, uses: &impl Fn(&str) -> u32) -> bool {
    word.len() >= MIN_WORD_LEN && uses(word) > 0
}

/// True for a two-letter word that many protected names use as a word of
/// its own (`py`, `ai`): a building block of names, like a word.
fn is_particle(word: &str, uses: &impl Fn(&str) -> u32) -> bool {
    word.len() == MIN_PARTICLE_LEN && uses(word) >= MIN_PARTICLE_USES
}

/// True when `word` is two or more known words or particles run together
/// (`fastai`, `typedpy`, `pytrie`): a name built on purpose from parts,
/// not a slip of the finger. Longer inputs answer false.
pub fn is_compound(word: &str, uses: &impl Fn(&str) -> u32) -> bool {
    let n = word.len();
    if n > MAX_COMPOUND_LEN || !word.is_ascii() {
        return false;
    }
    // parts[i]: fewest known parts covering word[..i] (0 = not coverable).
    let mut parts = [0u8; MAX_COMPOUND_LEN + 1];
    for end in MIN_PARTICLE_LEN..=n {
        for start in 0..=end - MIN_PARTICLE_LEN {
            let before = if start == 0 {
                Some(0)
            } else {
                parts.get(start).copied().filter(|p| *p > 0)
            };
            let Some(before) = before else { continue };
            let Some(part) = word.get(start..end) else {
                continue;
            };
            if is_word(part, uses) || is_particle(part, uses) {
                let here = before.saturating_add(1);
                if let Some(slot) = parts.get_mut(end) {
                    if *slot == 0 || here < *slot {
                        *slot = here;
                    }
                }
            }
        }
    }
    parts.get(n).is_some_and(|p| *p >= 2)
}

/// Every word [`is_word`] or [`is_compound`] may ask about while checking
/// `name`: the substrings of its words that could be parts (all of them
/// for words short enough to split, else the word itself).
pub fn lookups(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in name.split('-') {
        if word.len() > MAX_COMPOUND_LEN || !word.is_ascii() {
            out.push(word.to_string());
            continue;
        }
        for start in 0..word.len() {
            for end in start + MIN_PARTICLE_LEN..=word.len() {
                if let Some(part) = word.get(start..end) {
                    out.push(part.to_string());
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vocabulary(names: &[&str]) -> HashMap<String, u32> {
        let mut v = HashMap::new();
        for n in names {
            for w in n.split('-').filter(|w| w.len() >= MIN_PARTICLE_LEN) {
                *v.entry(w.to_string()).or_default() += 1;
            }
        }
        v
    }

    #[test]
    fn compounds_of_known_words_and_particles() {
        let mut names: Vec<String> = (0..10).map(|i| format!("x{i}-py")).collect();
        names.extend(["json-diff", "typed-ast", "pytest-mock", "ab-tool"].map(String::from));
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let v = vocabulary(&refs);
        let uses = |w: &str| v.get(w).copied().unwrap_or(0);
        for (word, want) in [
            ("jsondiff", true),
            ("typedpy", true), // `py` is used by ten names: a particle
            ("pymock", true),
            ("abtool", false), // `ab` is used once: not a particle
            ("json", false),   // one part is a word, not a compound
            ("jsondif", false),
            ("reqeusts", false),
            ("", false),
        ] {
            assert_eq!(is_compound(word, &uses), want, "{word}");
        }
        assert!(!is_compound(&"json".repeat(40), &uses), "too long to split");
        assert!(is_word("diff", &uses));
        assert!(
            !is_word("py", &uses),
            "two letters are a particle, not a word"
        );
    }

    #[test]
    fn lookups_cover_every_part_a_check_may_ask_about() {
        let l = lookups("typedpy-ab");
        for part in ["typedpy", "typed", "py", "ab", "edp"] {
            assert!(l.contains(&part.to_string()), "{part}");
        }
        assert!(!l.contains(&"t".to_string()), "one letter is never a part");
        let long = "x".repeat(MAX_COMPOUND_LEN + 1);
        assert_eq!(lookups(&long), [long]);
    }
}
