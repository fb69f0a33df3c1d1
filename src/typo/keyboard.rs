//! QWERTY key adjacency, for "fat finger" typos (`reqiests` for `requests`).

/// Rows of the US QWERTY layout with each row's horizontal offset in key widths.
const ROWS: [(&[u8], f32); 3] = [
    (b"qwertyuiop", 0.0),
    (b"asdfghjkl", 0.25),
    (b"zxcvbnm", 0.75),
];

/// Keys on a neighbouring row count as adjacent when their centres are at most
/// this far apart horizontally. 1.5 includes diagonal neighbours on both sides,
/// which is how hands actually slip.
const MAX_DIAGONAL_OFFSET: f32 = 1.5;

fn position(key: u8) -> Option<(usize, f32)> {
    ROWS.iter().enumerate().find_map(|(row, (keys, offset))| {
        let col = keys.iter().position(|k| *k == key)?;
        Some((row, col as f32 + offset))
    })
}

/// True when `a` and `b` are different letter keys next to each other.
/// Digits are deliberately excluded: `bootstrap4`/`bootstrap5` are versions, not typos.
pub fn adjacent(a: u8, b: u8) -> bool {
    if a == b {
        return false;
    }
    let (Some((ra, xa)), Some((rb, xb))) = (position(a), position(b)) else {
        return false;
    };
    let dx = (xa - xb).abs();
    match ra.abs_diff(rb) {
        0 => dx <= 1.0,
        1 => dx <= MAX_DIAGONAL_OFFSET,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::adjacent;

    #[test]
    fn adjacency_table() {
        let cases: &[(u8, u8, bool)] = &[
            (b'q', b'w', true),
            (b'w', b'q', true),
            (b'a', b's', true),
            (b's', b'x', true),
            (b'u', b'j', true),
            (b'g', b'r', true),
            (b'q', b'p', false),
            (b'a', b'l', false),
            (b'q', b'z', false),
            (b'a', b'a', false),
            (b'4', b'5', false),
            (b'-', b'a', false),
        ];
        for &(a, b, want) in cases {
            assert_eq!(adjacent(a, b), want, "{} {}", a as char, b as char);
        }
    }
}
