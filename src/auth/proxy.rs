//! Front-proxy authentication (`--trusted-proxy`): a proxy in front of airlock
//! (nginx doing HTTP basic auth, an SSO module, …) logs the user in and says who
//! they are in request headers. Those headers are believed **only** on a
//! connection that is the proxy's — one that came on airlock's proxy unix socket,
//! or on the TLS listener with a client certificate whose SHA-256 fingerprint is
//! listed — and are refused on every other connection (see
//! `server::proxy_gate`). This module holds the settings, the trust rule and
//! the pure parser of a claim; no HTTP routing, no database.

use axum::http::{HeaderMap, HeaderName};

use crate::connection::{ConnectionInfo, Transport};
use crate::names::UserName;

/// The header names airlock always treats as proxy claims, whatever is
/// configured: a client can never smuggle them past a renamed setting.
pub const DEFAULT_USER_HEADER: &str = "x-remote-user";
pub const DEFAULT_GROUPS_HEADER: &str = "x-remote-groups";
pub const DEFAULT_CLIENT_IP_HEADER: &str = "x-real-ip";

/// At most this many groups in one claim.
pub const MAX_GROUPS: usize = 64;
/// Longest group name.
pub const MAX_GROUP_LEN: usize = 64;

/// How the trusted proxy is recognised and what its headers are called.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// The header naming the user (`X-Remote-User`).
    pub user_header: HeaderName,
    /// The header listing the user's groups, comma-separated (`X-Remote-Groups`).
    pub groups_header: HeaderName,
    /// The header carrying the address of the proxy's client (`X-Real-IP`),
    /// recorded in audit entries; `None`: not recorded.
    pub client_ip_header: Option<HeaderName>,
    /// Client certificates (SHA-256 of the DER, lowercase hex) that make a
    /// TLS connection the proxy's.
    pub trusted_cert_fingerprints: Vec<String>,
    /// A claimed user that does not exist yet is created (without a
    /// password); otherwise such a request is refused.
    pub create_users: bool,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            user_header: HeaderName::from_static(DEFAULT_USER_HEADER),
            groups_header: HeaderName::from_static(DEFAULT_GROUPS_HEADER),
            client_ip_header: Some(HeaderName::from_static(DEFAULT_CLIENT_IP_HEADER)),
            trusted_cert_fingerprints: Vec::new(),
            create_users: false,
        }
    }
}

impl ProxySettings {
    /// Is `conn` the proxy's? A connection on the proxy socket is (its file
    /// mode decides who may connect); a TLS connection is when its verified
    /// client certificate is one of the listed ones. Plain TCP never is.
    pub fn trusts(&self, conn: &ConnectionInfo) -> bool {
        match conn.transport {
            Transport::ProxySocket => true,
            Transport::Tls => conn.peer_cert.as_ref().is_some_and(|c| {
                self.trusted_cert_fingerprints
                    .iter()
                    .any(|fp| fp.eq_ignore_ascii_case(&c.fingerprint_sha256))
            }),
            Transport::Tcp => false,
        }
    }

    /// Every header name that carries a claim: the configured ones and the
    /// defaults.
    pub fn claim_headers(&self) -> Vec<HeaderName> {
        claim_header_names(Some(self))
    }
}

/// The claim headers for `settings` (`None`: the feature is off; the
/// default names are still claims, refused everywhere).
pub fn claim_header_names(settings: Option<&ProxySettings>) -> Vec<HeaderName> {
    let mut names = vec![
        HeaderName::from_static(DEFAULT_USER_HEADER),
        HeaderName::from_static(DEFAULT_GROUPS_HEADER),
    ];
    if let Some(s) = settings {
        for h in [&s.user_header, &s.groups_header] {
            if !names.contains(h) {
                names.push(h.clone());
            }
        }
    }
    names
}

/// Parse a fingerprint as given on the command line: 64 hex digits, colons
/// allowed (`openssl x509 -fingerprint -sha256` prints them), any case.
pub fn parse_fingerprint(raw: &str) -> Result<String, String> {
    let hex: String = raw.trim().chars().filter(|c| *c != ':').collect();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(format!(
            "{:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)",
            raw.chars().take(100).collect::<String>()
        ))
    }
}

/// Who the proxy says is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyClaim {
    pub user: UserName,
    /// Sorted, without duplicates.
    pub groups: Vec<String>,
}

/// What the proxy told about a request: the claim (if it sent one) and the
/// address of its client (if it sent one that parses). Inserted as a request
/// extension on the proxy's connections only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    pub claim: Option<ProxyClaim>,
    pub client_ip: Option<std::net::IpAddr>,
}

