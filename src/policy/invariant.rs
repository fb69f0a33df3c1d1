//! The production invariant: a production index never inherits a mirror,
//! directly or through a chain of bases. Releases reach production only by
//! being pushed into it, so nothing an upstream registry publishes can ever
//! appear there on its own.
//!
//! Pure: the caller describes the index graph with a closure, so the same
//! check runs over the policy files at load and over the live configuration
//! at every API change.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;

use crate::index::config::IndexKind;
use crate::index::inheritance::resolution_order;
use crate::names::IndexPath;

/// What the invariant needs to know about one index: its kind, its bases
/// and whether it is a production index.
pub type IndexFacts = (IndexKind, Vec<IndexPath>, bool);

/// One production index that sees a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub production: IndexPath,
    pub mirror: IndexPath,
    /// The bases from the production index to the mirror, both included
    /// (just the index itself when a production index is a mirror).
    pub chain: Vec<IndexPath>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.chain.len() <= 1 {
            return write!(
                f,
                "{} is a production index but is itself a mirror; production indexes must \
                 never be mirrors: make it a stage index and push releases into it instead",
                self.production
            );
        }
        let via: Vec<String> = self.chain.iter().skip(1).map(ToString::to_string).collect();
        let how = if via.len() == 1 {
            "directly".to_string()
        } else {
            format!("through {}", via.join(" → "))
        };
        write!(
            f,
            "{} is a production index but inherits the mirror {} {how}; production indexes \
             must never inherit a mirror: remove it from the bases and push releases into {} \
             instead",
            self.production, self.mirror, self.production
        )
    }
}

