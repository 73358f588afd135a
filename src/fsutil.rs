//! The two ways a file is put in place, so that nothing half-written ever
//! stands under a final name: [`write_atomic`] (a small file replaced
//! whole: temp file beside it, synced, renamed over it) and [`publish`]
//! (a finished download or upload moved to its final name, never over an
//! existing file).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Suffix of the temp file [`write_atomic`] writes beside its target.
pub const TEMP_SUFFIX: &str = ".tmp";

/// A temp name beside `path` that no other writer uses at the same time
/// (two processes saving one file at once must not share a temp file):
/// `.NAME.RANDOM.tmp`, hidden, so a share scan leaves it out.
fn temp_beside(path: &Path) -> PathBuf {
    path.with_file_name(format!(
        ".{}.{}{TEMP_SUFFIX}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        crate::random::random_hex(TEMP_RANDOM_BYTES)
    ))
}

const TEMP_RANDOM_BYTES: usize = 6;

/// Writes what `write` writes to a fresh temp file beside `path`, synced,
/// and returns its name; on failure nothing is left, not even the temp.
fn write_temp(
    path: &Path,
    private: bool,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let tmp = temp_beside(path);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    let written = (|| {
        if private {
            // The mode above is filtered by the umask; this is not.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        let mut out = io::BufWriter::with_capacity(64 * 1024, &mut f);
        write(&mut out)?;
        out.flush()?;
        drop(out);
        f.sync_all()
    })();
    drop(f);
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_then_rename(
    path: &Path,
    private: bool,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = write_temp(path, private, write)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// How old a temp file must be before [`sweep_stale_temps`] takes it for
/// a dead writer's: no write of these small files takes that long.
pub const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes, in `dir`, temp files of [`write_atomic`] and its kin that a
/// process killed while writing left behind, if older than `older_than`
/// (a younger one may be another process's write in progress). Returns how
/// many it removed.
pub fn sweep_stale_temps(dir: &Path, older_than: std::time::Duration) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let stale = |e: &fs::DirEntry| {
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            return false;
        };
        let Some(rest) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
        else {
            return false;
        };
        let ours = rest.rsplit_once('.').is_some_and(|(target, random)| {
            !target.is_empty()
                && random.len() == 2 * TEMP_RANDOM_BYTES
                && random.bytes().all(|b| b.is_ascii_hexdigit())
        });
        ours && e.metadata().is_ok_and(|m| {
            m.is_file()
                && m.modified()
                    .is_ok_and(|t| t.elapsed().is_ok_and(|a| a >= older_than))
        })
    };
    entries
        .flatten()
        .filter(|e| stale(e) && fs::remove_file(e.path()).is_ok())
        .count()
}

/// Replaces `path` with `bytes` atomically: a reader (or a crash) sees the
/// old content or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_then_rename(path, false, |w| w.write_all(bytes))
}

/// The JSON document in `path`, or the default when there is no such file
/// (a state file not written yet); one that does not read is an error
/// naming the file.
pub fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
) -> io::Result<T> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e),
    }
}

/// [`write_atomic`] of what `write` writes, streamed to the file as it is
/// written (a big file is never whole in memory); if `write` fails the
/// old file stands.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    write_then_rename(path, false, write)
}

/// [`write_atomic`], readable by the owner only (mode 0600).
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_then_rename(path, true, |w| w.write_all(bytes))
}

/// Creates `path` and its parents if missing; a folder made here is the
/// owner's only (0700), for keys and secrets.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// This machine's name (`localhost` when it has none that reads as text).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

