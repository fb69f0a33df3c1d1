//! reStructuredText inline markup: ``literal``, *emphasis*, **strong**,
//! `interpreted` (and `:role:`), references (`text <url>`_, `name`_,
//! name_, |substitution|), bare URLs and backslash escapes. What does not
//! form markup under the recognition rules stays text (escaped).

use std::collections::HashMap;

use super::Ctx;
use crate::render::escape;

/// May inline markup start after `c`?
fn start_ok_after(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c.is_whitespace() || "'\"([{<-/:‘“’«¡¿‐‑‒–—".contains(c),
    }
}

/// May inline markup end before `c`?
fn end_ok_before(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c.is_whitespace() || "'\")]}>-/:.,;!?\\’”»".contains(c),
    }
}

struct Parser<'a> {
    s: Vec<char>,
    ctx: &'a Ctx,
    out: String,
    /// Plain text not yet written (named references `word_` are found in
    /// it when it is flushed).
    text: String,
    /// For each end-string: a position from which it is known not to occur
    /// (keeps unmatched start-strings from making parsing quadratic).
    no_end_from: HashMap<&'static str, usize>,
}

/// Render one paragraph's (or title's) inline markup.
pub(super) fn render(text: &str, ctx: &Ctx) -> String {
    let mut p = Parser {
        s: text.chars().collect(),
        ctx,
        out: String::with_capacity(text.len() + 16),
        text: String::new(),
        no_end_from: HashMap::new(),
    };
    p.run();
    p.flush();
    p.out
}

