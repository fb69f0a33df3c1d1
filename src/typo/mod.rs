//! Typosquat detection: is a project name a look-alike of a protected name?
//!
//! No HTTP here. [`Detector`] indexes the protected names once (top of the
//! popularity corpus plus private projects) and answers [`Detector::check`] in
//! microseconds. [`cli`] is the `airlock typo check` command and [`deps`]
//! reads names out of requirements files and lock files.

pub mod cli;
mod confusables;
mod corpus;
pub mod deps;
mod detector;
mod edits;
pub mod evidence;
mod index;
mod keyboard;
mod pair_table;
pub mod probe;
mod protected;
mod words;

pub use corpus::{load_corpus, parse_corpus, Corpus, CorpusEntry, CorpusError};
pub use detector::{Detector, DetectorBuilder, Rule, Verdict};
pub use probe::{Neighbourhood, Probe, StoredName};

/// The popularity corpus shipped with airlock (`policies/popular-pypi.tsv`),
/// compiled into the binary so the server needs no file at run time.
pub const BUILTIN_CORPUS: &str = include_str!("../../policies/popular-pypi.tsv");

/// The built-in corpus, parsed.
pub fn builtin_corpus() -> Corpus {
    parse_corpus(BUILTIN_CORPUS).expect("the built-in corpus is valid (checked by a test)")
}
#[cfg(test)]
mod detector_tests;
