//! Evaluate the typosquat detector on the labelled dev set and measure latency.
//!
//! ```text
//! cargo run --release --example typo_eval -- [--corpus FILE.tsv] [--cases FILE.tsv]
//!     [--top N] [--show-errors] [--dump] [--bench-latency]
//! ```
//!
//! Defaults use only files in this repository: `policies/popular-pypi.tsv` and
//! `bench/typo_eval/typosquat-dev.tsv` (columns `name, expected, target, kind`).
//! Names go through `airlock::typo::cli::batch`, the code behind
//! `airlock typo check --batch`, and its JSON lines are scored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use airlock::typo::{cli, load_corpus, Detector};
use anyhow::{bail, Context};

struct Case {
    name: String,
    suspicious: bool,
    target: String,
    kind: String,
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut corpus_path = root.join("policies/popular-pypi.tsv");
    let mut cases_paths: Vec<PathBuf> = Vec::new();
    let mut top = 5000usize;
    let (mut show_errors, mut bench, mut dump) = (false, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--corpus" => corpus_path = args.next().context("--corpus needs a file")?.into(),
            "--cases" => cases_paths.push(args.next().context("--cases needs a file")?.into()),
            "--top" => top = args.next().context("--top needs a number")?.parse()?,
            "--show-errors" => show_errors = true,
            "--bench-latency" => bench = true,
            "--dump" => dump = true,
            other => bail!("unknown argument {other:?}"),
        }
    }
    if cases_paths.is_empty() {
        cases_paths.push(root.join("bench/typo_eval/typosquat-dev.tsv"));
    }
    let corpus = load_corpus(&corpus_path)?;
    let mut cases = Vec::new();
    for path in &cases_paths {
        cases.extend(read_cases(path)?);
    }
    let rank_of: std::collections::HashMap<&str, u32> = corpus
        .entries()
        .iter()
        .map(|e| (e.name.as_str(), e.rank))
        .collect();
    let detector = Detector::builder().popular(&corpus, top).build();

    let input: String = cases.iter().map(|c| format!("{}\n", c.name)).collect();
    let mut output = Vec::new();
    cli::batch(&detector, input.as_bytes(), &mut output)?;
    let lines: Vec<serde_json::Value> = output
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice)
        .collect::<Result<_, _>>()?;
    if lines.len() != cases.len() {
        bail!(
            "batch wrote {} lines for {} names",
            lines.len(),
            cases.len()
        );
    }

    // kind -> (flagged, flagged with the right target, total)
    let mut per_kind: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    // kind -> (flagged, total) for targets ranked 1-500
    let mut top_band: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (case, line) in cases.iter().zip(&lines) {
        let flagged = line["suspicious"].as_bool().unwrap_or(false);
        let target = line["target"].as_str().unwrap_or("");
        let e = per_kind.entry(case.kind.as_str()).or_default();
        e.0 += usize::from(flagged);
        e.1 += usize::from(flagged && target == case.target);
        e.2 += 1;
        if case.suspicious && rank_of.get(case.target.as_str()).is_some_and(|r| *r <= 500) {
            let b = top_band.entry(case.kind.as_str()).or_default();
            b.0 += usize::from(flagged);
            b.1 += 1;
        }
        if dump {
            println!(
                "case\t{}\t{}\t{}\t{flagged}\t{target}\t{}",
                case.name, case.kind, case.target, line["reason"]
            );
        }
        if show_errors && flagged != case.suspicious {
            let what = if flagged { "false positive" } else { "missed" };
            println!(
                "{what}: {} (expected target {:?}) -> {}",
                case.name, case.target, line["reason"]
            );
        }
    }
    println!(
        "corpus {} (top {top}), cases {}",
        corpus_path.display(),
        cases_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" + ")
    );
    println!(
        "{:<22} {:>8} {:>8} {:>14} {:>16}",
        "kind", "recall", "n", "right target", "top-500 targets"
    );
    let (mut hit, mut total, mut fp, mut ok) = (0, 0, 0, 0);
    for (kind, (flagged, right, n)) in &per_kind {
        let legit = cases.iter().any(|c| c.kind == *kind && !c.suspicious);
        if legit {
            fp += flagged;
            ok += n;
            continue;
        }
        hit += flagged;
        total += n;
        let (bf, bn) = top_band.get(kind).copied().unwrap_or_default();
        println!(
            "{kind:<22} {:>7.1}% {n:>8} {right:>14} {:>9.1}% of {bn}",
            pct(*flagged, *n),
            pct(bf, bn)
        );
    }
    let (bf, bn) = top_band
        .values()
        .fold((0, 0), |(a, b), (f, n)| (a + f, b + n));
    println!(
        "{:<22} {:>7.1}% {total:>8} {:>14} {:>9.1}% of {bn}",
        "overall",
        pct(hit, total),
        "",
        pct(bf, bn)
    );
    println!(
        "false-positive rate on legitimate names: {:.2}% ({fp} of {ok})",
        pct(fp, ok)
    );

    if bench {
        bench_latency(&corpus, &cases)?;
    }
    Ok(())
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

fn read_cases(path: &PathBuf) -> anyhow::Result<Vec<Case>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut cases = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [name, expected, target, kind] = cols.as_slice() else {
            bail!(
                "{} line {}: expected 4 tab-separated columns",
                path.display(),
                i + 1
            );
        };
        cases.push(Case {
            name: name.to_string(),
            suspicious: *expected == "suspicious",
            target: target.to_string(),
            kind: kind.to_string(),
        });
    }
    Ok(cases)
}

/// Latency with the whole corpus plus 100,000 synthetic private names.
fn bench_latency(corpus: &airlock::typo::Corpus, cases: &[Case]) -> anyhow::Result<()> {
    let words: Vec<&str> = corpus
        .entries()
        .iter()
        .flat_map(|e| e.name.split('-'))
        .collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let private: Vec<String> = (0..100_000)
        .map(|i| {
            let a = words.get(next(words.len())).copied().unwrap_or("x");
            let b = words.get(next(words.len())).copied().unwrap_or("y");
            format!("corp-{a}-{b}-{i}")
        })
        .collect();
    let started = Instant::now();
    let detector = Detector::builder()
        .popular(corpus, corpus.len())
        .private(&private)
        .build();
    let build = started.elapsed();
    let queries: Vec<String> = cases
        .iter()
        .map(|c| c.name.clone())
        .chain(private.iter().take(2000).map(|p| p.replacen('o', "0", 1)))
        .collect();
    let mut times = Vec::with_capacity(queries.len());
    let mut flagged = 0usize;
    for q in &queries {
        let t = Instant::now();
        flagged += usize::from(detector.check(q).suspicious);
        times.push(t.elapsed());
    }
    if std::env::var_os("TYPO_EVAL_SLOWEST").is_some() {
        let mut slow: Vec<_> = times.iter().zip(&queries).collect();
        slow.sort_unstable();
        for (t, q) in slow.iter().rev().take(8) {
            println!("slow: {t:.2?} {q}");
        }
    }
    times.sort_unstable();
    let mean = times.iter().sum::<std::time::Duration>() / times.len().max(1) as u32;
    let p99 = times
        .get(times.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    let max = times.last().copied().unwrap_or_default();
    println!(
        "latency over {} checks against {} protected names (built in {build:.2?}): \
         mean {mean:.2?}, p99 {p99:.2?}, max {max:.2?} ({flagged} flagged)",
        queries.len(),
        detector.protected_len()
    );
    Ok(())
}
