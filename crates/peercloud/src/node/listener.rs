//! Opening the listening socket: port 9338 by default, else a random free
//! port; all interfaces, IPv4 and IPv6, by default.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use peercloud_core::wire::DEFAULT_PORT;
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::StartError;

/// Binds the listener. With no port (or 0), [`DEFAULT_PORT`] is tried first,
/// then any free port; an explicit port that is taken is an error. With no
/// address, the socket takes IPv6 and IPv4 connections (or IPv4 only where
/// the host has no IPv6).
pub(crate) fn bind(ip: Option<IpAddr>, port: Option<u16>) -> Result<TcpListener, StartError> {
    match port.filter(|p| *p != 0) {
        Some(port) => bind_port(ip, port),
        None => match bind_port(ip, DEFAULT_PORT) {
            Err(StartError::Bind { source, .. }) if source.kind() == io::ErrorKind::AddrInUse => {
                bind_port(ip, 0)
            }
            other => other,
        },
    }
}

/// Binds any free port.
pub(crate) fn bind_random(ip: Option<IpAddr>) -> Result<TcpListener, StartError> {
    bind_port(ip, 0)
}

fn bind_port(ip: Option<IpAddr>, port: u16) -> Result<TcpListener, StartError> {
    match ip {
        Some(ip) => bind_addr(SocketAddr::new(ip, port)),
        None => {
            let dual = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
            match bind_addr(dual) {
                Err(StartError::Bind { source, .. }) if no_ipv6(&source) => {
                    bind_addr(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
                }
                other => other,
            }
        }
    }
}

fn no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported
    ) || e.raw_os_error() == Some(97) // EAFNOSUPPORT on Linux
}

fn bind_addr(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let socket = || -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if addr.is_ipv6() && addr.ip().is_unspecified() {
            socket.set_only_v6(false)?;
        }
        // Lets a restarted peer take its port back while old connections
        // linger in TIME_WAIT; Linux still refuses a second listener.
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        Ok(socket.into())
    };
    socket().map_err(|source| StartError::Bind {
        addr: addr.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_port_that_is_taken_is_an_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let result = bind(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), Some(port));
        assert!(matches!(result, Err(StartError::Bind { .. })));
    }

    #[test]
    fn a_given_address_and_port_zero_binds_somewhere() {
        let listener = bind(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), None).unwrap();
        assert_ne!(listener.local_addr().unwrap().port(), 0);
    }
}
