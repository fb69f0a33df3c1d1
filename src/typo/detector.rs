//! The detector: is a candidate name a likely look-alike of a protected name?
//!
//! Protected names are the top of the popularity corpus plus the server's own
//! projects. A candidate that *is* a protected name, or is allow-listed, is
//! established and never flagged. Otherwise every protected name within reach
//! (two edits, same visual skeleton, same words, an affix away) is examined, and
//! the edit between them must be explained by a typing mistake that is rarely
//! legitimate. Plain edit distance alone is not enough: `boto`/`boto3`,
//! `mock`/`moto` and `pytest-cov`/`pytest-csv` are all one edit apart.

use std::collections::HashSet;

use serde::Serialize;

use super::confusables::{fold_to_ascii, skeleton};
use super::corpus::Corpus;
use super::edits::{edit_script, edit_scripts, Edit};
use super::index::{strip_separators, NameIndex, Origin};
use super::probe::{Neighbourhood, Probe};
use super::protected::Protected;
use crate::names::normalize;

/// The typo class that explains a look-alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Visually confusable characters (`l`/`1`, `o`/`0`, `rn`/`m`, non-ASCII letters).
    Homoglyph,
    /// Separators added or removed (`moreitertools`, `par-se`).
    Separator,
    /// A character left out (`reqests`).
    Omission,
    /// A character typed twice (`reqquests`).
    Repetition,
    /// Two neighbouring characters swapped (`reqeusts`).
    Transposition,
    /// A neighbouring key hit instead of, or as well as, the right one.
    AdjacentKey,
    /// An extra vowel inside a long name, a spelling variant (`colourama`).
    Insertion,
    /// A meaningless affix added or dropped (`python3-pika`, `requests-lib`, plural `s`).
    Affix,
    /// The same words in another order (`kafka-confluent`).
    WordSwap,
    /// A version number appended (`requests-2`).
    VersionSuffix,
    /// Several small edits, or an unexplained one against a very popular name.
    EditDistance,
    /// A letter replaced by one that is not a neighbouring key, against a very popular name (`numpi`).
    Substitution,
    /// A word made plural or singular (`setuptool`, `google-apis-core`, `scikits-learns`).
    Plural,
}

impl Rule {
    /// Rules whose look-alikes are often legitimate projects too (affixes,
    /// plurals, unrelated letters, separators, reordered words): at install
    /// time the server may weigh upstream's facts before refusing them
    /// ([`super::evidence`]). The others are typing slips (swaps, doubled or
    /// left-out letters, neighbouring keys, look-alike characters).
    pub fn is_weak(self) -> bool {
        matches!(
            self,
            Rule::Affix
                | Rule::Plural
                | Rule::Substitution
                | Rule::Separator
                | Rule::WordSwap
                | Rule::VersionSuffix
                | Rule::Insertion
        )
    }

