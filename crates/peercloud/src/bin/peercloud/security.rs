//! `--key-file` and `--tls-*`: what makes a peer or a client private, read
//! from the files the flags name; and `peercloud keygen`. Touches the
//! files named and stdout.

use std::path::Path;
use std::process::ExitCode;

use peercloud::{Certificates, CloudKey, Keyring, Security};

use crate::cli::SecurityArgs;

/// The security the flags ask for: open with none of them.
pub(crate) fn of(args: &SecurityArgs) -> Result<Security, String> {
    if let Some(path) = &args.key_file {
        warn_if_others_can_read(path);
        return Keyring::read(path)
            .map(Security::Key)
            .map_err(|e| e.to_string());
    }
    match (&args.tls_cert, &args.tls_key, &args.tls_ca) {
        (Some(cert), Some(key), Some(ca)) => Certificates::from_pem_files(cert, key, ca)
            .map(Security::Certificates)
            .map_err(|e| e.to_string()),
        // clap requires all three together.
        _ => Ok(Security::Open),
    }
}

/// A key file that other users can read gives the cloud away to them: say
/// so (once, at start), as ssh does of private keys.
fn warn_if_others_can_read(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path) {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "{} can be read by other users (mode {mode:o}): anyone who reads it can \
                     join the cloud; `chmod 600` it",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// `peercloud keygen`: one new key, one line.
pub(crate) fn keygen() -> ExitCode {
    match CloudKey::try_generate() {
        Ok(key) => {
            println!("{}", key.to_hex());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
