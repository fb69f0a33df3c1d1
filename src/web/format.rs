//! How values read on a page: UTC dates with a relative time, file sizes,
//! digests shortened for the eye (the full value stays selectable).

use maud::{html, Markup};

/// `2026-12-02 06:28 UTC` with the relative time (`3 hours ago`) beside it,
/// machine-readable in a `<time>` element.
pub fn when(ts: i64, now: i64) -> Markup {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(ts) else {
        return html! { "—" };
    };
    let iso = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let shown = format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    );
    html! {
        time datetime=(iso) title=(iso) { (shown) }
        " " span.relative { "(" (relative(now - ts)) ")" }
    }
}

/// `just now`, `5 minutes ago`, `3 days ago`, `in 2 hours`.
pub fn relative(secs_ago: i64) -> String {
    let (future, s) = if secs_ago < 0 {
        (true, -secs_ago)
    } else {
        (false, secs_ago)
    };
    let (n, unit) = match s {
        0..=59 => return "just now".into(),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        86_400..=2_591_999 => (s / 86_400, "day"),
        2_592_000..=31_535_999 => (s / 2_592_000, "month"),
        _ => (s / 31_536_000, "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// `1.4 MiB`, `812 B`.
pub fn size(bytes: u64) -> String {
    const UNITS: &[&str] = &["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if v < 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

/// A sha256 shown as its first 12 hex digits, the whole in a `title` and
/// in a selectable `<code>`.
pub fn digest(hex: &str) -> Markup {
    let short = hex.get(..12).unwrap_or(hex);
    html! {
        code.digest title=(hex) { span.digest-short { (short) } span.digest-rest { (hex.get(12..).unwrap_or("")) } }
    }
}

/// Make bidirectional-override and invisible formatting characters
/// visible: a name or summary must read the way it compares.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'..='\u{200F}'
            | '\u{061C}'
            | '\u{FEFF}' => out.push_str(&format!("<U+{:04X}>", c as u32)),
            c if c.is_control() && c != '\n' && c != '\t' => {
                out.push_str(&format!("<U+{:04X}>", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(5), "just now");
        assert_eq!(relative(60), "1 minute ago");
        assert_eq!(relative(7200), "2 hours ago");
        assert_eq!(relative(3 * 86_400), "3 days ago");
        assert_eq!(relative(-7200), "in 2 hours");
        assert_eq!(relative(400 * 86_400), "1 year ago");
    }

    #[test]
    fn sizes_are_human_readable() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1_500_000), "1.4 MiB");
        assert_eq!(size(50 * 1024 * 1024), "50 MiB");
    }

    #[test]
    fn bidi_controls_are_made_visible() {
        assert_eq!(visible("abc\u{202E}fed"), "abc<U+202E>fed");
        assert_eq!(visible("pkg\u{200B}"), "pkg<U+200B>");
        assert_eq!(visible("plain name"), "plain name");
    }

    #[test]
    fn dates_are_utc_with_relative_time() {
        let m = when(1_764_657_000, 1_764_657_000 + 7200).into_string();
        assert!(m.contains("UTC"), "{m}");
        assert!(m.contains("2 hours ago"), "{m}");
        assert!(m.contains("datetime=\""), "{m}");
    }
}
