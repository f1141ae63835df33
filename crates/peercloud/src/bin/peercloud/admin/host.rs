//! Refuses requests whose `Host` is a name other than `localhost`, on a
//! loopback admin listener. A web page elsewhere cannot read this API
//! (browsers keep origins apart), unless it rebinds its own name to
//! 127.0.0.1 ("DNS rebinding"): its requests then carry its name in
//! `Host`, and are refused here. Touches nothing.

use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AdminState;

pub(crate) async fn check(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    if state.local_hosts_only {
        let host = request
            .headers()
            .get(HOST)
            .map(|h| h.to_str().unwrap_or("?"));
        if let Some(host) = host.filter(|host| !is_local(host)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Host {host:?} refused: a loopback admin listener answers only \
                     localhost or an IP address"
                ),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// `localhost` or an IP address, with or without a port.
fn is_local(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [v6] or [v6]:port
        Some(rest) => {
            return rest
                .split_once(']')
                .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::is_local;

    #[test]
    fn localhost_and_ip_addresses_are_local_names_are_not() {
        for host in [
            "localhost",
            "LOCALHOST:9339",
            "127.0.0.1:9339",
            "10.0.0.1",
            "[::1]:9339",
            "[::1]",
        ] {
            assert!(is_local(host), "{host}");
        }
        for host in [
            "evil.example:9339",
            "evil.example",
            "localhost.evil.example",
            "[::1",
            "?",
        ] {
            assert!(!is_local(host), "{host}");
        }
    }
}
