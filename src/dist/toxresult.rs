//! Test results: the JSON report `tox --result-json` writes and `devpi test`
//! posts to a release file. Validated for the shape devpi clients read back
//! (`host`, `platform`, `testenvs.<env>.setup|test[].retcode`,
//! `testenvs.<env>.python.version`) and summarised per environment.
//!
//! Pure functions, no I/O: the registry stores what [`summarize`] accepted,
//! and later checks (push review, `tests_passed`) read the summaries.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest accepted report, bytes (a tox report with captured output).
pub const MAX_TOXRESULT_BYTES: usize = 1024 * 1024;
/// Most environments one report may describe.
pub const MAX_ENVS: usize = 256;

/// How one tox environment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvOutcome {
    /// Setup succeeded and every test command returned 0.
    Passed,
    /// A setup command (creating the env, installing the package) failed.
    SetupFailed,
    /// A test command returned non-zero.
    TestsFailed,
    /// Setup succeeded but no test command ran (e.g. tox's `.pkg` env).
    NoTests,
}

/// One environment of a tox report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSummary {
    /// The tox environment name (`py311`, `.pkg`).
    pub env: String,
    /// The machine the tests ran on, as reported.
    pub host: String,
    /// `sys.platform` of that machine, as reported (`linux`, `win32`).
    pub platform: String,
    /// The interpreter version (`3.11.9`), if the report names one.
    pub python: Option<String>,
    pub outcome: EnvOutcome,
}

impl EnvSummary {
    pub fn passed(&self) -> bool {
        self.outcome == EnvOutcome::Passed
    }

    /// tox's own packaging environments (`.pkg`, `.pkg_external`) build
    /// the package and run no tests.
    pub fn is_packaging(&self) -> bool {
        self.env.starts_with('.')
    }
}

/// Whether a run counts as passed: at least one test environment ran, every
/// test environment passed, and no packaging environment failed.
pub fn run_passed(envs: &[EnvSummary]) -> bool {
    let (packaging, tests): (Vec<&EnvSummary>, Vec<&EnvSummary>) =
        envs.iter().partition(|e| e.is_packaging());
    !tests.is_empty()
        && tests.iter().all(|e| e.passed())
        && packaging
            .iter()
            .all(|e| matches!(e.outcome, EnvOutcome::Passed | EnvOutcome::NoTests))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToxResultError {
    #[error("the test result is larger than {MAX_TOXRESULT_BYTES} bytes")]
    TooLarge,
    #[error("the test result is not valid JSON: {0}")]
    NotJson(String),
    #[error("the test result is not a tox report: {0}")]
    Shape(String),
}

/// Parse raw bytes (size-checked) and summarise them; see [`summarize`].
pub fn parse_and_summarize(bytes: &[u8]) -> Result<(Value, Vec<EnvSummary>), ToxResultError> {
    if bytes.len() > MAX_TOXRESULT_BYTES {
        return Err(ToxResultError::TooLarge);
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ToxResultError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ToxResultError::Shape("expected a JSON object".into()));
    }
    // devpi keeps any JSON object a client posts. One that is not a tox
    // report is kept too, with no environments: it never counts as a
    // passed run (see `run_passed`).
    let summary = summarize(&value).unwrap_or_default();
    Ok((value, summary))
}