/// Every violation found, in the order the production indexes were given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvariantError {
    pub violations: Vec<Violation>,
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.violations.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Check every index in `candidates` that `indexes` reports as production:
/// none may be a mirror or reach one through its bases. Cycles and dangling
/// bases are harmless (see [`resolution_order`]); the search follows the
/// same bounded order the server uses to resolve projects, so a mirror the
/// server would consult is always found.
pub fn check_production_invariant<'a>(
    indexes: impl Fn(&IndexPath) -> Option<IndexFacts>,
    candidates: impl IntoIterator<Item = &'a IndexPath>,
) -> Result<(), InvariantError> {
    let mut violations = Vec::new();
    for start in candidates {
        let Some((kind, _, true)) = indexes(start) else {
            continue;
        };
        if kind == IndexKind::Mirror {
            violations.push(Violation {
                production: start.clone(),
                mirror: start.clone(),
                chain: vec![start.clone()],
            });
            continue;
        }
        let order = resolution_order(start, |i| indexes(i).map(|(_, bases, _)| bases));
        for mirror in order
            .iter()
            .filter(|i| matches!(indexes(i), Some((IndexKind::Mirror, _, _))))
        {
            let reachable: HashSet<&IndexPath> = order.iter().collect();
            let chain = shortest_chain(start, mirror, &reachable, &indexes)
                .unwrap_or_else(|| vec![start.clone(), mirror.clone()]);
            violations.push(Violation {
                production: start.clone(),
                mirror: mirror.clone(),
                chain,
            });
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(InvariantError { violations })
    }
}

/// Breadth-first search for the shortest base chain `from` → `to` through
/// indexes in `within` (already known reachable and bounded).
fn shortest_chain(
    from: &IndexPath,
    to: &IndexPath,
    within: &HashSet<&IndexPath>,
    indexes: &impl Fn(&IndexPath) -> Option<IndexFacts>,
) -> Option<Vec<IndexPath>> {
    let mut parent: HashMap<IndexPath, IndexPath> = HashMap::new();
    let mut seen: HashSet<IndexPath> = HashSet::from([from.clone()]);
    let mut queue = VecDeque::from([from.clone()]);
    while let Some(current) = queue.pop_front() {
        if &current == to {
            let mut chain = vec![current.clone()];
            let mut at = &current;
            while let Some(p) = parent.get(at) {
                chain.push(p.clone());
                at = p;
            }
            chain.reverse();
            return Some(chain);
        }
        let bases = indexes(&current).map(|(_, b, _)| b).unwrap_or_default();
        for b in bases {
            if within.contains(&b) && seen.insert(b.clone()) {
                parent.insert(b.clone(), current.clone());
                queue.push_back(b);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> IndexPath {
        IndexPath::parse(s).unwrap()
    }

    /// (path, kind, bases, production)
    type Node<'a> = (&'a str, IndexKind, &'a [&'a str], bool);

    fn check(nodes: &[Node<'_>]) -> Result<(), InvariantError> {
        let graph: HashMap<IndexPath, IndexFacts> = nodes
            .iter()
            .map(|(path, kind, bases, prod)| {
                (
                    p(path),
                    (*kind, bases.iter().map(|b| p(b)).collect(), *prod),
                )
            })
            .collect();
        let all: Vec<IndexPath> = nodes.iter().map(|n| p(n.0)).collect();
        check_production_invariant(|i| graph.get(i).cloned(), &all)
    }

    use IndexKind::{Mirror, Stage};

    #[test]
    fn graphs_without_violations() {
        let cases: &[(&str, &[Node<'_>])] = &[
            ("empty", &[]),
            (
                "default setup",
                &[
                    ("root/pypi", Mirror, &[], false),
                    ("root/dev", Stage, &["root/pypi"], false),
                    ("root/prod", Stage, &[], true),
                ],
            ),
            (
                "production over production",
                &[
                    ("a/base", Stage, &[], true),
                    ("a/prod", Stage, &["a/base"], true),
                ],
            ),
            (
                "non-production may inherit a mirror",
                &[
                    ("root/pypi", Mirror, &[], false),
                    ("a/dev", Stage, &["root/pypi"], false),
                ],
            ),
            (
                "cycle without a mirror",
                &[
                    ("a/x", Stage, &["a/y"], true),
                    ("a/y", Stage, &["a/x"], false),
                ],
            ),
            ("dangling base", &[("a/prod", Stage, &["gone/idx"], true)]),
        ];
        for (name, nodes) in cases {
            assert_eq!(check(nodes), Ok(()), "{name}");
        }
    }

    #[test]
    fn violations_name_the_chain() {
        type Case<'a> = (&'a str, &'a [Node<'a>], &'a [&'a [&'a str]]);
        let cases: &[Case<'_>] = &[
            (
                "direct",
                &[
                    ("root/pypi", Mirror, &[], false),
                    ("a/prod", Stage, &["root/pypi"], true),
                ],
                &[&["a/prod", "root/pypi"]],
            ),
            (
                "through a chain",
                &[
                    ("root/pypi", Mirror, &[], false),
                    ("acme/dev", Stage, &["root/pypi"], false),
                    ("acme/staging", Stage, &["acme/dev"], false),
                    ("acme/prod", Stage, &["acme/staging"], true),
                ],
                &[&["acme/prod", "acme/staging", "acme/dev", "root/pypi"]],
            ),
            (
                "shortest chain is reported",
                &[
                    ("root/pypi", Mirror, &[], false),
                    ("a/long1", Stage, &["a/long2"], false),
                    ("a/long2", Stage, &["root/pypi"], false),
                    ("a/short", Stage, &["root/pypi"], false),
                    ("a/prod", Stage, &["a/long1", "a/short"], true),
                ],
                &[&["a/prod", "a/short", "root/pypi"]],
            ),
            (
                "through a cycle",
                &[
                    ("root/pypi", Mirror, &[], false),
                    ("a/x", Stage, &["a/y"], true),
                    ("a/y", Stage, &["a/x", "root/pypi"], false),
                ],
                &[&["a/x", "a/y", "root/pypi"]],
            ),
            (
                "two mirrors, two production indexes",
                &[
                    ("root/pypi", Mirror, &[], false),
                    ("root/other", Mirror, &[], false),
                    ("a/prod", Stage, &["root/pypi", "root/other"], true),
                    ("b/prod", Stage, &["a/prod"], true),
                ],
                &[
                    &["a/prod", "root/pypi"],
                    &["a/prod", "root/other"],
                    &["b/prod", "a/prod", "root/pypi"],
                    &["b/prod", "a/prod", "root/other"],
                ],
            ),
            (
                "a production mirror",
                &[("root/pypi", Mirror, &[], true)],
                &[&["root/pypi"]],
            ),
        ];
        for (name, nodes, expected) in cases {
            let err = check(nodes).expect_err(name);
            let chains: Vec<Vec<String>> = err
                .violations
                .iter()
                .map(|v| v.chain.iter().map(ToString::to_string).collect())
                .collect();
            let expected: Vec<Vec<String>> = expected
                .iter()
                .map(|c| c.iter().map(|s| s.to_string()).collect())
                .collect();
            assert_eq!(chains, expected, "{name}");
        }
    }

    #[test]
    fn message_explains_the_path_and_the_fix() {
        let err = check(&[
            ("root/pypi", Mirror, &[], false),
            ("acme/dev", Stage, &["root/pypi"], false),
            ("acme/staging", Stage, &["acme/dev"], false),
            ("acme/prod", Stage, &["acme/staging"], true),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "acme/prod is a production index but inherits the mirror root/pypi through \
             acme/staging → acme/dev → root/pypi; production indexes must never inherit a \
             mirror: remove it from the bases and push releases into acme/prod instead"
        );
        let direct = check(&[
            ("root/pypi", Mirror, &[], false),
            ("a/prod", Stage, &["root/pypi"], true),
        ])
        .unwrap_err();
        assert!(direct
            .to_string()
            .contains("inherits the mirror root/pypi directly"));
        let itself = check(&[("root/pypi", Mirror, &[], true)]).unwrap_err();
        assert!(itself.to_string().contains("is itself a mirror"));
    }

    #[test]
    fn only_candidates_are_checked() {
        let graph: HashMap<IndexPath, IndexFacts> = HashMap::from([
            (p("root/pypi"), (Mirror, vec![], false)),
            (p("a/prod"), (Stage, vec![p("root/pypi")], true)),
        ]);
        let none: Vec<IndexPath> = Vec::new();
        assert!(check_production_invariant(|i| graph.get(i).cloned(), &none).is_ok());
        assert!(check_production_invariant(|i| graph.get(i).cloned(), &[p("a/prod")]).is_err());
    }
}
