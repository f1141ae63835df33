//! What `/proc` says about a process: resident memory, threads, sockets.
//! Reads only; Linux only.

use std::fs;

use crate::Result;

/// A process's footprint at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Footprint {
    /// Resident memory (`VmRSS`), in MiB.
    pub(crate) rss_mib: f64,
    /// Threads (`Threads`).
    pub(crate) threads: u64,
    /// Open file descriptors that are sockets.
    pub(crate) sockets: u64,
}

/// Reads the footprint of `pid` (`"self"` works too).
pub(crate) fn footprint(pid: &str) -> Result<Footprint> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status").into())
    };
    Ok(Footprint {
        rss_mib: field("VmRSS")? as f64 / 1024.0,
        threads: field("Threads")?,
        sockets: sockets(pid),
    })
}

/// How many of its file descriptors are sockets (0 if they cannot be read).
fn sockets(pid: &str) -> u64 {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(|fd| fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_footprint() {
        let _socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let own = footprint("self").expect("footprint");
        assert!(own.rss_mib > 0.0);
        assert!(own.threads >= 1);
        assert!(own.sockets >= 1);
    }
}