    fn describe(self) -> &'static str {
        match self {
            Rule::Homoglyph => "look-alike characters",
            Rule::Separator => "separators added or removed",
            Rule::Omission => "a character left out",
            Rule::Repetition => "a character repeated",
            Rule::Transposition => "two characters swapped",
            Rule::AdjacentKey => "a neighbouring key on the keyboard",
            Rule::Insertion => "a character added",
            Rule::Affix => "an affix added or removed",
            Rule::WordSwap => "words in a different order",
            Rule::VersionSuffix => "a version number appended",
            Rule::EditDistance => "small edits",
            Rule::Substitution => "a character replaced",
            Rule::Plural => "a word made plural or singular",
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The name as given.
    pub name: String,
    pub suspicious: bool,
    /// The protected name it imitates.
    pub target: Option<String>,
    pub rule: Option<Rule>,
    /// Edit distance to the target (after PEP 503 normalisation).
    pub distance: Option<usize>,
    /// One sentence for a human.
    pub reason: String,
}

/// Names up to this long are only compared for homoglyphs and exact affixes:
/// among two- and three-letter names almost everything is one edit from something.
const MIN_FUZZY_LEN: usize = 4;
/// Single-word names at most this popular rank also match on a letter
/// replaced by an unrelated one (`pandar`), except the first; in multi-word
/// names a changed letter usually makes another word (`pytest-csv`).
const TOP_RANK_FOR_SUBSTITUTION: u32 = 100;
/// ...and single-word names of at least this many letters at any rank
/// (`jupyterlad`, `conneptorx`): in a long word one other letter rarely
/// makes another real project; letters only (`entrypoint2` next to
/// `entrypoints` is a version, not a slip).
const MIN_LEN_ANY_SUBSTITUTION: usize = 8;
/// ...and, at any rank, a letter replaced inside a word of at least this many
/// letters of a multi-word name (`azure-idenmity`, `python-vlugify`) when
/// the word it makes is no word protected names use: `pytest-csv` and
/// `django-typer` make other words and stay unflagged (the vocabulary
/// check), `faiss-gpu` is a three-letter word.
const MIN_WORD_LEN_FOR_SUBSTITUTION: usize = 4;
/// A vowel inserted inside a name (not a neighbouring key, not a repeat) is
/// flagged when the target is at least this long: in shorter names it
/// usually makes another word.
const MIN_LEN_FOR_INSERTION: usize = 7;
/// A left-out first letter (`equests`) is flagged in candidates at least this
/// long; shorter ones are mostly other words (`ignore`, `syncer`).
const MIN_LEN_FOR_FIRST_OMISSION: usize = 7;
/// Two unremarkable slips in a single-word name of at least this many letters.
const MIN_LEN_FOR_TWO_SLIPS: usize = 9;
/// Two-edit look-alikes need a target at least this long.
const MIN_LEN_FOR_TWO_EDITS: usize = 7;
/// Edits that are often legitimate (a letter replaced by an unrelated one, a
/// letter added at the end) are flagged only against names at most this
/// popular rank: attackers imitate what many people type.
const TOP_RANK_WEAK: u32 = 500;
/// A changed first letter, or four letters left of a five-letter name
/// (`ettrs`, `flsk`), only against the very top.
const TOP_RANK_SHORT: u32 = 300;
/// A letter dropped from a four-letter name (`ric`, `tml`): the top 500
/// (the one legitimate three-letter name this reaches among the 9,986
/// measured is `cle` next to `cleo`, #413). A letter from the middle
/// (second or third) counts at any rank since session 10: the seven
/// legitimate three-letter names of the 9,986 that are a four-letter
/// top-5,000 name with a letter dropped all lack its first or its last
/// (`cle`/`cleo`, `sox`/`soxr`, `pin`/`pint`, `llm`/`vllm`, `tts`/`gtts`).
const TOP_RANK_FOUR_LETTER_OMISSION: u32 = 500;
/// A letter replaced by one that sounds alike (`numpi`, `pyyeml`).
const TOP_RANK_SOUNDALIKE: u32 = 500;
/// ...and a consonant for one that sounds alike (`djanjo`: `c/k`, `s/z`,
/// `c/s`, `g/j`, `i/j`, `u/v`), down to this rank: a vowel for a vowel
/// makes another real name far more often (`djongo`, `kombo`).
const TOP_RANK_SOUNDALIKE_CONSONANT: u32 = 1000;
/// A letter typed after a name this long (separators aside) counts at any
/// rank (`langchain-ollamac`, `sqllineagen`); shorter ones only against
/// the top 500 (`torchx`, `behavex` are real).
const MIN_LEN_TRAILING_ANY_RANK: usize = 8;
/// A typing slip in a name that also carries an affix (`litelm-lib`,
/// `netwokx-lib`, `python-reqeusts`): against names up to this rank (and
/// the affix's own rank limit).
const TOP_RANK_AFFIX_TYPO: u32 = 2000;
/// Base names of at least this many letters, separators aside.
const MIN_LEN_AFFIX_TYPO: usize = 6;
/// ...and against any single-word protected name at least this long
/// (`tenserflow`; in multi-word names it usually makes another word).
const MIN_LEN_SOUNDALIKE_ANY_RANK: usize = 9;
/// Any other letter inside a single-word name of the top 500 when it makes
/// three letters in a row that no popular name has (`dccker`, `isorv`,
/// `aruow`): session 10; none of the 9,986 legitimate names is such a pair.
const TOP_RANK_UNSEEN_TRIGRAM: u32 = 500;
/// A first letter replaced by an unrelated one (`ettrs`).
const TOP_RANK_FIRST_LETTER: u32 = 100;
/// ...and any other first letter down to #2,000 when the look-alike opens
/// with two letters no popular name opens with, while at least this many
/// open like the target (`kwscli` for `awscli`, `jyee` for `pyee`): real
/// names are chosen to be read, a slip of the first key makes an opening
/// nobody chose. The target's opening must be a common one: names that
/// open rarely are often abbreviations whose first letter means something
/// (`pqdm` next to `tqdm`, `xoto3` next to `boto3`). Session 10; the one
/// legitimate name of the 9,986 it reaches is `vyper` next to `typer`.
const TOP_RANK_FIRST_LETTER_UNSEEN: u32 = 2000;
const MIN_OPENING_USES: u32 = 30;
/// ...and, against the top 500, any other first letter that makes the first
/// three letters a run no popular name has anywhere (`ztoml`, `qrrow`),
/// when at least this many popular names open like the target (`pqdm` next
/// to `tqdm`: two do). Session 10; costs `poml` next to `toml`.
const MIN_OPENING_USES_TOP: u32 = 5;
/// A single slip of a letter against a popular name that nothing else is
/// near ([`Scan::lone_slip_rule`], session 11): the first or the last
/// letter replaced, down to this rank...
const TOP_RANK_LONE_SLIP: u32 = 500;
/// ...and a letter added or left out inside.
const TOP_RANK_LONE_INSIDE: u32 = 1000;
/// A separator inserted between two parts this long, one of them a known
/// word, is another spelling of the same words (`expiring-dict`).
const MIN_SPLIT_WORD_LEN: usize = 4;
/// In a plugin family (`django-`, `flask-`: a first word of 3+ protected
/// names) names one letter apart are often both real (`django-filer`,
/// `django-filter`): a left-out letter or a plural counts only against
/// members at most this popular rank.
const TOP_RANK_IN_FAMILY: u32 = 1000;
/// A word made singular inside a name (`grpcio-tool`, `setuptool`).
const TOP_RANK_PLURAL: u32 = 2000;
/// A word made plural (an `s` added), or several words changed at once
/// (`scikits-learns`): any rank since session 9 (no legitimate name of the
/// 9,986 measured is such a pair with a top-5,000 name outside a plugin
/// family).
const TOP_RANK_PLURAL_ADDED: u32 = ANY;
/// A family member's last word made plural counts at any rank when at
/// least this many protected names use the word, none its plural (session
/// 11; `mypy-boto3-ssos`, `tree-sitter-sqls`).
const MIN_USES_SHARED_SINGULAR: u32 = 2;
/// Names of at most this many letters (separators aside) are "short": one
/// edit from a short name is often just another short name.
const SHORT_TARGET_LEN: usize = 6;
/// Short names beyond this rank are only matched by the strongest edits
/// (swaps, doubled letters inside the name, look-alike characters).
const TOP_RANK_SHORT_TARGET: u32 = 2000;
/// Two combined edits of other kinds ([`Scan::combined_edit_rule`]) and
/// letters swapped across others (`setoptuols`) need a target at least
/// this long (separators aside); at any rank since session 9 (they were
/// gated at #1,000; across all ranks none of the 9,986 measured legitimate
/// names is such a pair with a top-5,000 name).
const MIN_LEN_FOR_COMBINED: usize = 7;
const TOP_RANK_COMBINED: u32 = ANY;
/// Letters swapped across one or two others in a six-letter name
/// (`psulit`, `bcpyrt`): only the top 500.
const SWAP_ACROSS_SHORT_LEN: usize = 6;
const TOP_RANK_SWAP_ACROSS_SHORT: u32 = 500;
/// ...or, when the typo is a swap or a doubled letter (`numpyy3`,
/// `pnadass`), a target of five or six letters up to this rank.
const MIN_LEN_FOR_COMBINED_SHORT: usize = 5;
const TOP_RANK_COMBINED_SHORT: u32 = 500;
/// Longer names are only searched one edit deep: the two-deletion
/// neighbourhood grows with the square of the length, and it bounds latency.
const MAX_LEN_FOR_TWO_EDITS: usize = 24;
/// How many equally short edit scripts are considered per pair.
const MAX_SCRIPTS: usize = 8;
/// A first word shared by at least this many protected names is a plugin
/// family (`flask-`, `pytest-`, `types-`): `flask-bootstrap` is a plugin, not
/// a swapped `bootstrap-flask`.
const MIN_FAMILY_SIZE: u32 = 3;

/// An affix that adds nothing to a name, with the least popular rank it is
/// flagged against (popularity asymmetry), and the rank when the protected
/// name already heads a family of protected names (`flask` next to
/// `flask-cors`, `daytona` next to `daytona-api-client`): its authors and
/// its community publish companions under such names (`flask-api`,
/// `daytona-sdk`), so only the very top counts there.
#[derive(Debug, Clone, Copy)]
struct Affix {
    text: &'static str,
    top_rank: u32,
    family_head_rank: u32,
    /// With upstream evidence to clear real companions, flagged everywhere.
    companion: bool,
}

const fn affix(text: &'static str, top_rank: u32, family_head_rank: u32) -> Affix {
    Affix {
        text,
        top_rank,
        family_head_rank,
        companion: false,
    }
}

/// Every rank.
const ANY: u32 = u32::MAX;
/// Padding that says nothing about what a project does (`-official`,
/// `-latest`, `easy-`, `lib-`): among the 9,986 legitimate names ranked
/// 5,001-15,000 none is such an affix on a top-5,000 name, while public
/// write-ups of campaigns show attackers using them on popular names.
/// Version-pinned prefixes and suffixes (`python3-`, `-py3`) likewise.
const JUNK: Affix = affix("", ANY, ANY);
/// `-lib`, `-dev`, `-sdk`: how a project's own authors name its companions
/// (`textual-dev`, `daytona-sdk`): any lone name, but a family head only at
/// the very top.
const COMPANION: Affix = affix("", ANY, 100);
/// `py`, `python-`, `-py`, `-api`, `-utils`, `-tools`, `-client` name real
/// wrappers and bindings of many names (`pytorch`, `python-jwt`, `path-py`,
/// `geoip2-tools`, `kubernetes-client`): each only down to the rank above
/// which no legitimate name of the measured set carries it. (Never a bare
/// version digit: `boto3` next to `boto`.)
const fn tier(text: &'static str, top_rank: u32) -> Affix {
    affix(text, top_rank, TOP_RANK_FAMILY_HEAD_AFFIX)
}
/// Next to a family head (`flask-api` by flask's community), only the top 100.
const TOP_RANK_FAMILY_HEAD_AFFIX: u32 = 100;
const fn junk(text: &'static str) -> Affix {
    affix(text, JUNK.top_rank, JUNK.family_head_rank)
}
const fn companion(text: &'static str) -> Affix {
    Affix {
        companion: true,
        ..affix(text, COMPANION.top_rank, COMPANION.family_head_rank)
    }
}
/// Each prefix also imitates the same name with `python-` (`python3-dateutil`).
const PREFIX_AFFIXES: &[Affix] = &[
    junk("python3-"),
    junk("py3-"),
    junk("python2-"),
    junk("py2-"),
    junk("pip-"),
    junk("pypi-"),
    junk("lib-"),
    junk("easy-"),
    junk("secure-"),
    junk("auto-"),
    junk("official-"),
    junk("real-"),
    junk("the-"),
    junk("new-"),
    junk("super-"),
    junk("better-"),
    tier("python-", 500),
    tier("python", 1000),
    tier("py", TOP_RANK_LOOSE_AFFIX),
];
const SUFFIX_AFFIXES: &[Affix] = &[
    junk("-python3"),
    junk("-py3"),
    junk("-pkg"),
    junk("-package"),
    junk("-module"),
    junk("-official"),
    junk("-latest"),
    junk("-new"),
    junk("-fix"),
    junk("-fixed"),
    junk("-update"),
    junk("-updated"),
    junk("-pro"),
    junk("-free"),
    junk("-cracked"),
    junk("-master"),
    junk("-main"),
    junk("-beta"),
    companion("-lib"),
    companion("-dev"),
    companion("-sdk"),
    tier("-python", TOP_RANK_BINDING_AFFIX),
    tier("-py", 2000),
    tier("-tools", 1000),
    tier("-toolkit", 1000),
    tier("-helper", 1000),
    tier("-util", 1000),
    tier("-api", 500),
    tier("py", TOP_RANK_LOOSE_AFFIX),
    tier("-utils", TOP_RANK_LOOSE_AFFIX),
    tier("-client", TOP_RANK_LOOSE_AFFIX),
];
/// `-python` also names the Python binding of a service (`statsd-python`,
/// `kafka-python`): only the top 1,000.
const TOP_RANK_BINDING_AFFIX: u32 = 1000;
/// `py`, `-utils`, `-client` anywhere: only against the very top.
const TOP_RANK_LOOSE_AFFIX: u32 = 200;
/// Affixes whose removal from a protected multi-word name is suspicious (`aws-encryption`).
const DROPPED_SUFFIXES: &[&str] = &["-sdk", "-python", "-py"];

/// Builds a [`Detector`].
#[derive(Debug, Default)]
pub struct DetectorBuilder {
    popular: Vec<(String, u32)>,
    private: Vec<String>,
    allow: Vec<String>,
    companion_affixes_everywhere: bool,
}

impl DetectorBuilder {
    /// Protect the `top_n` best-ranked names of `corpus`.
    pub fn popular(mut self, corpus: &Corpus, top_n: usize) -> Self {
        self.popular
            .extend(corpus.top(top_n).iter().map(|e| (e.name.clone(), e.rank)));
        self
    }

