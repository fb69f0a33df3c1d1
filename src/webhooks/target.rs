//! Where a webhook may point (no SSRF through a webhook URL): `http` or
//! `https` only, and never at an address of this machine or its networks
//! (loopback, private, shared/CGNAT, link-local including the cloud
//! metadata address, unique-local, multicast, unspecified, reserved)
//! unless the operator allowed that host (`--webhook-allow-host`) or all
//! private addresses (`--webhook-allow-private`). The check runs when the
//! webhook is configured and again before every delivery, which then
//! connects to the very address it checked (a DNS answer that changed in
//! between cannot redirect it).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

/// Longest target URL accepted.
pub const MAX_URL_LEN: usize = 2048;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("the webhook URL {0:?} does not parse: {1}")]
    Unparsable(String, String),
    #[error("the webhook URL is {0} bytes; at most {MAX_URL_LEN} are accepted")]
    TooLong(usize),
    #[error("the webhook URL must start with http:// or https://, not {0}://")]
    Scheme(String),
    #[error("the webhook URL has no host")]
    NoHost,
    #[error(
        "the webhook URL's host {host} {how} {addr}, a {kind} address: webhooks may not \
         point into this machine's networks (start the server with --webhook-allow-host {host} \
         to allow it)"
    )]
    Forbidden {
        host: String,
        how: &'static str,
        addr: IpAddr,
        kind: &'static str,
    },
    #[error("the webhook URL's host {host} does not resolve: {reason}")]
    Unresolvable { host: String, reason: String },
}

/// A `--webhook-allow-host` entry: a host name or address, optionally
/// with a port (`HOST`, `HOST:PORT`, `[V6]:PORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl std::str::FromStr for AllowedHost {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: a bracketed IPv6 address lacks its ']'"))?;
            match after.strip_prefix(':') {
                Some(p) => (h.to_string(), Some(p)),
                None if after.is_empty() => (h.to_string(), None),
                None => return Err(format!("{s:?}: expected [ADDRESS]:PORT")),
            }
        } else if s.matches(':').count() == 1 {
            let (h, p) = s.split_once(':').expect("one colon");
            (h.to_string(), Some(p))
        } else {
            (s.to_string(), None)
        };
        if host.is_empty() {
            return Err(format!("{s:?}: no host"));
        }
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("{s:?}: {p:?} is not a port number"))?,
            ),
            None => None,
        };
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// The operator's exceptions to the address rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetRules {
    /// `--webhook-allow-private`: private and loopback addresses are allowed.
    pub allow_private: bool,
    /// `--webhook-allow-host`: these hosts are allowed whatever they resolve to.
    pub allow_hosts: Vec<AllowedHost>,
}

/// A URL that passed the rules, with the addresses to connect to.
#[derive(Debug, Clone)]
pub struct CheckedTarget {
    pub url: Url,
    /// The host as written in the URL (brackets removed).
    pub host: String,
    /// Checked addresses, in resolver order; connect to one of these only.
    pub addrs: Vec<SocketAddr>,
}

impl TargetRules {
    fn exempt(&self, host: &str, port: u16) -> bool {
        self.allow_hosts
            .iter()
            .any(|a| a.host == host && a.port.is_none_or_eq(port))
    }

    /// Parse `url` and check its scheme; no name resolution.
    pub fn parse(url: &str) -> Result<Url, TargetError> {
        if url.len() > MAX_URL_LEN {
            return Err(TargetError::TooLong(url.len()));
        }
        let parsed =
            Url::parse(url).map_err(|e| TargetError::Unparsable(url.into(), e.to_string()))?;
        match parsed.scheme() {
            "http" | "https" => {}
            other => return Err(TargetError::Scheme(other.to_string())),
        }
        if parsed.host_str().is_none_or_empty() {
            return Err(TargetError::NoHost);
        }
        Ok(parsed)
    }

    /// Check `url` and resolve its host: every address it resolves to must
    /// be allowed (one forbidden answer refuses the URL).
    pub async fn check(&self, url: &str) -> Result<CheckedTarget, TargetError> {
        let url = Self::parse(url)?;
        let host = host_of(&url);
        let port = url.port_or_known_default().unwrap_or(80);
        let exempt = self.allow_private || self.exempt(&host, port);
        let literal = host.parse::<IpAddr>().ok();
        let addrs: Vec<SocketAddr> = match literal {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| TargetError::Unresolvable {
                    host: host.clone(),
                    reason: e.to_string(),
                })?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(TargetError::Unresolvable {
                host,
                reason: "no addresses".into(),
            });
        }
        if !exempt {
            for a in &addrs {
                if let Some(kind) = forbidden_kind(a.ip()) {
                    return Err(TargetError::Forbidden {
                        host: host.clone(),
                        how: if literal.is_some() {
                            "is"
                        } else {
                            "resolves to"
                        },
                        addr: a.ip(),
                        kind,
                    });
                }
            }
        }
        Ok(CheckedTarget { url, host, addrs })
    }
}

