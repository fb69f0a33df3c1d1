//! Marking the query's words in the stored text of a hit, here rather than
//! with SQLite's `highlight()`/`snippet()`: those evaluate the MATCH again
//! for the one row, and for a prefix (the last word of every query) that
//! means merging the doclists of every indexed word with that prefix, once
//! per hit shown (hundreds of milliseconds for a common short prefix at
//! 100,000 projects). The words are split and folded as the index's
//! tokenizer does (`unicode61 remove_diacritics 2`: letters and digits,
//! lower case, without combining marks), so what is marked is what matched.
//! The output uses the markers of [`super::snippet`], so the same
//! [`super::snippet::choose`] picks what a hit shows.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::snippet::{CLOSE, OPEN};
use super::Query;

/// Most matches of a long field considered when choosing its snippet.
const MAX_WINDOWS: usize = 256;

/// A word as the index stores it: lower case, without diacritics.
pub fn fold(word: &str) -> String {
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// The byte ranges of the words of `text`, in order.
fn words(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        while let Some(&(_, c)) = chars.peek() {
            if is_word_char(c) {
                break;
            }
            chars.next();
        }
        let (start, _) = *chars.peek()?;
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if !is_word_char(c) {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        Some((start, end))
    })
}

/// Which words of a text are the query's.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Folded query words; the last one is a prefix when `prefix`.
    terms: Vec<String>,
    prefix: bool,
}

impl Matcher {
    pub fn new(query: &Query) -> Self {
        Self {
            terms: query.tokens().iter().map(|t| fold(t)).collect(),
            prefix: query.is_prefix(),
        }
    }

    /// The index of the query word `word` is (the first one, if several).
    fn term_of(&self, word: &str) -> Option<usize> {
        let folded = fold(word);
        let last = self.terms.len().checked_sub(1)?;
        self.terms.iter().enumerate().position(|(i, t)| {
            if i == last && self.prefix {
                folded.starts_with(t.as_str())
            } else {
                folded == *t
            }
        })
    }

    /// `text` whole, every matching word between the markers.
    pub fn mark_all(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 8);
        let mut at = 0;
        for (a, b) in words(text) {
            if self.term_of(&text[a..b]).is_some() {
                out.push_str(&text[at..a]);
                out.push_str(OPEN);
                out.push_str(&text[a..b]);
                out.push_str(CLOSE);
                at = b;
            }
        }
        out.push_str(&text[at..]);
        out
    }

    /// About `size` words of `text` around its best group of matches (the
    /// first window holding the most different query words, among the
    /// matches read until every query word was seen and `size` words
    /// more), matches marked, `…` where text is cut off; empty when nothing
    /// matches. Reading stops there, so a long text costs little.
    pub fn snippet(&self, text: &str, size: usize) -> String {
        let size = size.max(1);
        let distinct = self.terms.len();
        let mut spans: Vec<(usize, usize, Option<usize>)> = Vec::new();
        let mut hits: Vec<usize> = Vec::new();
        let mut seen = vec![false; distinct];
        let mut covered = 0;
        let mut stop_at = usize::MAX;
        for (a, b) in words(text) {
            if spans.len() >= stop_at {
                break;
            }
            let term = self.term_of(&text[a..b]);
            if let Some(t) = term {
                if hits.len() < MAX_WINDOWS {
                    hits.push(spans.len());
                }
                if !seen[t] {
                    seen[t] = true;
                    covered += 1;
                }
                if (covered == distinct || hits.len() >= MAX_WINDOWS) && stop_at == usize::MAX {
                    stop_at = spans.len() + size;
                }
            }
            spans.push((a, b, term));
        }
        let Some((_, start)) = best_window(&spans, &hits, size, size / 4, distinct) else {
            return String::new();
        };
        let end = (start + size).min(spans.len());
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        let mut at = spans[start].0;
        for &(a, b, term) in &spans[start..end] {
            if term.is_some() {
                out.push_str(&text[at..a]);
                out.push_str(OPEN);
                out.push_str(&text[a..b]);
                out.push_str(CLOSE);
                at = b;
            }
        }
        let to = spans[end - 1].1;
        out.push_str(&text[at..to]);
        if words(&text[to..]).next().is_some() {
            out.push('…');
        }
        out
    }
}