/// Summarise a tox result report per environment (sorted by env name).
/// Refuses anything a devpi client could not read back: missing `host`,
/// `platform` or `testenvs`, commands without `retcode`, no environment.
pub fn summarize(report: &Value) -> Result<Vec<EnvSummary>, ToxResultError> {
    let shape = |m: &str| ToxResultError::Shape(m.to_string());
    let top = report
        .as_object()
        .ok_or_else(|| shape("expected a JSON object"))?;
    let host = text_field(top, "host")?;
    let platform = text_field(top, "platform")?;
    let envs = top
        .get("testenvs")
        .and_then(Value::as_object)
        .ok_or_else(|| shape("'testenvs' must be an object of environments"))?;
    if envs.is_empty() {
        return Err(shape("'testenvs' names no environment"));
    }
    if envs.len() > MAX_ENVS {
        return Err(ToxResultError::Shape(format!(
            "more than {MAX_ENVS} environments"
        )));
    }
    let mut out = Vec::with_capacity(envs.len());
    for (name, env) in envs {
        let env = env
            .as_object()
            .ok_or_else(|| ToxResultError::Shape(format!("testenvs.{name} must be an object")))?;
        let setup = commands_failed(name, env, "setup")?;
        let test = commands_failed(name, env, "test")?;
        let outcome = match (setup, test) {
            (Some(true), _) => EnvOutcome::SetupFailed,
            (_, Some(true)) => EnvOutcome::TestsFailed,
            (_, None) => EnvOutcome::NoTests,
            (_, Some(false)) => EnvOutcome::Passed,
        };
        let python = env
            .get("python")
            .and_then(|p| p.get("version"))
            .and_then(Value::as_str)
            .and_then(|v| v.split_whitespace().next())
            .map(|v| v.chars().take(64).collect());
        out.push(EnvSummary {
            env: name.chars().take(128).collect(),
            host: host.clone(),
            platform: platform.clone(),
            python,
            outcome,
        });
    }
    out.sort_by(|a, b| a.env.cmp(&b.env));
    Ok(out)
}

fn text_field(top: &Map<String, Value>, key: &str) -> Result<String, ToxResultError> {
    top.get(key)
        .and_then(Value::as_str)
        .map(|s| s.chars().take(256).collect())
        .ok_or_else(|| ToxResultError::Shape(format!("'{key}' must be a string")))
}