/// The URL's host without IPv6 brackets, lower case.
fn host_of(url: &Url) -> String {
    let h = url.host_str().unwrap_or_default();
    h.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

trait OptionExt<T> {
    fn is_none_or_eq(&self, v: T) -> bool;
}

impl OptionExt<u16> for Option<u16> {
    fn is_none_or_eq(&self, v: u16) -> bool {
        match self {
            None => true,
            Some(p) => *p == v,
        }
    }
}

trait EmptyExt {
    fn is_none_or_empty(&self) -> bool;
}

impl EmptyExt for Option<&str> {
    fn is_none_or_empty(&self) -> bool {
        self.map(str::is_empty).unwrap_or(true)
    }
}

/// Why `ip` is no place for a webhook, or `None` for a public address.
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let kind = if ip.is_unspecified() || o[0] == 0 {
        "unspecified (0.0.0.0/8)"
    } else if ip.is_loopback() {
        "loopback"
    } else if o[0] == 10
        || (o[0] == 172 && (16..=31).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
    {
        "private (RFC 1918)"
    } else if o[0] == 100 && (64..=127).contains(&o[1]) {
        "shared (CGNAT, RFC 6598)"
    } else if ip.is_link_local() {
        "link-local (including the cloud metadata service)"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_broadcast() || o[0] >= 240 {
        "reserved"
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        "reserved (IETF protocol assignments)"
    } else if o[0] == 198 && (o[1] == 18 || o[1] == 19) {
        "reserved (benchmarking)"
    } else {
        return None;
    };
    Some(kind)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    let kind = if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "unique-local (fc00::/7)"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link-local (fe80::/10)"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "site-local (fec0::/10)"
    } else if ip.is_multicast() {
        "multicast"
    } else {
        return None;
    };
    Some(kind)
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff;
    let compatible = s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1);
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4];
    (mapped || compatible || nat64).then_some(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_inside_the_machine_and_its_networks_are_forbidden() {
        for a in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "224.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::10.0.0.1",
            "64:ff9b::10.0.0.1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(forbidden_kind(ip).is_some(), "{a} should be forbidden");
        }
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(forbidden_kind(ip), None, "{a} is public");
        }
    }

    #[tokio::test]
    async fn private_literals_are_refused_without_an_exception() {
        let rules = TargetRules::default();
        for url in [
            "http://10.0.0.1/",
            "http://127.0.0.1:9/",
            "http://[::1]/x",
            "http://169.254.169.254/latest",
        ] {
            let e = rules.check(url).await.unwrap_err();
            assert!(matches!(e, TargetError::Forbidden { .. }), "{url}: {e}");
            assert!(e.to_string().contains("--webhook-allow-host"), "{e}");
        }
        let e = rules.check("ftp://example.org/").await.unwrap_err();
        assert_eq!(e, TargetError::Scheme("ftp".into()));
        assert!(rules.check("file:///etc/passwd").await.is_err());
        assert!(rules.check("not a url").await.is_err());
    }

    #[tokio::test]
    async fn an_allowed_host_is_exempt_on_its_port_only() {
        let rules = TargetRules {
            allow_private: false,
            allow_hosts: vec!["127.0.0.1:8080".parse().unwrap(), "[::1]".parse().unwrap()],
        };
        let ok = rules.check("http://127.0.0.1:8080/hook").await.unwrap();
        assert_eq!(ok.addrs, vec!["127.0.0.1:8080".parse().unwrap()]);
        assert!(rules.check("http://127.0.0.1:8081/hook").await.is_err());
        assert!(rules.check("http://[::1]:1234/").await.is_ok());
        assert!(rules.check("http://10.0.0.1/").await.is_err());
        let all = TargetRules {
            allow_private: true,
            allow_hosts: vec![],
        };
        assert!(all.check("http://127.0.0.1:1/").await.is_ok());
    }

    #[test]
    fn allow_host_entries_parse() {
        let a: AllowedHost = "Hooks.Example:8443".parse().unwrap();
        assert_eq!(
            a,
            AllowedHost {
                host: "hooks.example".into(),
                port: Some(8443)
            }
        );
        assert!("host:notaport".parse::<AllowedHost>().is_err());
        assert!("".parse::<AllowedHost>().is_err());
        let v6: AllowedHost = "[fd00::1]:80".parse().unwrap();
        assert_eq!(v6.port, Some(80));
    }
}
