//! Dependencies of a release, as a push with dependencies sees them: which
//! `Requires-Dist` lines apply in the environments an index serves (PEP 508
//! markers evaluated for each declared Python version and platform), and
//! which available version satisfies what every dependent asks for. Pure:
//! callers pass the metadata and the version lists in.

use std::collections::BTreeMap;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VersionOrUrl};
use serde::Serialize;

use crate::names::ProjectName;
use crate::policy::EnvironmentsPolicy;

/// A platform an index's installers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub name: &'static str,
    sys_platform: &'static str,
    platform_system: &'static str,
    os_name: &'static str,
    machine: &'static str,
}

/// The platforms a policy may name.
pub const PLATFORMS: &[Platform] = &[
    Platform {
        name: "linux_x86_64",
        sys_platform: "linux",
        platform_system: "Linux",
        os_name: "posix",
        machine: "x86_64",
    },
    Platform {
        name: "linux_aarch64",
        sys_platform: "linux",
        platform_system: "Linux",
        os_name: "posix",
        machine: "aarch64",
    },
    Platform {
        name: "macos_arm64",
        sys_platform: "darwin",
        platform_system: "Darwin",
        os_name: "posix",
        machine: "arm64",
    },
    Platform {
        name: "macos_x86_64",
        sys_platform: "darwin",
        platform_system: "Darwin",
        os_name: "posix",
        machine: "x86_64",
    },
    Platform {
        name: "windows_amd64",
        sys_platform: "win32",
        platform_system: "Windows",
        os_name: "nt",
        machine: "AMD64",
    },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvironmentError {
    #[error("unknown platform {0:?}: use one of {names}", names = platform_names())]
    Platform(String),
    #[error("python version {0:?} must look like 3.12")]
    Python(String),
    #[error("environments must name at least one python version and one platform")]
    Empty,
}

fn platform_names() -> String {
    PLATFORMS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every (Python version × platform) combination an index serves.
#[derive(Debug, Clone)]
pub struct TargetEnvironments {
    envs: Vec<MarkerEnvironment>,
}

impl TargetEnvironments {
    pub fn new(policy: &EnvironmentsPolicy) -> Result<Self, EnvironmentError> {
        if policy.python.is_empty() || policy.platforms.is_empty() {
            return Err(EnvironmentError::Empty);
        }
        let mut envs = Vec::new();
        for py in &policy.python {
            let ok = py.split('.').count() == 2 && py.split('.').all(|p| p.parse::<u32>().is_ok());
            if !ok {
                return Err(EnvironmentError::Python(py.clone()));
            }
            let full = format!("{py}.0");
            for name in &policy.platforms {
                let p = PLATFORMS
                    .iter()
                    .find(|p| p.name == name)
                    .ok_or_else(|| EnvironmentError::Platform(name.clone()))?;
                let env = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
                    implementation_name: "cpython",
                    implementation_version: &full,
                    os_name: p.os_name,
                    platform_machine: p.machine,
                    platform_python_implementation: "CPython",
                    platform_release: "",
                    platform_system: p.platform_system,
                    platform_version: "",
                    python_full_version: &full,
                    python_version: py,
                    sys_platform: p.sys_platform,
                })
                .map_err(|_| EnvironmentError::Python(py.clone()))?;
                envs.push(env);
            }
        }
        Ok(Self { envs })
    }

    /// Does a requirement apply in at least one environment (extras are
    /// never requested)?
    fn applies(&self, req: &Requirement) -> bool {
        self.envs.iter().any(|e| req.evaluate_markers(e, &[]))
    }
}

/// A dependency a release needs in at least one target environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Needed {
    pub name: ProjectName,
    /// The version specifiers (`>=2,<3`; empty for any version).
    pub specifiers: String,
    /// A direct URL reference: installers fetch it from there, not from an
    /// index, so it cannot be pushed.
    pub url: bool,
}

impl Needed {
    fn specs(&self) -> VersionSpecifiers {
        VersionSpecifiers::from_str(&self.specifiers)
            .unwrap_or_else(|_| VersionSpecifiers::from_iter(Vec::new()))
    }
}

