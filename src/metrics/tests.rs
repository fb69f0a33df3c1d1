use std::time::Duration;

use super::*;

#[test]
fn histogram_buckets_are_cumulative_in_the_output() {
    let h = Histogram::new(&WAIT_BUCKETS);
    h.observe(Duration::from_micros(5));
    h.observe(Duration::from_millis(3));
    h.observe(Duration::from_secs(3));
    let mut out = String::new();
    render::tests_histogram(&mut out, "x", "", &h);
    assert!(out.contains("x_bucket{le=\"0.00001\"} 1\n"), "{out}");
    assert!(out.contains("x_bucket{le=\"0.005\"} 2\n"), "{out}");
    assert!(out.contains("x_bucket{le=\"1\"} 2\n"), "{out}");
    assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
    assert!(out.contains("x_count 3\n"), "{out}");
}

#[test]
fn status_classes_and_groups_are_counted() {
    let before = METRICS.http_requests[1][3].load(Relaxed);
    record_request(RouteGroup::Files, 404, Duration::from_millis(1));
    assert_eq!(METRICS.http_requests[1][3].load(Relaxed), before + 1);
    let text = render(&ScrapeGauges::default());
    assert!(text.contains("airlock_http_requests_total{group=\"files\",status=\"4xx\"}"));
    assert!(
        !text.contains("airlock_pending_reviews"),
        "absent when unknown"
    );
}
