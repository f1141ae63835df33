//! `Error`: what can go wrong while a testbed is built or its links are
//! changed, and what that did to the testbed. Touches nothing.

use std::process::ExitStatus;

/// A testbed could not be built, or a link could not be changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The layout cannot be built (no hosts, too many for the subnet, a
    /// bad or repeated name): nothing was created.
    #[error("bad testbed layout: {0}")]
    Layout(String),
    /// An `ip` command could not be started (no `ip` installed?): what it
    /// was to change did not change. [`Testbed::new`](crate::Testbed::new)
    /// has deleted again whatever it had created before.
    #[error("`ip {args}` did not start: {source}")]
    Spawn {
        /// The command's arguments, as one string.
        args: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// An `ip` command ran and failed: what it was to change did not
    /// change, but a fault method that makes several changes may have made
    /// the ones before it (one of the two routes of a broken pair, say).
    /// [`Testbed::new`](crate::Testbed::new) has deleted again whatever it
    /// had created before; dropping a testbed deletes everything.
    #[error("`ip {args}` failed ({status}){}", said(stderr))]
    Failed {
        /// The command's arguments, as one string.
        args: String,
        /// How it exited.
        status: ExitStatus,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
}

/// `: <stderr>`, or nothing if it printed nothing.
fn said(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}
