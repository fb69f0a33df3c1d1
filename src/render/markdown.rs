//! Markdown to (unsanitised) HTML with comrak. Like PyPI, raw HTML is let
//! through here and the sanitiser decides what of it stays.

use comrak::{markdown_to_html, Options};

/// `gfm`: GitHub-flavoured (tables, strikethrough, autolinks, task lists,
/// footnotes); otherwise plain CommonMark (`variant=CommonMark`). GFM's tag
/// filter (which shows `<script>` and the like as text) is left off: the
/// sanitiser removes those elements with their content instead.
pub(super) fn to_html(source: &str, gfm: bool) -> String {
    let mut o = Options::default();
    if gfm {
        o.extension.table = true;
        o.extension.strikethrough = true;
        o.extension.autolink = true;
        o.extension.tasklist = true;
        o.extension.footnotes = true;
        // heading anchors, prefixed by the sanitiser (their empty links
        // become plain id targets afterwards: see sanitize::clean)
        o.extension.header_ids = Some(String::new());
    }
    // raw HTML passes to the sanitiser, which keeps only the allow-list
    o.render.r#unsafe = true;
    markdown_to_html(source, &o)
}
