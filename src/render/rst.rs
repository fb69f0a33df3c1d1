//! reStructuredText, best effort: a small renderer of our own for the
//! subset READMEs mostly use (there is no complete Rust implementation).
//!
//! Rendered: section titles (underlined, or over- and underlined; levels by
//! order of appearance, as docutils does), paragraphs, bullet and
//! enumerated lists, definition lists, block quotes, transitions, literal
//! blocks after `::`, doctest blocks, `code-block`/`code`/`sourcecode`,
//! `image`, admonitions (`note`, `warning`, ...), hyperlink targets and
//! `|substitution|` images (badges); inline ``literal``, *emphasis*,
//! **strong**, `interpreted`, a few roles, `text <url>`_ links, named
//! references (`name`_, name_) and bare URLs.
//!
//! Anything else (tables, field lists, footnotes, unknown directives) is
//! shown as escaped preformatted text, block by block; nesting deeper than
//! [`MAX_DEPTH`] is shown that way too. The output is not trusted: the
//! caller sanitises it like any other rendering.

mod inline;

use std::collections::HashMap;

use super::{escape, preformatted};

/// How deep blocks may nest (quotes in lists in quotes...).
const MAX_DEPTH: usize = 12;

/// Characters that may make up a section adornment.
fn is_adornment_char(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// What the whole document knows: hyperlink targets, substitutions and the
/// order in which section title styles appeared.
#[derive(Default)]
pub(super) struct Ctx {
    targets: HashMap<String, String>,
    /// Substitution name → rendered HTML (an image, maybe linked).
    subs: HashMap<String, String>,
    title_styles: Vec<(char, bool)>,
}

impl Ctx {
    fn target(&self, name: &str) -> Option<&str> {
        self.targets.get(&normalize_name(name)).map(String::as_str)
    }

    fn substitution(&self, name: &str) -> Option<&str> {
        self.subs.get(&normalize_name(name)).map(String::as_str)
    }
}

/// Reference names compare case-insensitively with whitespace collapsed.
fn normalize_name(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Render reStructuredText to (unsanitised) HTML.
pub fn to_html(source: &str) -> String {
    let lines: Vec<String> = source
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .split('\n')
        .map(expand_tabs)
        .map(|l| l.trim_end().to_string())
        .collect();
    let mut ctx = Ctx::default();
    collect_targets(&lines, &mut ctx);
    blocks(&lines, &mut ctx, 0)
}

fn expand_tabs(line: &str) -> String {
    if !line.contains('\t') {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len() + 8);
    let mut col = 0;
    for c in line.chars() {
        if c == '\t' {
            let n = 8 - col % 8;
            out.extend(std::iter::repeat(' ').take(n));
            col += n;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// The lines of an indented block starting at `start`: every following line
/// that is blank or indented by at least `min`, without trailing blanks.
/// Returns the end (exclusive).
fn indented_end(lines: &[String], start: usize, min: usize) -> usize {
    let mut end = start;
    let mut last_text = start;
    while end < lines.len() && (is_blank(&lines[end]) || indent_of(&lines[end]) >= min) {
        end += 1;
        if !is_blank(&lines[end - 1]) {
            last_text = end;
        }
    }
    last_text.max(start)
}

/// `lines` with their common indentation removed.
fn dedent(lines: &[String]) -> Vec<String> {
    let min = lines
        .iter()
        .filter(|l| !is_blank(l))
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            if is_blank(l) {
                String::new()
            } else {
                l[min..].to_string()
            }
        })
        .collect()
}

/// Pre-pass: `.. _name: url` targets and `.. |name| image:: url`
/// substitutions anywhere in the document.
fn collect_targets(lines: &[String], ctx: &mut Ctx) {
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if let Some(rest) = t.strip_prefix(".. _") {
            // the URL may continue on indented lines
            let end = indented_end(lines, i + 1, indent_of(&lines[i]) + 1);
            let mut body = rest.to_string();
            for l in &lines[i + 1..end] {
                body.push_str(l.trim());
            }
            if let Some((name, url)) = split_target(&body) {
                ctx.targets.entry(normalize_name(&name)).or_insert(url);
            }
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
    // substitutions after targets: an image's :target: may name one
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if let Some(rest) = t.strip_prefix(".. |") {
            let end = indented_end(lines, i + 1, indent_of(&lines[i]) + 1);
            if let Some((name, def)) = rest.split_once("| ") {
                let def = def.trim_start();
                if let Some(arg) = def.strip_prefix("image::") {
                    let opts = options(&lines[i + 1..end]);
                    let html = image(arg.trim(), &opts, ctx);
                    ctx.subs.insert(normalize_name(name), html);
                } else if let Some(text) = def.strip_prefix("replace::") {
                    let html = inline::render(text.trim(), ctx);
                    ctx.subs.insert(normalize_name(name), html);
                }
            }
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
}

/// `name: url` (the part after `.. _`); the name may be in backquotes.
fn split_target(body: &str) -> Option<(String, String)> {
    let (name, url) = if let Some(rest) = body.strip_prefix('`') {
        let (name, after) = rest.split_once('`')?;
        (name.to_string(), after.strip_prefix(':')?)
    } else {
        let (name, url) = body
            .split_once(": ")
            .or_else(|| body.strip_suffix(':').map(|n| (n, "")))?;
        (name.to_string(), url)
    };
    let url: String = url.split_whitespace().collect();
    (!url.is_empty()).then_some((name, url))
}

/// Directive options (`:name: value` lines at the start of a body).
fn options(body: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for l in body {
        let t = l.trim();
        if t.is_empty() {
            break;
        }
        let Some(rest) = t.strip_prefix(':') else {
            break;
        };
        let Some((k, v)) = rest.split_once(':') else {
            break;
        };
        out.push((k.trim().to_lowercase(), v.trim().to_string()));
    }
    out
}

fn option<'a>(opts: &'a [(String, String)], key: &str) -> Option<&'a str> {
    opts.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn image(url: &str, opts: &[(String, String)], ctx: &Ctx) -> String {
    let url: String = url.split_whitespace().collect();
    let mut img = format!("<img src=\"{}\"", escape(&url));
    for (opt, attr) in [("alt", "alt"), ("width", "width"), ("height", "height")] {
        if let Some(v) = option(opts, opt) {
            img.push_str(&format!(" {attr}=\"{}\"", escape(v)));
        }
    }
    if let Some(v) = option(opts, "align") {
        img.push_str(&format!(" align=\"{}\"", escape(v)));
    }
    img.push('>');
    match option(opts, "target") {
        Some(t) => {
            let href = t
                .strip_suffix('_')
                .and_then(|n| ctx.target(n.trim_matches('`')))
                .unwrap_or(t);
            format!("<a href=\"{}\">{img}</a>", escape(href))
        }
        None => img,
    }
}

/// The body blocks of `lines` (a container whose own indentation is 0).
fn blocks(lines: &[String], ctx: &mut Ctx, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return preformatted(&lines.join("\n"));
    }
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        if is_blank(&lines[i]) {
            i += 1;
            continue;
        }
        i = block(lines, i, ctx, depth, &mut out);
    }
    out
}

/// Render the block starting at `i` (not blank) into `out`; returns the
/// index after it.
fn block(lines: &[String], i: usize, ctx: &mut Ctx, depth: usize, out: &mut String) -> usize {
    let line = &lines[i];
    let next = lines.get(i + 1).map(String::as_str);
    if indent_of(line) > 0 {
        let end = indented_end(lines, i, 1);
        let body = dedent(&lines[i..end]);
        out.push_str("<blockquote>");
        out.push_str(&blocks(&body, ctx, depth + 1));
        out.push_str("</blockquote>");
        return end;
    }
    if let Some(end) = section(lines, i, ctx, out) {
        return end;
    }
    if adornment(line).is_some_and(|(_, n)| n >= 4) && next.map_or(true, is_blank) {
        out.push_str("<hr>");
        return i + 1;
    }
    if let Some(end) = list(lines, i, ctx, depth, out) {
        return end;
    }
    if line.starts_with("..") && (line.len() == 2 || line[2..].starts_with(' ')) {
        return explicit(lines, i, ctx, depth, out);
    }
    if line.starts_with(">>>") {
        let end = paragraph_end(lines, i);
        out.push_str(&preformatted(&lines[i..end].join("\n")));
        return end;
    }
    if is_unsupported_start(line) {
        // tables, field lists, line blocks, footnotes: shown as they are
        let end = paragraph_end(lines, i);
        out.push_str(&preformatted(&lines[i..end].join("\n")));
        return end;
    }
    if next.is_some_and(|n| !is_blank(n) && indent_of(n) > 0) {
        return definition_list(lines, i, ctx, depth, out);
    }
    paragraph(lines, i, ctx, out)
}

/// Constructs of this subset's size that are shown preformatted.
fn is_unsupported_start(line: &str) -> bool {
    let t = line.trim_end();
    let grid = t.starts_with("+-") || t.starts_with("+=");
    let simple = t.starts_with("==") && t.contains(' ') && t.chars().all(|c| c == '=' || c == ' ');
    let field = t.starts_with(':') && t[1..].contains(": ") && !t.starts_with("::");
    let line_block = t == "|" || t.starts_with("| ");
    grid || simple || field || line_block
}

/// `Some((char, count))` when `line` is one punctuation character repeated.
fn adornment(line: &str) -> Option<(char, usize)> {
    let t = line.trim_end();
    let c = t.chars().next()?;
    if !is_adornment_char(c) || !t.chars().all(|x| x == c) {
        return None;
    }
    Some((c, t.chars().count()))
}

/// A section title at `i` (under- or over-and-underlined).
fn section(lines: &[String], i: usize, ctx: &mut Ctx, out: &mut String) -> Option<usize> {
    let (title, style, end) = if let Some((c, n)) = adornment(&lines[i]) {
        // overline, title, underline
        let title = lines.get(i + 1)?;
        let under = lines.get(i + 2)?;
        if is_blank(title) || adornment(under) != Some((c, n)) || n < 2 {
            return None;
        }
        (title.trim(), (c, true), i + 3)
    } else {
        let under = lines.get(i + 1)?;
        let (c, n) = adornment(under)?;
        let width = lines[i].trim().chars().count();
        if n < 2 || (n < width && n < 4) {
            return None;
        }
        (lines[i].trim(), (c, false), i + 2)
    };
    let level = match ctx.title_styles.iter().position(|s| *s == style) {
        Some(p) => p + 1,
        None => {
            ctx.title_styles.push(style);
            ctx.title_styles.len()
        }
    }
    .min(6);
    let id = slug(title);
    let text = inline::render(title, ctx);
    if id.is_empty() {
        out.push_str(&format!("<h{level}>{text}</h{level}>"));
    } else {
        out.push_str(&format!("<h{level} id=\"{id}\">{text}</h{level}>"));
    }
    Some(end)
}

/// A heading's anchor: lower-case letters and digits, runs of anything
/// else as one `-` (docutils' way).
fn slug(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            s.extend(c.to_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    s.trim_end_matches('-').to_string()
}

/// Where the paragraph starting at `i` ends (its first blank line).
fn paragraph_end(lines: &[String], i: usize) -> usize {
    let mut end = i;
    while end < lines.len() && !is_blank(&lines[end]) {
        end += 1;
    }
    end
}

fn paragraph(lines: &[String], i: usize, ctx: &Ctx, out: &mut String) -> usize {
    let mut end = paragraph_end(lines, i);
    let text: Vec<&str> = lines[i..end].iter().map(|l| l.trim()).collect();
    let mut text = text.join("\n");
    let literal = text.ends_with("::");
    if literal {
        if text == "::" {
            text.clear();
        } else if text.ends_with(" ::") || text.ends_with("\n::") {
            text.truncate(text.len() - 3);
        } else {
            text.pop();
        }
    }
    if !text.is_empty() {
        out.push_str("<p>");
        out.push_str(&inline::render(&text, ctx));
        out.push_str("</p>");
    }
    if literal {
        let mut j = end;
        while j < lines.len() && is_blank(&lines[j]) {
            j += 1;
        }
        if j < lines.len() && indent_of(&lines[j]) > 0 {
            let lend = indented_end(lines, j, 1);
            let body = dedent(&lines[j..lend]);
            out.push_str(&preformatted(&body.join("\n")));
            end = lend;
        }
    }
    end
}

fn definition_list(
    lines: &[String],
    mut i: usize,
    ctx: &mut Ctx,
    depth: usize,
    out: &mut String,
) -> usize {
    out.push_str("<dl>");
    loop {
        let term = lines[i].trim();
        let end = indented_end(lines, i + 1, 1);
        let body = dedent(&lines[i + 1..end]);
        out.push_str("<dt>");
        out.push_str(&inline::render(term, ctx));
        out.push_str("</dt><dd>");
        out.push_str(&blocks(&body, ctx, depth + 1));
        out.push_str("</dd>");
        i = end;
        // another term right after (blank lines between allowed)
        let mut j = i;
        while j < lines.len() && is_blank(&lines[j]) {
            j += 1;
        }
        let is_term = j + 1 < lines.len()
            && indent_of(&lines[j]) == 0
            && !is_blank(&lines[j + 1])
            && indent_of(&lines[j + 1]) > 0
            && list_marker(&lines[j]).is_none()
            && !lines[j].starts_with("..");
        if !is_term {
            break;
        }
        i = j;
    }
    out.push_str("</dl>");
    i
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Marker {
    Bullet(char),
    /// Enumerated: its style (`1.`, `(1)`, `1)`; `a.`...) and number.
    Enum {
        style: String,
        number: Option<u64>,
    },
}

/// A list item marker at the start of `line`: the marker and the column
/// where the item's text starts.
fn list_marker(line: &str) -> Option<(Marker, usize)> {
    let mut chars = line.chars();
    let first = chars.next()?;
    if matches!(first, '-' | '*' | '+' | '•' | '‣' | '⁃') {
        let after = &line[first.len_utf8()..];
        if after.is_empty() {
            return Some((Marker::Bullet(first), line.len()));
        }
        if after.starts_with(' ') {
            let col = first.len_utf8() + indent_of(after);
            return Some((Marker::Bullet(first), col));
        }
        return None;
    }
    let (open, rest) = match line.strip_prefix('(') {
        Some(r) => (true, r),
        None => (false, line),
    };
    let label_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
        .unwrap_or(rest.len());
    let label = &rest[..label_len];
    let close = rest[label_len..].chars().next()?;
    let ok_close = if open {
        close == ')'
    } else {
        close == '.' || close == ')'
    };
    if label.is_empty() || !ok_close {
        return None;
    }
    let (kind, number) = if label == "#" {
        ("#", None)
    } else if label.bytes().all(|b| b.is_ascii_digit()) && label.len() <= 9 {
        ("1", label.parse().ok())
    } else if label.len() == 1 && label.bytes().all(|b| b.is_ascii_alphabetic()) {
        let b = label.as_bytes()[0].to_ascii_lowercase();
        ("a", Some(u64::from(b - b'a') + 1))
    } else {
        return None;
    };
    let after_pos = usize::from(open) + label_len + 1;
    let after = &line[after_pos..];
    if !after.is_empty() && !after.starts_with(' ') {
        return None;
    }
    let col = if after.is_empty() {
        line.len()
    } else {
        after_pos + indent_of(after)
    };
    let style = format!("{}{kind}{close}", if open { "(" } else { "" });
    Some((Marker::Enum { style, number }, col))
}

fn same_list(a: &Marker, b: &Marker) -> bool {
    match (a, b) {
        (Marker::Bullet(x), Marker::Bullet(y)) => x == y,
        (Marker::Enum { style: x, .. }, Marker::Enum { style: y, .. }) => {
            x == y || (x.contains('#') != y.contains('#') && x.len() == y.len())
        }
        _ => false,
    }
}

fn list(
    lines: &[String],
    i: usize,
    ctx: &mut Ctx,
    depth: usize,
    out: &mut String,
) -> Option<usize> {
    let (first, _) = list_marker(&lines[i])?;
    // an enumerated "item" must be followed by a blank, an indented line,
    // another item or the end; otherwise it is a sentence ("A. Smith ...")
    if let Marker::Enum { .. } = first {
        if let Some(n) = lines.get(i + 1) {
            let ok = is_blank(n) || indent_of(n) > 0 || list_marker(n).is_some();
            if !ok {
                return None;
            }
        }
    }
    let (open, close) = match &first {
        Marker::Bullet(_) => ("<ul>".to_string(), "</ul>"),
        Marker::Enum {
            number: Some(n), ..
        } if *n != 1 => (format!("<ol start=\"{n}\">"), "</ol>"),
        Marker::Enum { .. } => ("<ol>".to_string(), "</ol>"),
    };
    out.push_str(&open);
    let mut i = i;
    loop {
        let (_, col) = list_marker(&lines[i]).expect("checked");
        let mut item = vec![lines[i].get(col..).unwrap_or("").to_string()];
        let end = indented_end(lines, i + 1, col.max(1));
        item.extend(lines[i + 1..end].iter().map(|l| {
            if is_blank(l) {
                String::new()
            } else {
                l[col.min(indent_of(l))..].to_string()
            }
        }));
        let body = blocks(&item, ctx, depth + 1);
        out.push_str("<li>");
        out.push_str(unwrap_single_paragraph(&body));
        out.push_str("</li>");
        let mut j = end;
        while j < lines.len() && is_blank(&lines[j]) {
            j += 1;
        }
        match lines.get(j).and_then(|l| list_marker(l)) {
            Some((m, _)) if same_list(&first, &m) => i = j,
            _ => {
                out.push_str(close);
                return Some(end);
            }
        }
    }
}

/// `<p>x</p>` → `x` (a list item of one paragraph reads better bare).
fn unwrap_single_paragraph(html: &str) -> &str {
    match html
        .strip_prefix("<p>")
        .and_then(|h| h.strip_suffix("</p>"))
    {
        Some(inner) if !inner.contains("<p>") => inner,
        _ => html,
    }
}

/// Explicit markup (`.. `): directives, comments, targets, substitutions.
fn explicit(lines: &[String], i: usize, ctx: &mut Ctx, depth: usize, out: &mut String) -> usize {
    let end = indented_end(lines, i + 1, 1);
    let head = lines[i].get(3..).unwrap_or("").trim();
    let body = dedent(&lines[i + 1..end]);
    if head.starts_with('_') || head.starts_with('|') || head.starts_with("__ ") {
        // targets and substitutions were collected up front
        return end;
    }
    let Some((name, arg)) = directive_head(head) else {
        if head.starts_with('[') {
            // footnotes and citations: shown as written
            out.push_str(&preformatted(&lines[i..end].join("\n")));
        }
        // anything else is a comment
        return end;
    };
    let opts = options(&body);
    let content: Vec<String> = {
        let skip = body
            .iter()
            .take_while(|l| l.trim_start().starts_with(':'))
            .count();
        let rest = &body[skip..];
        let start = rest.iter().take_while(|l| is_blank(l)).count();
        rest[start..].to_vec()
    };
    match name.as_str() {
        "code-block" | "code" | "sourcecode" => {
            let lang = arg.split_whitespace().next().unwrap_or("");
            let code = escape(&content.join("\n"));
            if lang.is_empty() {
                out.push_str(&format!("<pre><code>{code}</code></pre>"));
            } else {
                out.push_str(&format!(
                    "<pre lang=\"{}\"><code>{code}</code></pre>",
                    escape(lang)
                ));
            }
        }
        "image" | "figure" => {
            out.push_str(&image(arg, &opts, ctx));
            if name == "figure" && !content.is_empty() {
                out.push_str(&blocks(&content, ctx, depth + 1));
            }
        }
        "note" | "warning" | "tip" | "hint" | "important" | "attention" | "caution" | "danger"
        | "error" | "admonition" | "seealso" => {
            let title = if name == "admonition" {
                inline::render(arg, ctx)
            } else {
                let mut t = name.clone();
                t[..1].make_ascii_uppercase();
                t
            };
            let mut inner = Vec::new();
            if name != "admonition" && !arg.is_empty() {
                inner.push(arg.to_string());
                inner.push(String::new());
            }
            inner.extend(content);
            out.push_str(&format!("<div><p><strong>{title}</strong></p>"));
            out.push_str(&blocks(&inner, ctx, depth + 1));
            out.push_str("</div>");
        }
        // generated or raw content is not rendered here
        "contents" | "raw" | "include" | "toctree" | "highlight" | "default-role" | "role"
        | "meta" | "sectnum" => {}
        _ => out.push_str(&preformatted(&lines[i..end].join("\n"))),
    }
    end
}

/// `name:: argument` of a directive.
fn directive_head(head: &str) -> Option<(String, &str)> {
    let (name, arg) = head.split_once("::")?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
    {
        return None;
    }
    Some((name.to_ascii_lowercase(), arg.trim()))
}
