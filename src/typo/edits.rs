//! The edit script between a candidate and a protected name, with each edit
//! classified by the typing mistake that explains it.
//!
//! Distances are optimal-string-alignment (restricted Damerau–Levenshtein):
//! insertions, deletions, substitutions and swaps of adjacent characters.

use super::confusables::is_confusable_pair;
use super::keyboard::adjacent;

/// Longest name compared; longer inputs are never aligned (names are capped at 128).
const MAX_LEN: usize = 160;

/// One edit turning the protected name into the candidate, classified.
/// Positions are byte offsets into the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// A character of the target is missing; `doubled` when it was one of a pair (`urlib3`).
    Omission { pos: usize, ch: u8, doubled: bool },
    /// A character was typed twice (`reqquests`).
    Repetition { pos: usize },
    /// An extra key next to a neighbouring character was hit (`reqwuests`).
    AdjacentInsertion { pos: usize },
    /// Any other extra character.
    Insertion { pos: usize, ch: u8 },
    /// A separator `-` was added or removed.
    Separator { pos: usize },
    /// Two neighbouring characters swapped (`reqeusts`).
    Transposition { pos: usize },
    /// A visually confusable character (`l`/`1`, `o`/`0`, ...).
    Homoglyph { pos: usize },
    /// A neighbouring key instead of the right one (`requesrs`).
    AdjacentKey { pos: usize },
    /// Any other replaced character.
    Substitution { pos: usize },
}

impl Edit {
    pub fn pos(&self) -> usize {
        match *self {
            Edit::Omission { pos, .. }
            | Edit::Repetition { pos }
            | Edit::AdjacentInsertion { pos }
            | Edit::Insertion { pos, .. }
            | Edit::Separator { pos }
            | Edit::Transposition { pos }
            | Edit::Homoglyph { pos }
            | Edit::AdjacentKey { pos }
            | Edit::Substitution { pos } => pos,
        }
    }
}

