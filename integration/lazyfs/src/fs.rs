//! The FUSE operations: a passthrough over a backing directory whose file *data* goes through
//! [`Pending`] until fsync.
//!
//! Model (LazyFS's, simplified): namespace changes (create, mkdir, rename, unlink, rmdir) go to
//! the backing directory at once and survive a crash; file data and size changes (write,
//! truncate) are buffered per inode and reach the backing file only on fsync/fdatasync of that
//! file. A crash drops every buffer. Files are opened with FOPEN_DIRECT_IO and attributes are
//! never cached, so the kernel's page cache cannot serve data that a crash dropped. A slow disk
//! is simulated by a delay before each fsync starts (`LazyFs::set_fsync_delay`); the delayed
//! fsync runs on its own thread and answers only after it has synced.
//!
//! Inode numbers are the backing files' own (`st_ino`), except the root, which is 1.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirEntryExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::pending::{read_backing, Pending};

const TTL: Duration = Duration::ZERO;

/// Shared state: what the mount serves and what a crash drops.
#[derive(Debug)]
pub(crate) struct State {
    root_ino: u64,
    paths: HashMap<u64, PathBuf>,
    pub(crate) pending: HashMap<u64, Pending>,
    handles: HashMap<u64, (u64, Arc<File>)>,
    next_fh: u64,
}

impl State {
    pub(crate) fn new(root: &Path) -> io::Result<State> {
        let root_ino = fs::metadata(root)?.ino();
        let mut paths = HashMap::new();
        paths.insert(1, root.to_path_buf());
        Ok(State {
            root_ino,
            paths,
            pending: HashMap::new(),
            handles: HashMap::new(),
            next_fh: 1,
        })
    }

    fn fuse_ino(&self, st_ino: u64) -> u64 {
        if st_ino == self.root_ino {
            1
        } else {
            st_ino
        }
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.paths.get(&ino.0).cloned().ok_or(Errno::ENOENT)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        Ok(self.path(parent)?.join(name))
    }

    /// Stats `path`, registers it, and returns its attributes (size from the buffer if any).
    fn attr_of(&mut self, path: &Path) -> Result<FileAttr, Errno> {
        let meta = fs::symlink_metadata(path).map_err(Errno::from)?;
        let ino = self.fuse_ino(meta.ino());
        self.paths.insert(ino, path.to_path_buf());
        let size = self.pending.get(&ino).map_or(meta.len(), |p| p.len);
        let kind = if meta.is_dir() {
            FileType::Directory
        } else if meta.file_type().is_symlink() {
            FileType::Symlink
        } else {
            FileType::RegularFile
        };
        let time = |secs: i64, nsecs: i64| {
            UNIX_EPOCH + Duration::new(secs.max(0) as u64, nsecs.clamp(0, 999_999_999) as u32)
        };
        Ok(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: SystemTime::UNIX_EPOCH,
            kind,
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: 4096,
            flags: 0,
        })
    }

    /// The buffer of `ino`, created over `file` (or the file at its path) on first use.
    fn pending_for(&mut self, ino: u64, file: Option<Arc<File>>) -> Result<&mut Pending, Errno> {
        if !self.pending.contains_key(&ino) {
            let file = match file {
                Some(f) => f,
                None => {
                    let path = self.path(INodeNo(ino))?;
                    Arc::new(open_backing(&path, false, false)?)
                }
            };
            self.pending
                .insert(ino, Pending::new(file).map_err(Errno::from)?);
        }
        Ok(self.pending.get_mut(&ino).expect("inserted above"))
    }

    fn open_handle(&mut self, ino: u64, file: File) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, (ino, Arc::new(file)));
        fh
    }

    /// After a rename, every registered path under `from` moves under `to`.
    fn rename_paths(&mut self, from: &Path, to: &Path) {
        for path in self.paths.values_mut() {
            if let Ok(rest) = path.strip_prefix(from) {
                *path = if rest.as_os_str().is_empty() {
                    to.to_path_buf()
                } else {
                    to.join(rest)
                };
            }
        }
    }
}

fn open_backing(path: &Path, create: bool, exclusive: bool) -> Result<File, Errno> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if exclusive {
        options.create_new(true);
    } else if create {
        options.create(true);
    }
    options.mode(0o644).open(path).map_err(Errno::from)
}

/// The filesystem served over FUSE.
#[derive(Debug)]
pub(crate) struct LazyFilesystem {
    pub(crate) state: Arc<Mutex<State>>,
    /// How long each fsync takes before it starts (a slow disk), in microseconds.
    pub(crate) fsync_delay_us: Arc<AtomicU64>,
    /// Fsyncs of files answered so far.
    pub(crate) fsyncs: Arc<AtomicU64>,
}

