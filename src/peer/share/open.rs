//! The one way a shared file is opened: [`open_shared`]. A URL never
//! becomes a path, and a path from the scan is not trusted to still be what
//! it was: the file must be a regular file, and (unless links are followed
//! on purpose) no symbolic link on the way below the share folder is
//! followed, so a file or folder swapped for a link after the scan is not
//! read through it.

use std::fs::File;
use std::io;
use std::path::Path;

/// Opens a shared file below `root` for reading: a regular file only (a
/// FIFO or device put in its place is refused rather than blocking a
/// reader), and, unless `follow` is set, without passing through a symbolic
/// link anywhere below `root`: each folder on the way is opened relative to
/// the last with `O_NOFOLLOW`, so a file or a folder swapped for a link after
/// the scan is not read through it.
/// Returns the file and its metadata as opened.
pub fn open_shared(
    root: &Path,
    path: &Path,
    follow: bool,
) -> io::Result<(File, std::fs::Metadata)> {
    let file = if follow {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?
    } else {
        open_beneath(root, path)?
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok((file, meta))
}

/// Opens `path` (which must lie below `root`) one component at a time from
/// `root`, never following a symbolic link on the way.
fn open_beneath(root: &Path, path: &Path) -> io::Result<File> {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Component;

    let outside = || {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not below {}", path.display(), root.display()),
        )
    };
    let rel = path.strip_prefix(root).map_err(|_| outside())?;
    let parts: Vec<&std::ffi::OsStr> = rel
        .components()
        .map(|c| match c {
            Component::Normal(p) => Ok(p),
            _ => Err(outside()),
        })
        .collect::<io::Result<_>>()?;
    let Some((last, dirs)) = parts.split_last() else {
        return Err(outside());
    };
    // One system call when no link lies anywhere on the path, the share
    // folder's own included; else (a link above the share folder, which is
    // allowed, or a kernel without openat2) the walk below.
    if let Some(file) = open_without_links(path) {
        return Ok(file);
    }
    let mut dir = File::open(root)?;
    let open_at = |dir: &File, name: &std::ffi::OsStr, flags: libc::c_int| -> io::Result<File> {
        let name = CString::new(name.as_bytes()).map_err(|_| outside())?;
        // SAFETY: a valid directory descriptor and a NUL-terminated name;
        // the returned descriptor is owned by the File made from it.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    };
    for part in dirs {
        dir = open_at(&dir, part, libc::O_RDONLY | libc::O_DIRECTORY)?;
    }
    open_at(&dir, last, libc::O_RDONLY | libc::O_NONBLOCK)
}

/// `path` opened for reading with `openat2(RESOLVE_NO_SYMLINKS)`: `None`
/// when that fails for a reason the component-wise walk may not share (a
/// link on the way, which may be above the share folder; no openat2 here);
/// the walk then decides.
#[cfg(target_os = "linux")]
fn open_without_links(path: &Path) -> Option<File> {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;

    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: open_how is plain data; all-zero is its "nothing asked" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: a NUL-terminated path and an open_how of the size given; the
    // returned descriptor is owned by the File made from it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    let fd = libc::c_int::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Some(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

#[cfg(not(target_os = "linux"))]
fn open_without_links(_: &Path) -> Option<File> {
    None
}
