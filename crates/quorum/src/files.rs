//! Small versioned JSON files of the quorum (vote, commit hint, snapshot), replaced atomically.
//!
//! Layout: `{"version": 1, "body": …}`.
//!
//! Invariant: a file is replaced by writing a temporary sibling, fsyncing it, renaming it over
//! the old one and fsyncing the directory, so a crash leaves the old or the new file whole.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Format version of the quorum's JSON files (see migrations/FORMATS.md).
pub const FILE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    version: u32,
    body: T,
}

/// Writes `value` to `path` atomically and durably.
pub fn write_atomic<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(&Versioned {
        version: FILE_VERSION,
        body: value,
    })
    .map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// Reads a file written by [`write_atomic`]; `None` when it does not exist.
pub fn read<T: DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let v: Versioned<T> = serde_json::from_slice(&bytes).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })?;
    if v.version != FILE_VERSION {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{}: format version {} is not supported (this build reads {FILE_VERSION})",
                path.display(),
                v.version
            ),
        ));
    }
    Ok(Some(v.body))
}

/// Fsyncs the directory holding `path`.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}
