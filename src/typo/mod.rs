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
mod index;
mod keyboard;

pub use corpus::{load_corpus, parse_corpus, Corpus, CorpusEntry, CorpusError};
pub use detector::{Detector, DetectorBuilder, Rule, Verdict};
#[cfg(test)]
mod detector_tests;