    /// Protect the server's own project names.
    pub fn private<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.private
            .extend(names.into_iter().map(|n| normalize(n.as_ref())));
        self
    }

    /// Names that are never flagged (legitimate projects that resemble protected ones).
    pub fn allow<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allow
            .extend(names.into_iter().map(|n| normalize(n.as_ref())));
        self
    }

    /// Flag `-lib`, `-dev`, `-sdk`, `-python` against every protected name,
    /// not only the top 1,000. For a caller that weighs upstream evidence
    /// before refusing such weak look-alikes (the server with
    /// `--typo-evidence`): the companions of less popular projects by their
    /// own authors (`daytona-sdk`) are then cleared by their history.
    pub fn companion_affixes_everywhere(mut self, yes: bool) -> Self {
        self.companion_affixes_everywhere = yes;
        self
    }

    pub fn build(self) -> Detector {
        let mut index = NameIndex::default();
        let names = self.popular.len() + self.private.len();
        let chars = self.popular.iter().map(|(n, _)| n.len()).sum::<usize>()
            + self.private.iter().map(String::len).sum::<usize>();
        index.reserve_bulk(names, chars);
        for (name, rank) in &self.popular {
            index.insert_bulk(name, Origin::Popular { rank: *rank });
        }
        for name in &self.private {
            index.insert_bulk(name, Origin::Private);
        }
        index.merge_overlay();
        Detector {
            index,
            allow: self.allow.into_iter().collect(),
            companion_affixes_everywhere: self.companion_affixes_everywhere,
        }
    }
}

/// Decides whether names are look-alikes of protected names. Build once, check often.
#[derive(Debug)]
pub struct Detector {
    index: NameIndex,
    allow: HashSet<String>,
    companion_affixes_everywhere: bool,
}

/// One explanation of a candidate as a look-alike of an indexed name.
#[derive(Debug, Clone)]
struct Finding {
    target: u32,
    rule: Rule,
    distance: usize,
}

impl Detector {
    pub fn builder() -> DetectorBuilder {
        DetectorBuilder::default()
    }

    /// Protect one more private project (cheap; no rebuild).
    pub fn add_private(&mut self, name: &str) {
        self.index.insert(&normalize(name), Origin::Private);
    }

    /// Allow-list one more name.
    pub fn add_allowed(&mut self, name: &str) {
        self.allow.insert(normalize(name));
    }

    /// Number of protected names.
    pub fn protected_len(&self) -> usize {
        self.index.len()
    }

    /// True when `name` is protected in memory or allow-listed: such names
    /// are never flagged. (Names kept in the store are established when the
    /// neighbourhood given to [`Self::check_near`] holds them.)
    pub fn is_established(&self, name: &str) -> bool {
        let n = normalize(name);
        self.index.id_of(&n).is_some() || self.allow.contains(&n)
    }

    /// Check one candidate name against the names held in memory.
    pub fn check(&self, candidate: &str) -> Verdict {
        self.check_near(candidate, &Neighbourhood::default())
    }

    /// What to fetch from a store of further protected names before
    /// checking `candidate` with [`Self::check_near`]; `None` when the
    /// answer cannot depend on them (not a name, or established in memory).
    pub fn probe(&self, candidate: &str) -> Option<Probe> {
        let folded = fold_to_ascii(candidate);
        let name = normalize(&folded.text);
        if name.is_empty()
            || name.len() > crate::names::MAX_PROJECT_NAME_LEN
            || (folded.replaced == 0 && self.is_established(&name))
        {
            return None;
        }
        let stripped_len = strip_separators(&name).len();
        let depth = match stripped_len {
            n if n < MIN_FUZZY_LEN - 1 => 0,
            n if n < MIN_FUZZY_LEN => 1,
            n if n <= MAX_LEN_FOR_TWO_EDITS => 2,
            _ => 1,
        };
        let mut names: Vec<String> = affix_bases(&name).into_iter().map(|a| a.base).collect();
        names.push(name.clone());
        let mut words = super::words::lookups(&name);
        if let Some((first, _)) = name.split_once('-') {
            words.push(first.to_string());
        }
        // A last word made plural is checked against its singular's uses.
        if let Some(stem) = name.rsplit('-').next().and_then(|w| w.strip_suffix('s')) {
            words.push(stem.to_string());
        }
        Some(Probe::new(&name, depth, names, words))
    }

    /// Check one candidate against the names in memory plus `hood`, the
    /// stored names near it (fetched with [`Self::probe`]).
    pub fn check_near(&self, candidate: &str, hood: &Neighbourhood) -> Verdict {
        Scan {
            index: Protected::new(&self.index, hood),
            allow: &self.allow,
            companion_affixes_everywhere: self.companion_affixes_everywhere,
        }
        .check(candidate)
    }
}

/// One check: the protected names it sees, and the allow-list.
struct Scan<'a> {
    index: Protected<'a>,
    allow: &'a HashSet<String>,
    companion_affixes_everywhere: bool,
}

