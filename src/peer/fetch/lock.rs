//! One download of a name at a time per download folder: `<name>.part.lock`
//! beside the part, held with `flock` for the whole download, so a second
//! `peer get` (or a second menu transfer) of the same file waits for the
//! first instead of racing it for the same part. The lock holds the pid of
//! its holder, to say who is downloading; the kernel drops it when the
//! holder dies, so a crash leaves nothing to clean up by hand.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::peer::share::LOCK_SUFFIX;

/// How often a waiting download looks again (and at its cancel flag).
const RETRY: Duration = Duration::from_millis(100);

/// A held download lock; dropping it removes the file and releases it.
#[derive(Debug)]
pub(super) struct DownloadLock {
    file: File,
    path: PathBuf,
}

/// What [`DownloadLock::take`] met: the process holding the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Busy {
    pub path: PathBuf,
    /// The holder's pid, when it wrote one.
    pub pid: Option<u32>,
}

impl DownloadLock {
    /// The lock of `name` in `dir`. When another download holds it, calls
    /// `waiting` once with who holds it and waits until it is free or
    /// `cancel` is set (`Ok(None)`).
    pub fn take(
        dir: &Path,
        name: &str,
        cancel: Option<&AtomicBool>,
        mut waiting: impl FnMut(&Busy),
    ) -> io::Result<Option<DownloadLock>> {
        let path = dir.join(format!("{name}{LOCK_SUFFIX}"));
        let mut told = false;
        loop {
            match DownloadLock::try_take(&path)? {
                Ok(lock) => return Ok(Some(lock)),
                Err(busy) => {
                    if !told {
                        waiting(&busy);
                        told = true;
                    }
                }
            }
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Ok(None);
            }
            std::thread::sleep(RETRY);
        }
    }

    /// Takes the lock at `path` if it is free.
    fn try_take(path: &Path) -> io::Result<Result<DownloadLock, Busy>> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock {
                // A file system without locks (some network ones): the
                // download goes on unguarded rather than not at all.
                log::warn!(
                    "cannot lock {} ({e}): two downloads of this file at once would not wait for each other",
                    path.display()
                );
                return Ok(Ok(DownloadLock {
                    file,
                    path: path.to_path_buf(),
                }));
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Ok(Err(Busy {
                path: path.to_path_buf(),
                pid: text.trim().parse().ok(),
            }));
        }
        // The holder before us may have removed the file between our open
        // and our flock: then we hold a lock on a name nobody sees.
        let ours = file.metadata()?;
        match fs::metadata(path) {
            Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => {}
            _ => return DownloadLock::try_take(path),
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(Ok(DownloadLock {
            file,
            path: path.to_path_buf(),
        }))
    }
}

impl Drop for DownloadLock {
    fn drop(&mut self) {
        // Removed while still held, so nobody takes a file about to go.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_second_taker_waits_for_the_first_and_is_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = DownloadLock::take(dir.path(), "a.tar.gz", None, |_| panic!("free"))
            .unwrap()
            .unwrap();
        let lock_file = dir.path().join("a.tar.gz.part.lock");
        assert_eq!(
            fs::read_to_string(&lock_file).unwrap().trim(),
            std::process::id().to_string()
        );
        // Cancelled while waiting: no lock, told once who holds it.
        let cancel = AtomicBool::new(true);
        let mut told = Vec::new();
        let none = DownloadLock::take(dir.path(), "a.tar.gz", Some(&cancel), |b| {
            told.push(b.clone())
        })
        .unwrap();
        assert!(none.is_none());
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].pid, Some(std::process::id()));
        // Waiting: it gets the lock once the first lets go.
        let (tx, rx) = crossbeam_channel::bounded(1);
        let d = Arc::new(dir.path().to_path_buf());
        let waiter = std::thread::spawn(move || {
            DownloadLock::take(&d, "a.tar.gz", None, |_| tx.send(()).unwrap())
                .unwrap()
                .is_some()
        });
        rx.recv().unwrap();
        drop(first);
        assert!(waiter.join().unwrap());
        // Released and removed: nothing is left beside the download.
        assert!(!lock_file.exists());
        assert!(
            DownloadLock::take(dir.path(), "a.tar.gz", None, |_| panic!("free"))
                .unwrap()
                .is_some()
        );
    }
}
