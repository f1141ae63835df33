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
/// A host of up to 22 bytes (any IPv4 address, `::ffff:` and IPv4, short
/// names) is held inline; a longer one is shared between clones, like a
/// [`PeerId`]. Every member record holds one: at a thousand members, an
/// allocation for each `127.0.0.1` was a fifth of a peer's member table.
///
/// ```
/// use peercloud_core::Host;
///
/// let host = Host::parse("::ffff:127.0.0.1").unwrap();
/// assert_eq!(host.ip(), Some("127.0.0.1".parse().unwrap()));
/// assert_eq!(Host::parse("example.com").unwrap().ip(), None);
/// assert!(Host::parse("evil.com/path?x").is_err());
/// ```
#[derive(Clone)]
pub struct Host(Text);

/// The longest host held inline.
const INLINE: usize = 22;

/// A host's string: inline when short, else shared. Compared, ordered and
/// hashed as the string (see [`Host`]'s impls).
#[derive(Clone)]
enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>),
}

impl Text {
    fn new(text: &str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Text::Inline { len, bytes }
            }
            _ => Text::Shared(Arc::from(text)),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Always valid: copied whole from a `str` (and a host is
            // ASCII, so no character was cut).
            Text::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Text::Shared(text) => text,
        }
    }
}

impl PartialEq for Host {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Host {}

impl PartialOrd for Host {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Host {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Host {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Host {
    /// Checks a host: an IPv4 or IPv6 address (brackets allowed), or a DNS
    /// name made of letters, digits, `-`, `_` and `.`.
    pub fn parse(host: &str) -> Result<Self, InvalidField> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if bare.parse::<IpAddr>().is_ok() {
            return Ok(Host(Text::new(bare)));
        }
        let valid_name = !bare.is_empty()
            && bare.len() <= MAX_HOST_LEN
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if valid_name {
            Ok(Host(Text::new(bare)))
        } else {
            Err(InvalidField::new(
                "ip",
                format!("{host:?} is neither an IP address nor a host name"),
            ))
        }
    }

    /// The host for an IP address.
    pub fn from_ip(ip: IpAddr) -> Self {
        Host(Text::new(&ip.to_string()))
    }

    /// The host as received.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The IP address to dial, if the host is one (IPv4-mapped IPv6
    /// addresses become IPv4), or `None` for a name to resolve.
    pub fn ip(&self) -> Option<IpAddr> {
        self.as_str()
            .parse::<IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical())
    }

    /// The host as it goes in a URL authority: IPv6 addresses in brackets.
    pub fn for_url(&self) -> String {
        match self.ip() {
            Some(IpAddr::V6(v6)) => format!("[{v6}]"),
            Some(IpAddr::V4(v4)) => v4.to_string(),
            None => self.as_str().to_owned(),
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
        host.as_str().to_owned()
    }
}

impl Serialize for Host {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
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
    fn short_and_long_hosts_read_back_and_compare_as_their_strings() {
        let long = "a-rather-long-host-name.example.com";
        for text in ["127.0.0.1", "::ffff:255.255.255.255", long, "Example.com"] {
            let host = Host::parse(text).unwrap();
            assert_eq!(host.as_str(), text);
            assert_eq!(host.clone(), host);
            assert_eq!(host.to_string(), text);
        }
        let (a, b) = (Host::parse("10.0.0.2").unwrap(), Host::parse(long).unwrap());
        assert_eq!(a.cmp(&b), "10.0.0.2".cmp(long));
        assert_ne!(a, b);
        assert!(std::mem::size_of::<Host>() <= 24);
    }

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