impl Scan<'_> {
    fn is_established(&self, name: &str) -> bool {
        self.index.id_of(name).is_some() || self.allow.contains(name)
    }

    /// Check one candidate name.
    pub fn check(&self, candidate: &str) -> Verdict {
        let folded = fold_to_ascii(candidate);
        let name = normalize(&folded.text);
        let verdict = |suspicious, reason: String| Verdict {
            name: candidate.to_string(),
            suspicious,
            target: None,
            rule: None,
            distance: None,
            reason,
        };
        if name.is_empty() || name.len() > crate::names::MAX_PROJECT_NAME_LEN {
            return verdict(false, "not a project name: empty or too long".to_string());
        }
        if folded.replaced > 0 {
            // Non-ASCII look-alikes are never legitimate in a project name.
            if let Some(id) = self.index.id_of(&name) {
                return self.flag(
                    candidate,
                    Finding {
                        target: id,
                        rule: Rule::Homoglyph,
                        distance: folded.replaced,
                    },
                );
            }
        } else if self.is_established(&name) {
            return verdict(
                false,
                "established: a protected or allow-listed name".to_string(),
            );
        }
        if folded.unmapped > 0 {
            return verdict(
                false,
                "contains non-ASCII characters with no known look-alike; not a valid project name"
                    .to_string(),
            );
        }
        match self.best_finding(&name) {
            Some(mut f) => {
                if folded.replaced > 0 {
                    f.rule = Rule::Homoglyph;
                    f.distance += folded.replaced;
                }
                self.flag(candidate, f)
            }
            None if folded.replaced > 0 => verdict(
                false,
                "contains non-ASCII characters; not a valid project name, but it imitates no protected name".to_string(),
            ),
            None => verdict(false, "no protected name looks like it".to_string()),
        }
    }

    fn flag(&self, candidate: &str, f: Finding) -> Verdict {
        let Some(entry) = self.index.entry(f.target) else {
            return Verdict {
                name: candidate.to_string(),
                suspicious: false,
                target: None,
                rule: None,
                distance: None,
                reason: "internal error: unknown target".to_string(),
            };
        };
        let whose = match entry.origin {
            Origin::Popular { rank } => format!("popular project #{rank}"),
            Origin::Private => "project hosted here".to_string(),
        };
        Verdict {
            name: candidate.to_string(),
            suspicious: true,
            target: Some(entry.name.clone()),
            rule: Some(f.rule),
            distance: Some(f.distance),
            reason: format!(
                "looks like {} ({whose}): {}, edit distance {}",
                entry.name,
                f.rule.describe(),
                f.distance
            ),
        }
    }

    fn best_finding(&self, name: &str) -> Option<Finding> {
        let mut findings = Vec::new();
        self.skeleton_findings(name, &mut findings);
        self.edit_findings(name, &mut findings);
        self.affix_findings(name, &mut findings);
        self.word_swap_findings(name, &mut findings);
        self.affix_typo_findings(name, &mut findings);
        // Closest first; then the more popular (private names rank first).
        findings.into_iter().min_by_key(|f| {
            let rank = match self.index.entry(f.target).map(|e| e.origin) {
                Some(Origin::Popular { rank }) => rank,
                _ => 0,
            };
            (f.distance, rank)
        })
    }

    fn rank_of(&self, id: u32) -> Option<u32> {
        match self.index.entry(id)?.origin {
            Origin::Popular { rank } => Some(rank),
            Origin::Private => Some(0),
        }
    }

    /// Same visual skeleton: homoglyphs, and separator-only differences.
    fn skeleton_findings(&self, name: &str, out: &mut Vec<Finding>) {
        let stripped = strip_separators(name);
        for id in self.index.same_skeleton(&skeleton(name)) {
            let Some(target) = self.index.entry(id) else {
                continue;
            };
            if target.name == name {
                continue;
            }
            let distance = strsim::osa_distance(name, &target.name);
            if strip_separators(&target.name) != stripped {
                out.push(Finding {
                    target: id,
                    rule: Rule::Homoglyph,
                    distance,
                });
            } else if self.separator_change_is_suspicious(name, &target.name) {
                out.push(Finding {
                    target: id,
                    rule: Rule::Separator,
                    distance,
                });
            }
        }
    }

    /// Dropping separators is suspicious; adding one is too, unless it splits
    /// the name into words that protected names already use (`json-diff`).
    fn separator_change_is_suspicious(&self, name: &str, target: &str) -> bool {
        if strip_separators(target).len() < MIN_FUZZY_LEN {
            return false;
        }
        let added = name.matches('-').count() > target.matches('-').count();
        if !added {
            return true;
        }
        let target_words: HashSet<&str> = target.split('-').collect();
        let new: Vec<&str> = name
            .split('-')
            .filter(|w| !target_words.contains(w))
            .collect();
        if new.iter().all(|w| self.index.is_word(w)) {
            return false;
        }
        // One word split in two readable words, one of them a word protected
        // names use (`expiring-dict`, `edit-distance`, `oauth2-client`): a
        // spelling of the same words, not a slip inside one.
        let readable = |w: &&str| w.len() >= MIN_SPLIT_WORD_LEN;
        // Only for names outside the very top: `setup-tools` is an attack.
        let top = self
            .index
            .id_of(target)
            .and_then(|id| self.rank_of(id))
            .is_some_and(|r| r <= TOP_RANK_WEAK);
        top || !(new.len() == 2
            && new.iter().all(readable)
            && new.iter().any(|w| self.index.is_word(w)))
    }

    /// Protected names within two edits whose edits are typing mistakes.
    fn edit_findings(&self, name: &str, out: &mut Vec<Finding>) {
        let stripped = strip_separators(name);
        if stripped.len() < MIN_FUZZY_LEN - 1 {
            return;
        }
        // Three letters: only a letter dropped from a four-letter name (`ric`).
        let three = stripped.len() < MIN_FUZZY_LEN;
        let mut ids = Vec::new();
        let depth = match stripped.len() {
            n if n < MIN_FUZZY_LEN => 1,
            n if n <= MAX_LEN_FOR_TWO_EDITS => 2,
            _ => 1,
        };
        self.index.near(&stripped, depth, &mut ids);
        if depth == 2 && stripped.len() >= MIN_LEN_FOR_TWO_EDITS {
            self.two_swap_ids(name, &mut ids);
        }
        let near = Neighbours::count(&self.index, name, &ids);
        for id in ids {
            let Some(target) = self.index.entry(id) else {
                continue;
            };
            let scripts = edit_scripts(name, &target.name, 2, MAX_SCRIPTS);
            let rank = self.rank_of(id);
            let explained = scripts.iter().find_map(|edits| {
                let rule = match edits.as_slice() {
                    [edit @ Edit::Omission { .. }] if three => self
                        .single_edit_rule(name, &target.name, *edit, rank)
                        .or_else(|| self.lone_slip_rule(name, &target.name, *edit, rank, &near)),
                    _ if three => None,
                    [edit] => self
                        .single_edit_rule(name, &target.name, *edit, rank)
                        .or_else(|| self.lone_slip_rule(name, &target.name, *edit, rank, &near)),
                    [a, b] => two_edit_rule(&target.name, *a, *b)
                        .or_else(|| self.combined_edit_rule(name, &target.name, *a, *b, rank))
                        .or_else(|| Self::long_name_two_slips(name, &target.name, *a, *b)),
                    _ => None,
                }?;
                Some(Finding {
                    target: id,
                    rule,
                    distance: edits.len(),
                })
            });
            match explained {
                Some(f) => out.push(f),
                None => self.stripped_finding(name, id, out),
            }
        }
    }

    /// Popular names two separate swaps of neighbours away (`reqeutss`):
    /// the deletion index reaches only pairs with a letter added or left
    /// out, so these are looked up exactly. Only names held in memory (a
    /// stored private name is not fetched for this).
    fn two_swap_ids(&self, name: &str, ids: &mut Vec<u32>) {
        let b = name.as_bytes();
        let swappable =
            |i: usize| i + 1 < b.len() && b[i] != b[i + 1] && b[i] != b'-' && b[i + 1] != b'-';
        let mut found = false;
        for i in (1..b.len()).filter(|i| swappable(*i)) {
            for j in (i + 2..b.len()).filter(|j| swappable(*j)) {
                let mut s = b.to_vec();
                s.swap(i, i + 1);
                s.swap(j, j + 1);
                let Ok(s) = String::from_utf8(s) else {
                    continue;
                };
                if let Some(id) = self.index.id_of(&s) {
                    if matches!(
                        self.index.entry(id).map(|e| e.origin),
                        Some(Origin::Popular { .. })
                    ) {
                        ids.push(id);
                        found = true;
                    }
                }
            }
        }
        if found {
            ids.sort_unstable();
            ids.dedup();
        }
    }

    /// Two typing slips anywhere inside a long name (`xgraammr`, `pycrytodmoe`):
    /// one-word names of 9+ letters are far enough apart that two slips
    /// rarely land on another real project; multi-word names are not
    /// (`pytest-xdist`/`pytest-dist`), so only single words count.
    fn long_name_two_slips(name: &str, target: &str, a: Edit, b: Edit) -> Option<Rule> {
        if target.len() < MIN_LEN_FOR_TWO_SLIPS || target.contains('-') || name.contains('-') {
            return None;
        }
        let slip = |e: Edit| {
            e.pos() > 0
                && match e {
                    Edit::Transposition { .. }
                    | Edit::Repetition { .. }
                    | Edit::AdjacentKey { .. }
                    | Edit::AdjacentInsertion { .. } => true,
                    Edit::Omission { ch, .. } => !ch.is_ascii_digit(),
                    Edit::Insertion { ch, .. } => ch.is_ascii_lowercase(),
                    _ => false,
                }
        };
        // At least one of them a swap or a doubled letter: two letters
        // added or left out are usually another word (`ratelimiter`).
        let subtle = |e: Edit| matches!(e, Edit::Transposition { .. } | Edit::Repetition { .. });
        (slip(a) && slip(b) && (subtle(a) || subtle(b))).then_some(Rule::EditDistance)
    }

    /// Two edits of kinds attackers combine, against a popular name of six or
    /// more letters: a typo plus a letter added at the end (`reqeustss`,
    /// `cryptogarphy2`), two letters swapped across one (`setoptuols`), or
    /// two words made plural or singular (`scikits-learns`).
    fn combined_edit_rule(
        &self,
        name: &str,
        target: &str,
        a: Edit,
        b: Edit,
        rank: Option<u32>,
    ) -> Option<Rule> {
        let target_len = strip_separators(target).len();
        let within = |top: u32| rank.is_some_and(|r| r <= top);
        // A swap or a doubled letter before the end: strong enough for a
        // shorter name at the top (`numpyy3`).
        let strong_typo = [a, b].iter().any(|e| {
            matches!(e, Edit::Transposition { .. } | Edit::Repetition { .. })
                && e.pos() + 1 < name.len()
        });
        let long_enough = target_len >= MIN_LEN_FOR_COMBINED && within(TOP_RANK_COMBINED);
        let short_enough = strong_typo
            && target_len >= MIN_LEN_FOR_COMBINED_SHORT
            && within(TOP_RANK_COMBINED_SHORT);
        if !long_enough && !short_enough {
            return None;
        }
        let c = name.as_bytes();
        let t = target.as_bytes();
        let last = c.len().checked_sub(1)?;
        let at_end = |e: Edit| {
            matches!(
                e,
                Edit::Insertion { .. } | Edit::Repetition { .. } | Edit::AdjacentInsertion { .. }
            ) && e.pos() == last
        };
        // A typo, then an `s`, a digit or the last letter again typed at the
        // end (other letters make another word: `pytest-cover`, `pandasai`).
        let end_char = c.get(last).copied().unwrap_or(0);
        let plausible_end = end_char == b's'
            || end_char.is_ascii_digit()
            || c.get(last.wrapping_sub(1)) == Some(&end_char);
        for (typo, end) in [(a, b), (b, a)] {
            if at_end(end) && !at_end(typo) && plausible_end && typo.pos() + 2 < c.len() {
                let trimmed = name.get(..last)?;
                let rule = self.single_edit_rule(trimmed, target, typo, rank)?;
                return matches!(
                    rule,
                    Rule::Transposition
                        | Rule::Repetition
                        | Rule::Omission
                        | Rule::AdjacentKey
                        | Rule::Insertion
                        | Rule::Homoglyph
                        | Rule::Plural
                )
                .then_some(Rule::EditDistance);
            }
        }
        let substituted = |e: Edit| {
            matches!(
                e,
                Edit::Substitution { .. } | Edit::AdjacentKey { .. } | Edit::Homoglyph { .. }
            )
        };
        if substituted(a) && substituted(b) && c.len() == t.len() {
            // Two letters swapped with one between them (`setoptuols`).
            let (i, j) = (a.pos().min(b.pos()), a.pos().max(b.pos()));
            let swapped = j - i <= 3
                && c.get(i) == t.get(j)
                && c.get(j) == t.get(i)
                && !c.get(i..=j)?.contains(&b'-');
            return (swapped && i > 0).then_some(Rule::Transposition);
        }
        // Every changed word made plural or singular (`scikits-learns`).
        let plural = |e: Edit| match e {
            Edit::Insertion { pos, ch: b's' } | Edit::Repetition { pos } => {
                c.get(pos) == Some(&b's') && c.get(pos + 1).map_or(true, |n| *n == b'-')
            }
            Edit::Omission { pos, ch: b's', .. } => c.get(pos).map_or(true, |n| *n == b'-'),
            _ => false,
        };
        (plural(a) && plural(b) && name.contains('-')).then_some(Rule::Plural)
    }

    /// `awsencrytpionsdk`: separators dropped *and* a swap.
    fn stripped_finding(&self, name: &str, id: u32, out: &mut Vec<Finding>) {
        let Some(target) = self.index.entry(id) else {
            return;
        };
        if name.contains('-') || !target.name.contains('-') {
            return;
        }
        let stripped_target = strip_separators(&target.name);
        if let Some([Edit::Transposition { .. }]) =
            edit_script(name, &stripped_target, 1).as_deref()
        {
            let distance = strsim::osa_distance(name, &target.name);
            out.push(Finding {
                target: id,
                rule: Rule::Separator,
                distance,
            });
        }
    }

    /// Session 11: one slip of a letter that the other rules leave alone,
    /// against a name far more popular than anything else near the
    /// look-alike: no other protected name is within two edits of it. Where the look-alike sits
    /// between several protected names it is in a crowded space of real
    /// names (`tooz` by `toolz` and `tox`, `isolate`, `panda`); alone next
    /// to a top name it has nothing else to be. Measured on the 9,986
    /// legitimate names ranked 5,001-15,000: none is flagged by it.
    fn lone_slip_rule(
        &self,
        name: &str,
        target: &str,
        edit: Edit,
        rank: Option<u32>,
        near: &Neighbours,
    ) -> Option<Rule> {
        // Three-letter targets are too crowded (`tlds` next to `tld`).
        if strip_separators(target).len() < MIN_FUZZY_LEN {
            return None;
        }
        let within = |top: u32| rank.is_some_and(|r| r <= top);
        // Plugin-family members beyond #1,000 keep their siblings apart
        // (`django-filer` next to `django-filter`, #1,193).
        let family_member = target
            .split_once('-')
            .is_some_and(|(first, _)| self.index.family_size(first) >= MIN_FAMILY_SIZE);
        if family_member && !within(TOP_RANK_IN_FAMILY) {
            return None;
        }
        let c = name.as_bytes();
        let letter = |b: Option<&u8>| b.is_some_and(u8::is_ascii_lowercase);
        let last = name.len().saturating_sub(1);
        let alone = near.within_two <= 1;
        let rule = match edit {
            Edit::Substitution { pos } | Edit::AdjacentKey { pos }
                if letter(c.get(pos)) && letter(target.as_bytes().get(pos)) =>
            {
                // The first letter (`icramp`, `uccabe`), when the look-alike's
                // opening is no commoner among popular names than the
                // target's: a slip lands anywhere, a chosen name on a common
                // opening (`retworkx` next to `networkx`). The last letter
                // (`rpds-pw`). A letter inside stays with the other rules
                // (`isolate` next to `isodate`).
                let first =
                    pos == 0 && self.index.opening_uses(name) <= self.index.opening_uses(target);
                ((first || pos == last) && within(TOP_RANK_LONE_SLIP) && alone)
                    .then_some(Rule::Substitution)
            }
            // A letter added or left out inside. Before the first letter it
            // reads as another name (`grequests`, `ipytest`, `ignore` next to
            // `rignore`); after the last, or the last left out, too (`torchx`,
            // `panda`): those stay with the other rules, as do swaps in
            // four-letter names (`tdqm`).
            Edit::Insertion { pos, .. } | Edit::AdjacentInsertion { pos }
                if letter(c.get(pos)) && pos > 0 && pos < last =>
            {
                (within(TOP_RANK_LONE_INSIDE) && alone).then_some(Rule::Insertion)
            }
            Edit::Omission { pos, ch, .. }
                if ch.is_ascii_lowercase() && pos > 0 && pos < name.len() =>
            {
                (within(TOP_RANK_LONE_INSIDE) && alone).then_some(Rule::Omission)
            }
            _ => None,
        }?;
        self.word_check(name, target, rule)
    }

    fn single_edit_rule(
        &self,
        name: &str,
        target: &str,
        edit: Edit,
        rank: Option<u32>,
    ) -> Option<Rule> {
        let len = target.len();
        let c = name.as_bytes();
        let at = |p: usize| c.get(p).copied().unwrap_or(0);
        let last = name.len().saturating_sub(1);
        let within = |top: u32| rank.is_some_and(|r| r <= top);
        // Popularity asymmetry: the edits that are often legitimate are
        // flagged only against names far more popular than almost any
        // new project (attackers imitate what many people type).
        let weak = within(TOP_RANK_WEAK);
        let short_target = strip_separators(target).len() <= SHORT_TARGET_LEN;
        // A short name one edit from a little-used short name is mostly a
        // coincidence (`parsl`/`parso`, `clint`/`cint`): the space of short
        // names is crowded.
        let crowded = short_target && !within(TOP_RANK_SHORT_TARGET);
        let word_end = |p: usize| c.get(p + 1).map_or(true, |n| *n == b'-');
        // For a substitution: the letter of the target at the same place.
        let expected = |p: usize| target.as_bytes().get(p).copied().unwrap_or(0);
        let crowded_family = target
            .split_once('-')
            .is_some_and(|(first, _)| self.index.family_size(first) >= MIN_FAMILY_SIZE)
            && !within(TOP_RANK_IN_FAMILY);
        // The family's own word made plural or singular (`pytests-vcr`,
        // `type-defusedxml`, `mypys-boto3-s3`): the word every member
        // shares is the one typed most, and no member changes it, so this
        // counts at any rank unless the new first word heads a family too.
        let family_word_plural = |p: usize| {
            target.split_once('-').is_some_and(|(first, _)| {
                p <= first.len() && self.index.family_size(first) >= MIN_FAMILY_SIZE
            }) && name
                .split_once('-')
                .is_some_and(|(first, _)| self.index.family_size(first) == 0)
        };
        let rule = match edit {
            Edit::Homoglyph { .. } => return Some(Rule::Homoglyph),
            Edit::Separator { .. } => {
                return self
                    .separator_change_is_suspicious(name, target)
                    .then_some(Rule::Separator)
            }
            // Swaps and doubled letters are the strongest slips: even next
            // to a crowded short name (`scarpy`, `scrapyy`) few real
            // projects are named that way.
            Edit::Transposition { pos } => ((len >= 5 && !crowded || len >= 6)
                && !(at(pos).is_ascii_digit() && at(pos + 1).is_ascii_digit()))
            .then_some(Rule::Transposition),
            Edit::Repetition { pos } => {
                (len >= 4 && !at(pos).is_ascii_digit() && (!crowded || len >= 5))
                    .then_some(Rule::Repetition)
            }
            Edit::Omission { pos, ch, doubled } => {
                let trailing = pos >= name.len();
                let at_word_end = trailing || at(pos) == b'-';
                if ch.is_ascii_digit() {
                    None
                } else if name.len() == MIN_FUZZY_LEN - 1 {
                    // `ric` for `rich`, `tml` for `toml`; a letter from
                    // the middle (`tml`, `grq` for `groq`) at any rank.
                    let inside = pos > 0 && !trailing && ch.is_ascii_lowercase();
                    (within(TOP_RANK_FOUR_LETTER_OMISSION) || inside).then_some(Rule::Omission)
                } else if ch == b's' && at_word_end && strip_separators(target).len() >= 7 {
                    // `setuptool`, `more-itertool`, `google-api-cores`.
                    (within(TOP_RANK_PLURAL) && !crowded_family || family_word_plural(pos))
                        .then_some(Rule::Plural)
                } else if trailing {
                    // The last letter: too often another word (`panda`, `crypt`).
                    (ch != b's' && (weak && len >= 6 || len >= 13)).then_some(Rule::Omission)
                } else {
                    // `django-filer`: a short word of a plugin-family name
                    // one letter short of a sibling's is usually a sibling.
                    let short_family_word = crowded_family
                        && name.get(..pos).is_some_and(|before| before.contains('-'))
                        && name.get(pos..).is_some_and(|after| !after.contains('-'))
                        && word_at(target, pos).is_some_and(|w| w.len() <= SHORT_TARGET_LEN);
                    // Four letters left of a five-letter name: only the very top (`flsk`).
                    let ok = (name.len() >= 5 || name.len() == 4 && within(TOP_RANK_SHORT))
                        && !crowded
                        && !short_family_word
                        && (doubled || pos > 0 || name.len() >= MIN_LEN_FOR_FIRST_OMISSION);
                    ok.then_some(Rule::Omission)
                }
            }
            Edit::AdjacentKey { pos } => {
                if len >= 5 && !crowded && (pos > 0 || len >= 7 || within(TOP_RANK_SHORT)) {
                    Some(Rule::AdjacentKey)
                } else {
                    // Neighbouring keys that also read alike (`i`/`o`).
                    return self.single_edit_rule(name, target, Edit::Substitution { pos }, rank);
                }
            }
            Edit::AdjacentInsertion { pos } => {
                if len >= 4 && pos > 0 && !crowded {
                    Some(Rule::AdjacentKey)
                } else {
                    // A key next to its neighbour can still be a plural or a
                    // stray letter (`pygames`: `s` sits next to `e`).
                    return self.single_edit_rule(
                        name,
                        target,
                        Edit::Insertion { pos, ch: at(pos) },
                        rank,
                    );
                }
            }
            Edit::Insertion { pos, ch } => {
                if ch == b's'
                    && word_end(pos)
                    && len >= 5
                    && c.get(pos.wrapping_sub(1)) != Some(&b's')
                {
                    // A plural: `pandass` is a repetition, `pandas-corex` not a word end.
                    // In a plugin family, the last word made plural when protected
                    // names spell it in the singular only, and more than one does
                    // (`mypy-boto3-ssos`, `tree-sitter-sqls`): a word of one member
                    // alone stays apart (`django-pglocks` next to `django-pglock`).
                    let shared_singular = pos == last
                        && target.rsplit('-').next().is_some_and(|w| {
                            self.index.word_uses(w) >= MIN_USES_SHARED_SINGULAR
                                && self.index.word_uses(&format!("{w}s")) == 0
                        });
                    (pos == last && !target.ends_with('s') && !crowded_family
                        || within(TOP_RANK_PLURAL_ADDED) && !crowded_family
                        || family_word_plural(pos)
                        || shared_singular)
                        .then_some(Rule::Plural)
                } else if pos == last {
                    // A stray letter typed after the name (`pandasx`, `scipyt`).
                    ((weak && len >= 4
                        || strip_separators(target).len() >= MIN_LEN_TRAILING_ANY_RANK)
                        && ch.is_ascii_lowercase())
                    .then_some(Rule::Insertion)
                } else {
                    // An extra vowel inside a long name is a spelling variant that
                    // reads the same (`colourama`); other letters and digits
                    // usually make another word or a version (`html2docx`), and
                    // at the start it reads as another word.
                    (pos > 0 && len >= MIN_LEN_FOR_INSERTION && is_vowel(ch))
                        .then_some(Rule::Insertion)
                }
            }
            Edit::Substitution { pos } => {
                let top = rank.is_some_and(|r| r <= TOP_RANK_FOR_SUBSTITUTION);
                let letters = at(pos).is_ascii_lowercase() && expected(pos).is_ascii_lowercase();
                if pos == 0 {
                    // `ettrs`, `mttpx`: a changed first letter, only against the very top;
                    // any letter down to #2,000 when no popular name opens like the
                    // look-alike and many open like the target (`kwscli`, `jyee`).
                    let unseen_opening = letters
                        && within(TOP_RANK_FIRST_LETTER_UNSEEN)
                        && self.index.opening_uses(name) == 0
                        && self.index.opening_uses(target) >= MIN_OPENING_USES
                        // ...or, against the top 500, three letters no popular name has
                        // anywhere (`ztoml`, `qrrow`), the target's opening not a rare one.
                        || letters
                            && within(TOP_RANK_WEAK)
                            && self.index.unseen_first_three(name)
                            && self.index.opening_uses(target) >= MIN_OPENING_USES_TOP;
                    (len >= MIN_FUZZY_LEN
                        && (within(TOP_RANK_FIRST_LETTER) && sounds_alike(at(pos), expected(pos))
                            || unseen_opening))
                        .then_some(Rule::Substitution)
                } else if len >= 5
                    && (top && !target.contains('-')
                        || len >= MIN_LEN_ANY_SUBSTITUTION && !target.contains('-') && letters
                        || target.contains('-')
                            && letters
                            && word_at(target, pos)
                                .is_some_and(|w| w.len() >= MIN_WORD_LEN_FOR_SUBSTITUTION)
                        || within(TOP_RANK_SOUNDALIKE) && sounds_alike(at(pos), expected(pos))
                        || within(TOP_RANK_UNSEEN_TRIGRAM)
                            && letters
                            && !target.contains('-')
                            && self.index.unseen_trigram_at(name, pos)
                        || within(TOP_RANK_SOUNDALIKE_CONSONANT)
                            && sounds_alike(at(pos), expected(pos))
                            && !is_vowel(at(pos))
                            && at(pos) != b'y'
                        || len >= MIN_LEN_SOUNDALIKE_ANY_RANK
                            && !target.contains('-')
                            && sounds_alike(at(pos), expected(pos)))
                {
                    Some(Rule::Substitution)
                } else {
                    None
                }
            }
        }?;
        self.word_check(name, target, rule)
    }

    /// A changed word that protected names already use is a different word, not a typo
    /// (`pytest-csv` next to `pytest-cov`); so is one built from such words
    /// (`typedpy` next to `typepy`), except a plural (`taskgroups`).
    fn word_check(&self, name: &str, target: &str, rule: Rule) -> Option<Rule> {
        match self.changed_word(name, target) {
            Some(_) if rule == Rule::Plural => Some(rule),
            Some(word) if self.index.is_word(word) => None,
            Some(word) if rule != Rule::Affix && self.index.is_compound(word) => None,
            _ => Some(rule),
        }
    }

    /// The one word of `name` that differs from `target`, when they have
    /// the same number of words and only one differs.
    fn changed_word<'a>(&self, name: &'a str, target: &str) -> Option<&'a str> {
        let a: Vec<&str> = name.split('-').collect();
        let b: Vec<&str> = target.split('-').collect();
        if a.len() != b.len() {
            return None;
        }
        let mut changed = a.iter().zip(&b).filter(|(x, y)| x != y);
        match (changed.next(), changed.next()) {
            (Some((word, _)), None) => Some(word),
            _ => None,
        }
    }

    fn affix_findings(&self, name: &str, out: &mut Vec<Finding>) {
        for a in affix_bases(name) {
            if let Some(id) = self.index.id_of(&a.base) {
                let top = if self.companion_affixes_everywhere && a.companion {
                    ANY
                } else if self.index.family_size(&a.base) > 0 {
                    a.family_head_rank
                } else {
                    a.top_rank
                };
                if !self.rank_of(id).is_some_and(|r| r <= top) {
                    continue;
                }
                let distance = strsim::osa_distance(name, &a.base);
                out.push(Finding {
                    target: id,
                    rule: a.rule,
                    distance,
                });
            }
        }
    }

    /// An affix added to a name with a typing slip in it (`litelm-lib`,
    /// `python-reqeusts`): the affix alone or the slip alone is caught by
    /// the other rules, both together are three or more edits. Only strong
    /// slips (a swap, a doubled letter, a neighbouring key, a look-alike,
    /// a letter left out inside), never at the first letter, and only
    /// against popular names held in memory (a stored private name is not
    /// fetched for this).
    fn affix_typo_findings(&self, name: &str, out: &mut Vec<Finding>) {
        for a in affix_bases(name) {
            if a.rule != Rule::Affix
                || a.base.len() >= name.len()
                || self.index.id_of(&a.base).is_some()
            {
                continue;
            }
            let stripped = strip_separators(&a.base);
            if stripped.len() < MIN_LEN_AFFIX_TYPO {
                continue;
            }
            let mut ids = Vec::new();
            self.index.near(&stripped, 1, &mut ids);
            for id in ids {
                let Some(target) = self.index.entry(id) else {
                    continue;
                };
                let Origin::Popular { rank } = target.origin else {
                    continue;
                };
                if rank > TOP_RANK_AFFIX_TYPO.min(a.top_rank) {
                    continue;
                }
                let base_len = a.base.len();
                let strong = |e: Edit| {
                    e.pos() > 0
                        && match e {
                            Edit::Transposition { .. }
                            | Edit::Repetition { .. }
                            | Edit::AdjacentKey { .. }
                            | Edit::Homoglyph { .. } => true,
                            Edit::Omission { pos, ch, .. } => {
                                pos < base_len && ch.is_ascii_lowercase()
                            }
                            _ => false,
                        }
                };
                let explained = edit_scripts(&a.base, &target.name, 1, MAX_SCRIPTS)
                    .iter()
                    .any(|edits| match edits.as_slice() {
                        [e] if strong(*e) => matches!(
                            self.single_edit_rule(&a.base, &target.name, *e, Some(rank)),
                            Some(
                                Rule::Transposition
                                    | Rule::Repetition
                                    | Rule::AdjacentKey
                                    | Rule::Homoglyph
                                    | Rule::Omission
                            )
                        ),
                        _ => false,
                    });
                if explained {
                    out.push(Finding {
                        target: id,
                        rule: Rule::EditDistance,
                        distance: strsim::osa_distance(name, &target.name),
                    });
                }
            }
        }
    }

    fn word_swap_findings(&self, name: &str, out: &mut Vec<Finding>) {
        if !name.contains('-') {
            return;
        }
        for id in self.index.same_words(name) {
            let Some(target) = self.index.entry(id) else {
                continue;
            };
            let family = name
                .split('-')
                .next()
                .filter(|w| self.index.family_size(w) >= MIN_FAMILY_SIZE);
            let same_first = family.is_some_and(|w| target.name.split('-').next() == Some(w));
            if target.name != name && (family.is_none() || same_first) {
                let distance = strsim::osa_distance(name, &target.name);
                out.push(Finding {
                    target: id,
                    rule: Rule::WordSwap,
                    distance,
                });
            }
        }
    }
}

