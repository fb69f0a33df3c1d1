//! `Registry::search`: full text over the projects of every index (or of
//! one index's resolution order), ranked, one hit per project and index.
//! The query rules, weights and snippet choice are `crate::search`'s; the
//! index is `store::search`'s, kept in step by the writes themselves.

use std::collections::HashMap;

use super::{Registry, Result};
use crate::names::IndexPath;
use crate::search::{self, Query, SearchHit, SearchResults};
use crate::store::search as table;

/// About how many tokens of a long field a snippet shows.
const SNIPPET_TOKENS: usize = 24;

impl Registry {
    /// Search names, summaries, keywords, classifiers, descriptions and
    /// documentation text. With `scope`, only the indexes of its resolution
    /// order (each hit says which index it lives in); mirror indexes are
    /// searched by project name only. `query` is plain words (never FTS5
    /// syntax); an empty or oversized query, or paging out of bounds, is
    /// [`super::RegistryError::Invalid`].
    pub async fn search(
        &self,
        query: &str,
        scope: Option<&IndexPath>,
        limit: usize,
        offset: usize,
    ) -> Result<SearchResults> {
        let parsed = Query::parse(query)?;
        search::check_page(limit, offset)?;
        let paths: HashMap<i64, IndexPath> = self
            .all_indexes()
            .into_iter()
            .map(|i| (i.id, i.path))
            .collect();
        let ids: Option<Vec<i64>> = match scope {
            Some(path) => Some(self.resolution_order(path)?.iter().map(|i| i.id).collect()),
            None => None,
        };
        let parsed2 = parsed.clone();
        let page = self
            .store
            .db
            .read(move |c| ranked_page(c, &parsed2, ids.as_deref(), limit, offset))
            .await?;
        let hits = page
            .hits
            .into_iter()
            .filter_map(|h| {
                // an index deleted since the query ran has no path any more
                let index = paths.get(&h.index_id)?.clone();
                Some(SearchHit {
                    index,
                    project: h.display_name,
                    version: h.version,
                    summary: h.summary,
                    matched: h.matched,
                    snippet: h.snippet,
                    score: -h.bm25,
                    exact_name: h.exact_name,
                })
            })
            .collect();
        Ok(SearchResults {
            terms: parsed.tokens().to_vec(),
            hits,
            offset,
            limit,
            more: page.more,
            capped: page.capped,
        })
    }
}

/// One hit of [`ranked_page`], before its index id is a path.
#[derive(Debug, Clone)]
pub struct PageHit {
    pub index_id: i64,
    pub display_name: String,
    pub version: Option<String>,
    pub summary: Option<String>,
    pub matched: Vec<search::Field>,
    pub snippet: search::Snippet,
    pub bm25: f64,
    pub exact_name: bool,
}

/// What [`ranked_page`] answers.
#[derive(Debug, Clone)]
pub struct Page {
    pub hits: Vec<PageHit>,
    pub more: bool,
    pub capped: bool,
}

/// The database work of one search page (public for the benchmark): the
/// ranking ladder of `search::rank` over `store::search`, then the shown
/// row of each hit marked by `search::highlight`.
pub fn ranked_page(
    c: &crate::store::sql::Conn<'_>,
    parsed: &Query,
    ids: Option<&[i64]>,
    limit: usize,
    offset: usize,
) -> std::result::Result<Page, crate::store::StoreError> {
    let fts = parsed.fts_expression();
    let exact = table::exact_name_rows(c, &parsed.name_key(), ids)?;
    let ranked = search::rank::rank_page(
        exact,
        |fields, cap| table::newest_matches(c, fields, &fts, &search::WEIGHTS, ids, cap),
        limit,
        offset,
    )?;
    let matcher = search::highlight::Matcher::new(parsed);
    let mut hits = Vec::with_capacity(ranked.projects.len());
    for p in ranked.projects {
        let Some((row, version)) = search::latest_row(&p.rows).cloned() else {
            continue;
        };
        let (matched, snippet, summary) = match table::entry_text(c, row)? {
            Some(text) => {
                let marked = search::highlight::mark_fields(&matcher, &text, SNIPPET_TOKENS);
                let (matched, snippet) = search::snippet::choose(&marked, &text[1]);
                let [_, summary, ..] = text;
                (matched, snippet, Some(summary).filter(|s| !s.is_empty()))
            }
            None => (Vec::new(), search::Snippet::default(), None),
        };
        hits.push(PageHit {
            index_id: p.index_id,
            display_name: p.display_name,
            version,
            summary,
            matched,
            snippet,
            bm25: p.bm25,
            exact_name: p.exact_name,
        });
    }
    Ok(Page {
        hits,
        more: ranked.more,
        capped: ranked.capped,
    })
}
