use serde_json::json;

use super::evaluate::license_identifiers;
use super::*;
use crate::digest::Sha256;
use crate::dist::DistKind;
use crate::names::ProjectName;
use crate::policy::RequirePolicy;

const NOW: i64 = 1_700_000_000;
const DAY: i64 = 86_400;

fn file(name: &str, entry_points: Option<&str>) -> ReleaseFile {
    let kind = if name.ends_with(".whl") {
        DistKind::Wheel
    } else {
        DistKind::Sdist
    };
    ReleaseFile {
        filename: name.to_string(),
        sha256: Sha256::of(name.as_bytes()),
        kind,
        entry_points: entry_points.map(str::to_string),
    }
}

fn snapshot(meta: serde_json::Value, files: Vec<ReleaseFile>) -> ReleaseSnapshot {
    ReleaseSnapshot {
        metadata: meta,
        files,
        published: Some(NOW - 30 * DAY),
    }
}

fn old_release() -> ReleaseSnapshot {
    snapshot(
        json!({
            "name": "demo", "version": "1.0", "requires_python": ">=3.8",
            "requires_dist": ["requests>=2", "Old_Thing", "six; python_version < \"3\""],
            "license_expression": "MIT", "author": "Ann", "author_email": "ann@example.org",
            "project_urls": ["Source, https://example.org/demo"],
        }),
        vec![
            file(
                "demo-1.0-py3-none-any.whl",
                Some("[console_scripts]\ndemo = demo.cli:main\nold = demo:old\n"),
            ),
            file("demo-1.0.tar.gz", None),
        ],
    )
}

fn new_release() -> ReleaseSnapshot {
    snapshot(
        json!({
            "name": "demo", "version": "1.1", "requires_python": ">=3.9",
            "requires_dist": ["Requests>=2.31", "six; python_version < \"3\"", "brand-new>=1",
                              "local-helper", "evil @ https://evil.example/x.whl", "not a req !!"],
            "license_expression": "MIT OR GPL-3.0-only", "author": "Ann",
            "author_email": "mallory@example.net",
            "project_urls": ["Source, https://evil.example/demo"],
        }),
        vec![
            file(
                "demo-1.1-cp312-cp312-manylinux_2_17_x86_64.whl",
                Some("[console_scripts]\ndemo = demo.cli:main2\nsteal = demo:steal\n"),
            ),
            file(
                "demo-1.1-py3-none-any.whl",
                Some("[console_scripts]\ndemo = demo.cli:main2\n"),
            ),
        ],
    )
}

fn names(changes: &[DependencyChange]) -> Vec<&str> {
    changes.iter().map(|d| d.name.as_str()).collect()
}

