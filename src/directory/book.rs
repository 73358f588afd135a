//! [`NameBook`]: the memory ledger's name bindings (name -> owner keyprint)
//! and the keyprints the operator removed, kept across restarts in the
//! server's state folder as `names.log`, one line a change:
//!
//! ```text
//! bind alice <keyprint>     the name is now this keyprint's
//! free alice                the name is nobody's (its hold ended, or removed)
//! ban <keyprint>            this keyprint may not log in again
//! ```
//!
//! A change is appended (one `write` of a whole line, under the ledger's
//! lock) before the call that made it returns, so a process that dies
//! loses nothing it answered; a removal is synced to the disk too. At
//! start the file is read back (a last line cut short by a crash is
//! skipped) and rewritten whole with what it adds up to, so it never grows
//! across restarts. Only the owner of each name is kept, not when its last
//! session ended: after a restart every name is held a whole `name_hold`
//! again, as the lease clock gives every session a whole lease after a
//! stall.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::wire::KeyPrint;

/// The file's name in the server's state folder.
pub const NAMES_FILE: &str = "names.log";

/// What the file adds up to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub bound: HashMap<String, KeyPrint>,
    pub banned: HashSet<KeyPrint>,
}

/// The open file, appended to.
pub struct NameBook {
    path: PathBuf,
    file: File,
}

impl NameBook {
    /// Reads `path` (none yet: nothing bound), rewrites it whole and opens
    /// it for what follows.
    pub fn open(path: &Path) -> io::Result<(NameBook, Names)> {
        let names = match std::fs::read_to_string(path) {
            Ok(text) => replay(&text, path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Names::default(),
            Err(e) => return Err(e),
        };
        let mut text = String::new();
        let mut bound: Vec<_> = names.bound.iter().collect();
        bound.sort_by(|x, y| x.0.cmp(y.0));
        for (name, owner) in bound {
            text.push_str(&format!("bind {name} {owner}\n"));
        }
        let mut banned: Vec<_> = names.banned.iter().map(|k| k.to_string()).collect();
        banned.sort();
        for kp in banned {
            text.push_str(&format!("ban {kp}\n"));
        }
        crate::fsutil::write_atomic(path, text.as_bytes())?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok((
            NameBook {
                path: path.to_path_buf(),
                file,
            },
            names,
        ))
    }

    /// `name` is now `owner`'s.
    pub fn bind(&mut self, name: &str, owner: &KeyPrint) {
        self.append(&format!("bind {name} {owner}\n"), false);
    }

    /// `name` is nobody's.
    pub fn free(&mut self, name: &str) {
        self.append(&format!("free {name}\n"), false);
    }

    /// `owner` may not log in again (synced: an operator's decision).
    pub fn ban(&mut self, owner: &KeyPrint) {
        self.append(&format!("ban {owner}\n"), true);
    }

    /// One whole line in one write. A failure is logged: the change holds
    /// in memory, and the next start reads what the file kept.
    fn append(&mut self, line: &str, sync: bool) {
        let written = self.file.write_all(line.as_bytes()).and_then(|()| {
            if sync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            log::error!(
                "cannot keep a name binding in {}: {e} (it holds until the directory restarts)",
                self.path.display()
            );
        }
    }
}

/// What the lines of `text` add up to; a line that does not parse (cut
/// short by a crash, or edited by hand) is skipped and said.
fn replay(text: &str, path: &Path) -> Names {
    let mut names = Names::default();
    for (n, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split(' ').collect();
        let kp = |s: &str| KeyPrint::parse(s).ok();
        let ok = match words.as_slice() {
            ["bind", name, owner] if crate::names::check_peer_name(name).is_ok() => kp(owner)
                .map(|owner| names.bound.insert(name.to_string(), owner))
                .is_some(),
            ["free", name] => {
                names.bound.remove(*name);
                true
            }
            ["ban", owner] => kp(owner).map(|owner| names.banned.insert(owner)).is_some(),
            _ => false,
        };
        if !ok && !line.is_empty() {
            log::warn!(
                "{} line {}: not a name binding, skipped: {line:?}",
                path.display(),
                n + 1
            );
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_adds_up_across_opens_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAMES_FILE);
        let (a, b) = (KeyPrint::of_seed("a"), KeyPrint::of_seed("b"));
        {
            let (mut book, names) = NameBook::open(&path).unwrap();
            assert_eq!(names, Names::default());
            book.bind("alice", &a);
            book.bind("bob", &b);
            book.free("bob");
            book.bind("bob", &a);
            book.ban(&b);
        }
        // A crash in the middle of a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"bind carol AAAA").unwrap();
        drop(f);
        let (_book, names) = NameBook::open(&path).unwrap();
        assert_eq!(
            names.bound,
            HashMap::from([("alice".to_string(), a), ("bob".to_string(), a)])
        );
        assert_eq!(names.banned, HashSet::from([b]));
        // Rewritten whole: one line a binding, no history.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let (_book, again) = NameBook::open(&path).unwrap();
        assert_eq!(again, names);
    }
}