impl LazyFilesystem {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Filesystem for LazyFilesystem {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut st = self.state();
        match st.child(parent, name).and_then(|p| st.attr_of(&p)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let mut st = self.state();
        match st.path(ino).and_then(|p| st.attr_of(&p)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut st = self.state();
        let result = (|| {
            let path = st.path(ino)?;
            if let Some(mode) = mode {
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(Errno::from)?;
            }
            if let Some(size) = size {
                let file = fh.and_then(|fh| st.handles.get(&fh.0).map(|(_, f)| Arc::clone(f)));
                st.pending_for(ino.0, file)?.set_len(size);
            }
            st.attr_of(&path)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut st = self.state();
        let result = (|| {
            let path = st.child(parent, name)?;
            fs::create_dir(&path).map_err(Errno::from)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & !umask & 0o7777))
                .map_err(Errno::from)?;
            st.attr_of(&path)
        })();
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.state();
        let result = (|| {
            let path = st.child(parent, name)?;
            let ino = st.fuse_ino(fs::symlink_metadata(&path).map_err(Errno::from)?.ino());
            fs::remove_file(&path).map_err(Errno::from)?;
            st.pending.remove(&ino);
            if st.paths.get(&ino) == Some(&path) {
                st.paths.remove(&ino);
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let st = self.state();
        match st
            .child(parent, name)
            .and_then(|p| fs::remove_dir(p).map_err(Errno::from))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut st = self.state();
        let result = (|| {
            if flags.bits() != 0 {
                return Err(Errno::EINVAL);
            }
            let from = st.child(parent, name)?;
            let to = st.child(newparent, newname)?;
            if let Ok(meta) = fs::symlink_metadata(&to) {
                if !meta.is_dir() {
                    let replaced = st.fuse_ino(meta.ino());
                    st.pending.remove(&replaced);
                    st.paths.remove(&replaced);
                }
            }
            fs::rename(&from, &to).map_err(Errno::from)?;
            st.rename_paths(&from, &to);
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut st = self.state();
        let result = (|| {
            let path = st.path(ino)?;
            let file = open_backing(&path, false, false)?;
            let fh = st.open_handle(ino.0, file);
            if flags.0 & libc::O_TRUNC != 0 {
                let file = Arc::clone(&st.handles[&fh].1);
                st.pending_for(ino.0, Some(file))?.set_len(0);
            }
            Ok(fh)
        })();
        match result {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut st = self.state();
        let result = (|| {
            let path = st.child(parent, name)?;
            let file = open_backing(&path, true, flags & libc::O_EXCL != 0)?;
            file.set_permissions(fs::Permissions::from_mode(mode & !umask & 0o7777))
                .map_err(Errno::from)?;
            let attr = st.attr_of(&path)?;
            let fh = st.open_handle(attr.ino.0, file);
            if flags & libc::O_TRUNC != 0 {
                let file = Arc::clone(&st.handles[&fh].1);
                st.pending_for(attr.ino.0, Some(file))?.set_len(0);
            }
            Ok((st.attr_of(&path)?, fh))
        })();
        match result {
            Ok((attr, fh)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(fh),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let st = self.state();
        let result = (|| {
            if let Some(p) = st.pending.get(&ino.0) {
                return p.read(offset, u64::from(size)).map_err(Errno::from);
            }
            let (_, file) = st.handles.get(&fh.0).ok_or(Errno::EBADF)?;
            let len = file.metadata().map_err(Errno::from)?.len();
            if offset >= len {
                return Ok(Vec::new());
            }
            let mut buf = vec![0u8; (len - offset).min(u64::from(size)) as usize];
            read_backing(file, offset, &mut buf).map_err(Errno::from)?;
            Ok(buf)
        })();
        match result {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut st = self.state();
        let result = (|| {
            let file = st.handles.get(&fh.0).map(|(_, f)| Arc::clone(f));
            st.pending_for(ino.0, file)?
                .write(offset, data)
                .map_err(Errno::from)
        })();
        match result {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) is not a durability point.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.state().handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let delay = self.fsync_delay_us.load(Ordering::Relaxed);
        let state = Arc::clone(&self.state);
        let fsyncs = Arc::clone(&self.fsyncs);
        let finish = move || {
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            let result = match st.pending.get_mut(&ino.0) {
                Some(p) => p.sync(),
                None => Ok(()),
            };
            match result {
                Ok(()) => {
                    st.pending.remove(&ino.0);
                    fsyncs.fetch_add(1, Ordering::Relaxed);
                    reply.ok()
                }
                Err(e) => reply.error(Errno::from(e)),
            }
        };
        if delay == 0 {
            finish();
        } else {
            // A slow disk: the fsync starts after the delay, off the FUSE thread, so other
            // operations go on meanwhile; writes that arrive during the delay are synced too.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_micros(delay));
                finish();
            });
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let st = self.state();
        let result = (|| {
            let path = st.path(ino)?;
            let mut entries = vec![
                (ino.0, FileType::Directory, OsStr::new(".").to_os_string()),
                (1, FileType::Directory, OsStr::new("..").to_os_string()),
            ];
            for entry in fs::read_dir(&path).map_err(Errno::from)? {
                let entry = entry.map_err(Errno::from)?;
                let kind = match entry.file_type().map_err(Errno::from)? {
                    t if t.is_dir() => FileType::Directory,
                    t if t.is_symlink() => FileType::Symlink,
                    _ => FileType::RegularFile,
                };
                entries.push((st.fuse_ino(entry.ino()), kind, entry.file_name()));
            }
            Ok(entries)
        })();
        match result {
            Ok(entries) => {
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(ino), (i + 1) as u64, kind, &name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Namespace changes are durable at once in this model.
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let root = self.state().paths[&1].clone();
        let c = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).unwrap_or_default();
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            reply.error(Errno::from(io::Error::last_os_error()));
            return;
        }
        reply.statfs(
            s.f_blocks,
            s.f_bfree,
            s.f_bavail,
            s.f_files,
            s.f_ffree,
            s.f_bsize as u32,
            s.f_namemax as u32,
            s.f_frsize as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }
}
