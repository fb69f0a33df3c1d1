//! What a user typed, made into an FTS5 expression that can only mean
//! "these words": the text is split into tokens here (letters and digits;
//! everything else separates), every token is quoted, and only the last one
//! is a prefix. FTS5's own syntax (`AND`, `OR`, `NOT`, `NEAR(...)`, `"`,
//! `*`, `^`, `:` column filters, parentheses) never reaches SQLite as
//! syntax: operators become plain words, punctuation separates.

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most tokens a query may have.
pub const MAX_TOKENS: usize = 12;
/// The last token is a prefix only from this many characters on (a
/// one-letter prefix matches nearly everything and costs the most).
pub const MIN_PREFIX_CHARS: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the search query is empty: give at least one word (letters or digits)")]
    Empty,
    #[error("the search query is {0} characters long; at most {MAX_QUERY_CHARS} are accepted")]
    TooLong(usize),
    #[error("the search query has {0} words; at most {MAX_TOKENS} are accepted")]
    TooManyWords(usize),
}

/// A sanitised query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Lower-cased tokens, in order.
    tokens: Vec<String>,
    /// Whether the last token matches as a prefix.
    prefix: bool,
}

impl Query {
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let chars = text.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong(chars));
        }
        let tokens: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
            .collect();
        if tokens.is_empty() {
            return Err(QueryError::Empty);
        }
        if tokens.len() > MAX_TOKENS {
            return Err(QueryError::TooManyWords(tokens.len()));
        }
        let prefix = tokens
            .last()
            .is_some_and(|t| t.chars().count() >= MIN_PREFIX_CHARS);
        Ok(Self { tokens, prefix })
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Whether the last token matches as a prefix.
    pub fn is_prefix(&self) -> bool {
        self.prefix
    }

    /// The FTS5 MATCH expression: every token quoted (all must match), the
    /// last one a prefix.
    pub fn fts_expression(&self) -> String {
        let mut out = String::new();
        for (i, t) in self.tokens.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push('"');
            // tokens hold letters and digits only; doubled quotes keep that
            // safe even if the splitting rule ever changes
            out.push_str(&t.replace('"', "\"\""));
            out.push('"');
        }
        if self.prefix {
            out.push('*');
        }
        out
    }

    /// The query as a normalised project name (tokens joined by `-`), for
    /// the exact-name rank: `Foo_Bar`, `foo bar` and `foo.bar` all name
    /// `foo-bar`.
    pub fn name_key(&self) -> String {
        self.tokens.join("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fts(q: &str) -> String {
        Query::parse(q).unwrap().fts_expression()
    }

    #[test]
    fn words_are_quoted_and_the_last_is_a_prefix() {
        assert_eq!(fts("requests"), "\"requests\"*");
        assert_eq!(fts("  HTTP   client "), "\"http\" \"client\"*");
        assert_eq!(fts("x"), "\"x\"", "one letter is no prefix");
    }

    #[test]
    fn fts5_operators_are_plain_words() {
        assert_eq!(fts("foo AND bar"), "\"foo\" \"and\" \"bar\"*");
        assert_eq!(
            fts("foo OR bar NOT baz"),
            "\"foo\" \"or\" \"bar\" \"not\" \"baz\"*"
        );
        assert_eq!(fts("NEAR(foo bar, 3)"), "\"near\" \"foo\" \"bar\" \"3\"");
        assert_eq!(fts("name:evil"), "\"name\" \"evil\"*");
        assert_eq!(fts("^start"), "\"start\"*");
        assert_eq!(fts("{name summary}:x"), "\"name\" \"summary\" \"x\"");
    }

    #[test]
    fn quotes_and_stars_separate() {
        assert_eq!(fts("\"unterminated"), "\"unterminated\"*");
        assert_eq!(fts("a\"\"b"), "\"a\" \"b\"");
        assert_eq!(fts("py*"), "\"py\"*");
        assert_eq!(fts_or_empty("*"), "");
        assert_eq!(Query::parse("\"\" * ( ) : ^ -"), Err(QueryError::Empty));
    }

    fn fts_or_empty(q: &str) -> String {
        Query::parse(q)
            .map(|q| q.fts_expression())
            .unwrap_or_default()
    }

    #[test]
    fn unicode_letters_are_words() {
        assert_eq!(fts("Größe"), "\"größe\"*");
        assert_eq!(fts("日本語 パッケージ"), "\"日本語\" \"パッケージ\"*");
        assert_eq!(fts("café-au-lait"), "\"café\" \"au\" \"lait\"*");
        // control characters and emoji separate
        assert_eq!(fts("a\u{0}b\u{1F600}c"), "\"a\" \"b\" \"c\"");
    }

    #[test]
    fn empty_and_oversized_queries_are_refused() {
        assert_eq!(Query::parse(""), Err(QueryError::Empty));
        assert_eq!(Query::parse("   \t\n"), Err(QueryError::Empty));
        let big = "a".repeat(10 * 1024);
        assert_eq!(Query::parse(&big), Err(QueryError::TooLong(10 * 1024)));
        let many = ["w"; MAX_TOKENS + 1].join(" ");
        assert_eq!(
            Query::parse(&many),
            Err(QueryError::TooManyWords(MAX_TOKENS + 1))
        );
        let most = ["w"; MAX_TOKENS].join(" ");
        assert!(Query::parse(&most).is_ok());
        let longest = "é".repeat(MAX_QUERY_CHARS);
        assert!(Query::parse(&longest).is_ok(), "counted in characters");
    }

    #[test]
    fn name_key_is_the_normalised_name() {
        assert_eq!(Query::parse("Foo_Bar").unwrap().name_key(), "foo-bar");
        assert_eq!(Query::parse("foo . bar").unwrap().name_key(), "foo-bar");
    }

    /// Every expression this module builds is valid FTS5 that matches the
    /// literal words, whatever the input (run against the real SQLite).
    #[test]
    fn hostile_input_never_breaks_the_match_expression() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(a, b);
             INSERT INTO t VALUES ('near and or not', 'plain words here');",
        )
        .unwrap();
        for q in [
            "NEAR(a b",
            "\"",
            "a OR",
            "NOT",
            "a:b",
            "b : here",
            "(((",
            "* * *",
            "near and",
            "{a}: x",
            "- here",
            "a\u{0}\"; DROP TABLE t; --",
        ] {
            let Ok(parsed) = Query::parse(q) else {
                continue;
            };
            let n: Result<i64, _> = conn.query_row(
                "SELECT count(*) FROM t WHERE t MATCH ?1",
                [parsed.fts_expression()],
                |r| r.get(0),
            );
            assert!(n.is_ok(), "{q:?} -> {:?}: {n:?}", parsed.fts_expression());
        }
        let hits: i64 = conn
            .query_row(
                "SELECT count(*) FROM t WHERE t MATCH ?1",
                [Query::parse("near AND").unwrap().fts_expression()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hits, 1, "operators match as words");
    }
}