/// How many protected names are near a candidate (the target among them).
struct Neighbours {
    /// Within two edits (optimal string alignment on the normalised names).
    within_two: usize,
}

impl Neighbours {
    fn count(index: &Protected, name: &str, ids: &[u32]) -> Self {
        let within_two = ids
            .iter()
            .filter_map(|id| index.entry(*id))
            .filter(|e| strsim::osa_distance(name, &e.name) <= 2)
            .count();
        Neighbours { within_two }
    }
}

/// A protected name `name` may imitate by an affix, and how popular it
/// must be for that to count.
struct AffixBase {
    base: String,
    rule: Rule,
    /// Flagged only when the base is at most this popular rank...
    top_rank: u32,
    /// ...or this one when the base heads a family of protected names.
    family_head_rank: u32,
    /// A companion affix (`-sdk`): flagged everywhere when upstream
    /// evidence can clear the real companions.
    companion: bool,
}

/// The protected names `name` would imitate by an affix: `python3-x` → `x`
/// and `python-x`; `x-lib` → `x`; `aws-encryption` → `aws-encryption-sdk`;
/// `requests-2-31` → `requests`; `scikits-learns` → `scikit-learn`.
fn affix_bases(name: &str) -> Vec<AffixBase> {
    let mut out = Vec::new();
    let mut push = |base: String, rule: Rule, a: Affix| {
        if base != name && !base.is_empty() {
            out.push(AffixBase {
                base,
                rule,
                top_rank: a.top_rank,
                family_head_rank: a.family_head_rank,
                companion: a.companion,
            })
        }
    };
    for a in PREFIX_AFFIXES {
        if let Some(base) = name.strip_prefix(a.text) {
            push(base.to_string(), Rule::Affix, *a);
            // `python3-dateutil`: a version-pinned prefix in front of a
            // protected `python-` name looks like its Python 3 edition.
            if !base.starts_with("python-") {
                push(format!("python-{base}"), Rule::Affix, *a);
            }
        }
    }
    for a in SUFFIX_AFFIXES {
        if let Some(base) = name.strip_suffix(a.text) {
            push(base.to_string(), Rule::Affix, *a);
        }
    }
    let mut add =
        |base: String, rule: Rule, top_rank: u32| push(base, rule, affix("", top_rank, top_rank));
    if name.contains('-') {
        for suffix in DROPPED_SUFFIXES {
            add(format!("{name}{suffix}"), Rule::Affix, u32::MAX);
        }
    }
    if let Some((base, version)) = split_version_suffix(name) {
        if version.len() >= 2 {
            add(base.to_string(), Rule::VersionSuffix, u32::MAX);
        }
    }
    // Two letters swapped across one or two others (`setoptuols`): two
    // substitutions, which the deletion index does not reach.
    let b = name.as_bytes();
    let letters = strip_separators(name).len();
    let swap_rank = if letters >= MIN_LEN_FOR_COMBINED {
        Some(TOP_RANK_COMBINED)
    } else {
        (letters == SWAP_ACROSS_SHORT_LEN).then_some(TOP_RANK_SWAP_ACROSS_SHORT)
    };
    if let Some(swap_rank) = swap_rank {
        for i in 1..b.len() {
            for j in i + 2..(i + 4).min(b.len()) {
                let (x, y) = (b[i], b[j]);
                if x == y || x == b'-' || y == b'-' || b[i..=j].contains(&b'-') {
                    continue;
                }
                let mut swapped = b.to_vec();
                swapped.swap(i, j);
                if let Ok(s) = String::from_utf8(swapped) {
                    add(s, Rule::Transposition, swap_rank);
                }
            }
        }
    }
    // Another spelling that reads the same (`cryptografy`, `numpie`,
    // `termcolour`): letters that are not one edit apart.
    if strip_separators(name).len() >= MIN_LEN_FOR_SPELLING {
        for (from, to) in SPELLINGS {
            for (at, _) in name.match_indices(from) {
                let mut respelled = String::with_capacity(name.len() + 2);
                respelled.push_str(&name[..at]);
                respelled.push_str(to);
                respelled.push_str(&name[at + from.len()..]);
                add(respelled, Rule::Substitution, TOP_RANK_SPELLING);
            }
        }
    }
    // Several words made plural or singular at once (one is an edit).
    let words: Vec<&str> = name.split('-').collect();
    if (2..=MAX_WORDS_FOR_PLURALS).contains(&words.len()) {
        let variants: Vec<Vec<String>> = words.iter().map(|w| plural_variants(w)).collect();
        let mut combos: Vec<(Vec<String>, usize)> = vec![(Vec::new(), 0)];
        for (word, alts) in words.iter().zip(&variants) {
            let mut next = Vec::new();
            for (prefix, changed) in &combos {
                let mut same = prefix.clone();
                same.push((*word).to_string());
                next.push((same, *changed));
                for alt in alts {
                    let mut other = prefix.clone();
                    other.push(alt.clone());
                    next.push((other, changed + 1));
                }
            }
            combos = next;
        }
        for (parts, changed) in combos {
            if changed >= 2 {
                add(parts.join("-"), Rule::Plural, TOP_RANK_PLURAL_ADDED);
            }
        }
    }
    out
}

