//! The popularity corpus: a TSV of `rank<TAB>name`, best-ranked first.
//!
//! The file is trusted configuration, but it is still parsed strictly: every
//! problem is reported with its line number so an operator can fix the file.

use std::path::{Path, PathBuf};

use crate::names::normalize;

/// Largest corpus file accepted; the shipped one is about 250 KB.
pub const MAX_CORPUS_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read corpus {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corpus {path} is larger than {MAX_CORPUS_BYTES} bytes; is this the right file?")]
    TooLarge { path: PathBuf },
    #[error("corpus line 1: expected the header \"rank<TAB>name\", found {found:?}")]
    BadHeader { found: String },
    #[error("corpus line {line}: expected \"rank<TAB>name\", found {found:?}")]
    BadLine { line: usize, found: String },
    #[error("corpus line {line}: rank {found:?} is not a positive integer")]
    BadRank { line: usize, found: String },
    #[error("corpus line {line}: {name:?} is not a valid project name ({reason})")]
    BadName {
        line: usize,
        name: String,
        reason: crate::names::NameError,
    },
    #[error("corpus is empty: it has a header but no names")]
    Empty,
}

/// One corpus row: the PEP 503 normalised name and its popularity rank (1 = most popular).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusEntry {
    pub rank: u32,
    pub name: String,
}

/// Popular project names sorted by rank, best first, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Corpus {
    entries: Vec<CorpusEntry>,
}

impl Corpus {
    /// Build a corpus from names already in popularity order (rank = position + 1).
    pub fn from_ranked_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let entries = names
            .into_iter()
            .enumerate()
            .map(|(i, n)| CorpusEntry {
                rank: u32::try_from(i + 1).unwrap_or(u32::MAX),
                name: normalize(n.as_ref()),
            })
            .collect();
        Self::from_entries(entries)
    }

    fn from_entries(mut entries: Vec<CorpusEntry>) -> Self {
        // Stable sort keeps file order for equal ranks; keep the first of duplicates.
        entries.sort_by_key(|e| e.rank);
        let mut seen = std::collections::HashSet::new();
        entries.retain(|e| seen.insert(e.name.clone()));
        Self { entries }
    }

    pub fn entries(&self) -> &[CorpusEntry] {
        &self.entries
    }

    /// The `n` best-ranked entries.
    pub fn top(&self, n: usize) -> &[CorpusEntry] {
        &self.entries[..n.min(self.entries.len())]
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Read and parse a corpus file.
pub fn load_corpus(path: &Path) -> Result<Corpus, CorpusError> {
    let io_err = |source| CorpusError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io_err)?.len();
    if len > MAX_CORPUS_BYTES {
        return Err(CorpusError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(io_err)?;
    parse_corpus(&text)
}

/// Parse corpus text: header `rank\tname`, then one `rank\tname` per line.
/// Blank lines are ignored; a trailing `\r` (CRLF files) is tolerated.
pub fn parse_corpus(text: &str) -> Result<Corpus, CorpusError> {
    let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    let header = lines.next().unwrap_or_default();
    if header.trim() != "rank\tname" {
        return Err(CorpusError::BadHeader {
            found: header.chars().take(80).collect(),
        });
    }
    let mut entries = Vec::new();
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        let shown = || line.chars().take(80).collect::<String>();
        let (rank, name) = line.split_once('\t').ok_or_else(|| CorpusError::BadLine {
            line: line_no,
            found: shown(),
        })?;
        let name = name.trim();
        if name.contains('\t') {
            return Err(CorpusError::BadLine {
                line: line_no,
                found: shown(),
            });
        }
        let rank: u32 =
            rank.trim()
                .parse()
                .ok()
                .filter(|r| *r > 0)
                .ok_or_else(|| CorpusError::BadRank {
                    line: line_no,
                    found: rank.chars().take(20).collect(),
                })?;
        let project =
            crate::names::ProjectName::new(name).map_err(|reason| CorpusError::BadName {
                line: line_no,
                name: name.chars().take(80).collect(),
                reason,
            })?;
        entries.push(CorpusEntry {
            rank,
            name: project.as_str().to_string(),
        });
    }
    if entries.is_empty() {
        return Err(CorpusError::Empty);
    }
    Ok(Corpus::from_entries(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_sorts_by_rank() {
        let c = parse_corpus("rank\tname\n2\tRequests\n1\tboto3\n\n3\tZope.Interface\r\n").unwrap();
        let names: Vec<_> = c.entries().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["boto3", "requests", "zope-interface"]);
        assert_eq!(c.top(2).len(), 2);
        assert_eq!(c.top(99).len(), 3);
    }

    #[test]
    fn duplicates_keep_best_rank() {
        let c = parse_corpus("rank\tname\n1\tfoo\n2\tFOO\n3\tbar\n").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.entries()[1].name, "bar");
    }

    #[test]
    fn errors_are_line_precise() {
        let cases: &[(&str, &str)] = &[
            ("name\trank\n1\tfoo\n", "line 1"),
            ("rank\tname\n1\tfoo\nbar\n", "line 3"),
            ("rank\tname\n1\tfoo\n0\tbar\n", "line 3: rank"),
            ("rank\tname\nx\tfoo\n", "line 2: rank"),
            ("rank\tname\n1\tfoo\n\n4\t../etc\n", "line 4"),
            ("rank\tname\n1\tfoo\tbar\n", "line 2"),
            ("rank\tname\n", "empty"),
            ("", "line 1"),
        ];
        for (text, want) in cases {
            let err = parse_corpus(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn shipped_corpus_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/popular-pypi.tsv");
        let c = load_corpus(&path).unwrap();
        assert!(c.len() > 10_000);
        assert_eq!(c.entries()[0].rank, 1);
    }
}