#[test]
fn review_shows_what_changed() {
    let r = review(&new_release(), Some(&old_release()), |p| {
        p.as_str() == "local-helper"
    });
    assert_eq!((r.project.as_str(), r.version.as_str()), ("demo", "1.1"));
    assert_eq!(r.previous_version.as_deref(), Some("1.0"));

    // files and tags
    assert_eq!(r.files.len(), 2);
    assert_eq!(r.files[0].sha256.len(), 64);
    assert!(!r.sdist_only);
    assert_eq!(r.new_platform_tags, vec!["manylinux_2_17_x86_64"]);

    // dependencies: compared by normalised name
    let d = &r.dependencies;
    assert_eq!(names(&d.added), vec!["brand-new", "evil", "local-helper"]);
    assert_eq!(names(&d.removed), vec!["old-thing"]);
    assert_eq!(names(&d.changed), vec!["requests"]);
    assert_eq!(d.changed[0].before, vec![">=2"]);
    assert_eq!(d.changed[0].after, vec![">=2.31"]);
    let presence: Vec<Option<bool>> = d.added.iter().map(|a| a.present_in_target).collect();
    assert_eq!(presence, vec![Some(false), Some(false), Some(true)]);
    assert_eq!(d.unparsable, vec!["not a req !!"]);
    assert!(r
        .notes
        .iter()
        .any(|n| n.contains("evil is a direct URL reference")));
    assert!(r.notes.iter().any(|n| n.contains("not a valid PEP 508")));

    // requires-python
    let rp = r.requires_python.as_ref().unwrap();
    assert_eq!(
        (rp.before.as_deref(), rp.after.as_deref()),
        (Some(">=3.8"), Some(">=3.9"))
    );

    // entry points
    let ep = &r.entry_points;
    assert_eq!(ep.added.len(), 1);
    assert_eq!(
        (ep.added[0].name.as_str(), ep.added[0].value.as_str()),
        ("steal", "demo:steal")
    );
    assert_eq!(ep.removed.len(), 1);
    assert_eq!(ep.removed[0].name, "old");
    assert_eq!(ep.changed.len(), 1);
    assert_eq!(
        (ep.changed[0].before.as_str(), ep.changed[0].after.as_str()),
        ("demo.cli:main", "demo.cli:main2")
    );

    // metadata and license
    let fields: Vec<&str> = r
        .metadata_changes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(fields, vec!["author_email", "project_url", "project_url"]);
    assert!(r.license.changed);
    assert_eq!(
        r.license.previous_license_expression.as_deref(),
        Some("MIT")
    );

    // slots start unchecked
    assert!(!r.typosquat.checked && !r.shadowing.checked && !r.tests.checked);
}

#[test]
fn review_of_unchanged_and_first_releases() {
    let same = review(&old_release(), Some(&old_release()), |_| true);
    assert!(same.dependencies.added.is_empty());
    assert!(same.dependencies.removed.is_empty());
    assert!(same.dependencies.changed.is_empty());
    assert!(same.requires_python.is_none());
    assert!(same.entry_points.added.is_empty() && same.entry_points.changed.is_empty());
    assert!(same.new_platform_tags.is_empty());
    assert!(same.metadata_changes.is_empty());
    assert!(!same.license.changed);
    assert!(same.notes.is_empty(), "{:?}", same.notes);

    let first = review(&old_release(), None, |_| false);
    assert_eq!(first.previous_version, None);
    assert_eq!(
        names(&first.dependencies.added),
        vec!["old-thing", "requests", "six"]
    );
    assert_eq!(first.entry_points.added.len(), 2);
    assert_eq!(first.new_platform_tags, vec!["any"]);
    assert!(first.metadata_changes.is_empty());
    assert!(!first.license.changed);
    let six = &first.dependencies.added[2];
    assert_eq!(six.after.len(), 1);
    assert!(six.after[0].starts_with("; python"), "{:?}", six.after);
}

#[test]
fn review_flags_odd_inputs() {
    type Case = (&'static str, ReleaseSnapshot, &'static str);
    let cases: Vec<Case> = vec![
        (
            "sdist only",
            snapshot(
                json!({"name": "x", "version": "1"}),
                vec![file("x-1.tar.gz", None)],
            ),
            "",
        ),
        (
            "no files",
            snapshot(json!({"name": "x", "version": "1"}), vec![]),
            "no files",
        ),
        (
            "metadata not an object",
            snapshot(json!("garbage"), vec![file("x-1-py3-none-any.whl", None)]),
            "could not be read",
        ),
        (
            "bad filename",
            snapshot(
                json!({"name": "x"}),
                vec![file("../../etc/passwd.whl", None)],
            ),
            "cannot read the tags",
        ),
        (
            "bad entry points",
            snapshot(
                json!({"name": "x"}),
                vec![file("x-1-py3-none-any.whl", Some("junk line"))],
            ),
            "entry_points.txt line 1",
        ),
        (
            "wheels disagree",
            snapshot(
                json!({"name": "x"}),
                vec![
                    file("x-1-py3-none-any.whl", Some("[g]\na = m:f\n")),
                    file("x-1-py2-none-any.whl", Some("[g]\na = m:g\n")),
                ],
            ),
            "wheels disagree",
        ),
    ];
    for (name, snap, fragment) in cases {
        let r = review(&snap, None, |_| false);
        if name == "sdist only" {
            assert!(r.sdist_only, "{name}");
            assert!(r.new_platform_tags.is_empty(), "{name}");
        } else {
            assert!(!r.sdist_only, "{name}");
            assert!(
                r.notes.iter().any(|n| n.contains(fragment)),
                "{name}: {:?}",
                r.notes
            );
        }
    }
}

