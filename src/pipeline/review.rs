//! The push review as data: everything a reviewer needs to decide whether a
//! release may move from one index into another, computed from the stored
//! release rows. The checks that need server state (typosquat, shadowing,
//! tests) are slots the caller fills in.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use pep508_rs::{Requirement, VersionOrUrl};
use serde::{Deserialize, Serialize};

use crate::digest::Sha256;
use crate::dist::{DistFilename, DistKind};
use crate::names::{normalize, ProjectName};

use super::entry_points::parse_entry_points;

/// One stored file of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    pub filename: String,
    pub sha256: Sha256,
    pub kind: DistKind,
    /// The wheel's `entry_points.txt`, if any.
    pub entry_points: Option<String>,
}

/// A release as stored: the `releases.metadata` JSON
/// (`registry::upload::release_metadata_json`) and its files.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseSnapshot {
    pub metadata: serde_json::Value,
    pub files: Vec<ReleaseFile>,
    /// When the release was first published (Unix seconds): the upstream
    /// upload time for mirrored releases, else the first upload to airlock.
    pub published: Option<i64>,
}

/// The subset of `releases.metadata` a review reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Meta {
    name: Option<String>,
    version: Option<String>,
    requires_python: Option<String>,
    requires_dist: Vec<String>,
    license: Option<String>,
    license_expression: Option<String>,
    author: Option<String>,
    author_email: Option<String>,
    maintainer: Option<String>,
    maintainer_email: Option<String>,
    home_page: Option<String>,
    project_urls: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    pub filename: String,
    pub sha256: String,
    pub kind: DistKind,
    pub python_tags: Vec<String>,
    pub abi_tags: Vec<String>,
    pub platform_tags: Vec<String>,
}

/// A dependency that appears, disappears or changes. `before`/`after` list
/// each requirement on the name as `[extras]specifier; marker`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyChange {
    pub name: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// Added dependencies only: does the target index already have it?
    #[serde(skip_serializing_if = "Option::is_none")]
    pub present_in_target: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DependencyChanges {
    pub added: Vec<DependencyChange>,
    pub removed: Vec<DependencyChange>,
    pub changed: Vec<DependencyChange>,
    /// Requires-Dist lines of the candidate that are not valid PEP 508.
    pub unparsable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueChange {
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryPoint {
    pub group: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryPointChange {
    pub group: String,
    pub name: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EntryPointChanges {
    pub added: Vec<EntryPoint>,
    pub removed: Vec<EntryPoint>,
    pub changed: Vec<EntryPointChange>,
}

/// The groups whose entries become commands on the installing machine.
pub const SCRIPT_GROUPS: &[&str] = &["console_scripts", "gui_scripts"];

/// A changed contact or provenance field (`author_email`, `project_url`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LicenseInfo {
    pub license: Option<String>,
    pub license_expression: Option<String>,
    /// The license or license expression differs from the previous release.
    pub changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_license: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_license_expression: Option<String>,
}

/// Typosquat check of the project name; filled by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TyposquatCheck {
    pub checked: bool,
    pub suspicious: bool,
    pub target: Option<String>,
    pub reason: Option<String>,
}

impl From<&crate::typo::Verdict> for TyposquatCheck {
    fn from(v: &crate::typo::Verdict) -> Self {
        Self {
            checked: true,
            suspicious: v.suspicious,
            target: v.target.clone(),
            reason: Some(v.reason.clone()),
        }
    }
}

/// Does the project also exist in an index the target sees (a base or a
/// mirror)? Filled by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ShadowingCheck {
    pub checked: bool,
    /// Where the same name exists, e.g. `root/pypi`.
    pub shadowed_by: Option<String>,
}

/// Recorded test results; filled by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TestsCheck {
    /// Any result is recorded.
    pub checked: bool,
    /// A run by a trusted identity passed.
    pub passed: bool,
    /// Runs posted by identities the target's policy trusts.
    pub trusted_runs: usize,
    pub summary: Option<String>,
    /// Every recorded run: who posted it and whether it counts.
    pub runs: Vec<TestRun>,
}

