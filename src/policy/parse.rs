//! Reading one policy file: TOML → raw serde structs (unknown keys refused)
//! → validated [`IndexPolicy`] values, every error tied to `file:line:col`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::auth::proxy::valid_group_name;
use crate::index::config::{
    acl_group, IndexKind, ACL_ANONYMOUS, ACL_AUTHENTICATED, ACL_GROUP_PREFIX,
};
use crate::names::{IndexPath, ProjectName, UserName};

use super::location::Location;
use super::model::{
    AuthRequirements, EnvironmentsPolicy, IndexPolicy, RequirePolicy, TyposquatMode,
    TyposquatSettings,
};
use super::PolicyError;

/// Longest `allowed_licenses` entry accepted.
const MAX_LICENSE_LEN: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    typosquat: Option<Spanned<RawTyposquat>>,
    #[serde(default)]
    index: BTreeMap<Spanned<String>, Spanned<RawIndex>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTyposquat {
    protect_top: Option<usize>,
    mode: Option<TyposquatMode>,
    allow: Option<Vec<ProjectName>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndex {
    #[serde(rename = "type")]
    kind: Option<IndexKind>,
    production: Option<bool>,
    bases: Option<Vec<Spanned<IndexPath>>>,
    volatile: Option<Spanned<bool>>,
    uploads: Option<Spanned<bool>>,
    accepts_push_from: Option<Spanned<Vec<Spanned<IndexPath>>>>,
    upload_users: Option<Vec<Spanned<String>>>,
    push_users: Option<Vec<Spanned<String>>>,
    approve_users: Option<Vec<Spanned<String>>>,
    toxresult_users: Option<Vec<Spanned<String>>>,
    auth: Option<AuthRequirements>,
    typosquat: Option<TyposquatMode>,
    require: Option<Spanned<RequirePolicy>>,
    environments: Option<Spanned<EnvironmentsPolicy>>,
}

/// One file, parsed and validated on its own (cross-file checks are the
/// caller's).
pub(super) struct ParsedFile {
    pub typosquat: Option<(TyposquatSettings, Location)>,
    pub indexes: Vec<IndexPolicy>,
}

pub(super) fn parse_file(name: &str, text: &str) -> Result<ParsedFile, PolicyError> {
    let at = |offset: usize| Location::at(name, text, offset);
    let invalid = |offset: usize, message: String| PolicyError::Invalid {
        location: at(offset),
        message,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        invalid(offset, e.message().trim_end().to_string())
    })?;

    let typosquat = raw.typosquat.map(|t| {
        let location = at(t.span().start);
        let t = t.into_inner();
        let defaults = TyposquatSettings::default();
        let settings = TyposquatSettings {
            protect_top: t.protect_top.unwrap_or(defaults.protect_top),
            mode: t.mode.unwrap_or(defaults.mode),
            allow: t.allow.unwrap_or_default(),
        };
        (settings, location)
    });

    let mut indexes = Vec::new();
    for (key, table) in raw.index {
        let path = IndexPath::parse(key.get_ref()).map_err(|e| {
            invalid(
                key.span().start,
                format!("the index name in [index.\"...\"] must be USER/INDEX: {e}"),
            )
        })?;
        if key.get_ref().trim_matches('/') != key.get_ref() {
            return Err(invalid(
                key.span().start,
                format!("write the index as {path:?} without leading or trailing '/'"),
            ));
        }
        let defined_at = at(key.span().start);
        let table_start = table.span().start;
        indexes.push(validate_index(
            path,
            defined_at,
            table_start,
            table.into_inner(),
            &invalid,
        )?);
    }
    Ok(ParsedFile { typosquat, indexes })
}

