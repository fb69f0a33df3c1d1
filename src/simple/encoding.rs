//! Content-Encoding of simple pages: which one a client accepts (RFC 9110
//! `Accept-Encoding` with q-values) and the compressors.

use std::io::Write;

/// An encoding airlock can send a page in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The `Content-Encoding` token (`None` for identity).
    pub fn token(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }
}

/// Pages shorter than this are sent as they are: compressing them saves
/// little more than the encoding's own framing. (Cached pages are compressed
/// once, so the CPU is not the concern.)
pub const MIN_COMPRESS_LEN: usize = 256;

/// The best encoding `accept_encoding` allows: brotli, then gzip, then
/// identity, each only with a q-value above zero. A missing header means
/// identity (RFC 9110 allows anything, but clients that send nothing
/// rarely decode anything).
pub fn preferred(accept_encoding: Option<&str>) -> Encoding {
    let Some(header) = accept_encoding else {
        return Encoding::Identity;
    };
    let mut gzip = None;
    let mut br = None;
    let mut star = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k.trim().eq_ignore_ascii_case("q")).then(|| v.trim().parse::<f32>().ok())?
            })
            .next()
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "br" => br = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let accepted = |q: Option<f32>| q.or(star).is_some_and(|q| q > 0.0);
    if accepted(br) {
        Encoding::Brotli
    } else if accepted(gzip) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// `body` compressed with `encoding` (identity: a copy).
pub fn encode(body: &[u8], encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Identity => body.to_vec(),
        Encoding::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::new(6),
            );
            // Writing into a Vec cannot fail.
            let _ = enc.write_all(body);
            enc.finish().unwrap_or_default()
        }
        Encoding::Brotli => {
            let mut out = Vec::with_capacity(body.len() / 4);
            let params = brotli::enc::BrotliEncoderParams {
                // Quality 5 compresses simple pages about as well as gzip -9
                // at a fraction of brotli's top-quality cost, which matters
                // for a 100,000-project index page.
                quality: 5,
                lgwin: 22,
                ..Default::default()
            };
            let mut input = body;
            match brotli::BrotliCompress(&mut input, &mut out, &params) {
                Ok(_) => out,
                Err(_) => Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn negotiation() {
        let cases = [
            (None, Encoding::Identity),
            (Some(""), Encoding::Identity),
            (Some("identity"), Encoding::Identity),
            (Some("gzip, deflate"), Encoding::Gzip),
            (Some("gzip, deflate, br"), Encoding::Brotli),
            (Some("br;q=0, gzip"), Encoding::Gzip),
            (Some("gzip;q=0"), Encoding::Identity),
            (Some("*"), Encoding::Brotli),
            (Some("*;q=0.5, br;q=0"), Encoding::Gzip),
            (Some("GZIP ; Q=0.8"), Encoding::Gzip),
            (Some("deflate, compress"), Encoding::Identity),
            (Some("br;q=x"), Encoding::Brotli),
        ];
        for (header, want) in cases {
            assert_eq!(preferred(header), want, "{header:?}");
        }
    }

    #[test]
    fn compressors_round_trip() {
        let body = "<a href=\"../../+f/abc/def/pkg-1.0-py3-none-any.whl\">pkg</a>\n".repeat(200);
        let gz = encode(body.as_bytes(), Encoding::Gzip);
        assert!(
            gz.len() < body.len() / 5,
            "gzip {} of {}",
            gz.len(),
            body.len()
        );
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .expect("gzip decodes");
        assert_eq!(out, body);

        let br = encode(body.as_bytes(), Encoding::Brotli);
        assert!(
            br.len() < body.len() / 5,
            "br {} of {}",
            br.len(),
            body.len()
        );
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut out).expect("brotli decodes");
        assert_eq!(out, body.as_bytes());

        assert_eq!(encode(b"abc", Encoding::Identity), b"abc");
    }
}
