//! The readable form of a [`Review`], as the CLI prints it.

use std::fmt::Write;

use crate::dist::DistKind;

use super::review::{Review, SCRIPT_GROUPS};

/// Render `review` as plain text (no colour, no trailing spaces).
pub fn render_text(review: &Review) -> String {
    let mut out = String::new();
    let against = match &review.previous_version {
        Some(v) => format!("compared with {v} in the target"),
        None => "new in the target".to_string(),
    };
    line(
        &mut out,
        &format!(
            "Push review: {} {} ({against})",
            review.project, review.version
        ),
    );

    line(&mut out, "");
    line(&mut out, "Files:");
    for f in &review.files {
        let kind = match f.kind {
            DistKind::Wheel => format!(
                "wheel {}-{}-{}",
                f.python_tags.join("."),
                f.abi_tags.join("."),
                f.platform_tags.join(".")
            ),
            DistKind::Sdist => "sdist".to_string(),
        };
        line(&mut out, &format!("  {}  ({kind})", f.filename));
        line(&mut out, &format!("    sha256 {}", f.sha256));
    }
    if review.files.is_empty() {
        line(&mut out, "  (none)");
    }
    if review.sdist_only {
        line(
            &mut out,
            "  ! sdist only: there is no wheel, so installing runs the package's build code",
        );
    }
    if !review.new_platform_tags.is_empty() {
        line(
            &mut out,
            &format!(
                "  new platform tags: {}",
                review.new_platform_tags.join(", ")
            ),
        );
    }

    let deps = &review.dependencies;
    section(&mut out, "Dependencies:");
    for d in &deps.added {
        let presence = match d.present_in_target {
            Some(true) => "in the target",
            Some(false) => "NOT in the target",
            None => "",
        };
        line(
            &mut out,
            &format!("  + {} {}  [{presence}]", d.name, d.after.join(" | ")),
        );
    }
    for m in &review.missing_dependencies {
        line(&mut out, &format!("  ! missing after the push: {m}"));
    }
    for d in &deps.removed {
        line(
            &mut out,
            &format!("  - {} {}", d.name, d.before.join(" | ")),
        );
    }
    for d in &deps.changed {
        line(
            &mut out,
            &format!(
                "  ~ {}: {} -> {}",
                d.name,
                d.before.join(" | "),
                d.after.join(" | ")
            ),
        );
    }
    for u in &deps.unparsable {
        line(&mut out, &format!("  ? unparsable: {u}"));
    }
    if deps.added.is_empty()
        && deps.removed.is_empty()
        && deps.changed.is_empty()
        && deps.unparsable.is_empty()
    {
        line(&mut out, "  (unchanged)");
    }

    if let Some(rp) = &review.requires_python {
        section(&mut out, "Requires-Python:");
        line(
            &mut out,
            &format!("  {} -> {}", or_none(&rp.before), or_none(&rp.after)),
        );
    }

    let ep = &review.entry_points;
    if !(ep.added.is_empty() && ep.removed.is_empty() && ep.changed.is_empty()) {
        section(&mut out, "Entry points:");
        let cmd = |group: &str| {
            if SCRIPT_GROUPS.contains(&group) {
                "  (command)"
            } else {
                ""
            }
        };
        for e in &ep.added {
            line(
                &mut out,
                &format!(
                    "  + [{}] {} = {}{}",
                    e.group,
                    e.name,
                    e.value,
                    cmd(&e.group)
                ),
            );
        }
        for e in &ep.removed {
            line(
                &mut out,
                &format!("  - [{}] {} = {}", e.group, e.name, e.value),
            );
        }
        for e in &ep.changed {
            line(
                &mut out,
                &format!(
                    "  ~ [{}] {}: {} -> {}{}",
                    e.group,
                    e.name,
                    e.before,
                    e.after,
                    cmd(&e.group)
                ),
            );
        }
    }

    if !review.metadata_changes.is_empty() {
        section(&mut out, "Metadata changes:");
        for c in &review.metadata_changes {
            line(
                &mut out,
                &format!(
                    "  {}: {} -> {}",
                    c.field,
                    or_none(&c.before),
                    or_none(&c.after)
                ),
            );
        }
    }

    let lic = &review.license;
    section(&mut out, "License:");
    let current = lic
        .license_expression
        .clone()
        .or_else(|| lic.license.clone())
        .unwrap_or_else(|| "(none declared)".into());
    if lic.changed {
        let before = lic
            .previous_license_expression
            .clone()
            .or_else(|| lic.previous_license.clone())
            .unwrap_or_else(|| "(none declared)".into());
        line(&mut out, &format!("  ! changed: {before} -> {current}"));
    } else {
        line(&mut out, &format!("  {current}"));
    }

    section(&mut out, "Checks:");
    let t = &review.typosquat;
    let typo = match (t.checked, t.suspicious) {
        (false, _) => "not checked".to_string(),
        (true, false) => "ok".to_string(),
        (true, true) => format!(
            "SUSPICIOUS: imitates {} ({})",
            t.target.as_deref().unwrap_or("?"),
            t.reason.as_deref().unwrap_or("")
        ),
    };
    line(&mut out, &format!("  typosquat: {typo}"));
    let s = &review.shadowing;
    let shadow = match (s.checked, &s.shadowed_by) {
        (false, _) => "not checked".to_string(),
        (true, None) => "ok".to_string(),
        (true, Some(other)) => format!("SHADOWED: the name also exists in {other}"),
    };
    line(&mut out, &format!("  shadowing: {shadow}"));
    let tests = &review.tests;
    let tests_text = match (tests.checked, tests.passed) {
        (false, _) => "no results recorded".to_string(),
        (true, true) => "passed".to_string(),
        (true, false) => "FAILED".to_string(),
    };
    let summary = tests
        .summary
        .as_deref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    line(&mut out, &format!("  tests: {tests_text}{summary}"));
    for run in &tests.runs {
        let who = match (&run.posted_by, &run.cert) {
            (None, _) => "anonymous".to_string(),
            (Some(u), None) => u.clone(),
            (Some(u), Some(fp)) => format!("{u} (certificate {})", &fp[..fp.len().min(16)]),
        };
        line(
            &mut out,
            &format!(
                "    {} by {who} for {}{}",
                if run.passed { "passed" } else { "failed" },
                run.file,
                if run.trusted {
                    ""
                } else {
                    " (not trusted: does not count)"
                }
            ),
        );
    }
    match &review.doc_zip {
        Some(d) => line(
            &mut out,
            &format!(
                "  documentation: doc zip sha256 {} ({} bytes, uploaded by {})",
                d.sha256, d.size, d.uploader
            ),
        ),
        None => line(&mut out, "  documentation: none"),
    }

    if !review.notes.is_empty() {
        section(&mut out, "Notes:");
        for n in &review.notes {
            line(&mut out, &format!("  ! {n}"));
        }
    }
    out
}

fn section(out: &mut String, title: &str) {
    line(out, "");
    line(out, title);
}

fn line(out: &mut String, text: &str) {
    let _ = writeln!(out, "{}", text.trim_end());
}

fn or_none(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(none)")
}
