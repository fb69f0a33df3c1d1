//! Full-text search as a domain capability: what a query may be
//! ([`query`]), what text is indexed and how much ([`text`]), how hits are
//! ranked ([`rank`], with the weights here), marked ([`highlight`]) and
//! shown ([`snippet`]). No HTTP and no SQL: the index itself lives in
//! `store::search`, the operation in `Registry::search`.

pub mod highlight;
pub mod query;
pub mod rank;
pub mod snippet;
pub mod text;

pub use query::{Query, QueryError};
pub use snippet::Snippet;

use crate::names::IndexPath;

/// Most hits one call answers.
pub const MAX_LIMIT: usize = 100;
/// Deepest offset answered (ranking all matches again for every deeper
/// page costs more than anyone reads).
pub const MAX_OFFSET: usize = 10_000;

/// A field of the index, in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Name,
    Summary,
    Keywords,
    Classifiers,
    Description,
    Docs,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Name,
        Field::Summary,
        Field::Keywords,
        Field::Classifiers,
        Field::Description,
        Field::Docs,
    ];
}

/// bm25 column weights, in [`Field::ALL`] order: a word in the name counts
/// most, then summary, keywords, classifiers, description, docs. Within a
/// tier of [`rank`] only (an exact name, then a name match, then a name /
/// summary / keywords match rank above everything below, whatever bm25).
pub const WEIGHTS: [f64; 6] = [20.0, 8.0, 5.0, 2.0, 1.5, 1.0];

/// One project in one index that matched.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchHit {
    /// The index the project lives in.
    pub index: IndexPath,
    /// Display name.
    pub project: String,
    /// The latest matching version in that index (`None`: a mirrored
    /// project, indexed by name only).
    pub version: Option<String>,
    pub summary: Option<String>,
    /// The fields of that version that matched.
    pub matched: Vec<Field>,
    /// Plain text (the caller escapes it) with the match ranges.
    pub snippet: Snippet,
    /// Higher is better (negated bm25); hits come in rank order anyway.
    pub score: f64,
    /// The query names this project exactly (ranked first).
    pub exact_name: bool,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchResults {
    /// The words searched for, as understood.
    pub terms: Vec<String>,
    pub hits: Vec<SearchHit>,
    pub offset: usize,
    pub limit: usize,
    /// More hits follow this page.
    pub more: bool,
    /// Some tier matched more rows than are ranked (see [`rank`]): these
    /// are the best of the most recently indexed matches; more words
    /// narrow the query.
    pub capped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("page numbers start at 1")]
    Page,
    #[error("limit must be between 1 and {MAX_LIMIT}, not {0}")]
    Limit(usize),
    #[error("offset must be at most {MAX_OFFSET}, not {0}; refine the query instead")]
    Offset(usize),
}

/// How many matching rows (the newest) each tier of [`rank`] scores for a
/// page ending at `offset + limit`: four rows per hit (a project matching
/// in several releases uses several), at least 400. Bounds the cost of a
/// word that matches nearly every project; a project beyond the cap is
/// only found by a narrower query (or by its exact name, always included).
pub fn candidate_rows(limit: usize, offset: usize) -> usize {
    (offset + limit).saturating_mul(4).max(400)
}

/// Hits per page of `GET /+search?page=N`.
pub const PAGE_SIZE: usize = 20;

/// `(limit, offset)` of page `page` (from 1).
pub fn page_window(page: usize) -> Result<(usize, usize), PageError> {
    if page == 0 {
        return Err(PageError::Page);
    }
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    check_page(PAGE_SIZE, offset)?;
    Ok((PAGE_SIZE, offset))
}

/// Check the paging of a search call.
pub fn check_page(limit: usize, offset: usize) -> Result<(), PageError> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(PageError::Limit(limit));
    }
    if offset > MAX_OFFSET {
        return Err(PageError::Offset(offset));
    }
    Ok(())
}

/// The row to show for a project: its latest matching version under
/// PEP 440 (versions that do not parse rank below those that do), or the
/// first row when none has a version (a mirror entry).
pub fn latest_row(rows: &[(i64, Option<String>)]) -> Option<&(i64, Option<String>)> {
    rows.iter().max_by(|a, b| {
        let key = |r: &(i64, Option<String>)| {
            r.1.as_deref()
                .and_then(|v| v.parse::<pep440_rs::Version>().ok())
        };
        key(a)
            .cmp(&key(b))
            // deterministic among equal/unparsable versions: the newer row
            .then(a.0.cmp(&b.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_row_compares_versions_not_strings() {
        let rows = vec![
            (1, Some("1.9".to_string())),
            (2, Some("1.10".to_string())),
            (3, Some("1.10rc1".to_string())),
            (4, Some("not-a-version".to_string())),
        ];
        assert_eq!(latest_row(&rows).map(|r| r.0), Some(2));
        assert_eq!(latest_row(&[(7, None)]).map(|r| r.0), Some(7));
        assert_eq!(latest_row(&[]), None);
    }

    #[test]
    fn paging_is_bounded() {
        assert!(check_page(20, 0).is_ok());
        assert_eq!(check_page(0, 0), Err(PageError::Limit(0)));
        assert_eq!(check_page(MAX_LIMIT + 1, 0), Err(PageError::Limit(101)));
        assert_eq!(
            check_page(10, MAX_OFFSET + 1),
            Err(PageError::Offset(10_001))
        );
    }

    #[test]
    fn pages_are_windows_of_page_size() {
        assert_eq!(page_window(1), Ok((PAGE_SIZE, 0)));
        assert_eq!(page_window(3), Ok((PAGE_SIZE, 2 * PAGE_SIZE)));
        assert_eq!(page_window(0), Err(PageError::Page));
        assert!(page_window(usize::MAX).is_err());
    }

    #[test]
    fn the_name_weighs_most_and_the_docs_least() {
        assert!(WEIGHTS.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(WEIGHTS.len(), Field::ALL.len());
    }
}
