//! Client input quoted back in messages, bounded: an error must say what
//! was wrong without echoing a 2 MiB filename or form field in full.

/// Most characters of one echoed input.
pub const MAX_ECHO_CHARS: usize = 120;

/// Most characters of a whole error message (a safety net for inputs that
/// reach a message some other way).
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// `input` cut to [`MAX_ECHO_CHARS`] characters, with how much was cut.
pub fn echo(input: &str) -> String {
    truncate(input, MAX_ECHO_CHARS)
}

/// `text` cut to `max` characters, saying how many were left out.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!(
            "{}… ({} more bytes not shown)",
            &text[..cut],
            text.len() - cut
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_long_input_only() {
        assert_eq!(echo("short"), "short");
        let long = "é".repeat(500);
        let shown = echo(&long);
        assert!(shown.starts_with(&"é".repeat(MAX_ECHO_CHARS)));
        assert!(shown.ends_with("(760 more bytes not shown)"), "{shown}");
    }
}