/// Spellings that read alike, candidate's first (`f` for the target's `ph`),
/// and the British spellings of American ones (`colour`, `analyse`).
const SPELLINGS: &[(&str, &str)] = &[
    ("f", "ph"),
    ("ph", "f"),
    ("ie", "y"),
    ("ee", "y"),
    ("i", "y"),
    ("k", "ck"),
    ("ck", "k"),
    ("ks", "x"),
    ("x", "ks"),
    ("kw", "qu"),
    ("our", "or"),
    ("ise", "ize"),
    ("yse", "yze"),
    ("isation", "ization"),
    ("ogue", "og"),
    ("centre", "center"),
    ("licence", "license"),
];
/// Respelled names need this many letters and a target this popular.
const MIN_LEN_FOR_SPELLING: usize = 5;
const TOP_RANK_SPELLING: u32 = 1000;

/// Multi-word names with at most this many words are searched for several
/// words made plural or singular at once.
const MAX_WORDS_FOR_PLURALS: usize = 6;

/// The singular of a plural-looking word and the plural of a singular one
/// (`apis` → `api`, `tool` → `tools`, `libraries` → `library`).
fn plural_variants(word: &str) -> Vec<String> {
    if word.len() < 3 || word.bytes().all(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(stem) = word.strip_suffix("ies") {
        out.push(format!("{stem}y"));
    }
    match word.strip_suffix('s') {
        Some(stem) if !stem.ends_with('s') => out.push(stem.to_string()),
        Some(_) => {}
        None => out.push(format!("{word}s")),
    }
    out
}

/// Two typing mistakes in one name: only the visually subtle ones (swaps,
/// doubled or undoubled letters, look-alikes), in long names, never at the first character.
fn two_edit_rule(target: &str, a: Edit, b: Edit) -> Option<Rule> {
    let subtle = |e: Edit| {
        matches!(
            e,
            Edit::Transposition { .. }
                | Edit::Repetition { .. }
                | Edit::Omission { doubled: true, .. }
                | Edit::Homoglyph { .. }
        ) && e.pos() > 0
    };
    (target.len() >= MIN_LEN_FOR_TWO_EDITS && subtle(a) && subtle(b)).then_some(Rule::EditDistance)
}

/// `requests-2-31-0` → (`requests`, [`2`, `31`, `0`]): the trailing numeric
/// words (a leading `v` allowed on the first) of a normalised name.
fn split_version_suffix(name: &str) -> Option<(&str, Vec<&str>)> {
    let mut words: Vec<&str> = name.split('-').collect();
    let mut version = Vec::new();
    while words.len() > 1 {
        let last = words.last().copied().unwrap_or_default();
        if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
            version.push(last);
            words.pop();
        } else {
            break;
        }
    }
    if let Some(last) = words.last().copied() {
        let v = last
            .strip_prefix('v')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        if let (Some(v), true) = (v, words.len() > 1) {
            version.push(v);
            words.pop();
        }
    }
    if version.is_empty() {
        return None;
    }
    version.reverse();
    let base_len = words
        .iter()
        .map(|w| w.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    Some((name.get(..base_len)?, version))
}

/// The word of `name` that contains byte `pos` (a separator ends the word before it).
fn word_at(name: &str, pos: usize) -> Option<&str> {
    let start = name.get(..pos)?.rfind('-').map_or(0, |i| i + 1);
    let end = name.get(pos..)?.find('-').map_or(name.len(), |i| pos + i);
    name.get(start..end)
}

/// Letters that read alike, so that one replacing the other is a likely
/// deliberate look-alike (`numpi`, `pyyeml`): vowels (and `y`) for each
/// other, and the consonant pairs `c`/`k`, `s`/`z`, `c`/`s`, `g`/`j`
/// (a soft `g`: `djanjo`), `i`/`j`, `u`/`v`.
fn sounds_alike(a: u8, b: u8) -> bool {
    let vowelish = |c: u8| is_vowel(c) || c == b'y';
    (vowelish(a) && vowelish(b))
        || matches!(
            (a.min(b), a.max(b)),
            (b'c', b'k') | (b's', b'z') | (b'i', b'j') | (b'u', b'v') | (b'c', b's') | (b'g', b'j')
        )
}

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}
