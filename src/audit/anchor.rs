//! Writing and reading a chain head as `SEQ:HASH`, the form an admin copies
//! somewhere the server cannot write and later checks with
//! `airlock audit verify --anchor SEQ:HASH`.

use super::Head;

/// An anchor as written on the command line: `SEQ:HASH`.
impl std::str::FromStr for Head {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not an audit anchor: expected SEQ:HASH, e.g. 42:<64 hex digits> \
                 as printed by `airlock audit head`"
            )
        };
        let (seq, hash) = s.trim().split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        let hash = hash.to_ascii_lowercase();
        if seq < 0 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Head { seq, hash })
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_parse_and_print_back() {
        let hash = "ab".repeat(32);
        let ok = [
            (format!("42:{hash}"), 42, hash.clone()),
            (format!(" 0:{} ", "0".repeat(64)), 0, "0".repeat(64)),
            (format!("7:{}", hash.to_uppercase()), 7, hash.clone()),
        ];
        for (text, seq, h) in ok {
            let head: Head = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                head,
                Head {
                    seq,
                    hash: h.clone()
                }
            );
            assert_eq!(head.to_string(), format!("{seq}:{h}"));
        }
        let bad = [
            String::new(),
            "42".to_string(),
            format!("x:{hash}"),
            format!("-1:{hash}"),
            "3:abc".to_string(),
            format!("3:{}", "g".repeat(64)),
            format!("3:{hash}00"),
        ];
        for text in bad {
            let err = text.parse::<Head>().unwrap_err();
            assert!(err.contains("SEQ:HASH"), "{text}: {err}");
        }
    }
}