/// `None` when the list is absent or empty; otherwise whether any command
/// failed. A command's `retcode` is an integer (or a numeric string, or
/// null for "not run"); anything else is refused.
fn commands_failed(
    env: &str,
    data: &Map<String, Value>,
    key: &str,
) -> Result<Option<bool>, ToxResultError> {
    let Some(list) = data.get(key) else {
        return Ok(None);
    };
    let list = list.as_array().ok_or_else(|| {
        ToxResultError::Shape(format!("testenvs.{env}.{key} must be a list of commands"))
    })?;
    if list.is_empty() {
        return Ok(None);
    }
    let mut failed = false;
    for cmd in list {
        let bad = || {
            ToxResultError::Shape(format!(
                "testenvs.{env}.{key}: every command needs an integer 'retcode'"
            ))
        };
        let code = match cmd
            .as_object()
            .and_then(|c| c.get("retcode"))
            .ok_or_else(bad)?
        {
            Value::Null => None,
            Value::Number(n) => Some(n.as_i64().ok_or_else(bad)?),
            Value::String(s) => Some(s.trim().parse::<i64>().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        failed |= code.is_some_and(|c| c != 0);
    }
    Ok(Some(failed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(envs: Value) -> Value {
        json!({"reportversion": "1", "host": "ci1", "platform": "linux", "testenvs": envs})
    }

    #[test]
    fn outcomes_per_environment() {
        let ok = json!([{"retcode": 0, "command": ["pytest"], "output": ""}]);
        let bad = json!([{"retcode": 1, "command": ["pytest"], "output": "boom"}]);
        let cases = [
            (json!({"setup": ok, "test": ok}), EnvOutcome::Passed),
            (json!({"setup": bad, "test": ok}), EnvOutcome::SetupFailed),
            (json!({"setup": ok, "test": bad}), EnvOutcome::TestsFailed),
            (json!({"setup": ok, "test": []}), EnvOutcome::NoTests),
            (json!({"setup": ok}), EnvOutcome::NoTests),
            (json!({"test": [{"retcode": "0"}]}), EnvOutcome::Passed),
            (json!({"test": [{"retcode": "2"}]}), EnvOutcome::TestsFailed),
            (json!({"test": [{"retcode": null}]}), EnvOutcome::Passed),
        ];
        for (env, want) in cases {
            let s = summarize(&report(json!({"py": env.clone()}))).unwrap();
            assert_eq!(s.len(), 1);
            assert_eq!(s[0].outcome, want, "{env}");
            assert_eq!(s[0].passed(), want == EnvOutcome::Passed);
            assert_eq!(
                (s[0].host.as_str(), s[0].platform.as_str()),
                ("ci1", "linux")
            );
        }
    }

    #[test]
    fn python_version_and_order() {
        let s = summarize(&report(json!({
            "py312": {"python": {"version": "3.12.1 (main, Jan 1 2024)"}, "test": [{"retcode": 0}]},
            ".pkg": {"setup": [{"retcode": 0}]},
        })))
        .unwrap();
        let names: Vec<&str> = s.iter().map(|e| e.env.as_str()).collect();
        assert_eq!(names, [".pkg", "py312"]);
        assert_eq!(s[1].python.as_deref(), Some("3.12.1"));
        assert_eq!(s[0].python, None);
    }

    #[test]
    fn whole_run_verdict() {
        let env = |name: &str, outcome| EnvSummary {
            env: name.into(),
            host: "h".into(),
            platform: "linux".into(),
            python: None,
            outcome,
        };
        use EnvOutcome::*;
        let cases = [
            (vec![env(".pkg", NoTests), env("py", Passed)], true),
            (vec![env("py311", Passed), env("py312", Passed)], true),
            (vec![env(".pkg", NoTests)], false),
            (vec![], false),
            (vec![env(".pkg", SetupFailed), env("py", Passed)], false),
            (vec![env("py311", Passed), env("py312", TestsFailed)], false),
            (vec![env("py", NoTests)], false),
            (vec![env("py", SetupFailed)], false),
        ];
        for (envs, want) in cases {
            assert_eq!(run_passed(&envs), want, "{envs:?}");
        }
    }

    #[test]
    fn refuses_what_clients_cannot_read() {
        let cases = [
            json!([]),
            json!({"platform": "linux", "testenvs": {"py": {}}}),
            json!({"host": "h", "testenvs": {"py": {}}}),
            json!({"host": "h", "platform": "linux"}),
            json!({"host": "h", "platform": "linux", "testenvs": {}}),
            json!({"host": "h", "platform": "linux", "testenvs": {"py": 1}}),
            json!({"host": "h", "platform": "linux", "testenvs": {"py": {"test": {}}}}),
            json!({"host": "h", "platform": "linux", "testenvs": {"py": {"test": [{}]}}}),
            json!({"host": "h", "platform": "linux", "testenvs": {"py": {"test": [{"retcode": "x"}]}}}),
            json!({"host": "h", "platform": "linux", "testenvs": {"py": {"test": [{"retcode": 1.5}]}}}),
            json!({"host": 1, "platform": "linux", "testenvs": {"py": {}}}),
        ];
        for c in cases {
            assert!(
                matches!(summarize(&c), Err(ToxResultError::Shape(_))),
                "{c}"
            );
        }
    }

    #[test]
    fn raw_bytes_limits() {
        assert!(matches!(
            parse_and_summarize(b"{not json"),
            Err(ToxResultError::NotJson(_))
        ));
        let big = vec![b' '; MAX_TOXRESULT_BYTES + 1];
        assert_eq!(parse_and_summarize(&big), Err(ToxResultError::TooLarge));
        let ok = br#"{"host":"h","platform":"p","testenvs":{"py":{"test":[{"retcode":0}]}}}"#;
        let (_, s) = parse_and_summarize(ok).unwrap();
        assert!(s[0].passed());
        let many: Map<String, Value> = (0..=MAX_ENVS)
            .map(|i| (format!("e{i}"), json!({})))
            .collect();
        assert!(summarize(&report(Value::Object(many))).is_err());
    }

    #[test]
    fn any_json_object_is_kept_but_never_passes() {
        let (value, envs) = parse_and_summarize(br#"{"foo": "bar"}"#).unwrap();
        assert_eq!(value, json!({"foo": "bar"}));
        assert!(envs.is_empty());
        assert!(!run_passed(&envs));
        for not_object in [&b"[1, 2]"[..], b"\"text\"", b"12", b"null"] {
            assert!(matches!(
                parse_and_summarize(not_object),
                Err(ToxResultError::Shape(_))
            ));
        }
    }
}
