//! The one sanitiser every rendered description goes through: an explicit
//! allow-list modelled on PyPI's `readme_renderer` (its `clean.py`), made a
//! little stricter. Whatever a renderer produced (markdown lets raw HTML
//! through, as on PyPI), only these tags and attributes survive:
//!
//! - no script, style, iframe, object, form, svg or math element (their
//!   content goes with `script` and `style`), no event handler, no `style`
//!   or `class` attribute (no CSS tricks, no borrowing the page's classes);
//! - links: `http`, `https`, `mailto` and in-page `#fragment` links only,
//!   each with `rel="nofollow"`; images: `http`/`https` sources only;
//! - `id`s (heading anchors) are prefixed with `user-content-` so that a
//!   description cannot clobber the page's own ids, and fragment links are
//!   rewritten to match;
//! - `<input>` survives only disabled, with no type but `checkbox` (GFM
//!   task lists) and no name or value.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};

/// The prefix of every id in a description.
pub const ID_PREFIX: &str = "user-content-";

const TAGS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "b",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "input",
    "ins",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "samp",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "ul",
    "var",
];

/// Attributes allowed per tag (nothing is allowed on every tag).
const TAG_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("a", &["href", "title", "id"]),
    ("abbr", &["title"]),
    ("acronym", &["title"]),
    ("img", &["src", "alt", "title", "width", "height", "align"]),
    ("div", &["align"]),
    ("p", &["align"]),
    ("h1", &["align", "id"]),
    ("h2", &["align", "id"]),
    ("h3", &["align", "id"]),
    ("h4", &["align", "id"]),
    ("h5", &["align", "id"]),
    ("h6", &["align", "id"]),
    ("th", &["align", "colspan", "rowspan"]),
    ("td", &["align", "colspan", "rowspan"]),
    ("ol", &["start"]),
    ("details", &["open"]),
    ("input", &["checked"]),
];

static CLEANER: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut b = Builder::empty();
    b.tags(TAGS.iter().copied().collect())
        .tag_attributes(
            TAG_ATTRIBUTES
                .iter()
                .map(|(t, a)| (*t, a.iter().copied().collect::<HashSet<_>>()))
                .collect(),
        )
        .generic_attributes(HashSet::new())
        .generic_attribute_prefixes(HashSet::new())
        .allowed_classes(HashMap::new())
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .url_relative(UrlRelative::Custom(Box::new(fragment_only)))
        .link_rel(Some("nofollow"))
        .id_prefix(Some(ID_PREFIX))
        .strip_comments(true)
        // these elements go with everything inside them
        .clean_content_tags(
            [
                "script", "style", "iframe", "object", "embed", "svg", "math", "template",
                "noscript", "textarea", "select", "title",
            ]
            .into_iter()
            .collect(),
        )
        // one set attribute only: several would come out in hash order
        .tag_attribute_values(
            [(
                "input",
                [("type", ["checkbox"].into_iter().collect())]
                    .into_iter()
                    .collect(),
            )]
            .into_iter()
            .collect(),
        )
        .set_tag_attribute_values(
            // one set attribute only, for the same reason: `aria-hidden`
            // is added by `without_stray_inputs`
            [("input", [("disabled", "")].into_iter().collect())]
                .into_iter()
                .collect(),
        )
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            // an image is fetched by the browser: web URLs only
            // README images are never loaded: an image from anywhere else
            // is a tracking pixel that tells a third party who reviews
            // what and when (the pages' CSP says the same); the alt text stays
            ("img", "src") => None,
            _ => Some(value.into()),
        });
    b
});

/// Relative URLs: only in-page fragments survive, pointed at the prefixed
/// ids. A path relative to the page would lead into the server's own URLs.
fn fragment_only(url: &str) -> Option<Cow<'_, str>> {
    let frag = url.strip_prefix('#')?;
    if frag.starts_with(ID_PREFIX) {
        Some(Cow::Borrowed(url))
    } else {
        Some(Cow::Owned(format!("#{ID_PREFIX}{frag}")))
    }
}

/// Sanitise an HTML fragment.
pub fn clean(html: &str) -> String {
    without_stray_inputs(&without_empty_links(&with_image_alts(
        &CLEANER.clean(html).to_string(),
    )))
}

/// Only a task list's checkbox stays an `<input>`; any other input (a
/// README imitating a login form) is removed, its surrounding text kept.
/// The box that stays is decoration next to its text: hidden from
/// assistive technology rather than an unlabelled control.
fn without_stray_inputs(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find("<input") {
        let (before, tag_start) = rest.split_at(i);
        out.push_str(before);
        let end = tag_start.find('>').map_or(tag_start.len(), |e| e + 1);
        let tag = &tag_start[..end];
        if tag.contains(" type=\"checkbox\"") && tag.ends_with('>') {
            out.push_str(&tag[..tag.len() - 1]);
            out.push_str(" aria-hidden=\"true\">");
        }
        rest = &tag_start[end..];
    }
    out.push_str(rest);
    out
}

/// An `<a …></a>` with no content (a heading anchor) is a link a screen
/// reader cannot name: keep only its `id`, as a `<span>` target.
fn without_empty_links(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find("<a ") {
        let (before, tag_start) = rest.split_at(i);
        out.push_str(before);
        let Some(end) = tag_start.find('>') else {
            out.push_str(tag_start);
            rest = "";
            break;
        };
        let tag = &tag_start[..=end];
        let after = &tag_start[end + 1..];
        if let Some(after_close) = after.strip_prefix("</a>") {
            if let Some(id) = attr(tag, "id") {
                out.push_str(&format!("<span id=\"{id}\"></span>"));
            }
            rest = after_close;
        } else {
            out.push_str(tag);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The value of `name="…"` in a serialised tag.
fn attr<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    Some(&tag[i..i + tag[i..].find('"')?])
}

/// Every image gets an `alt` (empty when the README gave none: a
/// decorative image to assistive technology). Works on the sanitiser's
/// own serialisation, where every tag is well-formed and attributes are
/// quoted.
fn with_image_alts(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 16);
    let mut rest = html;
    while let Some(i) = rest.find("<img") {
        let (before, tag_start) = rest.split_at(i);
        out.push_str(before);
        let end = tag_start.find('>').map_or(tag_start.len(), |e| e + 1);
        let tag = &tag_start[..end];
        if tag.contains(" alt=\"") || !tag.ends_with('>') {
            out.push_str(tag);
        } else {
            out.push_str(&tag[..4]);
            out.push_str(" alt=\"\"");
            out.push_str(&tag[4..]);
        }
        rest = &tag_start[end..];
    }
    out.push_str(rest);
    out
}
