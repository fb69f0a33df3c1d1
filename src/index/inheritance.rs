//! Stage resolution order: which indexes a stage index sees, in which order.
//!
//! An index sees itself first, then each of its bases in the order given,
//! each expanded the same way (depth first). An index reachable twice is
//! visited once, at its first position, so cycles (`a → b → a`) terminate
//! and diamonds are not duplicated.

use std::collections::HashSet;

use crate::names::IndexPath;

/// Upper bound on the number of indexes in one resolution order: protects
/// every request from a pathological configuration.
pub const MAX_CHAIN: usize = 64;

/// Resolve the order in which `start` and its bases are consulted.
/// `bases_of` returns the bases of an index, or `None` if it does not exist
/// (a dangling base is skipped).
pub fn resolution_order(
    start: &IndexPath,
    mut bases_of: impl FnMut(&IndexPath) -> Option<Vec<IndexPath>>,
) -> Vec<IndexPath> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![start.clone()];
    while let Some(current) = stack.pop() {
        if order.len() >= MAX_CHAIN || !seen.insert(current.clone()) {
            continue;
        }
        let Some(bases) = bases_of(&current) else {
            continue;
        };
        order.push(current);
        for b in bases.into_iter().rev() {
            if !seen.contains(&b) {
                stack.push(b);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn p(s: &str) -> IndexPath {
        IndexPath::parse(s).unwrap()
    }

    fn graph(edges: &[(&str, &[&str])]) -> HashMap<IndexPath, Vec<IndexPath>> {
        edges
            .iter()
            .map(|(k, v)| (p(k), v.iter().map(|b| p(b)).collect()))
            .collect()
    }

    fn order(g: &HashMap<IndexPath, Vec<IndexPath>>, start: &str) -> Vec<String> {
        resolution_order(&p(start), |i| g.get(i).cloned())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn depth_first_in_base_order() {
        let g = graph(&[
            ("a/prod", &["a/dev", "a/extra"]),
            ("a/dev", &["root/pypi"]),
            ("a/extra", &[]),
            ("root/pypi", &[]),
        ]);
        assert_eq!(
            order(&g, "a/prod"),
            ["a/prod", "a/dev", "root/pypi", "a/extra"]
        );
    }

    #[test]
    fn cycles_and_diamonds_terminate() {
        let g = graph(&[
            ("a/x", &["a/y", "a/z"]),
            ("a/y", &["a/x", "a/z"]),
            ("a/z", &["a/y"]),
        ]);
        assert_eq!(order(&g, "a/x"), ["a/x", "a/y", "a/z"]);
    }

    #[test]
    fn dangling_bases_are_skipped() {
        let g = graph(&[("a/x", &["gone/idx", "a/y"]), ("a/y", &[])]);
        assert_eq!(order(&g, "a/x"), ["a/x", "a/y"]);
        assert!(order(&g, "no/such").is_empty());
    }
}