/// One recorded test run, as the review shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TestRun {
    /// The release file it was posted for.
    pub file: String,
    /// The user who posted it; `None`: anonymous.
    pub posted_by: Option<String>,
    /// Fingerprint of the client certificate the poster presented.
    pub cert: Option<String>,
    pub passed: bool,
    /// Whether the poster is trusted, so the run counts for `tests_passed`.
    pub trusted: bool,
}

/// What a push would bring into the target index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Review {
    pub project: String,
    pub version: String,
    /// The target's latest version of the project, compared against.
    pub previous_version: Option<String>,
    pub published: Option<i64>,
    pub files: Vec<FileSummary>,
    /// No wheel: installing the release runs its build code.
    pub sdist_only: bool,
    pub dependencies: DependencyChanges,
    /// Set when Requires-Python differs from the previous release.
    pub requires_python: Option<ValueChange>,
    pub entry_points: EntryPointChanges,
    /// Platform tags no wheel of the previous release had.
    pub new_platform_tags: Vec<String>,
    /// Changed author, maintainer, e-mail, home page and project URLs.
    pub metadata_changes: Vec<FieldChange>,
    pub license: LicenseInfo,
    /// Things a reviewer should know that fit nowhere else.
    pub notes: Vec<String>,
    pub typosquat: TyposquatCheck,
    pub shadowing: ShadowingCheck,
    pub tests: TestsCheck,
    /// Dependencies the release needs in the target's environments that
    /// the target would not be able to install after the push (filled in
    /// by the caller, which knows the target; `require.dependencies_present`).
    pub missing_dependencies: Vec<String>,
    /// The documentation zip that travels with the release, if any.
    pub doc_zip: Option<ReviewedDocZip>,
}

/// Which documentation a push carries: its blob's digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewedDocZip {
    pub sha256: String,
    pub size: u64,
    pub uploader: String,
}

/// Build the review of pushing `candidate` into a target whose latest
/// release of the project is `previous` (None: the project is new there).
/// `in_target` says whether a project exists in the target (for added
/// dependencies).
pub fn review(
    candidate: &ReleaseSnapshot,
    previous: Option<&ReleaseSnapshot>,
    in_target: impl Fn(&ProjectName) -> bool,
) -> Review {
    let mut notes = Vec::new();
    let meta = read_meta(&candidate.metadata, "the release", &mut notes);
    let prev_meta = previous.map(|p| read_meta(&p.metadata, "the previous release", &mut notes));

    let files = summarize_files(&candidate.files, &mut notes);
    let prev_files = previous
        .map(|p| summarize_files(&p.files, &mut Vec::new()))
        .unwrap_or_default();
    let sdist_only = !files.is_empty() && files.iter().all(|f| f.kind == DistKind::Sdist);
    if files.is_empty() {
        notes.push("the release has no files".to_string());
    }

    let dependencies = diff_dependencies(
        &meta.requires_dist,
        prev_meta.as_ref().map_or(&[][..], |m| &m.requires_dist[..]),
        &in_target,
        &mut notes,
    );

    let requires_python = {
        let before = prev_meta.as_ref().and_then(|m| m.requires_python.clone());
        let after = meta.requires_python.clone();
        (before != after).then_some(ValueChange { before, after })
    };

    let entry_points = diff_entry_points(
        &collect_entry_points(&candidate.files, &mut notes),
        &previous
            .map(|p| collect_entry_points(&p.files, &mut Vec::new()))
            .unwrap_or_default(),
    );

    let old_tags: BTreeSet<&String> = prev_files.iter().flat_map(|f| &f.platform_tags).collect();
    let new_platform_tags: Vec<String> = files
        .iter()
        .flat_map(|f| &f.platform_tags)
        .filter(|t| !old_tags.contains(t))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let metadata_changes = prev_meta
        .as_ref()
        .map(|before| diff_fields(before, &meta))
        .unwrap_or_default();

    let license = LicenseInfo {
        changed: prev_meta.as_ref().is_some_and(|p| {
            p.license != meta.license || p.license_expression != meta.license_expression
        }),
        previous_license: prev_meta.as_ref().and_then(|p| p.license.clone()),
        previous_license_expression: prev_meta
            .as_ref()
            .and_then(|p| p.license_expression.clone()),
        license: meta.license.clone(),
        license_expression: meta.license_expression.clone(),
    };

    Review {
        project: meta.name.clone().unwrap_or_default(),
        version: meta.version.clone().unwrap_or_default(),
        previous_version: prev_meta.and_then(|m| m.version),
        published: candidate.published,
        files,
        sdist_only,
        dependencies,
        requires_python,
        entry_points,
        new_platform_tags,
        metadata_changes,
        license,
        notes,
        typosquat: TyposquatCheck::default(),
        shadowing: ShadowingCheck::default(),
        tests: TestsCheck::default(),
        missing_dependencies: Vec::new(),
        doc_zip: None,
    }
}

