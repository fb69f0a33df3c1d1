//! Mirror cache retention (pure rules, no SQL, no files): which cached
//! mirror blobs to evict, least recently used first, under a size cap
//! (`--mirror-cache-max-gb`) and an age rule (`--mirror-cache-max-age`).
//!
//! The candidates are blobs only mirror rows name (a blob a stage index row
//! references is never offered, see `maintenance::gc`); a blob used within
//! `min_idle` is never chosen, whatever the cap says, so that a download
//! or push that just looked it up finds it.

use std::time::Duration;

/// Bytes in one "GB" of `--mirror-cache-max-gb` (GiB, like the `-mb` flags' MiB).
pub const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// How long a blob must have been idle before it may be evicted, unless set.
pub const DEFAULT_MIN_IDLE: Duration = Duration::from_secs(600);

/// What the cache may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPolicy {
    /// Total bytes of evictable cached mirror blobs to keep at most.
    pub max_bytes: Option<u64>,
    /// Evict blobs unused for longer than this.
    pub max_age: Option<Duration>,
    /// Never evict a blob used more recently than this.
    pub min_idle: Duration,
}

impl RetentionPolicy {
    /// Is there any rule to apply?
    pub fn is_active(&self) -> bool {
        self.max_bytes.is_some() || self.max_age.is_some()
    }
}

/// A cached blob only mirror rows name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<K> {
    pub key: K,
    pub size: u64,
    /// Unix seconds of the last recorded use.
    pub last_used: i64,
}

/// Why a blob is evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Unused for longer than `max_age`.
    Age,
    /// The least recently used while the cache was over `max_bytes`.
    Size,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Age => "max-age",
            Reason::Size => "max-size",
        }
    }
}

/// What [`select`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection<K> {
    /// Least recently used first.
    pub evict: Vec<(Candidate<K>, Reason)>,
    /// Bytes of all candidates.
    pub total_bytes: u64,
    /// Bytes left once `evict` is gone.
    pub kept_bytes: u64,
}

/// Choose what to evict at time `now` (unix seconds): first everything
/// unused for longer than `max_age`, then, least recently used first, until
/// the rest fits in `max_bytes`. Blobs used within `min_idle` are kept (the
/// cache may then stay over its cap until they have been idle long enough).
pub fn select<K: Ord>(
    mut cands: Vec<Candidate<K>>,
    policy: &RetentionPolicy,
    now: i64,
) -> Selection<K> {
    cands.sort_by(|a, b| a.last_used.cmp(&b.last_used).then(a.key.cmp(&b.key)));
    let total_bytes: u64 = cands.iter().map(|c| c.size).sum();
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let idle_since = now.saturating_sub(secs(policy.min_idle));
    let too_old = policy.max_age.map(|a| now.saturating_sub(secs(a)));
    let mut kept_bytes = total_bytes;
    let mut evict = Vec::new();
    for c in cands {
        // sorted oldest first: once one is too recent, so are the rest
        if c.last_used > idle_since {
            break;
        }
        let reason = if too_old.is_some_and(|t| c.last_used < t) {
            Reason::Age
        } else if policy.max_bytes.is_some_and(|max| kept_bytes > max) {
            Reason::Size
        } else {
            break;
        };
        kept_bytes -= c.size;
        evict.push((c, reason));
    }
    Selection {
        evict,
        total_bytes,
        kept_bytes,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "invalid duration {0:?}: expected a whole number followed by a unit, s (seconds), \
         m (minutes), h (hours), d (days) or w (weeks), such as 30d, 12h, 90m or 1d12h"
    )]
    Syntax(String),
    #[error("duration {0:?} is too long")]
    TooLong(String),
}

/// Parse `30d`, `12h`, `90m`, `45s`, `2w` or a sum such as `1d12h`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    let bad = || DurationError::Syntax(crate::echo::echo(text));
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::TooLong(crate::echo::echo(text)))?;
        let unit = rest[digits..].chars().next().ok_or_else(bad)?;
        let scale: u64 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or_else(|| DurationError::TooLong(crate::echo::echo(text)))?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Ok(Duration::from_secs(total))
}

/// `--max-gb`: a non-negative number of GiB (decimals allowed) in bytes.
pub fn parse_gb(text: &str) -> Result<u64, String> {
    let v: f64 = text.trim().parse().map_err(|_| {
        format!(
            "invalid size {:?}: expected a number of GB (GiB), such as 50 or 0.5",
            crate::echo::echo(text)
        )
    })?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!(
            "invalid size {:?}: must be zero or more GB",
            crate::echo::echo(text)
        ));
    }
    Ok((v * GB).min(u64::MAX as f64) as u64)
}