/// Creates the folders of the relative path `rel` (`a/b/c`) below `base`,
/// one at a time, and never through a symbolic link: a component that
/// exists must be a real folder. `rel` must already be checked to have no
/// `..`, root or prefix component (a shared path); anything else is refused.
/// Returns the folders it made, outermost first.
pub fn create_dirs_within(base: &Path, rel: &Path) -> io::Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    let mut at = base.to_path_buf();
    for part in rel.components() {
        let std::path::Component::Normal(part) = part else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a plain relative path", rel.display()),
            ));
        };
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is not a folder (a file or a link)", at.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&at) {
                Ok(()) => made.push(at.clone()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !fs::symlink_metadata(&at)?.is_dir() {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(made)
}

/// Moves `from` to `to` only if nothing stands at `to`: a hard link (which
/// fails if `to` exists) then removing `from`. Where the file system cannot
/// link, falls back to an existence check and a rename.
pub fn publish(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => fs::remove_file(from),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if to.symlink_metadata().is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "destination exists",
                ));
            }
            fs::rename(from, to)
        }
    }
}

/// Puts `bytes` at `path` only if nothing stands there yet, whole or not
/// at all (a temp file beside it, synced, published without clobbering):
/// for a key made once, which two processes starting together must not
/// both make. `private`: mode 0600. `Ok(false)` when another process made
/// it first: read that one.
pub fn create_once(path: &Path, bytes: &[u8], private: bool) -> io::Result<bool> {
    let tmp = write_temp(path, private, |w| w.write_all(bytes))?;
    let placed = publish(&tmp, path);
    if placed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    match placed {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Warns when the secret file at `path` can be read by other users.
pub fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "{} can be read by other users: chmod 600 it",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_once_keeps_the_first() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        assert!(create_once(&key, b"first", true).unwrap());
        assert!(!create_once(&key, b"second", true).unwrap());
        assert_eq!(fs::read(&key).unwrap(), b"first");
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn a_streamed_write_that_fails_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.json");
        write_atomic_with(&file, |w| w.write_all(b"old")).unwrap();
        let failed = write_atomic_with(&file, |w| {
            // More than the write buffer holds, so some reached the temp file.
            w.write_all(&[b'x'; 200 * 1024])?;
            Err(io::Error::other("the disk is full"))
        });
        assert_eq!(failed.unwrap_err().to_string(), "the disk is full");
        assert_eq!(fs::read(&file).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn publish_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"new").unwrap();
        fs::write(&b, b"old").unwrap();
        let err = publish(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"old");
        assert!(a.exists());
        fs::remove_file(&b).unwrap();
        publish(&a, &b).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"new");
        assert!(!a.exists());
    }

    #[test]
    fn atomic_writes_replace_whole_and_private_ones_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("state.json");
        write_atomic(&f, b"one").unwrap();
        write_atomic(&f, b"two").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two");
        let p = dir.path().join("secret.json");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&p, b"s").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // No temp file is left beside them.
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["secret.json", "state.json"]);
    }

    #[test]
    fn writers_saving_one_file_at_once_never_trip_on_each_other() {
        // Each has a temp file of its own: with one shared temp name, one
        // writer's rename took the file away from the other's (ENOENT).
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_directories");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let f = &f;
                s.spawn(move || {
                    for _ in 0..200 {
                        write_atomic(f, &[b'a' + t; 100]).unwrap();
                    }
                });
            }
        });
        let last = fs::read(&f).unwrap();
        assert_eq!(last.len(), 100);
        assert!(
            last.iter().all(|&b| b == last[0]),
            "one writer's whole file"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_sweep_removes_old_temps_of_ours_only() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            ".names.log.0123456789ab.tmp", // ours, left by a crash
            ".names.log.fedcba987654.tmp", // ours, being written now
            "notes.tmp",                   // a user's file
            ".hubshare-copy-x.tmp",        // another kind of temp
            ".names.log.xyz.tmp",          // not our random part
        ];
        for n in names {
            fs::write(dir.path().join(n), b"x").unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for n in [names[0], names[2], names[3], names[4]] {
            fs::File::options()
                .write(true)
                .open(dir.path().join(n))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(sweep_stale_temps(dir.path(), hour), 1);
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut kept = names[1..].to_vec();
        kept.sort();
        assert_eq!(left, kept);
    }
}