fn read_meta(value: &serde_json::Value, what: &str, notes: &mut Vec<String>) -> Meta {
    match Meta::deserialize(value) {
        Ok(m) => m,
        Err(e) => {
            notes.push(format!(
                "the stored metadata of {what} could not be read: {e}"
            ));
            Meta::default()
        }
    }
}

fn summarize_files(files: &[ReleaseFile], notes: &mut Vec<String>) -> Vec<FileSummary> {
    let mut out: Vec<FileSummary> = files
        .iter()
        .map(|f| {
            let parsed = DistFilename::parse(&f.filename);
            if let Err(e) = &parsed {
                notes.push(format!("cannot read the tags of {:?}: {e}", f.filename));
            }
            let (python_tags, abi_tags, platform_tags) = match parsed {
                Ok(d) if f.kind == DistKind::Wheel => (d.python_tags, d.abi_tags, d.platform_tags),
                _ => Default::default(),
            };
            FileSummary {
                filename: f.filename.clone(),
                sha256: f.sha256.to_hex(),
                kind: f.kind,
                python_tags,
                abi_tags,
                platform_tags,
            }
        })
        .collect();
    out.sort_by(|a, b| a.filename.cmp(&b.filename));
    out
}

/// Requirements grouped by normalised name, each rendered readably.
fn group_requirements(
    lines: &[String],
    mut unparsable: impl FnMut(&str),
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in lines {
        match Requirement::<pep508_rs::VerbatimUrl>::from_str(line) {
            Ok(req) => {
                out.entry(normalize(req.name.as_ref()))
                    .or_default()
                    .insert(describe(&req));
            }
            Err(_) => unparsable(line),
        }
    }
    out
}

fn describe(req: &Requirement) -> String {
    let mut s = String::new();
    if !req.extras.is_empty() {
        let extras: Vec<String> = req.extras.iter().map(ToString::to_string).collect();
        s.push_str(&format!("[{}]", extras.join(",")));
    }
    match &req.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(spec)) => s.push_str(&spec.to_string()),
        Some(VersionOrUrl::Url(url)) => s.push_str(&format!(" @ {url}")),
        None => {}
    }
    if let Some(marker) = req.marker.try_to_string() {
        s.push_str(&format!("; {marker}"));
    }
    if s.is_empty() {
        s.push_str("(any version)");
    }
    s
}

