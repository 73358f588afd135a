//! The part file of a download. `<name>.part` holds verified pieces at
//! their offsets; `<name>.part.state` says which pieces they are. The state
//! is written atomically and only after the part's bytes are synced, so it
//! never claims a piece the disk does not hold. A part found without a
//! usable state is re-verified piece by piece, not thrown away. The final
//! name is taken only when every piece is verified, and never over an
//! existing file (`name (1).ext` instead).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use blake3::hazmat::ChainingValue;
use serde::{Deserialize, Serialize};

use super::transfer::{io_err, TransferError};
use crate::fsutil::{create_dirs_within, publish, write_atomic};
use crate::id::FileId;
use crate::peer::share::{PART_SUFFIX, STATE_SUFFIX};
use crate::pieces::{self, piece_count, piece_range, piece_size};

const STATE_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
pub(super) struct PartState {
    format: u32,
    pub id: FileId,
    pub size: u64,
    piece_size: u64,
    /// One character per piece: '1' verified, '0' not.
    pub done: String,
}

fn read_state(path: &Path) -> Option<PartState> {
    let st: PartState = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    (st.format == STATE_FORMAT).then_some(st)
}

fn write_state(path: &Path, id: FileId, size: u64, done: &[bool]) -> io::Result<()> {
    let st = PartState {
        format: STATE_FORMAT,
        id,
        size,
        piece_size: piece_size(size),
        done: done.iter().map(|d| if *d { '1' } else { '0' }).collect(),
    };
    write_atomic(path, &serde_json::to_vec(&st).map_err(io::Error::other)?)
}

/// `stem (n).ext` (in the last component of a `folder/name` path), the
/// number before the whole extension: `archive (1).tar.gz`, not
/// `archive.tar (1).gz`.
pub(super) fn numbered(name: &str, n: usize) -> String {
    if n == 0 {
        return name.to_string();
    }
    let (folder, file) = crate::names::split_folder(name);
    let (stem, ext) = file.split_at(extension_start(file));
    format!("{folder}{stem} ({n}){ext}")
}

/// Compression suffixes that follow another extension (`.tar.gz`), as
/// browsers count them when they number a download.
const SECOND_EXTENSIONS: &[&str] = &["bz", "bz2", "gz", "lz", "lzma", "lzo", "xz", "z", "zst"];

/// Where the extension of a file name starts (its length when it has
/// none): the last `.ext`, or the last two when the last is a compression
/// suffix after a short word (`.tar.gz`, `.tar.zst`). A leading dot starts
/// no extension (`.profile`).
fn extension_start(file: &str) -> usize {
    let Some(last) = file.rfind('.').filter(|&i| i > 0) else {
        return file.len();
    };
    let suffix = file[last + 1..].to_ascii_lowercase();
    if SECOND_EXTENSIONS.contains(&suffix.as_str()) {
        if let Some(before) = file[..last].rfind('.').filter(|&i| i > 0) {
            let inner = &file[before + 1..last];
            let short = (1..=4).contains(&inner.len());
            let word = inner.chars().all(|c| c.is_ascii_alphanumeric())
                && inner.chars().any(|c| c.is_ascii_alphabetic());
            if short && word {
                return before;
            }
        }
    }
    last
}

/// Makes the folders of `name` (a shared path) below `dir`, never through
/// a link.
pub(super) fn make_folders(dir: &Path, name: &str) -> Result<(), TransferError> {
    match Path::new(name).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => create_dirs_within(dir, parent)
            .map(drop)
            .map_err(io_err(&dir.join(parent))),
        _ => Ok(()),
    }
}

