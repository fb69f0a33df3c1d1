//! Evidence from upstream for a weak look-alike, at install time.
//!
//! A name alone cannot tell `textual-dev` (a companion of `textual` by its
//! own authors) from an attack with the same name. The upstream index can:
//! a typosquat is typically brand new, has one or two releases, and often
//! claims the popular project's repository as its own ("starjacking"); a
//! project that has shipped releases for years is not a typosquat.
//!
//! This module is pure: [`UpstreamFacts::from_pypi_json`] reads the facts
//! out of a PyPI JSON API document (`/pypi/<name>/json`) and [`weigh`]
//! decides. Fetching the document is the mirror's business.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

/// What upstream says about a candidate project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpstreamFacts {
    /// Unix seconds of its earliest uploaded file, if any.
    pub first_upload: Option<i64>,
    /// Releases that have at least one file.
    pub releases: usize,
    /// Files over all releases.
    pub files: usize,
    /// Source repositories its metadata points at, as `host/owner/repo`.
    pub repositories: BTreeSet<String>,
}

/// How upstream's facts weigh on a weak look-alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "decision", content = "why")]
pub enum Weight {
    /// An established project of its own: let it through.
    Established(String),
    /// Nothing speaks for it (or something speaks against it): refuse, as the name alone would.
    Suspicious(String),
}

/// Seconds in a day.
const DAY: i64 = 86_400;
/// A weak look-alike is let through only when it has shipped files for at
/// least this long...
pub const MIN_AGE_DAYS: i64 = 365;
/// ...in at least this many releases.
pub const MIN_RELEASES: usize = 5;
/// A project whose metadata claims the popular project's repository is let
/// through only when it is this old and this busy (a long-lived alias or
/// companion published by the same people).
pub const MIN_AGE_DAYS_CLAIMING_TARGET: i64 = 3 * 365;
pub const MIN_RELEASES_CLAIMING_TARGET: usize = 20;

/// Decide on a weak look-alike from upstream's facts about it and the
/// repositories of the project it resembles (empty when unknown), at `now`
/// (Unix seconds). Strong look-alikes never get here: they are refused on
/// the name alone.
pub fn weigh(facts: &UpstreamFacts, target_repositories: &BTreeSet<String>, now: i64) -> Weight {
    if facts.files == 0 {
        return Weight::Suspicious("upstream has no files for it".into());
    }
    let age_days = facts
        .first_upload
        .map_or(0, |t| now.saturating_sub(t).max(0) / DAY);
    let claims_target = facts
        .repositories
        .iter()
        .any(|r| target_repositories.contains(r));
    let history = format!(
        "first upload {age_days} days ago, {} release{}",
        facts.releases,
        if facts.releases == 1 { "" } else { "s" }
    );
    if claims_target {
        return if age_days >= MIN_AGE_DAYS_CLAIMING_TARGET
            && facts.releases >= MIN_RELEASES_CLAIMING_TARGET
        {
            Weight::Established(format!(
                "upstream: {history}; it names the popular project's repository, but has done so for years"
            ))
        } else {
            Weight::Suspicious(format!(
                "upstream: {history}, and it names the popular project's repository as its own"
            ))
        };
    }
    if age_days >= MIN_AGE_DAYS && facts.releases >= MIN_RELEASES {
        Weight::Established(format!("upstream: {history}: an established project"))
    } else {
        Weight::Suspicious(format!(
            "upstream: {history} (established means {MIN_RELEASES}+ releases over {MIN_AGE_DAYS}+ days)"
        ))
    }
}

