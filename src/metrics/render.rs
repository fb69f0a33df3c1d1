//! The Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::{Histogram, Outcome, Refusal, RouteGroup, METRICS, STATUS_CLASSES};

/// Values read at scrape time by the caller (they live in the database or
/// in other modules' own counters).
#[derive(Debug, Clone, Default)]
pub struct ScrapeGauges {
    /// Pushes waiting for review; `None` if the database did not answer.
    pub pending_reviews: Option<u64>,
    /// Sequence number of the newest audit entry (0: empty log).
    pub audit_head_seq: Option<u64>,
    /// Upstream requests made, retries included (`Mirror::upstream_stats`).
    pub upstream_requests: u64,
    /// Upstream requests that ended in an error.
    pub upstream_errors: u64,
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram<const N: usize>(out: &mut String, name: &str, labels: &str, h: &Histogram<N>) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0u64;
    for (bound, bucket) in h.bounds.iter().zip(&h.buckets) {
        cumulative += bucket.load(Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
        );
    }
    let count = h.count.load(Relaxed);
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
    let sum = h.sum_nanos.load(Relaxed) as f64 / 1e9;
    if labels.is_empty() {
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    } else {
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

fn outcomes(out: &mut String, name: &str, help: &str, counters: &[super::Counter; 4]) {
    header(out, name, "counter", help);
    for (o, c) in Outcome::ALL.iter().zip(counters) {
        let _ = writeln!(
            out,
            "{name}{{outcome=\"{}\"}} {}",
            o.as_str(),
            c.load(Relaxed)
        );
    }
}

/// Every metric, in the text exposition format.
pub fn render(g: &ScrapeGauges) -> String {
    let m = &METRICS;
    let mut out = String::with_capacity(16 * 1024);

    header(
        &mut out,
        "airlock_build_info",
        "gauge",
        "Version and git commit of the running airlock (value is always 1).",
    );
    let commit = option_env!("AIRLOCK_GIT_COMMIT").unwrap_or("unknown");
    let _ = writeln!(
        out,
        "airlock_build_info{{version=\"{}\",commit=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        commit
    );

    header(
        &mut out,
        "airlock_http_requests_total",
        "counter",
        "HTTP requests answered, by route group and status class.",
    );
    for (group, row) in RouteGroup::ALL.iter().zip(&m.http_requests) {
        for (class, c) in STATUS_CLASSES.iter().zip(row) {
            let _ = writeln!(
                out,
                "airlock_http_requests_total{{group=\"{}\",status=\"{class}\"}} {}",
                group.as_str(),
                c.load(Relaxed)
            );
        }
    }
    header(
        &mut out,
        "airlock_http_request_duration_seconds",
        "histogram",
        "Time from request to response head, by route group.",
    );
    for (group, h) in RouteGroup::ALL.iter().zip(&m.http_latency) {
        let labels = format!("group=\"{}\"", group.as_str());
        histogram(
            &mut out,
            "airlock_http_request_duration_seconds",
            &labels,
            h,
        );
    }

    outcomes(
        &mut out,
        "airlock_uploads_total",
        "Uploads of distributions and documentation, by outcome.",
        &m.uploads,
    );
    outcomes(
        &mut out,
        "airlock_pushes_total",
        "Pushes between indexes, by outcome (pending: held for review).",
        &m.pushes,
    );
    outcomes(
        &mut out,
        "airlock_approvals_total",
        "Review decisions on pending pushes, by outcome.",
        &m.approvals,
    );

    header(
        &mut out,
        "airlock_refusals_total",
        "counter",
        "Requests the registry refused, by reason.",
    );
    for (r, c) in Refusal::ALL.iter().zip(&m.refusals) {
        let _ = writeln!(
            out,
            "airlock_refusals_total{{reason=\"{}\"}} {}",
            r.as_str(),
            c.load(Relaxed)
        );
    }
    header(
        &mut out,
        "airlock_typosquat_blocks_total",
        "counter",
        "Project names refused as look-alikes of protected ones.",
    );
    let _ = writeln!(
        out,
        "airlock_typosquat_blocks_total {}",
        m.typo_blocks.load(Relaxed)
    );
    header(
        &mut out,
        "airlock_blob_integrity_failures_total",
        "counter",
        "Downloads refused or cut short because the stored bytes no longer hash to their name.",
    );
    let _ = writeln!(
        out,
        "airlock_blob_integrity_failures_total {}",
        m.blob_integrity_failures.load(Relaxed)
    );

    header(
        &mut out,
        "airlock_upstream_requests_total",
        "counter",
        "Requests made to the mirror upstream, retries included.",
    );
    let _ = writeln!(
        out,
        "airlock_upstream_requests_total {}",
        g.upstream_requests
    );
    header(
        &mut out,
        "airlock_upstream_errors_total",
        "counter",
        "Upstream requests that ended in an error after their retries.",
    );
    let _ = writeln!(out, "airlock_upstream_errors_total {}", g.upstream_errors);
    header(
        &mut out,
        "airlock_upstream_received_bytes_total",
        "counter",
        "Body bytes received from the mirror upstream.",
    );
    let _ = writeln!(
        out,
        "airlock_upstream_received_bytes_total {}",
        m.upstream_bytes.load(Relaxed)
    );

    header(
        &mut out,
        "airlock_single_flight_wait_seconds",
        "histogram",
        "Time a mirror fetch waited for another one of the same page or file.",
    );
    histogram(
        &mut out,
        "airlock_single_flight_wait_seconds",
        "",
        &m.single_flight_wait,
    );

    header(
        &mut out,
        "airlock_page_cache_requests_total",
        "counter",
        "Page cache lookups, by cache (simple, web) and result (hit, miss).",
    );
    for (cache, row) in ["simple", "web"].iter().zip(&m.cache) {
        for (result, c) in ["hit", "miss"].iter().zip(row) {
            let _ = writeln!(
                out,
                "airlock_page_cache_requests_total{{cache=\"{cache}\",result=\"{result}\"}} {}",
                c.load(Relaxed)
            );
        }
    }

    header(
        &mut out,
        "airlock_db_connection_wait_seconds",
        "histogram",
        "Time spent waiting for a database connection (4 pooled readers, 1 writer).",
    );
    for (conn, h) in ["reader", "writer"].iter().zip(&m.db_wait) {
        histogram(
            &mut out,
            "airlock_db_connection_wait_seconds",
            &format!("conn=\"{conn}\""),
            h,
        );
    }

    header(
        &mut out,
        "airlock_mirror_cache_evictions_total",
        "counter",
        "Cached mirror files evicted by mirror cache retention (this process).",
    );
    let _ = writeln!(
        out,
        "airlock_mirror_cache_evictions_total {}",
        m.mirror_cache_evictions.load(Relaxed)
    );
    header(
        &mut out,
        "airlock_mirror_cache_evicted_bytes_total",
        "counter",
        "Bytes freed by mirror cache retention (this process).",
    );
    let _ = writeln!(
        out,
        "airlock_mirror_cache_evicted_bytes_total {}",
        m.mirror_cache_evicted_bytes.load(Relaxed)
    );
    let cache_bytes = m.mirror_cache_bytes.load(Relaxed);
    if cache_bytes != u64::MAX {
        header(
            &mut out,
            "airlock_mirror_cache_bytes",
            "gauge",
            "Bytes of cached mirror files retention may evict (measured by each run, grown by fetches).",
        );
        let _ = writeln!(out, "airlock_mirror_cache_bytes {cache_bytes}");
    }

    if let Some(n) = g.pending_reviews {
        header(
            &mut out,
            "airlock_pending_reviews",
            "gauge",
            "Pushes waiting for a review decision.",
        );
        let _ = writeln!(out, "airlock_pending_reviews {n}");
    }
    if let Some(n) = g.audit_head_seq {
        header(
            &mut out,
            "airlock_audit_head_sequence",
            "gauge",
            "Sequence number of the newest audit log entry.",
        );
        let _ = writeln!(out, "airlock_audit_head_sequence {n}");
    }
    out
}

#[cfg(test)]
pub(super) fn tests_histogram<const N: usize>(
    out: &mut String,
    name: &str,
    labels: &str,
    h: &Histogram<N>,
) {
    histogram(out, name, labels, h);
}