/// The name to download under: the first `name`, `name (1)`, ... that is not
/// a finished file and whose `.part` is free or belongs to this same file
/// (a resume). Returns the name and the part's recorded state, if any.
pub(super) fn choose_name(
    dir: &Path,
    name: &str,
    id: FileId,
    size: u64,
) -> (String, Option<PartState>) {
    for n in 0.. {
        let candidate = numbered(name, n);
        if dir.join(&candidate).symlink_metadata().is_ok() {
            continue;
        }
        if dir
            .join(format!("{candidate}{PART_SUFFIX}"))
            .symlink_metadata()
            .is_err()
        {
            return (candidate, None);
        }
        match read_state(&dir.join(format!("{candidate}{STATE_SUFFIX}"))) {
            Some(st) if st.id == id && st.size == size => return (candidate, Some(st)),
            Some(_) => continue,
            // A part without state: re-verified piece by piece.
            None => return (candidate, None),
        }
    }
    unreachable!("some numbered name is free")
}

/// An open part file and the state beside it.
pub(super) struct Part {
    /// Written at piece offsets by the fetch workers.
    pub file: File,
    pub path: PathBuf,
    state_path: PathBuf,
    dir: PathBuf,
}

impl Part {
    /// Opens (or creates) the part of `name` in `dir` for the file `id` of
    /// `size` bytes, and says which of its pieces are already verified:
    /// from `state` when it covers them, else by checking each piece of a
    /// part that exists against `cvs`.
    pub fn open(
        dir: &Path,
        name: &str,
        state: Option<PartState>,
        id: FileId,
        size: u64,
        cvs: &[ChainingValue],
    ) -> Result<(Part, Vec<bool>), TransferError> {
        make_folders(dir, name)?;
        let path = dir.join(format!("{name}{PART_SUFFIX}"));
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        let count = piece_count(size);
        let mut done = vec![false; count];
        match state {
            Some(st) if st.done.len() == count => {
                for (d, c) in done.iter_mut().zip(st.done.chars()) {
                    *d = c == '1';
                }
            }
            _ if existed => {
                // No usable record: keep whatever pieces of the part verify.
                for (i, d) in done.iter_mut().enumerate() {
                    let (off, len) = piece_range(size, i);
                    let mut buf = vec![0u8; len as usize];
                    if size > 0 && file.read_exact_at(&mut buf, off).is_ok() {
                        *d = pieces::verify_piece(&id, size, cvs, i, &buf);
                    }
                }
            }
            _ => {}
        }
        file.set_len(size).map_err(io_err(&path))?;
        let part = Part {
            file,
            state_path: dir.join(format!("{name}{STATE_SUFFIX}")),
            path,
            dir: dir.to_path_buf(),
        };
        Ok((part, done))
    }

    /// Records which pieces are verified, after their bytes are on disk.
    pub fn checkpoint(&self, id: FileId, size: u64, done: &[bool]) -> Result<(), TransferError> {
        self.file.sync_data().map_err(io_err(&self.path))?;
        write_state(&self.state_path, id, size, done).map_err(io_err(&self.state_path))
    }

    /// Removes the part and its state (nothing in them worth keeping).
    pub fn discard(&self) {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_file(&self.state_path);
    }

    /// Gives the complete, verified part its final name (the first free one
    /// of `name`, `name (1)`, ...), and removes the state. `name` may differ
    /// from the one the part was opened under.
    pub fn publish(&self, name: &str) -> Result<PathBuf, TransferError> {
        self.file.sync_all().map_err(io_err(&self.path))?;
        make_folders(&self.dir, name)?;
        let target = publish_numbered(&self.path, &self.dir, name)?;
        let _ = fs::remove_file(&self.state_path);
        Ok(target)
    }
}

