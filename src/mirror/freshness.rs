//! When a cached page may be served without asking upstream.

use std::time::{Duration, Instant};

use crate::store::mirror::PageRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Nothing cached: upstream must be asked.
    Unknown,
    /// Serve from the cache.
    Fresh,
    /// Revalidate with upstream; serve the cached answer if upstream fails.
    Expired,
}

/// A page is fresh for `expiry` after upstream last confirmed it; a
/// "no such project" answer for `negative_ttl`. A timestamp in the future
/// (the clock went back) counts as expired.
pub fn freshness(
    page: Option<&PageRow>,
    now: i64,
    expiry: Duration,
    negative_ttl: Duration,
) -> Freshness {
    let Some(page) = page else {
        return Freshness::Unknown;
    };
    let ttl = if page.found { expiry } else { negative_ttl };
    let age = now.saturating_sub(page.fetched);
    if age >= 0 && (age as u64) < ttl.as_secs() {
        Freshness::Fresh
    } else {
        Freshness::Expired
    }
}

/// After a failed upstream attempt, later requests serve the cached answer
/// without asking upstream again for this long (bounded by the page expiry,
/// so a short expiry keeps revalidation prompt once upstream is back).
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(30);

/// Should this request skip upstream because of a recent failure? Yes if
/// the failure happened while the request waited for the page lock (its
/// attempt counts for everyone who waited), or within the backoff.
pub fn backing_off(
    last_failure: Option<Instant>,
    waiting_since: Instant,
    expiry: Duration,
) -> bool {
    let Some(failed) = last_failure else {
        return false;
    };
    failed >= waiting_since || failed.elapsed() < FAILURE_BACKOFF.min(expiry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(found: bool, fetched: i64) -> PageRow {
        PageRow {
            project: "demo".into(),
            display_name: "demo".into(),
            found,
            etag: None,
            last_modified: None,
            serial: None,
            versions: Vec::new(),
            fetched,
        }
    }

    #[test]
    fn freshness_table() {
        let (exp, neg) = (Duration::from_secs(1800), Duration::from_secs(300));
        let now = 10_000;
        let cases = [
            (None, Freshness::Unknown),
            (Some(page(true, now)), Freshness::Fresh),
            (Some(page(true, now - 1799)), Freshness::Fresh),
            (Some(page(true, now - 1800)), Freshness::Expired),
            (Some(page(true, now + 60)), Freshness::Expired),
            (Some(page(false, now - 299)), Freshness::Fresh),
            (Some(page(false, now - 300)), Freshness::Expired),
        ];
        for (p, want) in cases {
            assert_eq!(freshness(p.as_ref(), now, exp, neg), want, "{p:?}");
        }
        assert_eq!(
            freshness(Some(&page(true, now)), now, Duration::ZERO, neg),
            Freshness::Expired,
            "expiry 0 revalidates every time"
        );
    }

    #[test]
    fn backoff() {
        let long = Duration::from_secs(1800);
        let before = Instant::now();
        let failed = Instant::now();
        assert!(!backing_off(None, before, long));
        assert!(
            backing_off(Some(failed), before, long),
            "failed while we waited"
        );
        let after = failed + Duration::from_millis(1);
        assert!(backing_off(Some(failed), after, long), "recent failure");
        assert!(
            !backing_off(Some(failed), after, Duration::ZERO),
            "no backoff with expiry 0"
        );
    }
}
