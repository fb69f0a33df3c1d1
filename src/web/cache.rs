//! Rendered page bodies, kept until the data under them changes.
//!
//! A page is its shell (navigation, who is logged in, CSRF tokens: per
//! reader) around a body that is the same for every reader. The body of a
//! browse page is cached under its URL for one content generation (see
//! `Registry::content_generation`, read *before* the data) and at most
//! one minute, so relative times ("5 minutes ago") stay right to the
//! minute. Pages a mirror contributed to are not cached: their freshness
//! depends on upstream, not on the database.

use std::sync::Arc;

use maud::{Markup, PreEscaped};

use super::layout::Crumb;

/// A body as the shell needs it.
pub struct Body {
    pub title: String,
    pub crumbs: Vec<Crumb>,
    pub html: Markup,
}

struct Entry {
    generation: u64,
    minute: i64,
    title: String,
    crumbs: Vec<(String, String)>,
    html: String,
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<String, Arc<Entry>> for ByBytes {
    fn weight(&self, key: &String, e: &Arc<Entry>) -> u64 {
        (key.len() + e.html.len() + e.title.len() + 64) as u64
    }
}

pub struct BodyCache {
    bodies: quick_cache::sync::Cache<String, Arc<Entry>, ByBytes>,
}

impl BodyCache {
    /// A cache holding about `max_bytes` of rendered bodies.
    pub fn new(max_bytes: u64) -> Self {
        let estimated = (max_bytes / 8192).clamp(16, 1 << 20) as usize;
        Self {
            bodies: quick_cache::sync::Cache::with_weighter(estimated, max_bytes.max(1), ByBytes),
        }
    }

    /// The body cached under `key` for `generation` in the current minute.
    pub fn get(&self, key: &str, generation: u64, now: i64) -> Option<Body> {
        let found = self.lookup(key, generation, now);
        crate::metrics::count_cache(crate::metrics::CacheKind::Web, found.is_some());
        found
    }

    fn lookup(&self, key: &str, generation: u64, now: i64) -> Option<Body> {
        let e = self.bodies.get(key)?;
        if e.generation != generation || e.minute != now / 60 {
            return None;
        }
        Some(Body {
            title: e.title.clone(),
            crumbs: e
                .crumbs
                .iter()
                .map(|(l, h)| Crumb::new(l.clone(), h.clone()))
                .collect(),
            html: PreEscaped(e.html.clone()),
        })
    }

    pub fn insert(&self, key: String, generation: u64, now: i64, body: &Body) {
        self.bodies.insert(
            key,
            Arc::new(Entry {
                generation,
                minute: now / 60,
                title: body.title.clone(),
                crumbs: body
                    .crumbs
                    .iter()
                    .map(|c| (c.label.clone(), c.href.clone()))
                    .collect(),
                html: body.html.0.clone(),
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Body {
        Body {
            title: "t".into(),
            crumbs: vec![Crumb::new("Indexes", "/")],
            html: PreEscaped(text.into()),
        }
    }

    #[test]
    fn a_body_lasts_one_generation_and_one_minute() {
        let c = BodyCache::new(1 << 20);
        c.insert("/a".into(), 7, 120, &body("<p>x</p>"));
        let hit = c.get("/a", 7, 150).expect("same generation, same minute");
        assert_eq!(hit.html.0, "<p>x</p>");
        assert_eq!(hit.crumbs[0].href, "/");
        assert!(c.get("/a", 8, 150).is_none(), "the data changed");
        assert!(c.get("/a", 7, 180).is_none(), "a minute passed");
        assert!(c.get("/b", 7, 150).is_none());
    }
}