fn diff_dependencies(
    after: &[String],
    before: &[String],
    in_target: &impl Fn(&ProjectName) -> bool,
    notes: &mut Vec<String>,
) -> DependencyChanges {
    let mut changes = DependencyChanges::default();
    let new = group_requirements(after, |l| changes.unparsable.push(l.to_string()));
    let old = group_requirements(before, |_| {});
    for line in &changes.unparsable {
        notes.push(format!(
            "Requires-Dist {:?} is not a valid PEP 508 requirement; installers may reject or \
             misread it",
            line.chars().take(120).collect::<String>()
        ));
    }
    for (name, specs) in &new {
        if specs.iter().any(|s| s.contains(" @ ")) {
            notes.push(format!(
                "dependency {name} is a direct URL reference: installers fetch it from that \
                 URL, bypassing airlock"
            ));
        }
        let after: Vec<String> = specs.iter().cloned().collect();
        match old.get(name) {
            None => changes.added.push(DependencyChange {
                present_in_target: Some(ProjectName::new(name).is_ok_and(|p| in_target(&p))),
                name: name.clone(),
                before: Vec::new(),
                after,
            }),
            Some(old_specs) if old_specs != specs => changes.changed.push(DependencyChange {
                name: name.clone(),
                before: old_specs.iter().cloned().collect(),
                after,
                present_in_target: None,
            }),
            Some(_) => {}
        }
    }
    for (name, specs) in &old {
        if !new.contains_key(name) {
            changes.removed.push(DependencyChange {
                name: name.clone(),
                before: specs.iter().cloned().collect(),
                after: Vec::new(),
                present_in_target: None,
            });
        }
    }
    changes
}

/// Entry points of all wheels of a release, merged.
fn collect_entry_points(
    files: &[ReleaseFile],
    notes: &mut Vec<String>,
) -> BTreeMap<(String, String), String> {
    let mut out: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in files.iter().filter(|f| f.kind == DistKind::Wheel) {
        let Some(text) = &file.entry_points else {
            continue;
        };
        let parsed = parse_entry_points(text);
        for problem in parsed.problems {
            notes.push(format!("{} entry_points.txt {problem}", file.filename));
        }
        for (key, value) in parsed.entries {
            match out.get(&key) {
                Some(existing) if existing != &value => notes.push(format!(
                    "wheels disagree on entry point {} in [{}]: {existing:?} and {value:?}",
                    key.1, key.0
                )),
                Some(_) => {}
                None => {
                    out.insert(key, value);
                }
            }
        }
    }
    out
}

fn diff_entry_points(
    new: &BTreeMap<(String, String), String>,
    old: &BTreeMap<(String, String), String>,
) -> EntryPointChanges {
    let mut changes = EntryPointChanges::default();
    for ((group, name), value) in new {
        match old.get(&(group.clone(), name.clone())) {
            None => changes.added.push(EntryPoint {
                group: group.clone(),
                name: name.clone(),
                value: value.clone(),
            }),
            Some(before) if before != value => changes.changed.push(EntryPointChange {
                group: group.clone(),
                name: name.clone(),
                before: before.clone(),
                after: value.clone(),
            }),
            Some(_) => {}
        }
    }
    for ((group, name), value) in old {
        if !new.contains_key(&(group.clone(), name.clone())) {
            changes.removed.push(EntryPoint {
                group: group.clone(),
                name: name.clone(),
                value: value.clone(),
            });
        }
    }
    changes
}

fn diff_fields(before: &Meta, after: &Meta) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let fields: [(&str, &Option<String>, &Option<String>); 5] = [
        ("author", &before.author, &after.author),
        ("author_email", &before.author_email, &after.author_email),
        ("maintainer", &before.maintainer, &after.maintainer),
        (
            "maintainer_email",
            &before.maintainer_email,
            &after.maintainer_email,
        ),
        ("home_page", &before.home_page, &after.home_page),
    ];
    for (field, b, a) in fields {
        if b != a {
            out.push(FieldChange {
                field: field.to_string(),
                before: b.clone(),
                after: a.clone(),
            });
        }
    }
    let old: BTreeSet<&String> = before.project_urls.iter().collect();
    let new: BTreeSet<&String> = after.project_urls.iter().collect();
    for url in old.difference(&new) {
        out.push(FieldChange {
            field: "project_url".into(),
            before: Some((*url).clone()),
            after: None,
        });
    }
    for url in new.difference(&old) {
        out.push(FieldChange {
            field: "project_url".into(),
            before: None,
            after: Some((*url).clone()),
        });
    }
    out
}
