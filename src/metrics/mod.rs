//! Process-wide counters for Prometheus (`docs/metrics.md`): fixed label
//! sets, lock-free atomics, rendered in the text exposition format.
//!
//! Domain modules call the cheap `record_*`/`count_*` functions; nothing
//! here knows HTTP or SQL. Values that are read at scrape time (pending
//! reviews, the audit head) are passed to [`render`] by the caller.

mod render;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

pub use render::{render, ScrapeGauges};

/// Route groups of the HTTP layer: a fixed set, never the raw path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteGroup {
    Simple,
    Files,
    Upload,
    Push,
    Api,
    Web,
    Docs,
    Search,
    Other,
}

impl RouteGroup {
    pub const ALL: [RouteGroup; 9] = [
        Self::Simple,
        Self::Files,
        Self::Upload,
        Self::Push,
        Self::Api,
        Self::Web,
        Self::Docs,
        Self::Search,
        Self::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Files => "files",
            Self::Upload => "upload",
            Self::Push => "push",
            Self::Api => "api",
            Self::Web => "web",
            Self::Docs => "docs",
            Self::Search => "search",
            Self::Other => "other",
        }
    }
}

/// Status classes 1xx..5xx.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Upper bounds (seconds) of the request latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Upper bounds (seconds) of the database wait histogram buckets.
pub const WAIT_BUCKETS: [f64; 8] = [0.00001, 0.0001, 0.001, 0.005, 0.01, 0.05, 0.25, 1.0];

/// A histogram with fixed buckets; the sum is kept in nanoseconds.
pub struct Histogram<const N: usize> {
    bounds: &'static [f64; N],
    buckets: [AtomicU64; N],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    const fn new(bounds: &'static [f64; N]) -> Self {
        Self {
            bounds,
            buckets: [const { AtomicU64::new(0) }; N],
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        // buckets are stored non-cumulative; render adds them up
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }
}

/// Outcomes of an upload, a push or an approval decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored / landed / approved.
    Accepted,
    /// Held for review (pushes).
    Pending,
    /// Refused (any error).
    Refused,
    /// Rejected by a reviewer (approval decisions).
    Rejected,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Self::Accepted, Self::Pending, Self::Refused, Self::Rejected];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Pending => "pending",
            Self::Refused => "refused",
            Self::Rejected => "rejected",
        }
    }
}

/// Why a request was refused (the kinds of `RegistryError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Unauthenticated,
    Forbidden,
    Conflict,
    Policy,
    Typosquat,
    Invalid,
    TooLarge,
    RateLimited,
    Upstream,
    Internal,
}

impl Refusal {
    pub const ALL: [Refusal; 11] = [
        Self::NotFound,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::Conflict,
        Self::Policy,
        Self::Typosquat,
        Self::Invalid,
        Self::TooLarge,
        Self::RateLimited,
        Self::Upstream,
        Self::Internal,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::Conflict => "conflict",
            Self::Policy => "policy",
            Self::Typosquat => "typosquat",
            Self::Invalid => "invalid",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::Upstream => "upstream",
            Self::Internal => "internal",
        }
    }
}

/// What a page cache answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKind {
    /// Rendered simple pages (`simple::PageCache`).
    Simple,
    /// Web UI page bodies (`web::BodyCache`).
    Web,
}

/// Which database connection a caller waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbConn {
    Reader,
    Writer,
}

type Counter = AtomicU64;

pub(crate) struct Metrics {
    pub(crate) http_requests: [[Counter; 5]; 9],
    pub(crate) http_latency: [Histogram<12>; 9],
    pub(crate) uploads: [Counter; 4],
    pub(crate) pushes: [Counter; 4],
    pub(crate) approvals: [Counter; 4],
    pub(crate) refusals: [Counter; 11],
    pub(crate) typo_blocks: Counter,
    pub(crate) blob_integrity_failures: Counter,
    pub(crate) upstream_bytes: Counter,
    pub(crate) single_flight_waits: Counter,
    pub(crate) single_flight_wait: Histogram<8>,
    /// [simple, web] × [hit, miss]
    pub(crate) cache: [[Counter; 2]; 2],
    /// [reader, writer]
    pub(crate) db_wait: [Histogram<8>; 2],
    pub(crate) mirror_cache_evictions: Counter,
    pub(crate) mirror_cache_evicted_bytes: Counter,
    /// Bytes of evictable cached mirror blobs (a gauge; `u64::MAX`: not measured yet).
    pub(crate) mirror_cache_bytes: AtomicU64,
}