impl Parser<'_> {
    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    fn starts(&self, i: usize, pat: &str) -> bool {
        pat.chars()
            .enumerate()
            .all(|(k, c)| self.at(i + k) == Some(c))
    }

    fn can_start(&self, i: usize, len: usize) -> bool {
        let before = if i == 0 { None } else { self.at(i - 1) };
        start_ok_after(before) && self.at(i + len).is_some_and(|c| !c.is_whitespace())
    }

    /// The position of the end-string `end` after `from`: preceded by
    /// non-whitespace and followed by an allowed character (past a
    /// reference's `_`/`__` for backquotes and bars). `literal`: backslashes
    /// escape nothing.
    fn find_end(&mut self, from: usize, end: &'static str, literal: bool) -> Option<usize> {
        if self.no_end_from.get(end).is_some_and(|&p| p <= from) {
            return None;
        }
        let n = end.chars().count();
        let mut i = from;
        while i + n <= self.s.len() {
            if !literal && self.at(i) == Some('\\') {
                i += 2;
                continue;
            }
            if self.starts(i, end) && i > from && self.at(i - 1).is_some_and(|c| !c.is_whitespace())
            {
                let mut after = i + n;
                if end == "`" || end == "|" {
                    while self.at(after) == Some('_') && after < i + n + 2 {
                        after += 1;
                    }
                }
                if end_ok_before(self.at(after)) {
                    return Some(i);
                }
            }
            i += 1;
        }
        self.no_end_from.insert(end, from);
        None
    }

    fn slice(&self, a: usize, b: usize) -> String {
        self.s[a..b].iter().collect()
    }

    /// Write pending text, linking `word_` references to known targets.
    fn flush(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.text);
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let ws = rest
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(rest.len());
            self.out.push_str(&escape(&rest[..ws]));
            rest = &rest[ws..];
            let wend = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..wend];
            rest = &rest[wend..];
            let core = word.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
            let tail = &word[core.len()..];
            let lead = core.len() - core.trim_start_matches(['(', '"', '\'']).len();
            let (head, core) = core.split_at(lead);
            let name = core
                .strip_suffix('_')
                .filter(|n| !n.is_empty() && !n.ends_with('_'));
            match name.and_then(|n| self.ctx.target(n).map(|u| (n, u))) {
                Some((n, url)) => {
                    let link = format!(
                        "{}<a href=\"{}\">{}</a>{}",
                        escape(head),
                        escape(url),
                        escape(n),
                        escape(tail)
                    );
                    self.out.push_str(&link);
                }
                None => self.out.push_str(&escape(word)),
            }
        }
    }

    fn emit(&mut self, html: &str) {
        self.flush();
        self.out.push_str(html);
    }

    fn run(&mut self) {
        let mut i = 0;
        while i < self.s.len() {
            let c = self.s[i];
            if c == '\\' {
                match self.at(i + 1) {
                    Some(' ') | Some('\n') | None => {}
                    Some(n) => self.text.push(n),
                }
                i += 2;
                continue;
            }
            if let Some(next) = self.markup(i) {
                i = next;
                continue;
            }
            self.text.push(c);
            i += 1;
        }
    }

    /// Markup starting at `i`: renders it and returns where it ends.
    fn markup(&mut self, i: usize) -> Option<usize> {
        match self.s[i] {
            '`' if self.starts(i, "``") && self.can_start(i, 2) => {
                let e = self.find_end(i + 2, "``", true)?;
                let code = self.slice(i + 2, e);
                self.emit(&format!("<code>{}</code>", escape(&code)));
                Some(e + 2)
            }
            '*' if self.starts(i, "**") && self.can_start(i, 2) => {
                let e = self.find_end(i + 2, "**", false)?;
                let inner = unescape(&self.slice(i + 2, e));
                self.emit(&format!("<strong>{}</strong>", escape(&inner)));
                Some(e + 2)
            }
            '*' if self.can_start(i, 1) => {
                let e = self.find_end(i + 1, "*", false)?;
                let inner = unescape(&self.slice(i + 1, e));
                self.emit(&format!("<em>{}</em>", escape(&inner)));
                Some(e + 1)
            }
            '`' if self.can_start(i, 1) => self.interpreted(i + 1, None),
            ':' if self.can_start(i, 1) => {
                // :role:`text`
                let mut j = i + 1;
                while self
                    .at(j)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
                {
                    j += 1;
                }
                if j > i + 1 && self.at(j) == Some(':') && self.at(j + 1) == Some('`') {
                    let role = self.slice(i + 1, j).to_ascii_lowercase();
                    return self.interpreted(j + 2, Some(role));
                }
                None
            }
            '|' if self.can_start(i, 1) => {
                let e = self.find_end(i + 1, "|", false)?;
                let name = self.slice(i + 1, e);
                let html = self.ctx.substitution(&name)?.to_string();
                let mut after = e + 1;
                let linked = self.at(after) == Some('_');
                while self.at(after) == Some('_') && after < e + 3 {
                    after += 1;
                }
                match self.ctx.target(&name).filter(|_| linked) {
                    Some(url) => {
                        let url = escape(url);
                        self.emit(&format!("<a href=\"{url}\">{html}</a>"));
                    }
                    None => self.emit(&html),
                }
                Some(after)
            }
            'h' | 'm' if start_ok_after(if i == 0 { None } else { self.at(i - 1) }) => {
                self.bare_url(i)
            }
            _ => None,
        }
    }

    /// `text`, `text`_, `text <url>`_ (and `__`), or a role's text.
    fn interpreted(&mut self, start: usize, role: Option<String>) -> Option<usize> {
        let e = self.find_end(start, "`", false)?;
        let inner = self.slice(start, e);
        let mut after = e + 1;
        let mut underscores = 0;
        while self.at(after) == Some('_') && underscores < 2 {
            after += 1;
            underscores += 1;
        }
        if role.is_none() && underscores > 0 {
            let (text, url) = match inner.rfind('<') {
                Some(lt) if inner.ends_with('>') => {
                    let raw = &inner[lt + 1..inner.len() - 1];
                    let url: String = raw.split_whitespace().collect();
                    let label = inner[..lt].trim();
                    let url = match url.strip_suffix('_') {
                        // `text <name_>`_: a reference to a named target
                        Some(name) => self.ctx.target(name).map(str::to_string),
                        None => Some(url.clone()),
                    };
                    let label = if label.is_empty() { raw.trim() } else { label };
                    (label.to_string(), url)
                }
                _ => (inner.clone(), self.ctx.target(&inner).map(str::to_string)),
            };
            let text = escape(&unescape(&text));
            match url {
                Some(u) => self.emit(&format!("<a href=\"{}\">{text}</a>", escape(&u))),
                None => self.emit(&text),
            }
            return Some(after);
        }
        let text = escape(&unescape(&inner));
        let html = match role.as_deref() {
            None | Some("title-reference") | Some("title") | Some("t") => {
                format!("<cite>{text}</cite>")
            }
            Some("strong") => format!("<strong>{text}</strong>"),
            Some("emphasis") => format!("<em>{text}</em>"),
            Some("sub") | Some("subscript") => format!("<sub>{text}</sub>"),
            Some("sup") | Some("superscript") => format!("<sup>{text}</sup>"),
            // code, literal and the cross references of Sphinx and friends
            Some(_) => format!("<code>{text}</code>"),
        };
        self.emit(&html);
        // a role's text never takes a reference suffix
        Some(if role.is_some() { e + 1 } else { after })
    }

    /// `http://`, `https://` or `mailto:` up to whitespace; trailing
    /// punctuation stays text.
    fn bare_url(&mut self, i: usize) -> Option<usize> {
        let scheme = ["https://", "http://", "mailto:"]
            .into_iter()
            .find(|p| self.starts(i, p))?;
        let min = i + scheme.chars().count();
        let mut j = min;
        while self
            .at(j)
            .is_some_and(|c| !c.is_whitespace() && !"<>\"`".contains(c))
        {
            j += 1;
        }
        while j > min && self.at(j - 1).is_some_and(|c| ".,;:!?)'".contains(c)) {
            j -= 1;
        }
        if j == min {
            return None;
        }
        let u = escape(&self.slice(i, j));
        self.emit(&format!("<a href=\"{u}\">{u}</a>"));
        Some(j)
    }
}

/// Backslash escapes removed (`\*` → `*`; `\ ` → nothing).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(' ') | Some('\n') | None => {}
                Some(n) => out.push(n),
            }
        } else {
            out.push(c);
        }
    }
    out
}
