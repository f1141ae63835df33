//! Runs the `ip` command (iproute2), each call checked: the only way this
//! crate changes anything. Touches the namespaces and links its callers
//! name.

use std::process::Command;

use crate::Error;

/// Runs `ip` with these arguments and waits for it: its stdout, or why it
/// failed (with what it printed on stderr).
pub(crate) fn ip(args: &[&str]) -> Result<String, Error> {
    let shown = args.join(" ");
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            args: shown.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(Error::Failed {
        args: shown,
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}
