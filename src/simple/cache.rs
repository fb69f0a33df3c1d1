//! Rendered simple pages kept in memory between requests.
//!
//! A page is rendered once and then served from here until the data it was
//! rendered from changes. Validity is a *generation*: a number the registry
//! advances on every committed write and every index-configuration change
//! (see `Registry::content_generation`). A page is stored with the
//! generation read *before* its data was read, so a write that lands while
//! it renders makes it stale at once; a stale page is never served. Coarse
//! (any write invalidates every page) but impossible to get wrong, and pages
//! re-render in about a millisecond.
//!
//! Compressed variants are made on first demand and kept with the page.
//! The cache is bounded by bytes, not entries, so a 100,000-project index
//! cannot grow it without limit.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::encoding::{encode, Encoding, MIN_COMPRESS_LEN};
use super::Format;
use crate::names::{IndexPath, ProjectName};

/// Pages larger than this are compressed on the blocking pool.
const COMPRESS_INLINE_MAX: usize = 64 * 1024;

/// One rendered page with its lazily made compressed variants.
#[derive(Debug)]
pub struct Page {
    generation: u64,
    identity: Bytes,
    etag: String,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

impl Page {
    pub fn new(body: String, generation: u64) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
        let etag = digest.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            generation,
            identity: Bytes::from(body),
            etag,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The encoding this page is actually sent in when the client prefers
    /// `wanted` (small pages go uncompressed).
    pub fn encoding_for(&self, wanted: Encoding) -> Encoding {
        if self.identity.len() < MIN_COMPRESS_LEN {
            Encoding::Identity
        } else {
            wanted
        }
    }

    /// The strong ETag of the page in `encoding` (each representation has
    /// its own, as RFC 9110 requires).
    pub fn etag(&self, encoding: Encoding) -> String {
        match encoding.token() {
            None => format!("\"{}\"", self.etag),
            Some(t) => format!("\"{}-{t}\"", self.etag),
        }
    }

    /// Does an `If-None-Match` value name this page in any representation?
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match.split(',').any(|t| {
            let t = t.trim().trim_start_matches("W/");
            t == "*"
                || t.strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .is_some_and(|t| t.split('-').next() == Some(self.etag.as_str()))
        })
    }

    /// The body in `encoding`, compressing it now if this is the first
    /// request for it (large pages off the async workers).
    pub async fn body(self: &Arc<Self>, encoding: Encoding) -> Bytes {
        let slot = match encoding {
            Encoding::Identity => return self.identity.clone(),
            Encoding::Gzip => &self.gzip,
            Encoding::Brotli => &self.brotli,
        };
        if let Some(b) = slot.get() {
            return b.clone();
        }
        if self.identity.len() <= COMPRESS_INLINE_MAX {
            return self.compressed(encoding);
        }
        let page = Arc::clone(self);
        match tokio::task::spawn_blocking(move || page.compressed(encoding)).await {
            Ok(b) => b,
            Err(_) => self.compressed(encoding),
        }
    }

    fn compressed(&self, encoding: Encoding) -> Bytes {
        let slot = match encoding {
            Encoding::Identity => return self.identity.clone(),
            Encoding::Gzip => &self.gzip,
            Encoding::Brotli => &self.brotli,
        };
        slot.get_or_init(|| Bytes::from(encode(&self.identity, encoding)))
            .clone()
    }

    /// Bytes held for this page, counting its compressed variants as up to
    /// half of the raw size again.
    fn weight(&self) -> u64 {
        (self.identity.len() + self.identity.len() / 2 + self.etag.len()) as u64
    }
}

/// What a page is: the index's project list or one project's page, in one
/// format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    index: IndexPath,
    project: Option<ProjectName>,
    format: Format,
}

impl PageKey {
    pub fn project_list(index: &IndexPath, format: Format) -> Self {
        Self {
            index: index.clone(),
            project: None,
            format,
        }
    }

