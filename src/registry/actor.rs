//! Who performs a domain operation and from where: the identity (if any)
//! and the remote address the request came from. Every audited operation
//! takes an [`Actor`] so its audit entry can say who did it.

use std::net::{IpAddr, SocketAddr};

use crate::audit::{Action, NewEntry};
use crate::auth::Identity;

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The peer of the connection.
    Peer(SocketAddr),
    /// The trusted front proxy, on behalf of the client it names (its
    /// client-address header, when it sent one that parses).
    Proxy(Option<IpAddr>),
}

impl Origin {
    /// The client's IP address, if known.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Origin::Peer(a) => Some(a.ip()),
            Origin::Proxy(ip) => *ip,
        }
    }
}

impl From<SocketAddr> for Origin {
    fn from(a: SocketAddr) -> Self {
        Origin::Peer(a)
    }
}

/// What audit entries record as the remote: the peer address, or
/// `"<client ip> via proxy"` (`"unknown via proxy"` without one).
impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Peer(a) => write!(f, "{a}"),
            Origin::Proxy(Some(ip)) => write!(f, "{ip} via proxy"),
            Origin::Proxy(None) => f.write_str("unknown via proxy"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// The authenticated user, `None` for an anonymous request.
    pub identity: Option<Identity>,
    /// Where the request came from, when it came over the network.
    pub remote: Option<Origin>,
    /// The fingerprint of a verified client certificate on the connection
    /// that stands for no user (recorded, so refusals say which certificate
    /// was presented).
    pub unmapped_cert: Option<String>,
}

impl Actor {
    pub fn new(identity: Option<Identity>, remote: Option<Origin>) -> Self {
        Self {
            identity,
            remote,
            unmapped_cert: None,
        }
    }

    /// An anonymous request from `remote`.
    pub fn anonymous(remote: Option<Origin>) -> Self {
        Self::new(None, remote)
    }

    /// The same actor, having presented `fingerprint`'s certificate, which
    /// maps to no user.
    pub fn with_unmapped_cert(mut self, fingerprint: Option<String>) -> Self {
        self.unmapped_cert = fingerprint;
        self
    }

    /// The fingerprint of the client certificate this request came with:
    /// the identity's, or one that stands for no user.
    pub fn cert_fingerprint(&self) -> Option<&str> {
        self.identity
            .as_ref()
            .and_then(|i| i.cert_fingerprint.as_deref())
            .or(self.unmapped_cert.as_deref())
    }

    /// The server itself (bootstrap, policies, background work).
    pub fn system() -> Self {
        Self::default()
    }

    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The user name, for log lines.
    pub fn user(&self) -> Option<&str> {
        self.identity.as_ref().map(|i| i.user.as_str())
    }

    /// An audit entry for `action` on `target`, attributed to this actor.
    pub fn entry(&self, action: Action, target: impl Into<String>) -> NewEntry {
        let mut e = NewEntry::new(action, target).actor(self.user(), self.cert_fingerprint());
        if let Some(addr) = self.remote {
            e = e.remote(addr.to_string());
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthMethod;

    #[test]
    fn entries_carry_who_and_from_where() {
        let sock: SocketAddr = "192.0.2.7:50123".parse().unwrap();
        let addr = Origin::Peer(sock);
        let mut alice = Identity::new("alice".into(), AuthMethod::ClientCert);
        alice.cert_fingerprint = Some("ab12".into());
        let cases = [
            (Actor::system(), None, None, None),
            (
                Actor::anonymous(Some(addr)),
                None,
                None,
                Some("192.0.2.7:50123"),
            ),
            (
                Actor::new(
                    Some(Identity::new("bob".into(), AuthMethod::Password)),
                    None,
                ),
                Some("bob"),
                None,
                None,
            ),
            (
                Actor::new(Some(alice), Some(addr)),
                Some("alice"),
                Some("ab12"),
                Some("192.0.2.7:50123"),
            ),
            (
                Actor::anonymous(Some(addr)).with_unmapped_cert(Some("cd34".into())),
                None,
                Some("cd34"),
                Some("192.0.2.7:50123"),
            ),
            (
                Actor::new(
                    Some(Identity::new("carol".into(), AuthMethod::Proxy)),
                    Some(Origin::Proxy(Some("198.51.100.4".parse().unwrap()))),
                ),
                Some("carol"),
                None,
                Some("198.51.100.4 via proxy"),
            ),
            (
                Actor::anonymous(Some(Origin::Proxy(None))),
                None,
                None,
                Some("unknown via proxy"),
            ),
        ];
        for (actor, user, fp, remote) in cases {
            let e = actor.entry(Action::Delete, "root/dev/demo");
            assert_eq!(e.actor.as_deref(), user, "{actor:?}");
            assert_eq!(e.cert_fingerprint.as_deref(), fp, "{actor:?}");
            assert_eq!(e.remote.as_deref(), remote, "{actor:?}");
            assert_eq!(e.action, Action::Delete);
            assert_eq!(e.target, "root/dev/demo");
        }
    }
}
