//! Characters that look alike: non-ASCII letters that render like ASCII ones,
//! and the ASCII look-alikes (`l`/`I`/`1`, `o`/`0`, `rn`/`m`, ...) folded into a
//! *skeleton* so that `reque5ts`, `rеquests` (Cyrillic `е`) and `requests`
//! collide in one lookup.

/// Map one non-ASCII character to the ASCII letter or digit it imitates.
/// Covers Cyrillic, Greek, fullwidth forms and common Latin letters with
/// diacritics; anything else returns `None`.
pub fn ascii_lookalike(c: char) -> Option<char> {
    if c.is_ascii() {
        return Some(c);
    }
    let code = c as u32;
    // Fullwidth ASCII block: U+FF01..=U+FF5E mirrors U+0021..=U+007E.
    if (0xFF01..=0xFF5E).contains(&code) {
        return char::from_u32(code - 0xFF01 + 0x21);
    }
    let mapped = match c {
        // Cyrillic
        'а' | 'А' => 'a',
        'в' | 'В' | 'ь' | 'Ь' => 'b',
        'с' | 'С' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'Е' | 'ё' | 'Ё' | 'є' => 'e',
        'һ' | 'Н' | 'н' => 'h',
        'і' | 'І' | 'ї' | 'Ї' | 'ı' | 'ɩ' => 'i',
        'ј' | 'Ј' => 'j',
        'к' | 'К' => 'k',
        'ӏ' | 'Ӏ' | 'ǀ' | 'ℓ' => 'l',
        'м' | 'М' => 'm',
        'п' | 'П' => 'n',
        'о' | 'О' | 'ο' | 'Ο' | 'σ' | 'ө' => 'o',
        'р' | 'Р' | 'ρ' | 'Ρ' => 'p',
        'ԛ' => 'q',
        'г' | 'Г' => 'r',
        'ѕ' | 'Ѕ' => 's',
        'т' | 'Т' | 'τ' | 'Τ' => 't',
        'υ' | 'ц' => 'u',
        'ν' | 'ѵ' => 'v',
        'ԝ' | 'ѡ' | 'ω' => 'w',
        'х' | 'Х' | 'χ' | 'Χ' => 'x',
        'у' | 'У' | 'ү' | 'γ' => 'y',
        'ᴢ' | 'Ζ' => 'z',
        // Greek capitals and letters not covered above
        'α' | 'Α' => 'a',
        'Β' | 'β' => 'b',
        'Ε' | 'ε' => 'e',
        'Η' => 'h',
        'ι' | 'Ι' => 'i',
        'κ' | 'Κ' => 'k',
        'Μ' => 'm',
        'Ν' | 'η' => 'n',
        // Latin letters with diacritics
        'à'..='å' | 'À'..='Å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'Ç' | 'ć' | 'č' => 'c',
        'è'..='ë' | 'È'..='Ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
        'ì'..='ï' | 'Ì'..='Ï' | 'ī' | 'į' => 'i',
        'ñ' | 'Ñ' | 'ń' | 'ň' => 'n',
        'ò'..='ö' | 'Ò'..='Ö' | 'ø' | 'Ø' | 'ō' | 'ő' => 'o',
        'ù'..='ü' | 'Ù'..='Ü' | 'ū' | 'ů' | 'ű' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        'ś' | 'š' | 'ş' => 's',
        'ź' | 'ż' | 'ž' => 'z',
        'ł' => 'l',
        _ => return None,
    };
    Some(mapped)
}

/// The result of mapping a raw name onto ASCII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsciiFolded {
    /// The name with every known look-alike replaced by its ASCII original.
    pub text: String,
    /// How many non-ASCII characters were replaced.
    pub replaced: usize,
    /// Non-ASCII characters with no known ASCII look-alike (kept as they are).
    pub unmapped: usize,
}