    pub fn project(index: &IndexPath, project: &ProjectName, format: Format) -> Self {
        Self {
            index: index.clone(),
            project: Some(project.clone()),
            format,
        }
    }
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<PageKey, Arc<Page>> for ByBytes {
    fn weight(&self, _key: &PageKey, page: &Arc<Page>) -> u64 {
        page.weight().max(1)
    }
}

/// The bounded page cache; cheap to share (`Arc`) between handlers.
pub struct PageCache {
    pages: quick_cache::sync::Cache<PageKey, Arc<Page>, ByBytes>,
    /// Held while a project list is rendered: at 100,000 projects a list is
    /// 4.5 MB and ~25 ms of work, and every change makes all lists stale at
    /// once, so concurrent misses wait for one render instead of each
    /// doing it. (Project pages are small; they render concurrently.)
    list_render: tokio::sync::Mutex<()>,
}

impl PageCache {
    /// A cache holding at most about `max_bytes` of pages.
    pub fn new(max_bytes: u64) -> Self {
        // quick_cache sizes its tables from the expected entry count;
        // simple pages are a few KiB each.
        let estimated = (max_bytes / 4096).clamp(16, 1 << 20) as usize;
        Self {
            pages: quick_cache::sync::Cache::with_weighter(estimated, max_bytes.max(1), ByBytes),
            list_render: tokio::sync::Mutex::new(()),
        }
    }

    /// Wait for the right to render a project list; check the cache again
    /// once it is granted (another holder may have rendered it meanwhile).
    pub async fn list_render_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.list_render.lock().await
    }

    /// The page for `key` if it was rendered at `generation`.
    pub fn get(&self, key: &PageKey, generation: u64) -> Option<Arc<Page>> {
        self.pages.get(key).filter(|p| p.generation() == generation)
    }

    pub fn insert(&self, key: PageKey, page: Arc<Page>) {
        self.pages.insert(key, page);
    }

    /// Bytes held (for tests and the bench).
    pub fn weight(&self) -> u64 {
        self.pages.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(project: &str) -> PageKey {
        PageKey::project(
            &IndexPath::parse("acme/dev").expect("path"),
            &ProjectName::new(project).expect("name"),
            Format::Html,
        )
    }

    #[test]
    fn a_page_is_served_only_at_its_generation() {
        let cache = PageCache::new(1 << 20);
        cache.insert(key("a"), Arc::new(Page::new("page a".into(), 7)));
        assert!(cache.get(&key("a"), 7).is_some());
        assert!(cache.get(&key("a"), 8).is_none(), "stale page served");
        assert!(cache.get(&key("b"), 7).is_none());
        let other_format = PageKey::project(
            &IndexPath::parse("acme/dev").expect("path"),
            &ProjectName::new("a").expect("name"),
            Format::Json,
        );
        assert!(cache.get(&other_format, 7).is_none());
    }

    #[test]
    fn bounded_by_bytes() {
        let cache = PageCache::new(64 * 1024);
        for i in 0..200 {
            let body = "x".repeat(4096);
            cache.insert(key(&format!("p{i}")), Arc::new(Page::new(body, 1)));
        }
        assert!(cache.weight() <= 64 * 1024, "weight {}", cache.weight());
        let kept = (0..200)
            .filter(|i| cache.get(&key(&format!("p{i}")), 1).is_some())
            .count();
        assert!(kept > 0 && kept < 200, "kept {kept}");
    }

    #[tokio::test]
    async fn etags_and_encodings() {
        let big = Arc::new(Page::new("<a>x</a>\n".repeat(500), 1));
        let tag = big.etag(Encoding::Identity);
        let gz_tag = big.etag(Encoding::Gzip);
        assert_ne!(tag, gz_tag);
        assert!(big.matches(&tag));
        assert!(big.matches(&format!("\"nope\", {gz_tag}")));
        assert!(big.matches("*"));
        assert!(big.matches(&format!("W/{tag}")));
        assert!(!big.matches("\"nope\""));
        assert!(!big.matches(""));
        assert_eq!(big.encoding_for(Encoding::Brotli), Encoding::Brotli);
        let gz = big.body(Encoding::Gzip).await;
        assert!(gz.len() < 200, "gzip {}", gz.len());
        assert_eq!(big.body(Encoding::Gzip).await, gz, "made once, then kept");

        let small = Page::new("tiny".into(), 1);
        assert_eq!(small.encoding_for(Encoding::Gzip), Encoding::Identity);
    }

    #[tokio::test]
    async fn large_pages_compress_off_the_workers() {
        let body: String = (0..20_000).map(|i| format!("<a>p{i}</a>\n")).collect();
        assert!(body.len() > COMPRESS_INLINE_MAX);
        let page = Arc::new(Page::new(body.clone(), 1));
        let br = page.body(Encoding::Brotli).await;
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut out).expect("brotli decodes");
        assert_eq!(out, body.as_bytes());
    }
}
