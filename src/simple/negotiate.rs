//! Choosing HTML or JSON from the `Accept` header (PEP 691), quality values included.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `application/vnd.pypi.simple.v1+json`
    Json,
    /// `application/vnd.pypi.simple.v1+html`
    HtmlV1,
    /// `text/html` (the default for clients that send no preference)
    Html,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/vnd.pypi.simple.v1+json",
            Format::HtmlV1 => "application/vnd.pypi.simple.v1+html",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "none of the requested content types is available; this index serves \
     application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html and text/html"
)]
pub struct NotAcceptable;

/// Pick the format for an `Accept` header value (`None`: no header).
/// Among equal quality values the server prefers JSON, then v1 HTML, then
/// text/html, as PEP 691 suggests.
pub fn negotiate(accept: Option<&str>) -> Result<Format, NotAcceptable> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Format::Html);
    };
    let mut best: Option<(u32, u8, Format)> = None; // (q*1000, server preference, format)
    for item in accept.split(',').take(64) {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1000u32;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = parse_q(v.trim());
            }
        }
        if q == 0 {
            continue;
        }
        let candidates: &[(Format, u8)] =
            match media.as_str() {
                "application/vnd.pypi.simple.v1+json"
                | "application/vnd.pypi.simple.latest+json" => &[(Format::Json, 3)],
                "application/vnd.pypi.simple.v1+html"
                | "application/vnd.pypi.simple.latest+html" => &[(Format::HtmlV1, 2)],
                "text/html" => &[(Format::Html, 1)],
                // A wildcard matches every format; the plain HTML default keeps
                // browsers and old tools on what they expect.
                "*/*" | "text/*" => &[(Format::Html, 1)],
                _ => &[],
            };
        for &(f, pref) in candidates {
            let better = match best {
                None => true,
                Some((bq, bp, _)) => q > bq || (q == bq && pref > bp),
            };
            if better {
                best = Some((q, pref, f));
            }
        }
    }
    best.map(|(_, _, f)| f).ok_or(NotAcceptable)
}

fn parse_q(v: &str) -> u32 {
    match v.parse::<f32>() {
        Ok(f) if (0.0..=1.0).contains(&f) => (f * 1000.0).round() as u32,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_table() {
        let cases: &[(Option<&str>, Result<Format, NotAcceptable>)] = &[
            (None, Ok(Format::Html)),
            (Some(""), Ok(Format::Html)),
            (Some("*/*"), Ok(Format::Html)),
            (Some("text/html"), Ok(Format::Html)),
            (Some("application/vnd.pypi.simple.v1+json"), Ok(Format::Json)),
            (Some("application/vnd.pypi.simple.latest+json"), Ok(Format::Json)),
            // pip's header
            (
                Some("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"),
                Ok(Format::Json),
            ),
            (
                Some("application/vnd.pypi.simple.v1+json; q=0.2, text/html"),
                Ok(Format::Html),
            ),
            (Some("application/vnd.pypi.simple.v1+html"), Ok(Format::HtmlV1)),
            (Some("application/json"), Err(NotAcceptable)),
            (Some("application/vnd.pypi.simple.v1+json;q=0"), Err(NotAcceptable)),
            (Some("application/vnd.pypi.simple.v2+json"), Err(NotAcceptable)),
            (Some("text/html;q=banana"), Err(NotAcceptable)),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate(*accept), *want, "{accept:?}");
        }
    }
}