impl UpstreamFacts {
    /// The facts in a PyPI JSON API document (`/pypi/<name>/json`).
    /// Unknown or malformed parts count as absent.
    pub fn from_pypi_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        let doc: Value = serde_json::from_slice(body)?;
        let mut facts = UpstreamFacts::default();
        if let Some(releases) = doc.get("releases").and_then(Value::as_object) {
            for files in releases.values().filter_map(Value::as_array) {
                let uploaded: Vec<i64> = files.iter().filter_map(upload_time).collect();
                if files.is_empty() {
                    continue;
                }
                facts.releases += 1;
                facts.files += files.len();
                if let Some(first) = uploaded.into_iter().min() {
                    facts.first_upload = Some(facts.first_upload.map_or(first, |f| f.min(first)));
                }
            }
        }
        if let Some(info) = doc.get("info") {
            let urls = info
                .get("project_urls")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values())
                .chain(info.get("home_page"))
                .chain(info.get("download_url"))
                .filter_map(Value::as_str);
            facts.repositories = urls.filter_map(repository_of).collect();
        }
        Ok(facts)
    }
}

/// `upload_time_iso_8601` (or `upload_time`) of one file, in Unix seconds.
fn upload_time(file: &Value) -> Option<i64> {
    let text = file
        .get("upload_time_iso_8601")
        .or_else(|| file.get("upload_time"))
        .and_then(Value::as_str)?;
    parse_utc(text)
}

/// `2014-05-01T12:30:00[.123456][Z]` → Unix seconds (UTC).
fn parse_utc(text: &str) -> Option<i64> {
    let num = |s: &str| s.parse::<i64>().ok();
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let clock = time.get(..8)?;
    let mut t = clock.splitn(3, ':');
    let (h, min, s) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant's formula.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * DAY + h * 3600 + min * 60 + s)
}