/// Why a claim from the proxy (or one sent anywhere else) is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimError {
    #[error(
        "the {0} header is accepted only from the trusted front proxy (its unix socket or its \
         client certificate); this connection is not the proxy's, so the request is refused"
    )]
    Untrusted(String),
    #[error("the proxy sent more than one {0} header; it must send exactly one")]
    Repeated(String),
    #[error("the proxy's {0} header is not readable text (visible ASCII only)")]
    Unreadable(String),
    #[error("the proxy's {header} header does not name a valid user: {why}")]
    BadUser { header: String, why: String },
    #[error("the proxy sent groups ({0}) without a user; groups alone identify nobody")]
    GroupsWithoutUser(String),
    #[error(
        "the proxy's {header} header has an invalid group {group:?}: group names are 1-64 \
         characters of A-Z a-z 0-9 . _ -"
    )]
    BadGroup { header: String, group: String },
    #[error("the proxy's {0} header lists more than {MAX_GROUPS} groups")]
    TooManyGroups(String),
}

/// Is `name` a valid group name: 1–64 of `A-Za-z0-9._-`?
pub fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_GROUP_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, ClaimError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ClaimError::Repeated(name.to_string()));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| ClaimError::Unreadable(name.to_string()))
}

/// The claim in `headers`, from the proxy: `None` when it names no user
/// (the request is then authenticated as if the proxy were not there).
///
/// Exactly one user header, a valid airlock user name; at most one groups
/// header, comma-separated names (spaces around them ignored, empty items
/// skipped), each valid, at most [`MAX_GROUPS`]; groups without a user are
/// refused. An empty user header counts as no user (nginx sends
/// `$remote_user` empty on requests it did not authenticate).
pub fn parse_claim(
    headers: &HeaderMap,
    settings: &ProxySettings,
) -> Result<Option<ProxyClaim>, ClaimError> {
    let user_name = settings.user_header.to_string();
    let groups_name = settings.groups_header.to_string();
    let user = single(headers, &settings.user_header)?.map(str::trim);
    let groups = single(headers, &settings.groups_header)?.map(str::trim);
    let mut list: Vec<String> = Vec::new();
    for g in groups.unwrap_or("").split(',').map(str::trim) {
        if g.is_empty() {
            continue;
        }
        if !valid_group_name(g) {
            return Err(ClaimError::BadGroup {
                header: groups_name,
                group: g.chars().take(80).collect(),
            });
        }
        if !list.iter().any(|x| x == g) {
            list.push(g.to_string());
        }
        if list.len() > MAX_GROUPS {
            return Err(ClaimError::TooManyGroups(groups_name));
        }
    }
    // A header under a default name that is not the configured one is not
    // the proxy's way of saying anything: refuse it rather than ignore it.
    for stray in claim_header_names(Some(settings)) {
        if stray != settings.user_header
            && stray != settings.groups_header
            && headers.contains_key(&stray)
        {
            return Err(ClaimError::Untrusted(stray.to_string()));
        }
    }
    let user = match user.filter(|u| !u.is_empty()) {
        Some(u) => u,
        None if !list.is_empty() => return Err(ClaimError::GroupsWithoutUser(groups_name)),
        None => return Ok(None),
    };
    let user = UserName::new(user).map_err(|e| ClaimError::BadUser {
        header: user_name,
        why: e.to_string(),
    })?;
    list.sort();
    Ok(Some(ProxyClaim { user, groups: list }))
}

