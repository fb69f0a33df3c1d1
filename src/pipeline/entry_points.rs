//! `entry_points.txt`: the INI file in a wheel's `.dist-info` that declares
//! console scripts and plugin hooks. A new console script is a new command
//! on every machine the release is installed on, so reviews show them.

use std::collections::BTreeMap;

/// Most entries read from one file; more is noted, not parsed.
const MAX_ENTRIES: usize = 10_000;

/// Parsed entry points: `(group, name) → value`, plus what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryPoints {
    pub entries: BTreeMap<(String, String), String>,
    /// One sentence per line that is not `[group]`, `name = value`, a
    /// comment or blank.
    pub problems: Vec<String>,
}

/// Parse `entry_points.txt` (sections of `name = value`, `#`/`;` comments,
/// indented continuation lines). Never fails: oddities become `problems`.
pub fn parse_entry_points(text: &str) -> EntryPoints {
    let mut out = EntryPoints::default();
    let mut group: Option<String> = None;
    let mut last: Option<(String, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        if indented {
            if let Some(value) = last.as_ref().and_then(|k| out.entries.get_mut(k)) {
                value.push(' ');
                value.push_str(line);
                continue;
            }
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            group = Some(name.trim().to_string());
            last = None;
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            out.problems.push(format!(
                "line {line_no}: {:?} is not NAME = VALUE",
                clip(line)
            ));
            continue;
        };
        let Some(g) = &group else {
            out.problems
                .push(format!("line {line_no}: entry point outside any [group]"));
            continue;
        };
        if out.entries.len() >= MAX_ENTRIES {
            out.problems.push(format!(
                "more than {MAX_ENTRIES} entry points; the rest were not read"
            ));
            break;
        }
        let key = (g.clone(), name.trim().to_string());
        out.entries.insert(key.clone(), value.trim().to_string());
        last = Some(key);
    }
    out
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<(String, String, String)> {
        parse_entry_points(text)
            .entries
            .into_iter()
            .map(|((g, n), v)| (g, n, v))
            .collect()
    }

    #[test]
    fn parses_groups_and_entries() {
        type Triple<'a> = (&'a str, &'a str, &'a str);
        let cases: &[(&str, &[Triple<'_>])] = &[
            ("", &[]),
            (
                "[console_scripts]\nfoo = foo.cli:main\nbar=bar:run [extra]\n",
                &[
                    ("console_scripts", "bar", "bar:run [extra]"),
                    ("console_scripts", "foo", "foo.cli:main"),
                ],
            ),
            (
                "# comment\n; other\n[a]\nx = m:f\n\n[ b ]\nx = m:g\n",
                &[("a", "x", "m:f"), ("b", "x", "m:g")],
            ),
            ("[a]\nx = m:\n  f\n", &[("a", "x", "m: f")]),
            ("[a]\nx = 1\nx = 2\n", &[("a", "x", "2")]),
        ];
        for (text, expected) in cases {
            let expected: Vec<(String, String, String)> = expected
                .iter()
                .map(|(g, n, v)| (g.to_string(), n.to_string(), v.to_string()))
                .collect();
            assert_eq!(entries(text), expected, "{text:?}");
            assert!(parse_entry_points(text).problems.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn oddities_become_problems() {
        for (text, fragment) in [
            ("x = m:f\n", "outside any [group]"),
            ("[a]\njust words\n", "is not NAME = VALUE"),
            ("  indented = before anything\n", "outside any [group]"),
        ] {
            let parsed = parse_entry_points(text);
            assert!(parsed.entries.is_empty(), "{text:?}");
            assert!(
                parsed.problems.iter().any(|p| p.contains(fragment)),
                "{text:?}: {:?}",
                parsed.problems
            );
        }
        let many: String = std::iter::once("[g]\n".to_string())
            .chain((0..MAX_ENTRIES + 5).map(|i| format!("n{i} = m:f\n")))
            .collect();
        let parsed = parse_entry_points(&many);
        assert_eq!(parsed.entries.len(), MAX_ENTRIES);
        assert_eq!(parsed.problems.len(), 1);
    }
}