/// `https://github.com/Owner/Repo.git/tree/main` → `github.com/owner/repo`,
/// for the hosts where the first two path parts name a repository.
pub fn repository_of(url: &str) -> Option<String> {
    let rest = url
        .trim()
        .strip_prefix("https://")
        .or_else(|| url.trim().strip_prefix("http://"))?;
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let mut parts = rest.split(['/', '?', '#']).filter(|p| !p.is_empty());
    let host = parts.next()?.to_ascii_lowercase();
    if !matches!(
        host.as_str(),
        "github.com" | "gitlab.com" | "bitbucket.org" | "codeberg.org"
    ) {
        return None;
    }
    let owner = parts.next()?.to_ascii_lowercase();
    let repo = parts.next()?.to_ascii_lowercase();
    let repo = repo.strip_suffix(".git").unwrap_or(&repo).to_string();
    (!owner.is_empty() && !repo.is_empty()).then(|| format!("{host}/{owner}/{repo}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000; // 2026-05-28

    fn facts(age_days: i64, releases: usize, repos: &[&str]) -> UpstreamFacts {
        UpstreamFacts {
            first_upload: Some(NOW - age_days * DAY),
            releases,
            files: releases * 2,
            repositories: repos.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn young_or_thin_projects_stay_suspicious_old_busy_ones_pass() {
        let none = BTreeSet::new();
        assert!(matches!(
            weigh(&facts(2, 1, &[]), &none, NOW),
            Weight::Suspicious(_)
        ));
        assert!(matches!(
            weigh(&facts(3650, 80, &[]), &none, NOW),
            Weight::Established(_)
        ));
        assert!(matches!(
            weigh(&facts(3650, 2, &[]), &none, NOW),
            Weight::Suspicious(_)
        ));
        assert!(matches!(
            weigh(&facts(200, 30, &[]), &none, NOW),
            Weight::Suspicious(_)
        ));
        assert!(matches!(
            weigh(&UpstreamFacts::default(), &none, NOW),
            Weight::Suspicious(_)
        ));
    }

    #[test]
    fn claiming_the_targets_repository_needs_a_long_history() {
        let target: BTreeSet<String> = ["github.com/psf/requests".to_string()].into();
        let claim = ["github.com/psf/requests"];
        assert!(matches!(
            weigh(&facts(800, 12, &claim), &target, NOW),
            Weight::Suspicious(why) if why.contains("repository")
        ));
        assert!(matches!(
            weigh(&facts(4000, 60, &claim), &target, NOW),
            Weight::Established(_)
        ));
        // Its own repository is no claim.
        assert!(matches!(
            weigh(
                &facts(800, 12, &["github.com/someone/requests-dev"]),
                &target,
                NOW
            ),
            Weight::Established(_)
        ));
    }

    #[test]
    fn reads_facts_from_a_pypi_json_document() {
        let doc = br#"{
          "info": {"home_page": "https://github.com/Textualize/textual-dev",
                   "project_urls": {"Source": "https://github.com/Textualize/Textual-Dev.git", "Docs": "https://textual.textualize.io"}},
          "releases": {
            "0.1.0": [{"upload_time_iso_8601": "2022-11-03T10:00:00.123456Z"}],
            "1.0.0": [{"upload_time_iso_8601": "2023-05-01T00:00:00Z"}, {"upload_time": "2023-05-01T00:00:05"}],
            "1.0.1": []
          }
        }"#;
        let f = UpstreamFacts::from_pypi_json(doc).unwrap();
        assert_eq!(f.releases, 2);
        assert_eq!(f.files, 3);
        assert_eq!(f.first_upload, parse_utc("2022-11-03T10:00:00"));
        assert_eq!(
            f.repositories,
            ["github.com/textualize/textual-dev".to_string()].into()
        );
        assert!(UpstreamFacts::from_pypi_json(b"not json").is_err());
        assert_eq!(
            UpstreamFacts::from_pypi_json(b"{}").unwrap(),
            UpstreamFacts::default()
        );
    }

    #[test]
    fn dates_and_repository_urls() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2000-03-01T00:00:01"), Some(951_868_801));
        assert_eq!(parse_utc("2024-13-01T00:00:00"), None);
        assert_eq!(parse_utc("garbage"), None);
        assert_eq!(
            repository_of("https://www.github.com/PSF/requests/tree/main").as_deref(),
            Some("github.com/psf/requests")
        );
        assert_eq!(repository_of("https://requests.readthedocs.io"), None);
        assert_eq!(repository_of("https://github.com/psf"), None);
        assert_eq!(repository_of("ftp://github.com/a/b"), None);
    }
}

/// The hand-built set of upstream facts (`bench/typo_eval/evidence-facts.tsv`):
/// every attack stays refused, most false alarms of the name rules pass.
#[cfg(test)]
mod measured {
    use super::*;

    #[test]
    fn labelled_upstream_facts() {
        let now = parse_utc("2026-12-01T00:00:00").unwrap();
        let data = include_str!("../../bench/typo_eval/evidence-facts.tsv");
        let (mut attacks, mut attacks_refused, mut legit, mut legit_passed) = (0, 0, 0, 0);
        for line in data
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let cols: Vec<&str> = line.split('\t').collect();
            let [name, label, first, releases, files, repo, target_repo] = cols[..] else {
                panic!("bad line {line:?}");
            };
            let facts = UpstreamFacts {
                first_upload: parse_utc(&format!("{first}T00:00:00")),
                releases: releases.parse().unwrap(),
                files: files.parse().unwrap(),
                repositories: [repo]
                    .iter()
                    .filter(|r| !r.is_empty())
                    .map(|r| r.to_string())
                    .collect(),
            };
            let target: BTreeSet<String> = [target_repo.to_string()].into();
            let w = weigh(&facts, &target, now);
            let passed = matches!(w, Weight::Established(_));
            eprintln!(
                "{name}\t{label}\t{}",
                if passed { "let through" } else { "refused" }
            );
            if label == "attack" {
                attacks += 1;
                attacks_refused += usize::from(!passed);
            } else {
                legit += 1;
                legit_passed += usize::from(passed);
            }
        }
        eprintln!("attacks refused {attacks_refused}/{attacks}, false alarms let through {legit_passed}/{legit}");
        assert_eq!(attacks_refused, attacks, "no attack may pass on evidence");
        assert!(legit_passed * 10 >= legit * 7, "{legit_passed}/{legit}");
    }
}
