//! Names that cross the network: peer names and file names. A file name that
//! arrives from another machine (an upload, a search result) decides where
//! bytes are written, so it is checked here, once, before it touches a path.

use std::fmt;

/// Longest peer name, in bytes.
pub const MAX_PEER_NAME_LEN: usize = 64;
/// Longest file name, in bytes (the usual file-system limit).
pub const MAX_FILE_NAME_LEN: usize = 255;
/// Longest shared path (folders and file name), in bytes.
pub const MAX_SHARED_PATH_LEN: usize = 1024;
/// Most components of a shared path (folders and the file name).
pub const MAX_SHARED_PATH_DEPTH: usize = 16;
/// Most further paths one file is announced under (the same bytes at
/// several places of one share): 16 names in all.
pub const MAX_OTHER_NAMES: usize = 15;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadName {
    what: &'static str,
    shown: String,
    reason: String,
}

impl BadName {
    fn new(what: &'static str, name: &str, reason: impl Into<String>) -> BadName {
        let mut shown: String = name.chars().take(40).collect();
        if shown.len() < name.len() {
            shown.push_str("...");
        }
        BadName {
            what,
            shown,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for BadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} {:?}: {}", self.what, self.shown, self.reason)
    }
}

impl std::error::Error for BadName {}

/// Checks a peer name: 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
pub fn check_peer_name(name: &str) -> Result<(), BadName> {
    if name.is_empty() {
        return Err(BadName::new("peer name", name, "it is empty"));
    }
    if name.len() > MAX_PEER_NAME_LEN {
        return Err(BadName::new(
            "peer name",
            name,
            format!(
                "it is {} bytes long, the limit is {MAX_PEER_NAME_LEN}",
                name.len()
            ),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(BadName::new(
            "peer name",
            name,
            format!("character {c:?} is not allowed (use letters, digits, '.', '_' and '-')"),
        ));
    }
    Ok(())
}

/// Checks that `name` is a plain file name that can be joined to a folder
/// without leaving it: not empty, not `.` or `..`, no path separator, no
/// control character, at most 255 bytes.
pub fn check_file_name(name: &str) -> Result<(), BadName> {
    let what = "file name";
    if name.is_empty() {
        return Err(BadName::new(what, name, "it is empty"));
    }
    if name.len() > MAX_FILE_NAME_LEN {
        return Err(BadName::new(
            what,
            name,
            format!(
                "it is {} bytes long, the limit is {MAX_FILE_NAME_LEN}",
                name.len()
            ),
        ));
    }
    if name == "." || name == ".." {
        return Err(BadName::new(what, name, "it may not be \".\" or \"..\""));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(BadName::new(
            what,
            name,
            "it may not contain a path separator",
        ));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(BadName::new(
            what,
            name,
            "it may not contain control characters",
        ));
    }
    if name.starts_with('.') {
        return Err(BadName::new(
            what,
            name,
            "it may not start with '.' (hidden files are not shared)",
        ));
    }
    Ok(())
}

/// Checks a shared path: the path of a file below a share folder, as a
/// peer announces it and lists it: components separated by `/`, each one a
/// file name [`check_file_name`] accepts (so no `..`, no `.`, no empty
/// component, no backslash, nothing hidden), at most
/// [`MAX_SHARED_PATH_DEPTH`] of them and [`MAX_SHARED_PATH_LEN`] bytes in
/// all. Joined to a folder it stays inside that folder.
pub fn check_shared_path(path: &str) -> Result<(), BadName> {
    let what = "shared path";
    if path.len() > MAX_SHARED_PATH_LEN {
        return Err(BadName::new(
            what,
            path,
            format!(
                "it is {} bytes long, the limit is {MAX_SHARED_PATH_LEN}",
                path.len()
            ),
        ));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > MAX_SHARED_PATH_DEPTH {
        return Err(BadName::new(
            what,
            path,
            format!(
                "it is {} folders deep, the limit is {MAX_SHARED_PATH_DEPTH}",
                parts.len() - 1
            ),
        ));
    }
    for part in parts {
        check_file_name(part).map_err(|e| BadName::new(what, path, e.to_string()))?;
    }
    Ok(())
}

/// A `folder/sub/name.ext` path cut before its file name:
/// (`"folder/sub/"`, `"name.ext"`); a bare name has no folder part (`""`).
pub fn split_folder(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path),
    }
}

/// Turns a name another peer gave us into a safe local file name: separators,
/// control characters and a leading dot become `_`, `..` is broken up, the
/// length is capped. Falls back to `fallback` when nothing usable is left.
pub fn sanitize_file_name(name: &str, fallback: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if out == ".." {
        out = "_.".to_string();
    }
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    if out.len() > MAX_FILE_NAME_LEN {
        let mut end = MAX_FILE_NAME_LEN;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    if out.trim_matches('_').is_empty() {
        return fallback.to_string();
    }
    out
}

/// Cuts `name` to at most `max` bytes, keeping a short extension.
pub fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let ext = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 16 => &name[i..],
        _ => "",
    };
    let mut end = max.saturating_sub(ext.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &name[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_names() {
        assert!(check_peer_name("alice-1.lan_x").is_ok());
        for bad in ["", "a b", "a/b", "ümlaut", &"x".repeat(65)] {
            assert!(check_peer_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_peer_name(&"x".repeat(10 * 1024))
            .unwrap_err()
            .to_string()
            .contains("10240 bytes"));
    }

    #[test]
    fn file_names() {
        for good in [
            "report.pdf",
            "holiday photo (1).jpg",
            "é tude.txt",
            "a.b.c",
            "So long... and thanks.txt",
            "Vol..2.pdf",
            "x..",
        ] {
            assert!(check_file_name(good).is_ok(), "{good:?} refused");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "x/..",
            "a/b",
            "/etc/passwd",
            "a\\b",
            "a\0b",
            "a\nb",
            ".hidden",
            &"x".repeat(256),
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn folder_and_file_of_a_path() {
        assert_eq!(split_folder("music/a/x.mp3"), ("music/a/", "x.mp3"));
        assert_eq!(split_folder("x.mp3"), ("", "x.mp3"));
    }

    #[test]
    fn shared_paths() {
        for good in ["a.txt", "music/a/cover-notes.txt", "Vol..2/x..y.pdf"] {
            assert!(check_shared_path(good).is_ok(), "{good:?} refused");
        }
        let deep = vec!["d"; MAX_SHARED_PATH_DEPTH + 1].join("/");
        for bad in [
            "",
            "/etc/passwd",
            "a/../../b",
            "../x",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a/\0/b",
            "a/.hidden/b",
            &deep,
            &format!("{}/x", "d".repeat(MAX_SHARED_PATH_LEN)),
        ] {
            assert!(check_shared_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn shorten_keeps_extension_and_char_boundaries() {
        assert_eq!(shorten("short.txt", 20), "short.txt");
        let long = format!("{}.tar.gz", "é".repeat(200));
        let s = shorten(&long, 100);
        assert!(s.len() <= 100 && s.ends_with(".gz"), "{s}");
        assert!(check_file_name(&s).is_ok());
    }

    #[test]
    fn sanitized_names_always_pass_the_check() {
        for raw in [
            "../../etc/passwd",
            "/abs",
            "..",
            "a\0b",
            ".bashrc",
            "ok.txt",
            "....",
            "",
            &"é".repeat(300),
        ] {
            let s = sanitize_file_name(raw, "fallback");
            assert!(check_file_name(&s).is_ok(), "{raw:?} -> {s:?}");
        }
        assert_eq!(sanitize_file_name("ok.txt", "f"), "ok.txt");
        assert_eq!(sanitize_file_name("/", "f"), "f");
    }
}
