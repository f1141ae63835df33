//! Members of a cloud and the addresses used to reach them.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::InvalidField;
use crate::id::PeerId;

/// The longest host name accepted, in bytes (the DNS limit).
const MAX_HOST_LEN: usize = 253;

/// Where a member listens: an IP address or a host name, as the wire gives it.
///
/// The string is kept exactly as received (the original writes IPv4 peers as
/// `::ffff:127.0.0.1`) so that it travels on unchanged; [`Host::ip`] gives the
/// address to dial, with IPv4-mapped IPv6 addresses turned back into IPv4.
/// Like [`PeerId`], the string is shared between clones.
///
/// ```
/// use peercloud_core::Host;
///
/// let host = Host::parse("::ffff:127.0.0.1").unwrap();
/// assert_eq!(host.ip(), Some("127.0.0.1".parse().unwrap()));
/// assert_eq!(Host::parse("example.com").unwrap().ip(), None);
/// assert!(Host::parse("evil.com/path?x").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Host(Arc<str>);

impl Host {
    /// Checks a host: an IPv4 or IPv6 address (brackets allowed), or a DNS
    /// name made of letters, digits, `-`, `_` and `.`.
    pub fn parse(host: &str) -> Result<Self, InvalidField> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if bare.parse::<IpAddr>().is_ok() {
            return Ok(Host(Arc::from(bare)));
        }
        let valid_name = !bare.is_empty()
            && bare.len() <= MAX_HOST_LEN
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if valid_name {
            Ok(Host(Arc::from(bare)))
        } else {
            Err(InvalidField::new(
                "ip",
                format!("{host:?} is neither an IP address nor a host name"),
            ))
        }
    }

    /// The host for an IP address.
    pub fn from_ip(ip: IpAddr) -> Self {
        Host(Arc::from(ip.to_string()))
    }

    /// The host as received.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The IP address to dial, if the host is one (IPv4-mapped IPv6
    /// addresses become IPv4), or `None` for a name to resolve.
    pub fn ip(&self) -> Option<IpAddr> {
        self.0.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
    }

    /// The host as it goes in a URL authority: IPv6 addresses in brackets.
    pub fn for_url(&self) -> String {
        match self.ip() {
            Some(IpAddr::V6(v6)) => format!("[{v6}]"),
            Some(IpAddr::V4(v4)) => v4.to_string(),
            None => self.0.as_ref().to_owned(),
        }
    }
}

impl TryFrom<String> for Host {
    type Error = InvalidField;

    fn try_from(host: String) -> Result<Self, Self::Error> {
        Host::parse(&host)
    }
}

impl From<Host> for String {
    fn from(host: Host) -> Self {
        host.0.as_ref().to_owned()
    }
}

impl Serialize for Host {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Host {
    /// Checked as [`Host::parse`] checks, straight from the input's string
    /// (one allocation, the shared one).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::wire::checked_str(deserializer, "a host", Host::parse)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// An address to send requests to: a host and a port.
///
/// ```
/// use peercloud_core::Address;
///
/// let a: Address = "localhost:8080".parse().unwrap();
/// assert_eq!((a.host.as_str(), a.port), ("localhost", 8080));
/// let b: Address = "[::1]:9338".parse().unwrap();
/// assert_eq!(b.to_string(), "[::1]:9338");
/// assert!("no-port".parse::<Address>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    /// The host to dial.
    pub host: Host,
    /// The port to dial.
    pub port: u16,
}

impl Address {
    /// An address from its parts.
    pub fn new(host: Host, port: u16) -> Self {
        Address { host, port }
    }
}

impl std::str::FromStr for Address {
    type Err = InvalidField;

    /// Parses `HOST:PORT`, with IPv6 hosts in brackets (`[::1]:9338`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidField::new("address", format!("{s:?} is not HOST:PORT"));
        let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return Err(invalid());
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(invalid)?;
        Ok(Address::new(Host::parse(host)?, port))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host.for_url(), self.port)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A member of the cloud, as this peer knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Its unique id.
    pub id: PeerId,
    /// Where it listens.
    pub host: Host,
    /// Its port.
    pub port: u16,
    /// The data it identifies itself with, shared: every member table
    /// and message that holds the member holds the one value.
    pub data: Arc<Value>,
}

impl Member {
    /// The address to send it requests.
    pub fn address(&self) -> Address {
        Address::new(self.host.clone(), self.port)
    }
}

/// The host to record for a joiner seen at `ip`: IPv4-mapped addresses are
/// written as plain IPv4, which every peer (node or Rust) can dial.
pub(crate) fn host_of_remote(ip: IpAddr) -> Host {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Host::from_ip(IpAddr::V4(v4)),
            None => Host::from_ip(IpAddr::V6(v6)),
        },
        v4 => Host::from_ip(v4),
    }
}

/// The part of a remote address that names one source for the limits a
/// peer puts on strangers (joins per minute, connections): an IPv4 address
/// whole (IPv4-mapped IPv6 addresses as IPv4), an IPv6 address by its /64
/// prefix, since one host or one customer commonly holds a whole /64 and
/// could otherwise take a fresh address for every request.
///
/// ```
/// use std::net::IpAddr;
/// use peercloud_core::source_of;
///
/// let ip = |s: &str| s.parse::<IpAddr>().unwrap();
/// assert_eq!(source_of(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
/// assert_eq!(source_of(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
/// ```
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_ipv6_hosts_lose_their_brackets() {
        let host = Host::parse("[::1]").unwrap();
        assert_eq!(host.as_str(), "::1");
        assert_eq!(host.for_url(), "[::1]");
    }

    #[test]
    fn hosts_that_could_change_a_url_are_rejected() {
        for bad in ["a b", "a/b", "a@b", "a:b", "", "h#x", "1.2.3.4:80"] {
            assert!(Host::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn ipv4_mapped_remotes_are_recorded_as_ipv4() {
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(host_of_remote(mapped).as_str(), "10.1.2.3");
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(host_of_remote(v6).as_str(), "::1");
    }

    #[test]
    fn addresses_need_a_port() {
        assert!("127.0.0.1:0".parse::<Address>().is_err());
        assert!("::1:80".parse::<Address>().is_err());
        assert_eq!(
            "example.com:4444".parse::<Address>().unwrap().to_string(),
            "example.com:4444"
        );
    }
}
