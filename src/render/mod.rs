//! Release descriptions (the README of a release) rendered to HTML that is
//! safe to show on a page: markdown (`comrak`, GitHub-flavoured), a subset of
//! reStructuredText ([`rst`], our own: there is no complete Rust renderer),
//! or plain text; every result goes through one allow-list sanitiser
//! ([`sanitize`]). Rendering happens once, when a release is stored; the
//! stored result carries [`RENDERER`] so that a newer renderer can redo it.
//!
//! No HTTP and no SQL here: pure functions from text to text.

mod markdown;
pub mod rst;
pub mod sanitize;

/// The version of the rendering rules. Change it whenever the output for
/// some input would change (renderer, allow-list, bidi handling): stored
/// descriptions rendered by another version are rendered again when read.
pub const RENDERER: &str = "airlock-render/1";

/// Descriptions longer than this many bytes are cut (at a character
/// boundary) before rendering and storage, and the rendering says so.
pub const MAX_SOURCE_BYTES: usize = 512 * 1024;

/// Which renderer produced the HTML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Markdown,
    Rst,
    Plain,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Markdown => "markdown",
            Kind::Rst => "rst",
            Kind::Plain => "plain",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "markdown" => Some(Kind::Markdown),
            "rst" => Some(Kind::Rst),
            "plain" => Some(Kind::Plain),
            _ => None,
        }
    }
}

/// A description rendered to sanitised HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub html: String,
    pub kind: Kind,
    pub renderer: &'static str,
}

/// What a `Description-Content-Type` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `text/markdown`; `gfm` unless `variant=CommonMark`.
    Markdown {
        gfm: bool,
    },
    Rst,
    Plain,
}

/// PyPI's reading of the content type: `text/markdown` (any parameters),
/// `text/x-rst`, `text/plain`; a missing one means reStructuredText. Anything
/// else is shown as plain text (escaped), never interpreted.
fn format_of(content_type: Option<&str>) -> Format {
    let Some(ct) = content_type.map(str::trim).filter(|c| !c.is_empty()) else {
        return Format::Rst;
    };
    let mut parts = ct.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let variant = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("variant"))
        .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase());
    match mime.as_str() {
        "text/markdown" => Format::Markdown {
            gfm: variant.as_deref() != Some("commonmark"),
        },
        "text/x-rst" => Format::Rst,
        _ => Format::Plain,
    }
}

/// Render a description. Always returns sanitised HTML: what cannot be
/// rendered is shown as escaped preformatted text.
pub fn render_description(source: &str, content_type: Option<&str>) -> Rendered {
    let (source, cut) = capped(source);
    render_capped(source, content_type, cut)
}

/// [`render_description`] of a source already cut by [`capped`] (`cut`:
/// whether it was), as it is stored.
pub fn render_capped(source: &str, content_type: Option<&str>, cut: bool) -> Rendered {
    let (unsafe_html, kind) = match format_of(content_type) {
        Format::Markdown { gfm } => (markdown::to_html(source, gfm), Kind::Markdown),
        Format::Rst => (rst::to_html(source), Kind::Rst),
        Format::Plain => (preformatted(source), Kind::Plain),
    };
    let mut html = reveal_bidi_controls(&sanitize::clean(&unsafe_html));
    if cut {
        html.push_str(&format!(
            "<p><em>(description cut at {} KiB)</em></p>",
            MAX_SOURCE_BYTES / 1024
        ));
    }
    Rendered {
        html,
        kind,
        renderer: RENDERER,
    }
}

/// `source` cut to [`MAX_SOURCE_BYTES`] at a character boundary, and
/// whether it was cut.
pub fn capped(source: &str) -> (&str, bool) {
    if source.len() <= MAX_SOURCE_BYTES {
        return (source, false);
    }
    let mut end = MAX_SOURCE_BYTES;
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    (&source[..end], true)
}

/// Escaped text in a `<pre>`.
pub(crate) fn preformatted(text: &str) -> String {
    format!("<pre>{}</pre>", escape(text))
}

/// HTML-escape text for element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Is `c` a bidirectional embedding, override or isolate control
/// (U+202A–U+202E, U+2066–U+2069)?
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Bidi controls replaced by a visible `[U+202E]`: they can make text read
/// differently from what it is ("Trojan Source"), and a reader should see
/// that they are there. The replacement holds no markup character, so it is
/// safe anywhere in sanitised HTML (text or attribute value).
fn reveal_bidi_controls(html: &str) -> String {
    if !html.chars().any(is_bidi_control) {
        return html.to_string();
    }
    let mut out = String::with_capacity(html.len() + 16);
    for c in html.chars() {
        if is_bidi_control(c) {
            out.push_str(&format!("[U+{:04X}]", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