/// Replace non-ASCII look-alikes by ASCII. Combining marks (U+0300..U+036F),
/// which only decorate the previous letter, are dropped and count as replaced.
pub fn fold_to_ascii(raw: &str) -> AsciiFolded {
    let mut out = AsciiFolded {
        text: String::with_capacity(raw.len()),
        replaced: 0,
        unmapped: 0,
    };
    for c in raw.chars() {
        if ('\u{300}'..='\u{36f}').contains(&c) || matches!(c, '\u{200b}'..='\u{200d}' | '\u{feff}')
        {
            out.replaced += 1;
            continue;
        }
        match ascii_lookalike(c) {
            Some(a) if c.is_ascii() => out.text.push(a),
            Some(a) => {
                out.replaced += 1;
                out.text.push(a);
            }
            None => {
                out.unmapped += 1;
                out.text.push(c);
            }
        }
    }
    out
}

/// True when `a` and `b` (lowercase ASCII) are a classic visual confusion.
pub fn is_confusable_pair(a: u8, b: u8) -> bool {
    a != b && skeleton_byte(a) == skeleton_byte(b)
}

/// The class of a single lowercase ASCII character: `1`, `i` and `l` fold to `l`,
/// `0` to `o`, `3` to `e`, `4` to `a`, `5` to `s`.
fn skeleton_byte(b: u8) -> u8 {
    match b {
        b'1' | b'i' => b'l',
        b'0' => b'o',
        b'3' => b'e',
        b'4' => b'a',
        b'5' => b's',
        other => other,
    }
}

/// Fold a normalised name to its visual skeleton: separators removed, `rn` → `m`,
/// `vv` → `w`, then the single-character classes of [`is_confusable_pair`].
/// Two names with equal skeletons are visually confusable.
pub fn skeleton(normalized: &str) -> String {
    let stripped: Vec<u8> = normalized.bytes().filter(|b| *b != b'-').collect();
    let mut out = String::with_capacity(stripped.len());
    let mut i = 0;
    while let Some(&b) = stripped.get(i) {
        let next = stripped.get(i + 1).copied();
        match (b, next) {
            (b'r', Some(b'n')) => {
                out.push('m');
                i += 2;
            }
            (b'v', Some(b'v')) => {
                out.push('w');
                i += 2;
            }
            _ => {
                out.push(char::from(skeleton_byte(b)));
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_non_ascii_lookalikes() {
        let cases = [
            ("rеquests", "requests", 1, 0), // Cyrillic е
            ("nυmpy", "numpy", 1, 0),       // Greek upsilon
            ("ｄjango", "django", 1, 0),    // fullwidth d
            ("reque\u{301}sts", "requests", 1, 0),
            ("plain", "plain", 0, 0),
            ("名前", "名前", 0, 2),
        ];
        for (raw, text, replaced, unmapped) in cases {
            let f = fold_to_ascii(raw);
            assert_eq!(
                (f.text.as_str(), f.replaced, f.unmapped),
                (text, replaced, unmapped),
                "{raw}"
            );
        }
    }

    #[test]
    fn skeleton_collides_lookalikes_only() {
        let same = [
            ("requests", "reque5ts"),
            ("flask", "f1ask"),
            ("mypy", "rnypy"),
            ("wheel", "vvheel"),
            ("xmlsec", "xmisec"),
            ("more-itertools", "moreitertools"),
            ("boto3", "bot03"),
        ];
        for (a, b) in same {
            assert_eq!(skeleton(a), skeleton(b), "{a} vs {b}");
        }
        let different = [("boto", "boto3"), ("mock", "moto"), ("numpy", "numba")];
        for (a, b) in different {
            assert_ne!(skeleton(a), skeleton(b), "{a} vs {b}");
        }
    }

    #[test]
    fn confusable_pairs() {
        assert!(is_confusable_pair(b'l', b'1'));
        assert!(is_confusable_pair(b'o', b'0'));
        assert!(is_confusable_pair(b'i', b'l'));
        assert!(!is_confusable_pair(b'a', b'a'));
        assert!(!is_confusable_pair(b'a', b'b'));
    }
}
