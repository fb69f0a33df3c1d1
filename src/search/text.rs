//! The text that goes into the search index: bounded, without control
//! characters (two of which mark matches in snippets), and for HTML only
//! what a reader sees (no tags, scripts, styles or comments).

/// Most description text indexed per release, bytes (a long README is a
/// few tens of KiB; the rest rarely adds words worth finding).
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;
/// Most documentation text indexed per release, bytes, all pages together.
pub const MAX_DOCS_BYTES: usize = 256 * 1024;
/// Most HTML read from one doc zip to find that text, bytes.
pub const MAX_DOCS_HTML_BYTES: u64 = 16 * 1024 * 1024;

/// `text` with control characters (but newlines and tabs) replaced by
/// spaces, cut to at most `max` bytes on a character boundary.
pub fn bounded(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars() {
        let c = if c.is_control() && c != '\n' && c != '\t' {
            ' '
        } else {
            c
        };
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// Appends the visible text of HTML pages, up to a byte budget.
#[derive(Debug)]
pub struct DocsText {
    out: String,
    max: usize,
}

impl DocsText {
    pub fn new(max: usize) -> Self {
        Self {
            out: String::new(),
            max,
        }
    }

    /// Whether the budget is spent (further pages add nothing).
    pub fn full(&self) -> bool {
        self.out.len() >= self.max
    }

    /// Add the visible text of one page.
    pub fn add_html(&mut self, html: &str) {
        if self.full() {
            return;
        }
        let text = visible_text(html);
        if text.is_empty() {
            return;
        }
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        let room = self.max.saturating_sub(self.out.len());
        self.out.push_str(&bounded(&text, room));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Elements whose content is never shown as text.
const HIDDEN: &[&str] = &["script", "style", "noscript", "template", "svg", "head"];

/// The text a reader of `html` sees: tags dropped (block-level ones
/// separate words), `script`/`style`/`head` and comments skipped, the
/// common character references decoded, whitespace collapsed. Not a full
/// HTML parser: enough to index Sphinx/MkDocs output, never panicking on
/// anything else.
pub fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut space = false;
    let push_text = |out: &mut String, space: &mut bool, text: &str| {
        let decoded = decode_entities(text);
        for c in decoded.chars() {
            if c.is_whitespace() || c.is_control() {
                *space = true;
            } else {
                if *space && !out.is_empty() {
                    out.push(' ');
                }
                *space = false;
                out.push(c);
            }
        }
    };
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_text(&mut out, &mut space, rest);
            break;
        };
        push_text(&mut out, &mut space, &rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let end = rest.find('>').map_or(rest.len(), |e| e + 1);
        let tag = &rest[1..end.saturating_sub(1).max(1)];
        rest = &rest[end..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        // every tag separates words (`<td>a</td><td>b</td>` is "a b")
        space = true;
        if !tag.starts_with('/') && !tag.ends_with('/') && HIDDEN.contains(&name.as_str()) {
            rest = skip_element(rest, &name);
        }
    }
    out
}

/// `rest` after the closing tag of `name` (case-insensitive), or empty.
fn skip_element<'a>(rest: &'a str, name: &str) -> &'a str {
    let close = format!("</{name}");
    let found = rest
        .as_bytes()
        .windows(close.len())
        .position(|w| w.eq_ignore_ascii_case(close.as_bytes()));
    match found {
        Some(at) => {
            let after = &rest[at..];
            after.find('>').map_or("", |e| &after[e + 1..])
        }
        None => "",
    }
}

fn decode_entities(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('&') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest[..rest.len().min(12)].find(';');
        let decoded = semi.and_then(|s| entity(&rest[1..s]).map(|c| (c, s + 1)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| !c.is_control());
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "para" => '¶',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "copy" => '©',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_scripts_styles_and_comments_are_not_text() {
        let html = r#"<!DOCTYPE html><html><head><title>T</title>
            <style>body { color: red }</style></head>
            <body><h1>Hello&nbsp;World</h1><!-- hidden note -->
            <SCRIPT type="x">var secret = 1;</SCRIPT>
            <p>Fish &amp; chips &lt;3 &#x41;&#66;</p><td>a</td><td>b</td>
            <img src="x.png"/>tail</body></html>"#;
        assert_eq!(
            visible_text(html),
            "Hello World Fish & chips <3 AB a b tail"
        );
    }

    #[test]
    fn broken_html_never_panics_and_keeps_what_it_can() {
        assert_eq!(visible_text("plain"), "plain");
        assert_eq!(visible_text("a <b"), "a");
        assert_eq!(visible_text("<script>never closed"), "");
        assert_eq!(visible_text("x <!-- open"), "x");
        assert_eq!(
            visible_text("&bogus; &#xZZ; & &#0;"),
            "&bogus; &#xZZ; & &#0;"
        );
        assert_eq!(visible_text("<>é<>"), "é");
        assert_eq!(visible_text("日本<br>語"), "日本 語");
    }

    #[test]
    fn bounded_cuts_on_a_character_boundary_and_drops_controls() {
        assert_eq!(bounded("ééé", 5), "éé");
        assert_eq!(bounded("a\u{2}b\u{3}c\nd", 100), "a b c\nd");
        assert_eq!(bounded("abc", 0), "");
    }

    #[test]
    fn docs_text_stops_at_its_budget() {
        let mut d = DocsText::new(10);
        d.add_html("<p>12345</p>");
        d.add_html("<p>67890</p>");
        assert!(d.full());
        d.add_html("<p>more</p>");
        let t = d.finish();
        assert!(t.len() <= 10, "{t:?}");
        assert!(t.starts_with("12345\n6789"), "{t:?}");
    }
}
