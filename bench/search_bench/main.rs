//! Search latency at scale: fills a fresh data folder with N projects (one
//! release each, with summary, keywords, classifiers and a description of
//! generated words, plus every 10th release with documentation text), then
//! runs the queries `Registry::search` runs for one page of 20 hits (the
//! ranked page, then highlights/snippets of each hit) and prints p50/p99.
//!
//! ```text
//! cargo run --release --example search_bench -- [--projects 100000] [--words 120] [--runs 200]
//! ```
//!
//! Words follow a skewed (roughly Zipf) distribution over a 20,000-word
//! vocabulary, so "common" queries match a large share of all projects.
//! The data folder is a temporary directory, removed at the end.

use std::time::{Duration, Instant};

use airlock::index::{IndexConfig, IndexKind};
use airlock::names::IndexPath;
use airlock::search::{self, Query};
use airlock::store::{indexes, releases, search as table, users, Store};
use anyhow::Context;

const VOCABULARY: usize = 20_000;
const BATCH: usize = 2_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A word rank, skewed towards small ranks.
    fn rank(&mut self) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((VOCABULARY as f64).powf(u) as usize).saturating_sub(1)
    }
}

/// The word of rank `n`: pronounceable, unique per rank.
fn word(n: usize) -> String {
    const SYL: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "zu", "da", "fi", "go", "hu", "ja",
        "be", "co", "xi", "wa", "yo",
    ];
    let mut out = String::new();
    let mut k = n + 20;
    while k > 0 {
        out.push_str(SYL[k % 20]);
        k /= 20;
    }
    out
}

fn arg(name: &str, default: usize) -> anyhow::Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .context("missing value")?
            .parse()
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let projects = arg("--projects", 100_000)?;
    let words = arg("--words", 120)?;
    let runs = arg("--runs", 200)?;
    let tmp = tempfile::tempdir()?;
    // --keep DIR: fill DIR once and reuse it on the next run (an existing
    // folder is opened as it is, migrations included)
    let keep = std::env::args()
        .skip_while(|a| a != "--keep")
        .nth(1)
        .map(std::path::PathBuf::from);
    let data = keep.clone().unwrap_or_else(|| tmp.path().join("data"));
    let reuse = data.join("airlock.sqlite3").exists();
    let opened = Instant::now();
    let store = Store::open(&data)?;
    if reuse {
        println!(
            "opened {} in {:.1?} (migrations included)",
            data.display(),
            opened.elapsed()
        );
    }
    let path = IndexPath::parse("bench/big")?;
    let index_id = if reuse {
        store.db.read_blocking(|c| {
            c.query_one("SELECT id FROM indexes WHERE name = 'big'", &[], |r| {
                r.get(0)
            })
        })?
    } else {
        store.db.write_blocking(|tx| {
            users::create(tx, "bench", None, None)?;
            let user_id: i64 =
                tx.query_one("SELECT id FROM users WHERE name = 'bench'", &[], |r| {
                    r.get(0)
                })?;
            let config = IndexConfig::new(IndexKind::Stage, "bench");
            Ok(indexes::create(tx, user_id, &path, &config)?.unwrap_or_default())
        })?
    };

    let started = Instant::now();
    let mut rng = Rng(0x5eed);
    let phrase = |rng: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| word(rng.rank()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let fill = if reuse { 0 } else { projects };
    for first in (0..fill).step_by(BATCH) {
        let last = (first + BATCH).min(projects);
        let rows: Vec<(String, String, String, String)> = (first..last)
            .map(|n| {
                let name = format!("{}-{n}", word(rng.rank()));
                let meta = serde_json::json!({
                    "name": name, "version": "1.0",
                    "summary": phrase(&mut rng, 8),
                    "keywords": phrase(&mut rng, 3),
                    "classifiers": ["Programming Language :: Python :: 3", "Topic :: Utilities"],
                })
                .to_string();
                let desc = phrase(&mut rng, words);
                let docs = if n % 10 == 0 {
                    phrase(&mut rng, words * 4)
                } else {
                    String::new()
                };
                (name, meta, desc, docs)
            })
            .collect();
        store.db.write_blocking(|tx| {
            for (name, meta, desc, docs) in &rows {
                releases::ensure_release(
                    tx,
                    &releases::NewRelease {
                        index_id,
                        project: name,
                        display_name: name,
                        version: "1.0",
                        metadata: meta,
                        description_key: None,
                    },
                    releases::MetadataOnConflict::Replace,
                )?;
                table::set_description(tx, index_id, name, "1.0", desc)?;
                if !docs.is_empty() {
                    table::set_docs(tx, index_id, name, "1.0", docs)?;
                }
            }
            Ok(())
        })?;
    }
    if !reuse {
        store.db.write_blocking(table::optimize)?;
    }
    let size = std::fs::metadata(data.join("airlock.sqlite3"))?.len();
    println!(
        "{} {projects} projects ({words} description words, docs on every 10th) in {:.1?}; \
         database {} MiB",
        if reuse { "reused" } else { "filled" },
        started.elapsed(),
        size / (1024 * 1024)
    );

    let queries: Vec<(&str, String)> = vec![
        ("exact name", format!("{}-{}", word(3), 0)),
        ("common word", word(1)),
        ("mid word", word(200)),
        ("rare word", word(15_000)),
        ("prefix (3 chars)", word(2)[..3].to_string()),
        ("two words", format!("{} {}", word(5), word(40))),
        ("five words", [1, 3, 5, 40, 200].map(word).join(" ")),
        // only in the classifiers of every release: the name and summary
        // tiers find nothing, all-fields ranks (the "python" case)
        ("classifier word", "utilities".to_string()),
        ("classifier + 2 chars", "utilities lo".to_string()),
        ("classifier + 4 chars", "utilities lolo".to_string()),
        ("no match", "qqqqzzzz".to_string()),
    ];
    let mut all = Vec::new();
    for (label, q) in &queries {
        let mut times = Vec::with_capacity(runs);
        let mut found = (0, false);
        for _ in 0..runs {
            let t = Instant::now();
            found = one_page(&store, q)?;
            times.push(t.elapsed());
        }
        let (found, capped) = found;
        all.extend(times.iter().copied());
        let (p50, p99) = percentiles(&mut times);
        let capped = if capped { " capped" } else { "" };
        println!(
            "{label:>20} {q:>24}: {found:>2} hits/page{capped:7}  p50 {p50:>8.2?}  p99 {p99:>8.2?}"
        );
    }
    let (p50, p99) = percentiles(&mut all);
    println!(
        "{:>20} {:>24}: p50 {p50:.2?}  p99 {p99:.2?}",
        "all queries", ""
    );
    Ok(())
}

/// What `Registry::search` asks the database for one page of 20: the
/// ranked page, then the shown row of each hit marked.
fn one_page(store: &Store, q: &str) -> anyhow::Result<(usize, bool)> {
    let parsed = Query::parse(q)?;
    Ok(store.db.read_blocking(|c| {
        let page = airlock::registry::ranked_page(c, &parsed, None, search::PAGE_SIZE, 0)?;
        Ok((page.hits.len(), page.capped))
    })?)
}

fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    (at(0.50), at(0.99))
}