/// A review that passes everything, for evaluate's table.
fn clean_review() -> Review {
    let mut r = review(&old_release(), Some(&old_release()), |_| true);
    r.typosquat = TyposquatCheck {
        checked: true,
        ..Default::default()
    };
    r.shadowing = ShadowingCheck {
        checked: true,
        shadowed_by: None,
    };
    r.tests = TestsCheck {
        checked: true,
        passed: true,
        trusted_runs: 1,
        summary: Some("12 passed".into()),
        ..Default::default()
    };
    r
}

#[test]
fn evaluate_applies_each_requirement() {
    let strict = RequirePolicy {
        approvals: 0,
        tests_passed: true,
        no_typosquat: true,
        no_shadowing: true,
        min_age_days: 7,
        max_age_days: 365,
        allowed_licenses: vec!["mit".into(), "Apache-2.0".into()],
        wheels_only: false,
        dependencies_present: true,
        tests_passed_by: Vec::new(),
    };
    type Edit = fn(&mut Review, &mut RequirePolicy);
    let cases: &[(&str, Edit, Option<&str>)] = &[
        ("all good", |_, _| {}, None),
        (
            "a dependency missing",
            |r, _| r.missing_dependencies = vec!["idna <4,>=2.5".into()],
            Some("would miss idna <4,>=2.5; push with --with-deps"),
        ),
        (
            "tests not run",
            |r, _| r.tests.checked = false,
            Some("no recorded test results"),
        ),
        (
            "tests failed",
            |r, _| r.tests.passed = false,
            Some("failed (12 passed)"),
        ),
        (
            "tests not required",
            |r, p| {
                r.tests.checked = false;
                p.tests_passed = false
            },
            None,
        ),
        (
            "typosquat not run",
            |r, _| r.typosquat.checked = false,
            Some("typosquat check of demo did not run"),
        ),
        (
            "typosquat suspicious",
            |r, _| {
                r.typosquat.suspicious = true;
                r.typosquat.target = Some("demos".into());
                r.typosquat.reason = Some("one letter removed".into());
            },
            Some("imitates demos (one letter removed)"),
        ),
        (
            "shadowing not run",
            |r, _| r.shadowing.checked = false,
            Some("shadowing check of demo did not run"),
        ),
        (
            "shadowed",
            |r, _| r.shadowing.shadowed_by = Some("root/pypi".into()),
            Some("also exists in root/pypi"),
        ),
        (
            "shadowing not required",
            |r, p| {
                r.shadowing.shadowed_by = Some("x/y".into());
                p.no_shadowing = false
            },
            None,
        ),
        (
            "too young",
            |r, _| r.published = Some(NOW - 2 * DAY),
            Some("published 2 days ago; this index requires a cool-down of 7 days"),
        ),
        (
            "published today",
            |r, _| r.published = Some(NOW - 60),
            Some("less than a day"),
        ),
        (
            "exactly old enough",
            |r, _| r.published = Some(NOW - 7 * DAY),
            None,
        ),
        (
            "too old",
            |r, _| r.published = Some(NOW - 400 * DAY),
            Some("at most 365 days old"),
        ),
        (
            "unknown publication",
            |r, _| r.published = None,
            Some("publication time of demo 1.0 is unknown"),
        ),
        (
            "no age limits",
            |r, p| {
                r.published = None;
                p.min_age_days = 0;
                p.max_age_days = 0
            },
            None,
        ),
        (
            "expression outside list",
            |r, _| r.license.license_expression = Some("MIT OR GPL-3.0-only".into()),
            Some("GPL-3.0-only is not among"),
        ),
        (
            "expression inside list",
            |r, _| r.license.license_expression = Some("(MIT AND Apache-2.0)".into()),
            None,
        ),
        (
            "exception ignored",
            |r, _| r.license.license_expression = Some("Apache-2.0 WITH LLVM-exception".into()),
            None,
        ),
        (
            "license field exact",
            |r, _| {
                r.license.license_expression = None;
                r.license.license = Some(" MIT ".into())
            },
            None,
        ),
        (
            "license field text",
            |r, _| {
                r.license.license_expression = None;
                r.license.license = Some("MIT License".into())
            },
            Some("declares the license \"MIT License\""),
        ),
        (
            "no license",
            |r, _| {
                r.license.license_expression = None;
                r.license.license = None
            },
            Some("declares no license"),
        ),
        (
            "any license",
            |r, p| {
                r.license.license_expression = None;
                p.allowed_licenses.clear()
            },
            None,
        ),
        (
            "wheels only with sdist",
            |_, p| p.wheels_only = true,
            Some("accepts wheels only, but the release contains the sdist(s) demo-1.0.tar.gz"),
        ),
        (
            "wheels only, no files",
            |r, p| {
                p.wheels_only = true;
                r.files.clear()
            },
            Some("has no files"),
        ),
        (
            "wheels only, wheels",
            |r, p| {
                p.wheels_only = true;
                r.files.retain(|f| f.kind == DistKind::Wheel)
            },
            None,
        ),
    ];
    for (name, edit, expected) in cases {
        let mut r = clean_review();
        let mut p = strict.clone();
        edit(&mut r, &mut p);
        let decision = evaluate(&r, &p, 0, NOW);
        match (expected, &decision) {
            (None, Decision::Land) => {}
            (Some(fragment), Decision::Refuse { reasons }) => {
                assert_eq!(reasons.len(), 1, "{name}: {reasons:?}");
                assert!(reasons[0].contains(fragment), "{name}: {}", reasons[0]);
            }
            _ => panic!("{name}: expected {expected:?}, got {decision:?}"),
        }
    }
}