/// A duration for messages: the largest unit that divides it.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= n && s % n == 0 {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(key: &str, size: u64, last_used: i64) -> Candidate<String> {
        Candidate {
            key: key.into(),
            size,
            last_used,
        }
    }

    fn keys(s: &Selection<String>) -> Vec<(&str, Reason)> {
        s.evict.iter().map(|(c, r)| (c.key.as_str(), *r)).collect()
    }

    const NOW: i64 = 1_000_000;

    #[test]
    fn size_cap_evicts_least_recently_used_first_until_it_fits() {
        let p = RetentionPolicy {
            max_bytes: Some(250),
            ..Default::default()
        };
        let cands = vec![
            c("new", 100, NOW - 10),
            c("old", 100, NOW - 1000),
            c("mid", 100, NOW - 500),
            c("older", 100, NOW - 2000),
        ];
        let s = select(cands, &p, NOW);
        assert_eq!(
            keys(&s),
            vec![("older", Reason::Size), ("old", Reason::Size)]
        );
        assert_eq!((s.total_bytes, s.kept_bytes), (400, 200));
        // already under the cap: nothing
        let s = select(vec![c("a", 10, 0)], &p, NOW);
        assert!(s.evict.is_empty());
        assert_eq!(s.kept_bytes, 10);
        // a cap of zero empties the cache
        let zero = RetentionPolicy {
            max_bytes: Some(0),
            ..Default::default()
        };
        let s = select(vec![c("a", 10, 5), c("b", 0, 1)], &zero, NOW);
        assert_eq!(keys(&s), vec![("b", Reason::Size), ("a", Reason::Size)]);
    }

    #[test]
    fn age_rule_evicts_what_was_unused_for_longer_than_max_age() {
        let p = RetentionPolicy {
            max_age: Some(Duration::from_secs(600)),
            ..Default::default()
        };
        let s = select(
            vec![
                c("fresh", 1, NOW - 599),
                c("stale", 1, NOW - 601),
                c("edge", 1, NOW - 600),
            ],
            &p,
            NOW,
        );
        assert_eq!(keys(&s), vec![("stale", Reason::Age)]);
        // both rules: age first, then size among the rest
        let both = RetentionPolicy {
            max_age: Some(Duration::from_secs(600)),
            max_bytes: Some(100),
            ..Default::default()
        };
        let s = select(
            vec![
                c("stale", 50, NOW - 700),
                c("a", 80, NOW - 300),
                c("b", 80, NOW - 200),
            ],
            &both,
            NOW,
        );
        assert_eq!(keys(&s), vec![("stale", Reason::Age), ("a", Reason::Size)]);
        assert_eq!(s.kept_bytes, 80);
    }

    #[test]
    fn recently_used_blobs_are_kept_even_over_the_cap() {
        let p = RetentionPolicy {
            max_bytes: Some(0),
            max_age: Some(Duration::ZERO),
            min_idle: Duration::from_secs(60),
        };
        let s = select(
            vec![c("idle", 5, NOW - 61), c("busy", 5, NOW - 59)],
            &p,
            NOW,
        );
        assert_eq!(keys(&s), vec![("idle", Reason::Age)]);
        assert_eq!(s.kept_bytes, 5);
        // no rule: nothing, however old
        let s = select(vec![c("x", 5, 0)], &RetentionPolicy::default(), NOW);
        assert!(s.evict.is_empty());
        assert!(!RetentionPolicy::default().is_active());
    }

    #[test]
    fn ties_are_broken_by_key_so_runs_agree() {
        let p = RetentionPolicy {
            max_bytes: Some(1),
            ..Default::default()
        };
        let s = select(vec![c("b", 1, 7), c("a", 1, 7)], &p, NOW);
        assert_eq!(keys(&s), vec![("a", Reason::Size)]);
    }

    #[test]
    fn durations() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(secs("30d"), Ok(30 * 86_400));
        assert_eq!(secs("12h"), Ok(12 * 3600));
        assert_eq!(secs("90m"), Ok(5400));
        assert_eq!(secs("45s"), Ok(45));
        assert_eq!(secs("2w"), Ok(14 * 86_400));
        assert_eq!(secs("1d12h"), Ok(86_400 + 12 * 3600));
        assert_eq!(secs(" 0s "), Ok(0));
        for bad in [
            "", "30", "d", "30x", "1.5d", "-1d", "30 d", "1d 2h", "3D", "1h30",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(matches!(e, DurationError::Syntax(_)), "{bad:?}: {e}");
            assert!(e.to_string().contains("such as 30d"), "{e}");
        }
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            parse_duration("9999999999999999w"),
            Err(DurationError::TooLong(_))
        ));
        assert_eq!(format_duration(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(format_duration(Duration::from_secs(5400)), "90m");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_gb("1"), Ok(1 << 30));
        assert_eq!(parse_gb("0.5"), Ok(1 << 29));
        assert_eq!(parse_gb("0"), Ok(0));
        for bad in ["-1", "x", "", "inf", "NaN"] {
            assert!(parse_gb(bad).is_err(), "{bad:?}");
        }
    }
}
