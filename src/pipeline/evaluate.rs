//! Deciding a push: the target's `require` checks applied to a [`Review`].
//!
//! Checks that did not run count as failures (fail closed): a policy that
//! requires a typosquat check is never satisfied by a review where nobody
//! looked.

use serde::Serialize;

use crate::dist::DistKind;
use crate::policy::RequirePolicy;

use super::review::Review;

const DAY: i64 = 86_400;

/// The outcome of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Every check passed and enough approvals were given.
    Land,
    /// Every check passed; `needed` more approvals are required.
    Pending { needed: usize },
    /// At least one check failed; each reason is one sentence.
    Refuse { reasons: Vec<String> },
}

/// Apply `require` to `review`, given `approvals` distinct approvals so far
/// and the current time `now` (Unix seconds; age checks are measured at
/// decision time, so a pending push can pass its cool-down later).
pub fn evaluate(review: &Review, require: &RequirePolicy, approvals: usize, now: i64) -> Decision {
    let mut reasons = Vec::new();
    let project = &review.project;

    if require.tests_passed {
        if !review.tests.checked {
            reasons.push(format!(
                "{project} {} has no recorded test results, and this index requires passing \
                 tests",
                review.version
            ));
        } else if review.tests.trusted_runs == 0 {
            let posters: Vec<String> = review
                .tests
                .runs
                .iter()
                .map(|r| {
                    r.posted_by
                        .clone()
                        .unwrap_or_else(|| "anonymous".to_string())
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            reasons.push(format!(
                "none of the {} recorded test run(s) of {project} {} was posted by an identity \
                 this index trusts (posted by: {}); anonymous results never count, and \
                 require.tests_passed_by names who does",
                review.tests.runs.len(),
                review.version,
                posters.join(", ")
            ));
        } else if !review.tests.passed {
            let summary = review.tests.summary.as_deref().unwrap_or("no summary");
            reasons.push(format!(
                "the tests of {project} {} failed ({summary}); this index requires passing tests",
                review.version
            ));
        }
    }

    if require.no_typosquat {
        let t = &review.typosquat;
        if !t.checked {
            reasons.push(format!(
                "the typosquat check of {project} did not run, and this index requires it"
            ));
        } else if t.suspicious {
            let target = t.target.as_deref().unwrap_or("a protected project");
            let why = t.reason.as_deref().unwrap_or("it looks alike");
            reasons.push(format!(
                "the name {project} imitates {target} ({why}); this index refuses look-alike \
                 names (an administrator can allow the name if it is legitimate)"
            ));
        }
    }

    if require.no_shadowing {
        let s = &review.shadowing;
        if !s.checked {
            reasons.push(format!(
                "the shadowing check of {project} did not run, and this index requires it"
            ));
        } else if let Some(other) = &s.shadowed_by {
            reasons.push(format!(
                "{project} also exists in {other}, which this index's installers could resolve \
                 instead (dependency confusion); rename the project or remove the other source"
            ));
        }
    }

    age_reasons(review, require, now, &mut reasons);

    if !require.allowed_licenses.is_empty() {
        if let Err(reason) = license_allowed(review, &require.allowed_licenses) {
            reasons.push(reason);
        }
    }

    if require.wheels_only {
        let sdists: Vec<&str> = review
            .files
            .iter()
            .filter(|f| f.kind == DistKind::Sdist)
            .map(|f| f.filename.as_str())
            .collect();
        if review.files.is_empty() {
            reasons.push(format!("{project} {} has no files to push", review.version));
        } else if !sdists.is_empty() {
            reasons.push(format!(
                "this index accepts wheels only, but the release contains the sdist(s) {} \
                 (installing an sdist runs its build code); push the wheels alone",
                sdists.join(", ")
            ));
        }
    }

    if require.dependencies_present && !review.missing_dependencies.is_empty() {
        reasons.push(format!(
            "this index requires every dependency to be installable from it, and after this \
             push it would miss {}; push with --with-deps, or push them first",
            review.missing_dependencies.join(", ")
        ));
    }

    if !reasons.is_empty() {
        return Decision::Refuse { reasons };
    }
    let required = require.approvals as usize;
    if approvals < required {
        Decision::Pending {
            needed: required - approvals,
        }
    } else {
        Decision::Land
    }
}

fn age_reasons(review: &Review, require: &RequirePolicy, now: i64, reasons: &mut Vec<String>) {
    if require.min_age_days == 0 && require.max_age_days == 0 {
        return;
    }
    let Some(published) = review.published else {
        reasons.push(format!(
            "the publication time of {} {} is unknown, so its age cannot be checked against \
             this index's limits",
            review.project, review.version
        ));
        return;
    };
    let age = now.saturating_sub(published);
    let days = age.div_euclid(DAY);
    if require.min_age_days > 0 {
        let min = i64::from(require.min_age_days) * DAY;
        if age < min {
            reasons.push(format!(
                "{} {} was published {} ago; this index requires a cool-down of {} days, so it \
                 can be pushed from {}",
                review.project,
                review.version,
                describe_days(days),
                require.min_age_days,
                format_date(published.saturating_add(min))
            ));
        }
    }
    if require.max_age_days > 0 && age > i64::from(require.max_age_days) * DAY {
        reasons.push(format!(
            "{} {} was published {} ago; this index accepts releases at most {} days old",
            review.project,
            review.version,
            describe_days(days),
            require.max_age_days
        ));
    }
}

fn describe_days(days: i64) -> String {
    match days {
        d if d < 1 => "less than a day".to_string(),
        1 => "1 day".to_string(),
        d => format!("{d} days"),
    }
}

fn format_date(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| format!("Unix time {unix}"))
}

/// A License-Expression passes when every license identifier in it is
/// allowed (exceptions after WITH only add permissions and are not checked);
/// without one, the License field must equal an allowed entry. Comparisons
/// ignore ASCII case, as SPDX identifiers do.
fn license_allowed(review: &Review, allowed: &[String]) -> Result<(), String> {
    let is_allowed = |id: &str| allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(id));
    let name = format!("{} {}", review.project, review.version);
    if let Some(expr) = review.license.license_expression.as_deref() {
        let ids = license_identifiers(expr);
        if !ids.is_empty() {
            let refused: Vec<&str> = ids.into_iter().filter(|id| !is_allowed(id)).collect();
            if refused.is_empty() {
                return Ok(());
            }
            return Err(format!(
                "{name} is licensed {expr:?}; {} not among this index's allowed licenses ({})",
                describe_list(&refused),
                allowed.join(", ")
            ));
        }
    }
    match review.license.license.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => {
            if is_allowed(text) {
                Ok(())
            } else {
                Err(format!(
                    "{name} declares the license {:?}, which is not among this index's allowed \
                     licenses ({}); a License-Expression with SPDX identifiers would be checked \
                     identifier by identifier",
                    text.chars().take(80).collect::<String>(),
                    allowed.join(", ")
                ))
            }
        }
        _ => Err(format!(
            "{name} declares no license, and this index accepts only {}",
            allowed.join(", ")
        )),
    }
}

fn describe_list(ids: &[&str]) -> String {
    match ids {
        [one] => format!("{one} is"),
        many => format!("{} are", many.join(", ")),
    }
}

/// The license identifiers of an SPDX expression: operands of AND / OR,
/// without parentheses and without the exception after WITH.
pub(super) fn license_identifiers(expr: &str) -> Vec<&str> {
    let mut ids = Vec::new();
    let mut after_with = false;
    for token in expr
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|t| !t.is_empty())
    {
        if after_with {
            after_with = false;
            continue;
        }
        match token.to_ascii_uppercase().as_str() {
            "AND" | "OR" => {}
            "WITH" => after_with = true,
            _ => ids.push(token),
        }
    }
    ids
}
