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
        let fts = parsed.fts_expression();
        let name_key = parsed.name_key();
        let (found, more) = self
            .store
            .db
            .read(move |c| {
                let mut found = table::matching_projects(
                    c,
                    &fts,
                    &name_key,
                    &search::WEIGHTS,
                    ids.as_deref(),
                    search::candidate_rows(limit + 1, offset),
                    limit + 1,
                    offset,
                )?;
                let more = found.len() > limit;
                found.truncate(limit);
                let mut out = Vec::with_capacity(found.len());
                for m in found {
                    let Some((row, version)) = search::latest_row(&m.rows).cloned() else {
                        continue;
                    };
                    let marked = table::marked_row(
                        c,
                        &fts,
                        row,
                        search::snippet::OPEN,
                        search::snippet::CLOSE,
                        SNIPPET_TOKENS,
                    )?;
                    out.push((m, version, marked));
                }
                Ok((out, more))
            })
            .await?;
        let hits = found
            .into_iter()
            .filter_map(|(m, version, marked)| {
                // an index deleted since the query ran has no path any more
                let index = paths.get(&m.index_id)?.clone();
                let (matched, snippet, summary) = match marked {
                    Some(row) => {
                        let (matched, snippet) = search::snippet::choose(&row.marked, &row.summary);
                        (
                            matched,
                            snippet,
                            Some(row.summary).filter(|s| !s.is_empty()),
                        )
                    }
                    None => (Vec::new(), search::Snippet::default(), None),
                };
                Some(SearchHit {
                    index,
                    project: m.display_name,
                    version,
                    summary,
                    matched,
                    snippet,
                    score: -m.bm25,
                    exact_name: m.exact_name,
                })
            })
            .collect();
        Ok(SearchResults {
            terms: parsed.tokens().to_vec(),
            hits,
            offset,
            limit,
            more,
        })
    }
}
