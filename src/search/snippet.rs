//! Snippets: SQLite marks every match in a field with two control
//! characters (which the indexed text never contains, see `text::bounded`);
//! this turns that into plain text plus the byte ranges of the matches, and
//! picks which field a hit shows.

use super::Field;

/// Opens a match in marked text.
pub const OPEN: &str = "\u{2}";
/// Closes a match in marked text.
pub const CLOSE: &str = "\u{3}";

/// Plain text (the caller escapes it) and where the matches are in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Snippet {
    pub text: String,
    /// Byte ranges `[start, end)` of `text` that matched the query.
    pub highlights: Vec<(usize, usize)>,
}

impl Snippet {
    /// Parse marked text. Unbalanced markers are dropped.
    pub fn from_marked(marked: &str) -> Self {
        let mut text = String::with_capacity(marked.len());
        let mut highlights = Vec::new();
        let mut open: Option<usize> = None;
        for c in marked.chars() {
            match c {
                '\u{2}' => open = Some(text.len()),
                '\u{3}' => {
                    if let Some(start) = open.take() {
                        if start < text.len() {
                            highlights.push((start, text.len()));
                        }
                    }
                }
                c => text.push(c),
            }
        }
        Self { text, highlights }
    }

    pub fn matched(&self) -> bool {
        !self.highlights.is_empty()
    }
}

/// The fields of one row that matched, and the snippet to show: the first
/// matching field in `preference` order, else the summary as it is.
pub fn choose(marked: &[String; 6], summary: &str) -> (Vec<Field>, Snippet) {
    let parsed: Vec<(Field, Snippet)> = Field::ALL
        .iter()
        .zip(marked.iter())
        .map(|(f, m)| (*f, Snippet::from_marked(m)))
        .collect();
    let matched: Vec<Field> = parsed
        .iter()
        .filter(|(_, s)| s.matched())
        .map(|(f, _)| *f)
        .collect();
    let snippet = SHOWN
        .iter()
        .find_map(|want| {
            parsed
                .iter()
                .find(|(f, s)| f == want && s.matched())
                .map(|(_, s)| s.clone())
        })
        .unwrap_or_else(|| Snippet {
            text: summary.to_string(),
            highlights: Vec::new(),
        });
    (matched, snippet)
}

/// Which field's match a hit shows, best first (the name is shown anyway).
const SHOWN: [Field; 5] = [
    Field::Summary,
    Field::Description,
    Field::Docs,
    Field::Keywords,
    Field::Classifiers,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_become_ranges_over_plain_text() {
        let s = Snippet::from_marked("a \u{2}fast\u{3} émigré \u{2}café\u{3}");
        assert_eq!(s.text, "a fast émigré café");
        assert_eq!(s.highlights, vec![(2, 6), (16, 21)]);
        assert_eq!(&s.text[16..21], "café");
        let odd = Snippet::from_marked("\u{3}x\u{2}\u{3}y\u{2}z");
        assert_eq!(odd.text, "xyz");
        assert!(odd.highlights.is_empty());
    }

    #[test]
    fn the_summary_match_is_shown_before_the_description() {
        let m = |s: &str| s.to_string();
        let marked = [
            m("\u{2}Widget\u{3}"),
            m("plain summary"),
            m(""),
            m(""),
            m("the \u{2}widget\u{3} manual"),
            m(""),
        ];
        let (fields, snip) = choose(&marked, "plain summary");
        assert_eq!(fields, vec![Field::Name, Field::Description]);
        assert_eq!(snip.text, "the widget manual");
        let marked = [m("\u{2}w\u{3}"), m("s"), m(""), m(""), m(""), m("")];
        let (fields, snip) = choose(&marked, "s");
        assert_eq!(fields, vec![Field::Name]);
        assert_eq!(
            snip,
            Snippet {
                text: "s".into(),
                highlights: vec![]
            }
        );
    }
}