fn validate_index(
    path: IndexPath,
    defined_at: Location,
    table_start: usize,
    raw: RawIndex,
    invalid: &impl Fn(usize, String) -> PolicyError,
) -> Result<IndexPolicy, PolicyError> {
    let kind = raw.kind.unwrap_or(IndexKind::Stage);
    let production = raw.production.unwrap_or(false);
    let is_mirror = kind == IndexKind::Mirror;

    if is_mirror && production {
        return Err(invalid(
            table_start,
            format!(
                "{path} is a mirror and cannot be a production index: production indexes hold \
                 only releases pushed into them"
            ),
        ));
    }
    let bases = spanned_paths(raw.bases.unwrap_or_default());
    if let Some((_, offset)) = bases.first().filter(|_| is_mirror) {
        return Err(invalid(
            *offset,
            format!("{path} is a mirror; a mirror cannot have bases"),
        ));
    }
    if let Some((_, offset)) = bases.iter().find(|(b, _)| b == &path) {
        return Err(invalid(*offset, format!("{path} cannot be its own base")));
    }
    let accepts = match raw.accepts_push_from {
        Some(list) if is_mirror => {
            return Err(invalid(
                list.span().start,
                format!("{path} is a mirror; nothing can be pushed into a mirror"),
            ))
        }
        Some(list) => spanned_paths(list.into_inner()),
        None => Vec::new(),
    };
    if let Some((_, offset)) = accepts.iter().find(|(b, _)| b == &path) {
        return Err(invalid(
            *offset,
            format!("{path} cannot accept pushes from itself"),
        ));
    }
    if let (true, Some(require)) = (is_mirror, &raw.require) {
        return Err(invalid(
            require.span().start,
            format!("{path} is a mirror; push requirements apply only to stage indexes"),
        ));
    }

    let volatile = match raw.volatile {
        Some(v) if production && *v.get_ref() => {
            return Err(invalid(
                v.span().start,
                format!(
                    "{path} is a production index and cannot be volatile: released files in \
                     production must never be overwritten or deleted"
                ),
            ))
        }
        Some(v) => v.into_inner(),
        None => !production && !is_mirror,
    };
    let uploads = match raw.uploads {
        Some(u) if is_mirror && *u.get_ref() => {
            return Err(invalid(
                u.span().start,
                format!("{path} is a mirror; nothing can be uploaded into a mirror"),
            ))
        }
        Some(u) => u.into_inner(),
        None => !production && !is_mirror,
    };

    let owner = || vec![path.user.as_str().to_string()];
    let upload_users = user_list("upload_users", raw.upload_users, invalid)?.unwrap_or_else(owner);
    let push_users = user_list("push_users", raw.push_users, invalid)?.unwrap_or_else(owner);
    let approve_users =
        user_list("approve_users", raw.approve_users, invalid)?.unwrap_or_else(owner);
    // Test results are the one write anonymous callers may make, and only
    // where the policy says so explicitly.
    let toxresult_users = match raw.toxresult_users {
        Some(list) => {
            let anonymous = list.iter().any(|e| e.get_ref() == ACL_ANONYMOUS);
            let named: Vec<Spanned<String>> = list
                .into_iter()
                .filter(|e| e.get_ref() != ACL_ANONYMOUS)
                .collect();
            let mut users = user_list("toxresult_users", Some(named), invalid)?.unwrap_or_default();
            if anonymous {
                users.push(ACL_ANONYMOUS.to_string());
            }
            users
        }
        None => upload_users.clone(),
    };

    let require = match raw.require {
        Some(r) => {
            let offset = r.span().start;
            let require = r.into_inner();
            validate_require(&path, &require, &approve_users)
                .map_err(|message| invalid(offset, message))?;
            require
        }
        None => RequirePolicy::default(),
    };
    let environments = match raw.environments {
        Some(e) => {
            let offset = e.span().start;
            let e = e.into_inner();
            crate::pipeline::deps::TargetEnvironments::new(&e)
                .map_err(|err| invalid(offset, format!("{path}: environments: {err}")))?;
            e
        }
        None => EnvironmentsPolicy::default(),
    };

    Ok(IndexPolicy {
        kind,
        production,
        bases: bases.into_iter().map(|(b, _)| b).collect(),
        volatile,
        uploads,
        accepts_push_from: accepts.into_iter().map(|(b, _)| b).collect(),
        upload_users,
        push_users,
        approve_users,
        toxresult_users,
        auth: raw.auth.unwrap_or_default(),
        typosquat: raw.typosquat,
        require,
        environments,
        defined_at,
        path,
    })
}

