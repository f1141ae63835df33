//! Remembering members across restarts (`state_dir`): the members' places
//! are written to `DIR/members.json` as the list changes, and read at the
//! next start, where they are tried after the given seeds, so a restarted
//! peer finds its cloud even when its seeds are down. Touches only that
//! file (and a temporary one beside it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use peercloud_core::{Address, Host};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Snapshot;
use crate::error::StartError;

/// The file, in the state directory.
pub(crate) const FILE: &str = "members.json";

/// The most members remembered (a seed list, not a copy of the cloud).
const MAX_REMEMBERED: usize = 256;

/// The least time between two writes: a busy cloud changes often.
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// What the file holds.
#[derive(Debug, Serialize, Deserialize)]
struct Remembered {
    members: Vec<Place>,
}

/// Where one member listened.
#[derive(Debug, Serialize, Deserialize)]
struct Place {
    id: String,
    ip: Host,
    port: u16,
}

/// Creates the directory if need be and reads the places remembered there.
/// A missing file is no place; an unreadable one is reported in the logs
/// and ignored, so that a damaged file never stops a peer from starting.
pub(crate) fn open(dir: &Path) -> Result<Vec<Address>, StartError> {
    std::fs::create_dir_all(dir).map_err(|source| StartError::StateDir {
        path: dir.display().to_string(),
        source,
    })?;
    let path = dir.join(FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read remembered members");
            return Ok(Vec::new());
        }
    };
    match serde_json::from_slice::<Remembered>(&text) {
        Ok(remembered) => Ok(remembered
            .members
            .into_iter()
            .map(|p| Address::new(p.ip, p.port))
            .collect()),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring a damaged member file");
            Ok(Vec::new())
        }
    }
}

/// Writes the members of each new snapshot, at most once per
/// [`WRITE_EVERY`], until the peer starts leaving (the list it had then is
/// the one to come back to) or the snapshots end.
pub(crate) async fn keep(dir: PathBuf, mut snapshots: watch::Receiver<Arc<Snapshot>>) {
    let mut written: Option<Vec<String>> = None;
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        if !snapshot.status.online {
            return;
        }
        let places: Vec<String> = snapshot
            .members
            .iter()
            .map(|m| format!("{} {}", m.id, m.address()))
            .collect();
        if written.as_ref() != Some(&places) {
            if let Err(e) = write(&dir, &snapshot).await {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remember members");
            }
            written = Some(places);
        }
        tokio::time::sleep(WRITE_EVERY).await;
        if snapshots.changed().await.is_err() {
            return;
        }
    }
}

/// Replaces the file at once (a new file renamed over the old one), so a
/// crash never leaves half a list.
async fn write(dir: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    let remembered = Remembered {
        members: snapshot
            .members
            .iter()
            .take(MAX_REMEMBERED)
            .map(|m| Place {
                id: m.id.to_string(),
                ip: m.host.clone(),
                port: m.port,
            })
            .collect(),
    };
    let text = serde_json::to_vec_pretty(&remembered).map_err(std::io::Error::other)?;
    let temporary = dir.join(format!("{FILE}.tmp"));
    let target = dir.join(FILE);
    let written = tokio::task::spawn_blocking(move || {
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, target)
    });
    written.await.map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("peercloud-state-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_new_directory_is_made_and_remembers_nobody() {
        let dir = scratch("new");
        assert!(open(&dir).expect("opened").is_empty());
        assert!(dir.is_dir());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_file_is_ignored_rather_than_fatal() {
        let dir = scratch("damaged");
        std::fs::create_dir_all(&dir).expect("a directory");
        std::fs::write(dir.join(FILE), b"{not json").expect("written");
        assert!(open(&dir).expect("opened").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn remembered_places_read_back_as_addresses() {
        let dir = scratch("places");
        std::fs::create_dir_all(&dir).expect("a directory");
        let text = r#"{"members":[{"id":"a","ip":"127.0.0.1","port":4001},{"id":"b","ip":"::1","port":4002}]}"#;
        std::fs::write(dir.join(FILE), text).expect("written");
        let places = open(&dir).expect("opened");
        let shown: Vec<String> = places.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.1:4001", "[::1]:4002"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