/// The dependencies of a release (its `Requires-Dist` lines) that apply in
/// `envs`. Lines that are not valid PEP 508 are skipped (the review notes
/// them).
pub fn needed(requires_dist: &[String], envs: &TargetEnvironments) -> Vec<Needed> {
    let mut out: BTreeMap<String, Needed> = BTreeMap::new();
    for line in requires_dist {
        let Ok(req) = Requirement::<pep508_rs::VerbatimUrl>::from_str(line) else {
            continue;
        };
        let plain = Requirement {
            name: req.name.clone(),
            extras: req.extras.clone(),
            version_or_url: None,
            marker: req.marker.clone(),
            origin: None,
        };
        if !envs.applies(&plain) {
            continue;
        }
        let Ok(name) = ProjectName::new(req.name.as_ref()) else {
            continue;
        };
        let (specifiers, url) = match &req.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(s)) => (s.to_string(), false),
            Some(VersionOrUrl::Url(_)) => (String::new(), true),
            None => (String::new(), false),
        };
        out.entry(name.as_str().to_string())
            .and_modify(|n| {
                // the same name on several lines (different markers): all apply
                if !specifiers.is_empty() {
                    n.specifiers = if n.specifiers.is_empty() {
                        specifiers.clone()
                    } else {
                        format!("{},{specifiers}", n.specifiers)
                    };
                }
                n.url |= url;
            })
            .or_insert(Needed {
                name,
                specifiers,
                url,
            });
    }
    out.into_values().collect()
}

/// The highest of `available` that satisfies every one of `wants` (final
/// releases preferred; a pre-release only when nothing else fits).
pub fn best_version<'a>(available: &'a [String], wants: &[&Needed]) -> Option<&'a str> {
    let specs: Vec<VersionSpecifiers> = wants.iter().map(|n| n.specs()).collect();
    let fits = |v: &Version| specs.iter().all(|s| s.contains(v));
    let parsed: Vec<(Version, &String)> = available
        .iter()
        .filter_map(|s| s.parse::<Version>().ok().map(|v| (v, s)))
        .filter(|(v, _)| fits(v))
        .collect();
    let best_final = parsed
        .iter()
        .filter(|(v, _)| !v.any_prerelease())
        .max_by(|a, b| a.0.cmp(&b.0));
    best_final
        .or_else(|| parsed.iter().max_by(|a, b| a.0.cmp(&b.0)))
        .map(|(_, s)| s.as_str())
}

/// Does any of `available` satisfy `want`?
pub fn satisfied(available: &[String], want: &Needed) -> bool {
    let specs = want.specs();
    available
        .iter()
        .filter_map(|s| s.parse::<Version>().ok())
        .any(|v| specs.contains(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs() -> TargetEnvironments {
        TargetEnvironments::new(&EnvironmentsPolicy::default()).unwrap()
    }

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn markers_are_evaluated_for_the_declared_environments() {
        let deps = needed(
            &lines(&[
                "idna<4,>=2.5",
                "charset-normalizer<4,>=2",
                "PySocks!=1.5.7,>=1.5.6; extra == \"socks\"",
                "colorama; sys_platform == \"win32\"",
                "tomli; python_version < \"3.8\"",
                "not a requirement ((",
            ]),
            &envs(),
        );
        let names: Vec<&str> = deps.iter().map(|d| d.name.as_str()).collect();
        // extras are never requested; python 3.7 is not a target by default;
        // win32 is
        assert_eq!(names, ["charset-normalizer", "colorama", "idna"]);
        let only_linux = TargetEnvironments::new(&EnvironmentsPolicy {
            python: vec!["3.12".into()],
            platforms: vec!["linux_x86_64".into()],
        })
        .unwrap();
        let deps = needed(
            &lines(&["colorama; sys_platform == \"win32\""]),
            &only_linux,
        );
        assert!(deps.is_empty());
    }

    #[test]
    fn the_highest_fitting_final_release_wins() {
        let avail = lines(&["1.0", "1.5", "2.0", "3.0a1"]);
        let a = Needed {
            name: ProjectName::new("x").unwrap(),
            specifiers: ">=1.2".into(),
            url: false,
        };
        let b = Needed {
            specifiers: "<3".into(),
            ..a.clone()
        };
        assert_eq!(best_version(&avail, &[&a, &b]), Some("2.0"));
        let pre = Needed {
            specifiers: ">=3.0a0".into(),
            ..a.clone()
        };
        assert_eq!(best_version(&avail, &[&pre]), Some("3.0a1"));
        let none = Needed {
            specifiers: ">=9".into(),
            ..a.clone()
        };
        assert_eq!(best_version(&avail, &[&none]), None);
        assert!(satisfied(&avail, &a) && !satisfied(&avail, &none));
    }

    #[test]
    fn bad_environments_are_refused() {
        let bad = |python: &[&str], platforms: &[&str]| {
            TargetEnvironments::new(&EnvironmentsPolicy {
                python: lines(python),
                platforms: lines(platforms),
            })
            .unwrap_err()
        };
        assert!(matches!(
            bad(&["3.12"], &["amiga"]),
            EnvironmentError::Platform(_)
        ));
        assert!(matches!(
            bad(&["three"], &["linux_x86_64"]),
            EnvironmentError::Python(_)
        ));
        assert_eq!(bad(&[], &["linux_x86_64"]), EnvironmentError::Empty);
    }
}
