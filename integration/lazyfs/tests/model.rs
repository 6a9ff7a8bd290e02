//! The lazy filesystem's model against the real kernel: fsynced data survives a crash,
//! unsynced writes and truncates do not, namespace changes do; reads see buffered data.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;

use strata_lazyfs::LazyFs;

fn mounted() -> (tempfile::TempDir, LazyFs) {
    let tmp = tempfile::tempdir().unwrap();
    let backing = tmp.path().join("backing");
    let mnt = tmp.path().join("mnt");
    fs::create_dir_all(&backing).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let fs = LazyFs::mount(&backing, &mnt).expect("FUSE mount (tests run as root with /dev/fuse)");
    (tmp, fs)
}

#[test]
fn unsynced_writes_are_lost_and_synced_ones_kept() {
    let (_tmp, lazy) = mounted();
    let dir = lazy.mountpoint().join("p-0");
    fs::create_dir(&dir).unwrap();
    let path = dir.join("a.log");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.write_all_at(&[1u8; 10_000], 0).unwrap();
    file.sync_data().unwrap();
    file.write_all_at(&[2u8; 5_000], 10_000).unwrap();
    file.write_all_at(&[3u8; 10], 100).unwrap();
    // Readers see the buffered state, size included.
    assert_eq!(fs::metadata(&path).unwrap().len(), 15_000);
    let mut all = Vec::new();
    File::open(&path).unwrap().read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), 15_000);
    assert_eq!(&all[100..110], &[3u8; 10]);
    assert_eq!(all[14_999], 2);
    assert!(lazy.unsynced_bytes() > 0);
    drop(file);

    // A renamed, fsynced file (the atomic-write pattern) survives as written.
    let tmpfile = dir.join("cp.tmp");
    let mut f = File::create(&tmpfile).unwrap();
    f.write_all(b"0\n42\n").unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs::rename(&tmpfile, dir.join("cp")).unwrap();
    // An unsynced file keeps its name but loses its data.
    fs::write(dir.join("lost"), b"never synced").unwrap();

    let report = lazy.crash();
    assert_eq!(report.files, 2, "{report:?}");
    assert_eq!(lazy.unsynced_bytes(), 0);
    let after = fs::read(&path).unwrap();
    assert_eq!(after, vec![1u8; 10_000]);
    assert_eq!(fs::read(dir.join("cp")).unwrap(), b"0\n42\n");
    assert_eq!(fs::read(dir.join("lost")).unwrap(), b"");
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a.log", "cp", "lost"]);
}

#[test]
fn truncate_is_buffered_until_fsync() {
    let (_tmp, lazy) = mounted();
    let path = lazy.mountpoint().join("seg");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    file.write_all_at(&[7u8; 8_192], 0).unwrap();
    file.sync_all().unwrap();
    // Cut, then extend over the cut region: the cut bytes must read as zeros, not old data.
    file.set_len(1_000).unwrap();
    file.write_all_at(&[9u8; 10], 5_000).unwrap();
    let mut buf = vec![0u8; 6_000];
    file.read_exact_at(&mut buf[..5_010], 0).unwrap();
    assert_eq!(&buf[..1_000], &[7u8; 1_000]);
    assert!(buf[1_000..5_000].iter().all(|&b| b == 0));
    assert_eq!(&buf[5_000..5_010], &[9u8; 10]);
    drop(file);
    lazy.crash();
    assert_eq!(fs::read(&path).unwrap(), vec![7u8; 8_192]);

    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(100).unwrap();
    file.sync_all().unwrap();
    drop(file);
    lazy.crash();
    assert_eq!(fs::read(&path).unwrap(), vec![7u8; 100]);
}