/// The client address the proxy reports, if it sent one that parses (a bad
/// one is ignored: it only decorates audit entries).
pub fn client_ip(headers: &HeaderMap, settings: &ProxySettings) -> Option<std::net::IpAddr> {
    let name = settings.client_ip_header.as_ref()?;
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    fn parse(pairs: &[(&str, &[u8])]) -> Result<Option<ProxyClaim>, ClaimError> {
        parse_claim(&headers(pairs), &ProxySettings::default())
    }

    #[test]
    fn a_user_and_groups() {
        let c = parse(&[
            ("X-Remote-User", b"alice"),
            ("X-Remote-Groups", b" release-managers, dev ,,dev,a.b_c"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.user.as_str(), "alice");
        assert_eq!(c.groups, ["a.b_c", "dev", "release-managers"]);
        let c = parse(&[("X-Remote-User", b"bob")]).unwrap().unwrap();
        assert!(c.groups.is_empty());
        assert_eq!(parse(&[]).unwrap(), None);
        // nginx's empty $remote_user on an unauthenticated request
        assert_eq!(parse(&[("X-Remote-User", b"")]).unwrap(), None);
        assert_eq!(
            parse(&[("X-Remote-User", b""), ("X-Remote-Groups", b"")]).unwrap(),
            None
        );
    }

    type Case<'a> = (Vec<(&'a str, &'a [u8])>, &'a str);

    #[test]
    fn refusals() {
        let cases: Vec<Case> = vec![
            (
                vec![("X-Remote-User", b"alice"), ("X-Remote-User", b"alice")],
                "more than one",
            ),
            (
                vec![
                    ("X-Remote-User", b"alice"),
                    ("X-Remote-Groups", b"a"),
                    ("X-Remote-Groups", b"b"),
                ],
                "more than one",
            ),
            (vec![("X-Remote-User", b"al\xffice")], "not readable"),
            (vec![("X-Remote-User", b"+root")], "valid user"),
            (vec![("X-Remote-User", b"a/b")], "valid user"),
            (vec![("X-Remote-User", b"al ice")], "valid user"),
            (vec![("X-Remote-Groups", b"admins")], "without a user"),
            (
                vec![("X-Remote-User", b"alice"), ("X-Remote-Groups", b"ad mins")],
                "invalid group",
            ),
            (
                vec![
                    ("X-Remote-User", b"alice"),
                    ("X-Remote-Groups", b":group:x"),
                ],
                "invalid group",
            ),
        ];
        for (pairs, want) in cases {
            let e = parse(&pairs).unwrap_err().to_string();
            assert!(e.contains(want), "{pairs:?}: {e}");
        }
        let long = "g".repeat(MAX_GROUP_LEN + 1);
        let e = parse(&[
            ("X-Remote-User", b"a"),
            ("X-Remote-Groups", long.as_bytes()),
        ]);
        assert!(matches!(e, Err(ClaimError::BadGroup { .. })), "{e:?}");
        let ok = "g".repeat(MAX_GROUP_LEN);
        assert!(parse(&[("X-Remote-User", b"a"), ("X-Remote-Groups", ok.as_bytes())]).is_ok());
        let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
        let many = many.join(",");
        let e = parse(&[
            ("X-Remote-User", b"a"),
            ("X-Remote-Groups", many.as_bytes()),
        ]);
        assert!(matches!(e, Err(ClaimError::TooManyGroups(_))), "{e:?}");
        let max: Vec<String> = (0..MAX_GROUPS).map(|i| format!("g{i}")).collect();
        let max = max.join(",");
        assert!(parse(&[("X-Remote-User", b"a"), ("X-Remote-Groups", max.as_bytes())]).is_ok());
    }

    #[test]
    fn renamed_headers_and_the_defaults() {
        let s = ProxySettings {
            user_header: HeaderName::from_static("x-forwarded-user"),
            groups_header: HeaderName::from_static("x-forwarded-groups"),
            ..ProxySettings::default()
        };
        let c = parse_claim(
            &headers(&[
                ("X-Forwarded-User", b"carol"),
                ("X-Forwarded-Groups", b"ops"),
            ]),
            &s,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (c.user.as_str(), c.groups.as_slice()),
            ("carol", &["ops".to_string()][..])
        );
        // the default names are still claims, and not the configured ones
        for stray in ["X-Remote-User", "X-Remote-Groups"] {
            let e = parse_claim(
                &headers(&[("X-Forwarded-User", b"carol"), (stray, b"x")]),
                &s,
            );
            assert!(matches!(e, Err(ClaimError::Untrusted(_))), "{stray}: {e:?}");
        }
        let names: Vec<String> = s.claim_headers().iter().map(|h| h.to_string()).collect();
        assert_eq!(
            names,
            [
                "x-remote-user",
                "x-remote-groups",
                "x-forwarded-user",
                "x-forwarded-groups"
            ]
        );
        assert_eq!(claim_header_names(None).len(), 2);
    }

    #[test]
    fn fingerprints_and_client_ip() {
        let fp = "AB:".repeat(31) + "AB";
        assert_eq!(parse_fingerprint(&fp).unwrap(), "ab".repeat(32));
        assert!(parse_fingerprint("abc").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
        let s = ProxySettings::default();
        assert_eq!(
            client_ip(&headers(&[("X-Real-IP", b" 192.0.2.9 ")]), &s),
            Some("192.0.2.9".parse().unwrap())
        );
        assert_eq!(client_ip(&headers(&[("X-Real-IP", b"nonsense")]), &s), None);
        assert_eq!(
            client_ip(
                &headers(&[("X-Real-IP", b"192.0.2.9"), ("X-Real-IP", b"192.0.2.8")]),
                &s
            ),
            None
        );
    }
}