/// Every optimal (minimal OSA) classified edit script from `target` to
/// `candidate`, at most `limit` of them; empty when the distance exceeds `max`
/// or an input is too long. Equal-cost scripts can explain the same pair
/// differently (`ansibell`: swap + repeat, or insert + replace), so callers
/// pick the most plausible.
pub fn edit_scripts(candidate: &str, target: &str, max: usize, limit: usize) -> Vec<Vec<Edit>> {
    let c = candidate.as_bytes();
    let t = target.as_bytes();
    if c.len() > MAX_LEN || t.len() > MAX_LEN || c.len().abs_diff(t.len()) > max {
        return Vec::new();
    }
    let (n, m) = (c.len(), t.len());
    let width = m + 1;
    let mut d = vec![0usize; (n + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=n {
        d[at(i, 0)] = i;
    }
    for j in 0..=m {
        d[at(0, j)] = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(c[i - 1] != t[j - 1]);
            let mut best = (d[at(i - 1, j)] + 1)
                .min(d[at(i, j - 1)] + 1)
                .min(d[at(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && c[i - 1] == t[j - 2] && c[i - 2] == t[j - 1] {
                best = best.min(d[at(i - 2, j - 2)] + 1);
            }
            d[at(i, j)] = best;
        }
    }
    if d[at(n, m)] > max {
        return Vec::new();
    }
    let mut scripts = Vec::new();
    let mut path = Vec::new();
    let walk = Walk {
        c,
        t,
        d: &d,
        width,
        limit,
    };
    walk.back(n, m, &mut path, &mut scripts);
    scripts
}

/// The first optimal classified edit script from `target` to `candidate`, or
/// `None` when the OSA distance exceeds `max` (or an input is too long).
pub fn edit_script(candidate: &str, target: &str, max: usize) -> Option<Vec<Edit>> {
    edit_scripts(candidate, target, max, 1).into_iter().next()
}

/// Backtracking over the distance table, collecting every optimal script.
struct Walk<'a> {
    c: &'a [u8],
    t: &'a [u8],
    d: &'a [usize],
    width: usize,
    limit: usize,
}

impl Walk<'_> {
    fn at(&self, i: usize, j: usize) -> usize {
        self.d
            .get(i * self.width + j)
            .copied()
            .unwrap_or(usize::MAX)
    }

    fn back(&self, i: usize, j: usize, path: &mut Vec<Edit>, out: &mut Vec<Vec<Edit>>) {
        if out.len() >= self.limit {
            return;
        }
        if i == 0 && j == 0 {
            out.push(path.iter().rev().copied().collect());
            return;
        }
        let (c, t) = (self.c, self.t);
        let here = self.at(i, j);
        if i > 0 && j > 0 && c[i - 1] == t[j - 1] && self.at(i - 1, j - 1) == here {
            // A match on an optimal path is always taken: it never hides a better script.
            self.back(i - 1, j - 1, path, out);
            return;
        }
        let mut step = |edit: Edit, ni: usize, nj: usize, path: &mut Vec<Edit>| {
            path.push(edit);
            self.back(ni, nj, path, out);
            path.pop();
        };
        if i > 1
            && j > 1
            && c[i - 1] == t[j - 2]
            && c[i - 2] == t[j - 1]
            && c[i - 1] != c[i - 2]
            && self.at(i - 2, j - 2).saturating_add(1) == here
        {
            step(Edit::Transposition { pos: i - 2 }, i - 2, j - 2, path);
        }
        if i > 0 && j > 0 && self.at(i - 1, j - 1).saturating_add(1) == here {
            step(
                classify_substitution(c, i - 1, t[j - 1]),
                i - 1,
                j - 1,
                path,
            );
        }
        if i > 0 && self.at(i - 1, j).saturating_add(1) == here {
            step(classify_insertion(c, i - 1), i - 1, j, path);
        }
        if j > 0 && self.at(i, j - 1).saturating_add(1) == here {
            step(classify_omission(t, j - 1, i), i, j - 1, path);
        }
    }
}

fn classify_substitution(c: &[u8], pos: usize, expected: u8) -> Edit {
    let got = c.get(pos).copied().unwrap_or(0);
    if got == b'-' || expected == b'-' {
        // `-` replacing a letter is a separator edit plus an omission; report the separator.
        Edit::Separator { pos }
    } else if is_confusable_pair(got, expected) {
        Edit::Homoglyph { pos }
    } else if adjacent(got, expected) {
        Edit::AdjacentKey { pos }
    } else {
        Edit::Substitution { pos }
    }
}

fn classify_insertion(c: &[u8], pos: usize) -> Edit {
    let ch = c.get(pos).copied().unwrap_or(0);
    let prev = pos.checked_sub(1).and_then(|p| c.get(p)).copied();
    let next = c.get(pos + 1).copied();
    if ch == b'-' {
        Edit::Separator { pos }
    } else if prev == Some(ch) || next == Some(ch) {
        Edit::Repetition { pos }
    } else if prev.is_some_and(|p| adjacent(ch, p)) || next.is_some_and(|n| adjacent(ch, n)) {
        Edit::AdjacentInsertion { pos }
    } else {
        Edit::Insertion { pos, ch }
    }
}

fn classify_omission(t: &[u8], tpos: usize, cpos: usize) -> Edit {
    let ch = t.get(tpos).copied().unwrap_or(0);
    if ch == b'-' {
        return Edit::Separator { pos: cpos };
    }
    let prev = tpos.checked_sub(1).and_then(|p| t.get(p)).copied();
    let next = t.get(tpos + 1).copied();
    Edit::Omission {
        pos: cpos,
        ch,
        doubled: prev == Some(ch) || next == Some(ch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_single_edits() {
        let cases: &[(&str, &str, Edit)] = &[
            (
                "reqests",
                "requests",
                Edit::Omission {
                    pos: 3,
                    ch: b'u',
                    doubled: false,
                },
            ),
            (
                "urlib3",
                "urllib3",
                Edit::Omission {
                    pos: 2,
                    ch: b'l',
                    doubled: true,
                },
            ),
            ("reqquests", "requests", Edit::Repetition { pos: 2 }),
            ("reqeusts", "requests", Edit::Transposition { pos: 3 }),
            ("requesrs", "requests", Edit::AdjacentKey { pos: 6 }),
            ("reqwuests", "requests", Edit::AdjacentInsertion { pos: 3 }),
            (
                "reqzuests",
                "requests",
                Edit::Insertion { pos: 3, ch: b'z' },
            ),
            ("reque5ts", "requests", Edit::Homoglyph { pos: 5 }),
            ("requezts", "requests", Edit::AdjacentKey { pos: 5 }),
            ("requebts", "requests", Edit::Substitution { pos: 5 }),
            (
                "more-itertools",
                "moreitertools",
                Edit::Separator { pos: 4 },
            ),
            (
                "moreitertools",
                "more-itertools",
                Edit::Separator { pos: 4 },
            ),
        ];
        for (cand, target, want) in cases {
            assert_eq!(
                edit_script(cand, target, 2),
                Some(vec![*want]),
                "{cand} vs {target}"
            );
        }
    }

    #[test]
    fn respects_the_distance_limit() {
        assert_eq!(edit_script("requests", "requests", 0), Some(vec![]));
        assert_eq!(edit_script("abcdef", "uvwxyz", 2), None);
        assert_eq!(edit_script("a", "abcd", 2), None);
        assert_eq!(
            edit_script("ansibell", "ansible", 2).map(|e| e.len()),
            Some(2)
        );
        let all = edit_scripts("ansibell", "ansible", 2, 16);
        assert!(all.len() > 1);
        assert!(all.iter().any(|s| matches!(
            s.as_slice(),
            [Edit::Transposition { .. }, Edit::Repetition { .. }]
        )));
        let long = "a".repeat(MAX_LEN + 1);
        assert_eq!(edit_script(&long, &long, 2), None);
    }
}
