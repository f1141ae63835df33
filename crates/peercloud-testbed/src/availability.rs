//! Whether testbeds can be built here: root, a working `ip`, and `ip netns
//! add` allowed (checked once per process, by creating and deleting a
//! probe namespace), and the rule that turns a skip into a failure where
//! [`REQUIRE_VAR`] is set. Touches only its probe namespace.

use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use crate::ip::ip;
use crate::plan::unique_prefix;

/// Where this environment variable is set (CI sets it), a test that would
/// skip for want of namespaces fails instead: see [`skip_reason`].
pub const REQUIRE_VAR: &str = "PEERCLOUD_REQUIRE_NETNS";

/// Why testbeds cannot be built here (not root, no `ip`, `ip netns add`
/// refused), or `None` if they can. Probes once per process; never
/// panics. Benchmarks use this and report the reason as a failure.
pub fn unavailable() -> Option<&'static str> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON.get_or_init(probe).as_deref()
}

/// For tests: why a test that needs namespaces is skipped here, or `None`
/// if it can run. Panics instead of giving a reason where [`REQUIRE_VAR`]
/// is set, so that a CI run can never pass without the tests that need
/// namespaces.
pub fn skip_reason() -> Option<String> {
    let required = std::env::var_os(REQUIRE_VAR).is_some();
    skip(unavailable(), required).unwrap_or_else(|e| panic!("{e}"))
}

/// The rule of [`skip_reason`]: the reason to skip, or why skipping is not
/// allowed.
fn skip(reason: Option<&str>, required: bool) -> Result<Option<String>, String> {
    match reason {
        Some(reason) if required => Err(format!(
            "{REQUIRE_VAR} is set, but network namespaces are unavailable: {reason}"
        )),
        reason => Ok(reason.map(str::to_owned)),
    }
}

fn probe() -> Option<String> {
    // The owner of /proc/self is this process's effective user.
    match std::fs::metadata("/proc/self") {
        Ok(meta) if meta.uid() == 0 => {}
        Ok(_) => return Some("not root".to_owned()),
        Err(e) => return Some(format!("cannot read /proc/self: {e}")),
    }
    let probe = format!("{}-probe", unique_prefix());
    if let Err(e) = ip(&["netns", "add", &probe]) {
        return Some(format!("`ip netns add` does not work: {e}"));
    }
    ip(&["netns", "del", &probe])
        .err()
        .map(|e| format!("`ip netns del` does not work: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_skips_for_the_reason_unless_namespaces_are_required() {
        assert_eq!(skip(None, false), Ok(None));
        assert_eq!(skip(None, true), Ok(None));
        assert_eq!(
            skip(Some("not root"), false),
            Ok(Some("not root".to_owned()))
        );
        let refused = skip(Some("not root"), true).unwrap_err();
        assert!(refused.contains(REQUIRE_VAR), "{refused}");
        assert!(refused.contains("not root"), "{refused}");
    }
}