#[test]
fn evaluate_counts_approvals_and_collects_all_reasons() {
    let policy = RequirePolicy {
        approvals: 2,
        ..Default::default()
    };
    let r = clean_review();
    for (given, expected) in [
        (0, Decision::Pending { needed: 2 }),
        (1, Decision::Pending { needed: 1 }),
        (2, Decision::Land),
        (5, Decision::Land),
    ] {
        assert_eq!(
            evaluate(&r, &policy, given, NOW),
            expected,
            "{given} approvals"
        );
    }
    // A failed check refuses even with every approval given.
    let mut bad = clean_review();
    bad.tests.passed = false;
    bad.shadowing.shadowed_by = Some("root/pypi".into());
    let strict = RequirePolicy {
        approvals: 1,
        tests_passed: true,
        no_shadowing: true,
        ..Default::default()
    };
    match evaluate(&bad, &strict, 3, NOW) {
        Decision::Refuse { reasons } => assert_eq!(reasons.len(), 2, "{reasons:?}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        evaluate(&bad, &RequirePolicy::default(), 0, NOW),
        Decision::Land
    );
    let json = serde_json::to_value(Decision::Pending { needed: 1 }).unwrap();
    assert_eq!(json, json!({"decision": "pending", "needed": 1}));
}

#[test]
fn license_expressions_split_into_identifiers() {
    for (expr, ids) in [
        ("MIT", vec!["MIT"]),
        ("MIT OR Apache-2.0", vec!["MIT", "Apache-2.0"]),
        (
            "(MIT AND BSD-3-Clause) or Zlib",
            vec!["MIT", "BSD-3-Clause", "Zlib"],
        ),
        (
            "GPL-2.0-or-later WITH Classpath-exception-2.0",
            vec!["GPL-2.0-or-later"],
        ),
        ("LicenseRef-Proprietary", vec!["LicenseRef-Proprietary"]),
        ("GPL-2.0+", vec!["GPL-2.0+"]),
        ("  ( ) AND ", vec![]),
        ("", vec![]),
    ] {
        assert_eq!(license_identifiers(expr), ids, "{expr:?}");
    }
}

#[test]
fn typo_verdicts_fill_the_slot() {
    let detector = crate::typo::Detector::builder()
        .private(["requests"])
        .build();
    let verdict = detector.check("reqeusts");
    let check = TyposquatCheck::from(&verdict);
    assert!(check.checked);
    assert_eq!(check.suspicious, verdict.suspicious);
    assert_eq!(check.target, verdict.target);
}

#[test]
fn rendered_text_has_every_section() {
    let mut r = review(&new_release(), Some(&old_release()), |p: &ProjectName| {
        p.as_str() == "local-helper"
    });
    r.typosquat = TyposquatCheck {
        checked: true,
        suspicious: true,
        target: Some("dem0".into()),
        reason: Some("look-alike".into()),
    };
    let text = render_text(&r);
    for fragment in [
        "Push review: demo 1.1 (compared with 1.0 in the target)",
        "demo-1.1-cp312-cp312-manylinux_2_17_x86_64.whl  (wheel cp312-cp312-manylinux_2_17_x86_64)",
        "sha256 ",
        "new platform tags: manylinux_2_17_x86_64",
        "+ brand-new >=1  [NOT in the target]",
        "+ local-helper (any version)  [in the target]",
        "- old-thing (any version)",
        "~ requests: >=2 -> >=2.31",
        "? unparsable: not a req !!",
        ">=3.8 -> >=3.9",
        "+ [console_scripts] steal = demo:steal  (command)",
        "- [console_scripts] old = demo:old",
        "~ [console_scripts] demo: demo.cli:main -> demo.cli:main2  (command)",
        "author_email: ann@example.org -> mallory@example.net",
        "! changed: MIT -> MIT OR GPL-3.0-only",
        "typosquat: SUSPICIOUS: imitates dem0 (look-alike)",
        "shadowing: not checked",
        "tests: no results recorded",
        "! dependency evil is a direct URL reference",
    ] {
        assert!(text.contains(fragment), "missing {fragment:?} in\n{text}");
    }
    assert!(!text.lines().any(|l| l.ends_with(' ')), "trailing spaces");
    let sdist = review(
        &snapshot(
            json!({"name": "x", "version": "1"}),
            vec![file("x-1.tar.gz", None)],
        ),
        None,
        |_| false,
    );
    let text = render_text(&sdist);
    assert!(text.contains("new in the target"));
    assert!(text.contains("! sdist only"));
    assert!(text.contains("(none declared)"));
    assert!(text.contains("(unchanged)"));
}

#[test]
fn untrusted_test_runs_never_count() {
    let require = RequirePolicy {
        tests_passed: true,
        ..Default::default()
    };
    let mut r = passing_review_for_trust();
    r.tests = TestsCheck {
        checked: true,
        passed: false,
        trusted_runs: 0,
        summary: None,
        runs: vec![
            crate::pipeline::TestRun {
                file: "a.whl".into(),
                posted_by: None,
                passed: true,
                ..Default::default()
            },
            crate::pipeline::TestRun {
                file: "a.whl".into(),
                posted_by: Some("eve".into()),
                passed: true,
                ..Default::default()
            },
        ],
    };
    match evaluate(&r, &require, 0, 0) {
        Decision::Refuse { reasons } => {
            assert!(
                reasons[0].contains("posted by: anonymous, eve"),
                "{reasons:?}"
            );
            assert!(reasons[0].contains("anonymous results never count"));
        }
        other => panic!("{other:?}"),
    }
    r.tests.trusted_runs = 1;
    r.tests.passed = true;
    assert_eq!(evaluate(&r, &require, 0, 0), Decision::Land);
}

fn passing_review_for_trust() -> Review {
    review(&old_release(), None, |_| true)
}
