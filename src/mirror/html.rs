//! A small, strict reader for PEP 503 HTML project pages: it extracts the
//! `<a>` elements (attributes and text) and an optional `<base href>`, and
//! nothing else.
//!
//! Why not an HTML crate: simple pages are machine-written lists of anchors,
//! the full HTML5 parsing algorithm (and its dependency tree) buys nothing
//! here, and a scanner of a hundred lines is easy to audit. It works on
//! untrusted input in one linear pass, never indexes out of bounds (all
//! slicing happens at ASCII delimiters found by `find`), and bounds how much
//! it collects.

use std::collections::HashMap;

/// Most anchors read from one page; the rest are ignored (PyPI's largest
/// pages list tens of thousands of files).
pub const MAX_ANCHORS: usize = 200_000;

/// One `<a>` element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Anchor {
    /// Attribute values by lower-case name, entities decoded.
    pub attrs: HashMap<String, String>,
    /// The element's text, entities decoded, trimmed.
    pub text: String,
}

/// What a page holds: its anchors and the `<base href>`, if any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Links {
    pub base: Option<String>,
    pub anchors: Vec<Anchor>,
}

pub fn parse_links(html: &str) -> Links {
    let mut out = Links::default();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        if let Some(after) = rest.strip_prefix("!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let name_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let name = rest[..name_len].to_ascii_lowercase();
        if name != "a" && name != "base" {
            continue;
        }
        let Some((attrs, after_tag)) = parse_attributes(&rest[name_len..]) else {
            break; // unterminated tag: nothing more to read
        };
        rest = after_tag;
        if name == "base" {
            if out.base.is_none() {
                out.base = attrs.get("href").cloned();
            }
            continue;
        }
        let text_end = find_ci(rest, "</a").unwrap_or(rest.len());
        let text = decode_entities(rest[..text_end].trim());
        rest = &rest[text_end..];
        if out.anchors.len() < MAX_ANCHORS {
            out.anchors.push(Anchor { attrs, text });
        }
    }
    out
}

/// Parse `name="v" name='v' name=v name` up to the closing `>`; returns the
/// attributes and the input after the tag, or `None` if the tag never closes.
fn parse_attributes(mut s: &str) -> Option<(HashMap<String, String>, &str)> {
    let mut attrs = HashMap::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if let Some(after) = s.strip_prefix('>') {
            return Some((attrs, after));
        }
        if s.is_empty() {
            return None;
        }
        let name_end = s
            .find(|c: char| c.is_ascii_whitespace() || matches!(c, '=' | '>' | '/'))
            .unwrap_or(s.len());
        if name_end == 0 {
            // a stray character such as a quote: skip it
            let skip = s.chars().next().map_or(1, char::len_utf8);
            s = &s[skip..];
            continue;
        }
        let name = s[..name_end].to_ascii_lowercase();
        s = s[name_end..].trim_start_matches(|c: char| c.is_ascii_whitespace());
        let value = if let Some(after_eq) = s.strip_prefix('=') {
            let v = after_eq.trim_start_matches(|c: char| c.is_ascii_whitespace());
            let (raw, after) = match v.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &v[1..];
                    let end = body.find(q)?;
                    (&body[..end], &body[end + 1..])
                }
                _ => {
                    let end = v
                        .find(|c: char| c.is_ascii_whitespace() || c == '>')
                        .unwrap_or(v.len());
                    (&v[..end], &v[end..])
                }
            };
            s = after;
            decode_entities(raw)
        } else {
            String::new()
        };
        attrs.entry(name).or_insert(value);
    }
}

/// Case-insensitive search for an ASCII needle.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    hay.char_indices().map(|(i, _)| i).find(|&i| {
        hay.get(i..i + n)
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// Decode the character references simple pages use: the five named XML
/// ones and numeric (`&#NN;`, `&#xHH;`). Anything else is kept verbatim.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity.strip_prefix('#').and_then(|num| {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse().ok(),
                };
                code.and_then(char::from_u32).filter(|c| *c != '\0')
            }),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pep_503_anchors() {
        let html = r#"<!DOCTYPE html><html><head><base href="https://files.example/x/">
        <meta name="pypi:repository-version" content="1.1"></head><body>
        <!-- <a href="commented.whl">no</a> -->
        <h1>Links for demo</h1>
        <A HREF="../../demo-1.0.tar.gz#sha256=abc" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</A><br/>
        <a href='demo-1.0-py3-none-any.whl#sha256=def' data-yanked data-core-metadata="sha256=123">
            demo-1.0-py3-none-any.whl </a>
        <a href=unquoted.whl data-yanked="bad &amp; broken &#x41;&#66;">unquoted.whl</a>
        </body></html>"#;
        let links = parse_links(html);
        assert_eq!(links.base.as_deref(), Some("https://files.example/x/"));
        assert_eq!(links.anchors.len(), 3);
        let a = &links.anchors[0];
        assert_eq!(a.attrs["href"], "../../demo-1.0.tar.gz#sha256=abc");
        assert_eq!(a.attrs["data-requires-python"], ">=3.8");
        assert_eq!(a.text, "demo-1.0.tar.gz");
        let b = &links.anchors[1];
        assert_eq!(b.attrs["data-yanked"], "");
        assert_eq!(b.attrs["data-core-metadata"], "sha256=123");
        assert_eq!(b.text, "demo-1.0-py3-none-any.whl");
        let c = &links.anchors[2];
        assert_eq!(c.attrs["href"], "unquoted.whl");
        assert_eq!(c.attrs["data-yanked"], "bad & broken AB");
    }

    #[test]
    fn hostile_or_broken_input_never_panics() {
        let cases = [
            "",
            "<",
            "<a",
            "<a href=\"unterminated",
            "<a href='x'>no end",
            "<!-- never closed <a href=x>y</a>",
            "<a =x ''>t</a>",
            "<a href=é>é</a>",
            "&#xFFFFFFFF; &#0; &bogus; &",
            "<<<<a>>>>",
            "<ä href=x>",
        ];
        for html in cases {
            let _ = parse_links(html);
            let _ = decode_entities(html);
        }
        assert!(parse_links("<!-- <a href=x>y</a> -->").anchors.is_empty());
        assert_eq!(parse_links("<a href='x'>no end").anchors[0].text, "no end");
        assert!(parse_links("<a href=\"unterminated").anchors.is_empty());
    }

    #[test]
    fn entities() {
        let cases = [
            ("a&amp;b", "a&b"),
            ("&lt;&gt;&quot;&apos;", "<>\"'"),
            ("&#65;&#x42;&#X43;", "ABC"),
            ("&#0;", "&#0;"),
            ("&unknown;", "&unknown;"),
            ("100% & more", "100% & more"),
        ];
        for (raw, want) in cases {
            assert_eq!(decode_entities(raw), want, "{raw}");
        }
    }
}