fn spanned_paths(list: Vec<Spanned<IndexPath>>) -> Vec<(IndexPath, usize)> {
    let mut out: Vec<(IndexPath, usize)> = Vec::new();
    for item in list {
        let offset = item.span().start;
        let p = item.into_inner();
        if !out.iter().any(|(q, _)| q == &p) {
            out.push((p, offset));
        }
    }
    out
}

/// A list of user names, `:group:NAME` (groups from the trusted front proxy)
/// or `:AUTHENTICATED:`; `:ANONYMOUS:` is refused because every list here
/// grants a write.
fn user_list(
    key: &str,
    list: Option<Vec<Spanned<String>>>,
    invalid: &impl Fn(usize, String) -> PolicyError,
) -> Result<Option<Vec<String>>, PolicyError> {
    let Some(list) = list else {
        return Ok(None);
    };
    let mut out: Vec<String> = Vec::new();
    for entry in list {
        let offset = entry.span().start;
        let name = entry.into_inner();
        if name == ACL_ANONYMOUS {
            return Err(invalid(
                offset,
                format!(
                    "{key} cannot contain {ACL_ANONYMOUS}: anonymous callers may never write; \
                     use {ACL_AUTHENTICATED} for any logged-in user"
                ),
            ));
        }
        let name = match acl_group(&name) {
            Some(group) if valid_group_name(group) => format!("{ACL_GROUP_PREFIX}{group}"),
            Some(_) => {
                return Err(invalid(
                    offset,
                    format!(
                        "{key}: {name:?} is not a valid group entry: {ACL_GROUP_PREFIX}NAME, \
                         NAME 1-64 of A-Z a-z 0-9 . _ -"
                    ),
                ))
            }
            None => name,
        };
        if name != ACL_AUTHENTICATED && acl_group(&name).is_none() && UserName::new(&name).is_err()
        {
            return Err(invalid(
                offset,
                format!(
                    "{key}: {name:?} is neither a user name, {ACL_GROUP_PREFIX}GROUP nor \
                     {ACL_AUTHENTICATED}"
                ),
            ));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(Some(out))
}

fn validate_require(
    path: &IndexPath,
    require: &RequirePolicy,
    approve_users: &[String],
) -> Result<(), String> {
    if require.min_age_days > 0
        && require.max_age_days > 0
        && require.min_age_days > require.max_age_days
    {
        return Err(format!(
            "{path}: min_age_days = {} is larger than max_age_days = {}, so no release could \
             ever be pushed",
            require.min_age_days, require.max_age_days
        ));
    }
    // `:AUTHENTICATED:` and a group can stand for any number of people
    let approvers_unbounded = approve_users
        .iter()
        .any(|u| u == ACL_AUTHENTICATED || acl_group(u).is_some());
    if require.approvals > 0 && !approvers_unbounded {
        let possible = approve_users.len();
        if (require.approvals as usize) > possible {
            return Err(format!(
                "{path}: approvals = {} can never be met: approve_users lists only {possible} \
                 user(s); lower approvals or add approvers",
                require.approvals
            ));
        }
    }
    for who in &require.tests_passed_by {
        let fingerprint = who.strip_prefix("cert:");
        let valid = match fingerprint {
            Some(fp) => fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()),
            None => UserName::new(who).is_ok(),
        };
        if !valid {
            return Err(format!(
                "{path}: tests_passed_by entry {:?} must be a user name or cert:SHA256 (the 64 \
                 hex digits of a client certificate's fingerprint); {ACL_ANONYMOUS} and \
                 {ACL_AUTHENTICATED} are not accepted: name who is trusted",
                who.chars().take(80).collect::<String>()
            ));
        }
    }
    for license in &require.allowed_licenses {
        let trimmed = license.trim();
        if trimmed.is_empty()
            || trimmed.len() > MAX_LICENSE_LEN
            || trimmed.chars().any(char::is_control)
        {
            return Err(format!(
                "{path}: allowed_licenses entry {:?} must be a non-empty SPDX identifier or \
                 license text of at most {MAX_LICENSE_LEN} characters",
                license.chars().take(40).collect::<String>()
            ));
        }
    }
    Ok(())
}