pub(crate) static METRICS: Metrics = Metrics {
    http_requests: [const { [const { AtomicU64::new(0) }; 5] }; 9],
    http_latency: [const { Histogram::new(&LATENCY_BUCKETS) }; 9],
    uploads: [const { AtomicU64::new(0) }; 4],
    pushes: [const { AtomicU64::new(0) }; 4],
    approvals: [const { AtomicU64::new(0) }; 4],
    refusals: [const { AtomicU64::new(0) }; 11],
    typo_blocks: AtomicU64::new(0),
    blob_integrity_failures: AtomicU64::new(0),
    upstream_bytes: AtomicU64::new(0),
    single_flight_waits: AtomicU64::new(0),
    single_flight_wait: Histogram::new(&WAIT_BUCKETS),
    cache: [const { [const { AtomicU64::new(0) }; 2] }; 2],
    db_wait: [const { Histogram::new(&WAIT_BUCKETS) }; 2],
    mirror_cache_evictions: AtomicU64::new(0),
    mirror_cache_evicted_bytes: AtomicU64::new(0),
    mirror_cache_bytes: AtomicU64::new(u64::MAX),
};

fn index_of<T: PartialEq>(all: &[T], v: &T) -> usize {
    all.iter().position(|x| x == v).unwrap_or(0)
}

/// One HTTP request answered with `status` after `elapsed`.
pub fn record_request(group: RouteGroup, status: u16, elapsed: Duration) {
    let g = index_of(&RouteGroup::ALL, &group);
    let class = usize::from((status / 100).clamp(1, 5)) - 1;
    METRICS.http_requests[g][class].fetch_add(1, Relaxed);
    METRICS.http_latency[g].observe(elapsed);
}

pub fn count_upload(o: Outcome) {
    METRICS.uploads[index_of(&Outcome::ALL, &o)].fetch_add(1, Relaxed);
}

pub fn count_push(o: Outcome) {
    METRICS.pushes[index_of(&Outcome::ALL, &o)].fetch_add(1, Relaxed);
}

pub fn count_approval(o: Outcome) {
    METRICS.approvals[index_of(&Outcome::ALL, &o)].fetch_add(1, Relaxed);
}

pub fn count_refusal(r: Refusal) {
    METRICS.refusals[index_of(&Refusal::ALL, &r)].fetch_add(1, Relaxed);
}

/// A project name refused (or flagged) as a typosquat.
pub fn count_typo_block() {
    METRICS.typo_blocks.fetch_add(1, Relaxed);
}

/// A stored file whose bytes no longer hash to its name, refused (or cut
/// short) instead of served.
pub fn count_blob_integrity_failure() {
    METRICS.blob_integrity_failures.fetch_add(1, Relaxed);
}

/// Body bytes received from upstream (pages, JSON documents, files).
pub fn count_upstream_bytes(n: usize) {
    METRICS
        .upstream_bytes
        .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Relaxed);
}

/// A caller found another one fetching the same key and waited `d`.
pub fn record_single_flight_wait(d: Duration) {
    METRICS.single_flight_waits.fetch_add(1, Relaxed);
    METRICS.single_flight_wait.observe(d);
}

pub fn count_cache(kind: CacheKind, hit: bool) {
    let k = usize::from(kind == CacheKind::Web);
    let h = usize::from(!hit);
    METRICS.cache[k][h].fetch_add(1, Relaxed);
}

/// Time spent waiting for a pooled database connection.
pub fn record_db_wait(conn: DbConn, d: Duration) {
    METRICS.db_wait[usize::from(conn == DbConn::Writer)].observe(d);
}

/// Mirror cache retention evicted one blob of `bytes`.
pub fn count_mirror_cache_eviction(bytes: u64) {
    METRICS.mirror_cache_evictions.fetch_add(1, Relaxed);
    METRICS.mirror_cache_evicted_bytes.fetch_add(bytes, Relaxed);
}

/// Bytes of evictable cached mirror blobs, as last measured or estimated.
pub fn set_mirror_cache_bytes(bytes: u64) {
    METRICS
        .mirror_cache_bytes
        .store(bytes.min(u64::MAX - 1), Relaxed);
}

#[cfg(test)]
mod tests;
