//! A test-only FUSE filesystem that loses unsynced writes on a simulated power loss, as LazyFS
//! does: a passthrough over a backing directory in which file data stays in memory until the
//! file is fsynced (see `fs.rs` for the exact model).
//!
//! Use: [`LazyFs::mount`] a backing directory on an empty mount point, run the program under
//! test on the mount point, stop it (SIGKILL), call [`LazyFs::crash`] to drop everything not
//! fsynced, then start the program again on the same mount point. Mounting needs root and
//! `/dev/fuse` (the pure-Rust mount calls mount(2) itself; no libfuse or fusermount).

#![deny(missing_docs, unreachable_pub, unused_must_use)]

mod fs;
mod pending;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use fuser::{BackgroundSession, Config, MountOption, SessionACL};

/// What a simulated crash dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Files that had unsynced data or size changes.
    pub files: usize,
    /// Buffered bytes dropped (whole pages).
    pub bytes: u64,
}

/// A mounted lazy filesystem; unmounted on drop.
pub struct LazyFs {
    state: Arc<Mutex<fs::State>>,
    fsync_delay_us: Arc<AtomicU64>,
    fsyncs: Arc<AtomicU64>,
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

impl LazyFs {
    /// Mounts a lazy view of `backing` (an existing directory) on `mountpoint` (an existing,
    /// empty directory).
    pub fn mount(backing: &Path, mountpoint: &Path) -> Result<LazyFs> {
        let state = Arc::new(Mutex::new(
            fs::State::new(backing).with_context(|| format!("stat {}", backing.display()))?,
        ));
        let fsync_delay_us = Arc::new(AtomicU64::new(0));
        let fsyncs = Arc::new(AtomicU64::new(0));
        let filesystem = fs::LazyFilesystem {
            state: Arc::clone(&state),
            fsync_delay_us: Arc::clone(&fsync_delay_us),
            fsyncs: Arc::clone(&fsyncs),
        };
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("strata-lazyfs".to_string()),
            MountOption::DefaultPermissions,
        ];
        config.acl = SessionACL::All;
        let session = fuser::spawn_mount(filesystem, mountpoint, &config).with_context(|| {
            format!(
                "mounting the lazy FUSE filesystem on {} (needs root and /dev/fuse)",
                mountpoint.display()
            )
        })?;
        Ok(LazyFs {
            state,
            fsync_delay_us,
            fsyncs,
            session: Some(session),
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    /// Simulates a power loss: drops every write and size change not yet fsynced. The program
    /// using the mount must already be stopped.
    pub fn crash(&self) -> CrashReport {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let report = CrashReport {
            files: st.pending.len(),
            bytes: st.pending.values().map(|p| p.buffered_bytes()).sum(),
        };
        st.pending.clear();
        report
    }

    /// Bytes currently buffered and not yet fsynced (whole pages).
    pub fn unsynced_bytes(&self) -> u64 {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.pending.values().map(|p| p.buffered_bytes()).sum()
    }

    /// Makes every later fsync wait `delay` before it starts (a slow disk); zero turns it off.
    pub fn set_fsync_delay(&self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.fsync_delay_us.store(us, Ordering::Relaxed);
    }

    /// File fsyncs (fsync and fdatasync) completed so far.
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// The mount point.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = session.umount_and_join();
        }
    }
}
