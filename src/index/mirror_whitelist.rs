//! The dependency-confusion rule: when a stage (private) index of the
//! resolution order holds a project, mirrors are not consulted for that
//! name, so a look-alike uploaded to PyPI can never shadow or join the
//! private project, unless the index whitelists the name (or `*`).

use super::config::{IndexConfig, WhitelistInheritance};

/// May mirrors of the resolution order of `requested` be consulted for
/// `project` (normalised)? `holders` are the stage indexes of the order that
/// hold the project. The whitelists considered are the requested index's and
/// the holders'; they are combined as the requested index's
/// `mirror_whitelist_inheritance` says: `intersection` (default) needs every
/// one of them to name the project, `union` any one.
pub fn mirror_allowed(project: &str, requested: &IndexConfig, holders: &[&IndexConfig]) -> bool {
    if holders.is_empty() {
        return true;
    }
    let names = |c: &&IndexConfig| c.mirror_whitelist.iter().any(|w| w == "*" || w == project);
    let considered: Vec<&IndexConfig> = std::iter::once(requested)
        .chain(holders.iter().copied())
        .collect();
    match requested.mirror_whitelist_inheritance {
        WhitelistInheritance::Intersection => considered.iter().all(names),
        WhitelistInheritance::Union => considered.iter().any(names),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexKind;

    fn stage(whitelist: &[&str], union: bool) -> IndexConfig {
        let mut c = IndexConfig::new(IndexKind::Stage, "alice");
        c.mirror_whitelist = whitelist.iter().map(|s| s.to_string()).collect();
        if union {
            c.mirror_whitelist_inheritance = WhitelistInheritance::Union;
        }
        c
    }

    #[test]
    fn private_names_shadow_the_mirror_unless_whitelisted() {
        let none = stage(&[], false);
        let star = stage(&["*"], false);
        let req = stage(&["requests"], false);
        let req_union = stage(&["requests"], true);
        let cases: &[(&str, &IndexConfig, &[&IndexConfig], bool)] = &[
            // nobody private holds it: the mirror is asked
            ("requests", &none, &[], true),
            // the requested index itself holds it, no whitelist: not asked
            ("requests", &none, &[&none], false),
            ("requests", &req, &[&req], true),
            ("requests", &star, &[&star], true),
            ("other", &req, &[&req], false),
            // a base holds it; intersection needs the base to agree
            ("requests", &req, &[&none], false),
            ("requests", &req, &[&star], true),
            // union: one whitelist is enough
            ("requests", &req_union, &[&none], true),
            ("other", &req_union, &[&none], false),
        ];
        for (i, (project, requested, holders, want)) in cases.iter().enumerate() {
            assert_eq!(
                mirror_allowed(project, requested, holders),
                *want,
                "case {i}: {project}"
            );
        }
    }
}