/// Moves the complete file `from` to `name` in `dir` (its folders made),
/// or to the first free `name (1)`, ... : never over an existing file.
pub(super) fn publish_numbered(
    from: &Path,
    dir: &Path,
    name: &str,
) -> Result<PathBuf, TransferError> {
    for n in 0.. {
        let target = dir.join(numbered(name, n));
        match publish(from, &target) {
            Ok(()) => return Ok(target),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(TransferError::Io {
                    path: target,
                    source,
                })
            }
        }
    }
    unreachable!("some numbered name is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names() {
        assert_eq!(numbered("a.txt", 0), "a.txt");
        assert_eq!(numbered("a.txt", 2), "a (2).txt");
        assert_eq!(numbered("noext", 1), "noext (1)");
        assert_eq!(numbered(".x", 1), ".x (1)");
        assert_eq!(numbered("v1.2/README", 1), "v1.2/README (1)");
        assert_eq!(numbered("music/a/x.mp3", 3), "music/a/x (3).mp3");
    }

    #[test]
    fn a_name_clash_numbers_before_the_whole_extension() {
        for (name, meant) in [
            ("archive 2022.tar.gz", "archive 2022 (1).tar.gz"),
            ("backup.TAR.XZ", "backup (1).TAR.XZ"),
            ("src/linux-6.1.tar.zst", "src/linux-6.1 (1).tar.zst"),
            ("notes.txt.gz", "notes (1).txt.gz"),
            // Not a second extension: only the last counts.
            ("v1.2 notes.txt", "v1.2 notes (1).txt"),
            ("photo.2024.jpg", "photo.2024 (1).jpg"),
            ("release-1.0.gz", "release-1.0 (1).gz"),
            (".config.gz", ".config (1).gz"),
            ("data..gz", "data. (1).gz"),
        ] {
            assert_eq!(numbered(name, 1), meant, "{name}");
        }
    }

    #[test]
    fn choose_name_resumes_its_own_part_and_skips_others() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let id = FileId::of(b"mine");
        let other = FileId::of(b"other");
        assert_eq!(choose_name(d, "f.bin", id, 10).0, "f.bin");
        // A finished file of that name is never a target.
        fs::write(d.join("f.bin"), b"x").unwrap();
        assert_eq!(choose_name(d, "f.bin", id, 10).0, "f (1).bin");
        // Another file's part is skipped; our own is resumed.
        fs::write(d.join("f (1).bin.part"), b"").unwrap();
        write_state(&d.join("f (1).bin.part.state"), other, 10, &[false]).unwrap();
        fs::write(d.join("f (2).bin.part"), b"").unwrap();
        write_state(&d.join("f (2).bin.part.state"), id, 10, &[true]).unwrap();
        let (name, st) = choose_name(d, "f.bin", id, 10);
        assert_eq!(name, "f (2).bin");
        assert_eq!(st.unwrap().done, "1");
    }

    #[test]
    fn a_part_without_state_keeps_the_pieces_that_verify_and_publishes_beside_others() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let size = 3 * pieces::MIN_PIECE_SIZE;
        let data = crate::fuzz::noise(size as usize, 3);
        let mut h = pieces::PieceHasher::new(size);
        h.update(&data);
        let (id, cvs) = h.finish().unwrap();
        // Piece 0 right, piece 1 damaged, piece 2 missing.
        let mut part = data[..2 * pieces::MIN_PIECE_SIZE as usize].to_vec();
        part[pieces::MIN_PIECE_SIZE as usize + 7] ^= 1;
        fs::write(d.join("f.bin.part"), &part).unwrap();
        let (p, done) = Part::open(d, "f.bin", None, id, size, &cvs).unwrap();
        assert_eq!(done, vec![true, false, false]);
        p.file.write_all_at(&data, 0).unwrap();
        p.checkpoint(id, size, &[true, true, true]).unwrap();
        assert_eq!(read_state(&p.state_path).unwrap().done, "111");
        // The final name is taken: it goes beside it, and the state goes.
        fs::write(d.join("f.bin"), b"someone else's").unwrap();
        let published = p.publish("f.bin").unwrap();
        assert_eq!(published, d.join("f (1).bin"));
        assert_eq!(fs::read(&published).unwrap(), data);
        assert_eq!(fs::read(d.join("f.bin")).unwrap(), b"someone else's");
        assert!(!p.path.exists() && !p.state_path.exists());
    }
}
