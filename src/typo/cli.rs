//! `airlock typo check`: check names from the command line, from dependency
//! files, or (with `--batch`) one per line from stdin as JSON lines.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use super::{deps, load_corpus, parse_corpus, Corpus, Detector, Verdict};

/// Longest stdin line accepted in batch mode; longer lines are reported, not checked.
const MAX_BATCH_LINE: usize = 4096;

#[derive(Debug, clap::Subcommand)]
pub enum TypoCommand {
    /// Check project names for look-alikes of popular or private projects.
    /// Exits 1 when any name is suspicious.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Project names to check.
    pub names: Vec<String>,
    /// Also check every dependency named in FILE: requirements.txt (with nested
    /// `-r`), pyproject.toml, pylock.toml or uv.lock. Repeatable.
    #[arg(short = 'r', long = "requirements", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Popularity corpus, a TSV with header `rank<TAB>name` (default: the built-in copy).
    #[arg(long, value_name = "FILE.tsv")]
    pub corpus: Option<PathBuf>,
    /// Protect (and treat as established) the N best-ranked names of the corpus.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub top: usize,
    /// Extra protected names (e.g. your private projects). Repeatable.
    #[arg(long = "private", value_name = "NAME")]
    pub private: Vec<String>,
    /// Names never flagged. Repeatable.
    #[arg(long = "allow", value_name = "NAME")]
    pub allow: Vec<String>,
    /// Read one name per line from stdin; write one JSON object per line
    /// (`name`, `suspicious`, `target`, `reason`). Always exits 0 unless I/O fails.
    #[arg(long)]
    pub batch: bool,
}

pub fn run(cmd: TypoCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TypoCommand::Check(args) => check(args),
    }
}

/// The JSON line written per name in batch mode.
#[derive(Serialize)]
struct BatchLine<'a> {
    name: &'a str,
    suspicious: bool,
    target: Option<&'a str>,
    reason: &'a str,
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let corpus: Corpus = match &args.corpus {
        Some(path) => load_corpus(path)?,
        None => {
            parse_corpus(crate::typo::BUILTIN_CORPUS).context("the built-in corpus is corrupt")?
        }
    };
    let detector = Detector::builder()
        .popular(&corpus, args.top)
        .private(&args.private)
        .allow(&args.allow)
        .build();
    if args.batch {
        return batch(&detector, std::io::stdin().lock(), std::io::stdout().lock());
    }
    let mut names = args.names.clone();
    for file in &args.files {
        let found = deps::names_in_file(file)
            .with_context(|| format!("cannot read dependencies from {}", file.display()))?;
        names.extend(found);
    }
    if names.is_empty() {
        anyhow::bail!("nothing to check: give project names, -r FILE, or --batch");
    }
    let mut any = false;
    let mut out = std::io::stdout().lock();
    for name in &names {
        let v = detector.check(name);
        any |= v.suspicious;
        writeln!(out, "{}", human_line(&v))?;
    }
    Ok(if any {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn human_line(v: &Verdict) -> String {
    let word = if v.suspicious { "SUSPICIOUS" } else { "ok" };
    format!("{}\t{word}\t{}", v.name, v.reason)
}

/// The evaluation interface: names in, JSON lines out, in order.
pub fn batch(
    detector: &Detector,
    input: impl BufRead,
    mut output: impl Write,
) -> anyhow::Result<ExitCode> {
    for line in input.lines() {
        let line = line.context("cannot read stdin")?;
        let name = line.trim();
        if name.is_empty() {
            continue;
        }
        let json = if name.len() > MAX_BATCH_LINE {
            serde_json::to_string(&BatchLine {
                name: "",
                suspicious: false,
                target: None,
                reason: "line too long to be a project name",
            })?
        } else {
            let v = detector.check(name);
            serde_json::to_string(&BatchLine {
                name: &v.name,
                suspicious: v.suspicious,
                target: v.target.as_deref(),
                reason: &v.reason,
            })?
        };
        writeln!(output, "{json}").context("cannot write stdout")?;
        output.flush().context("cannot write stdout")?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_writes_one_json_object_per_name() {
        let corpus = Corpus::from_ranked_names(["requests", "numpy"]);
        let detector = Detector::builder().popular(&corpus, 2).build();
        let mut out = Vec::new();
        batch(
            &detector,
            "reqeusts\n\n  numpy  \nzzzzzz\n".as_bytes(),
            &mut out,
        )
        .unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["name"], "reqeusts");
        assert_eq!(lines[0]["suspicious"], true);
        assert_eq!(lines[0]["target"], "requests");
        assert_eq!(lines[1]["suspicious"], false);
        assert!(lines[1]["target"].is_null());
        assert_eq!(lines[2]["suspicious"], false);
        for l in &lines {
            let keys: Vec<_> = l.as_object().unwrap().keys().cloned().collect();
            assert_eq!(keys.len(), 4, "{keys:?}");
            assert!(l["reason"].as_str().is_some_and(|r| !r.is_empty()));
        }
    }

    #[test]
    fn builtin_corpus_parses() {
        assert!(parse_corpus(crate::typo::BUILTIN_CORPUS).unwrap().len() > 10_000);
    }
}
