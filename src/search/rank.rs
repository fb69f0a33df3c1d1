//! How hits are ranked without scoring every match. bm25 costs a lookup per
//! matching row, and a common word matches nearly every project, so the
//! ranking is a ladder of tiers, each a bounded set of candidates, best
//! tier first; every project of a tier ranks above every project of the
//! next, and a lower tier is only read when the ones above it do not fill
//! the page:
//!
//! 1. the project the query names exactly (`Foo_Bar`, `foo bar` name
//!    `foo-bar`), in every index it lives in;
//! 2. projects whose name holds every word (bm25 over the name);
//! 3. projects whose name, summary and keywords hold every word between
//!    them (bm25 with name > summary > keywords);
//! 4. every other match: classifiers, description, documentation too
//!    (bm25 over all fields, weights [`super::WEIGHTS`]).
//!
//! Tiers 2–4 each score at most [`super::candidate_rows`] rows: the most
//! recently indexed matching ones. Beyond that many matching rows the tier
//! is *capped* (the answer says so): its best hits are the best of its
//! newest matches, and an older project of that tier is found by a narrower
//! query (more words) or by its exact name.

use std::collections::{HashMap, HashSet};

use crate::store::search::{Fields, HitRow};

/// Tiers 2–4, in rank order.
pub const TIERS: [Fields; 3] = [Fields::Name, Fields::Short, Fields::All];

/// One (index, project) that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedProject {
    pub index_id: i64,
    /// Normalised name.
    pub project: String,
    pub display_name: String,
    /// The query names this project exactly.
    pub exact_name: bool,
    /// The best (lowest) bm25 of its rows in its tier (0 for exact names).
    pub bm25: f64,
    /// Its matching rows in its tier: (search row id, version; `None` for a
    /// mirror).
    pub rows: Vec<(i64, Option<String>)>,
}

/// One page of ranked projects.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedPage {
    pub projects: Vec<RankedProject>,
    /// More projects follow this page.
    pub more: bool,
    /// A tier read had more matching rows than it scores.
    pub capped: bool,
}

/// Group rows into projects, ordered by best bm25, then name and index.
fn group(rows: Vec<HitRow>, exact: bool) -> Vec<RankedProject> {
    let mut at: HashMap<(i64, String), usize> = HashMap::new();
    let mut out: Vec<RankedProject> = Vec::new();
    for r in rows {
        let key = (r.index_id, r.project.clone());
        match at.get(&key) {
            Some(&i) => {
                let p = &mut out[i];
                p.bm25 = p.bm25.min(r.bm25);
                p.rows.push((r.id, r.version));
            }
            None => {
                at.insert(key, out.len());
                out.push(RankedProject {
                    index_id: r.index_id,
                    project: r.project,
                    display_name: r.display_name,
                    exact_name: exact,
                    bm25: r.bm25,
                    rows: vec![(r.id, r.version)],
                });
            }
        }
    }
    out.sort_by(|a, b| {
        a.bm25
            .total_cmp(&b.bm25)
            .then_with(|| a.project.cmp(&b.project))
            .then(a.index_id.cmp(&b.index_id))
    });
    out
}

/// The page of `limit` projects from `offset`: `exact` are the rows of the
/// project the query names (tier 1); `tier(fields, cap)` answers the newest
/// `cap` matching rows in `fields` with their bm25 (tiers 2–4, asked only
/// while the page is not full).
pub fn rank_page<E>(
    exact: Vec<HitRow>,
    mut tier: impl FnMut(Fields, usize) -> Result<Vec<HitRow>, E>,
    limit: usize,
    offset: usize,
) -> Result<RankedPage, E> {
    let need = offset.saturating_add(limit).saturating_add(1);
    let cap = super::candidate_rows(limit.saturating_add(1), offset);
    let mut out = group(exact, true);
    let mut seen: HashSet<(i64, String)> = out
        .iter()
        .map(|p| (p.index_id, p.project.clone()))
        .collect();
    let mut capped = false;
    for fields in TIERS {
        if out.len() >= need {
            break;
        }
        let rows = tier(fields, cap)?;
        capped |= rows.len() >= cap;
        for p in group(rows, false) {
            if seen.insert((p.index_id, p.project.clone())) {
                out.push(p);
            }
        }
    }
    let more = out.len() > offset.saturating_add(limit);
    let projects = out.into_iter().skip(offset).take(limit).collect();
    Ok(RankedPage {
        projects,
        more,
        capped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, project: &str, bm25: f64) -> HitRow {
        HitRow {
            id,
            index_id: 1,
            project: project.into(),
            display_name: project.into(),
            version: Some("1.0".into()),
            bm25,
        }
    }

    fn names(p: &RankedPage) -> Vec<&str> {
        p.projects.iter().map(|p| p.project.as_str()).collect()
    }

    #[test]
    fn tiers_stack_and_a_project_is_listed_once() {
        let mut asked = Vec::new();
        let page = rank_page::<()>(
            vec![row(9, "orbit", 0.0)],
            |f, _| {
                asked.push(f);
                Ok(match f {
                    Fields::Name => vec![row(8, "orbit-tools", -1.0), row(9, "orbit", -5.0)],
                    Fields::Short => vec![row(7, "kepler", -2.0), row(6, "apsis", -9.0)],
                    Fields::All => vec![row(5, "tides", -0.5), row(7, "kepler", -3.0)],
                })
            },
            20,
            0,
        )
        .unwrap();
        assert_eq!(
            names(&page),
            ["orbit", "orbit-tools", "apsis", "kepler", "tides"]
        );
        assert!(page.projects[0].exact_name && !page.projects[1].exact_name);
        assert_eq!(asked, TIERS);
        assert!(!page.more && !page.capped);
    }

    #[test]
    fn a_full_page_stops_the_ladder_and_rows_group_by_project() {
        let mut asked = Vec::new();
        let page = rank_page::<()>(
            Vec::new(),
            |f, _| {
                asked.push(f);
                Ok(vec![
                    row(4, "b", -1.0),
                    row(3, "a", -2.0),
                    row(2, "b", -3.0),
                    row(1, "c", -0.1),
                ])
            },
            2,
            0,
        )
        .unwrap();
        assert_eq!(asked, [Fields::Name], "three projects fill a page of 2 + 1");
        assert_eq!(names(&page), ["b", "a"]);
        assert_eq!(page.projects[0].rows.len(), 2);
        assert_eq!(page.projects[0].bm25, -3.0);
        assert!(page.more);
    }

    #[test]
    fn a_tier_cut_at_its_cap_says_so_and_paging_goes_on_below() {
        let cap = crate::search::candidate_rows(2, 0);
        let page = rank_page::<()>(
            Vec::new(),
            |f, n| {
                assert_eq!(n, cap);
                Ok(match f {
                    Fields::Name => (0..n as i64).map(|i| row(i, "same", -1.0)).collect(),
                    _ => vec![row(-1, "other", -1.0)],
                })
            },
            1,
            1,
        )
        .unwrap();
        assert_eq!(names(&page), ["other"]);
        assert!(page.capped && !page.more);
    }
}
