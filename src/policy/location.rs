//! `file:line:col` positions for policy messages.

use std::fmt;

/// A position in a policy file, 1-based, columns counted in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The position of byte `offset` in `text` (clamped to the text).
    pub fn at(file: &str, text: &str, offset: usize) -> Self {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Self {
            file: file.to_string(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbé = 2\n\nc";
        for (offset, line, column) in [
            (0, 1, 1),
            (4, 1, 5),
            (6, 2, 1),
            (8, 2, 2),  // inside 'é' (2 bytes): clamped back to its start
            (9, 2, 3),  // after 'é'
            (14, 3, 1), // the empty line
            (15, 4, 1), // 'c'
            (999, 4, 2),
        ] {
            let loc = Location::at("p.toml", text, offset);
            assert_eq!((loc.line, loc.column), (line, column), "offset {offset}");
        }
        assert_eq!(Location::at("p.toml", text, 6).to_string(), "p.toml:2:1");
    }
}