/// The window of `size` words with the most different query words, the
/// earliest of equals: (how many, first word).
fn best_window(
    spans: &[(usize, usize, Option<usize>)],
    hits: &[usize],
    size: usize,
    lead: usize,
    distinct: usize,
) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let mut seen = vec![false; distinct];
    for &h in hits {
        let start = h.saturating_sub(lead);
        seen.iter_mut().for_each(|s| *s = false);
        let mut n = 0;
        for span in spans.iter().skip(start).take(size) {
            if let Some(t) = span.2 {
                if !seen[t] {
                    seen[t] = true;
                    n += 1;
                }
            }
        }
        if best.map_or(true, |(m, _)| n > m) {
            best = Some((n, start));
        }
        if n == distinct {
            break;
        }
    }
    best
}

/// The six fields of a row (name, summary, keywords, classifiers,
/// description, docs) marked for [`super::snippet::choose`]: the short ones
/// whole, the long ones as a snippet of about `size` words.
pub fn mark_fields(matcher: &Matcher, fields: &[String; 6], size: usize) -> [String; 6] {
    [
        matcher.mark_all(&fields[0]),
        matcher.mark_all(&fields[1]),
        matcher.mark_all(&fields[2]),
        matcher.mark_all(&fields[3]),
        matcher.snippet(&fields[4], size),
        matcher.snippet(&fields[5], size),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::snippet::Snippet;

    fn matcher(q: &str) -> Matcher {
        Matcher::new(&Query::parse(q).unwrap())
    }

    fn marked(s: &str) -> Vec<String> {
        let s = Snippet::from_marked(s);
        s.highlights
            .iter()
            .map(|&(a, b)| s.text[a..b].to_string())
            .collect()
    }

    #[test]
    fn every_word_and_the_last_as_a_prefix_is_marked() {
        let m = matcher("http client");
        let out = m.mark_all("An HTTP/2 client, clients and HTTPS");
        assert_eq!(marked(&out), ["HTTP", "client", "clients"]);
        assert_eq!(
            Snippet::from_marked(&out).text,
            "An HTTP/2 client, clients and HTTPS"
        );
        // a one-letter last word is no prefix
        assert_eq!(marked(&matcher("x").mark_all("x xy")), ["x"]);
        assert_eq!(matcher("zzz").mark_all("nothing here"), "nothing here");
    }

    #[test]
    fn case_and_diacritics_fold_like_the_tokenizer() {
        assert_eq!(fold("Émigré"), "emigre");
        assert_eq!(fold("CAFE\u{301}"), "cafe");
        assert_eq!(marked(&matcher("cafe").mark_all("Café au lait")), ["Café"]);
        assert_eq!(
            marked(&matcher("größe").mark_all("die GRÖSSE, die Größe")),
            ["Größe"]
        );
        assert_eq!(
            marked(&matcher("日本").mark_all("日本語 パッケージ")),
            ["日本語"]
        );
    }

    #[test]
    fn long_text_gives_a_window_around_the_best_matches() {
        let filler = |n: usize| vec!["lorem"; n].join(" ");
        let text = format!(
            "{} alpha {} alpha beta {}",
            filler(100),
            filler(100),
            filler(100)
        );
        let out = matcher("alpha beta").snippet(&text, 12);
        assert!(out.starts_with('…') && out.ends_with('…'), "{out}");
        assert_eq!(
            marked(&out),
            ["alpha", "beta"],
            "the window with both words"
        );
        let words = Snippet::from_marked(&out).text.split_whitespace().count();
        assert_eq!(words, 12, "{out}");
        // at the start and the end of the text: no ellipsis there
        let out = matcher("first").snippet("first of three words", 24);
        assert_eq!(out, "\u{2}first\u{3} of three words");
        assert_eq!(matcher("absent").snippet(&text, 12), "");
    }

    #[test]
    fn fields_are_marked_whole_or_as_snippets() {
        let fields = [
            "Orbit".to_string(),
            "orbit tools".to_string(),
            String::new(),
            "Topic :: Physics".to_string(),
            format!("{} orbit", vec!["word"; 50].join(" ")),
            String::new(),
        ];
        let out = mark_fields(&matcher("orbit"), &fields, 8);
        assert_eq!(out[0], "\u{2}Orbit\u{3}");
        assert_eq!(out[1], "\u{2}orbit\u{3} tools");
        assert_eq!(out[3], "Topic :: Physics");
        assert!(
            out[4].starts_with('…') && out[4].ends_with("\u{2}orbit\u{3}"),
            "{}",
            out[4]
        );
        assert_eq!(out[5], "");
    }
}
