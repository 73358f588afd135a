//! What both configs share: reading and parsing a file into errors that
//! name the file and the key, and the group password (inline or from a
//! file, checked once).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::wire::GroupPassword;

/// A configuration that could not be used.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML for this process, or a key has the wrong type.
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// A key has a value of the right type that cannot be used.
    Invalid {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, .. } => {
                write!(f, "cannot read config file {}", path.display())
            }
            ConfigError::Parse { path, source } => {
                write!(
                    f,
                    "config file {}: {}",
                    path.display(),
                    source.to_string().trim_end()
                )
            }
            ConfigError::Invalid { path, key, problem } => {
                write!(f, "config file {}: key `{key}`: {problem}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::Parse { .. } | ConfigError::Invalid { .. } => None,
        }
    }
}

pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(
    text: &str,
    path: &Path,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// The folder a config file's relative paths are taken from: its own, as
/// its real path (so that `..` below it means what it says, and what was
/// resolved stays right if the process changes folder).
pub(super) fn base_of(path: &Path) -> PathBuf {
    let folder = match path.parent() {
        Some(f) if !f.as_os_str().is_empty() => f,
        _ => Path::new("."),
    };
    folder
        .canonicalize()
        .or_else(|_| std::path::absolute(folder))
        .unwrap_or_else(|_| folder.to_path_buf())
}

/// `path` taken from `base` when it is relative, with `.` and `..` worked
/// out (`config/../data/x` is `data/x`).
pub(super) fn resolve(base: &Path, path: &mut PathBuf) {
    if path.is_relative() && !path.as_os_str().is_empty() {
        *path = normalize(&base.join(&*path));
    }
}

/// `path` with `.` and `..` worked out by name (not through links).
pub(super) fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The group password of a loaded config (checked when it was loaded).
pub(super) fn checked_password(text: &Option<String>) -> Option<GroupPassword> {
    text.as_deref().and_then(|p| GroupPassword::new(p).ok())
}

/// What both configs are once parsed: paths to resolve, a group password
/// (inline or in a file) to read and check, and values to check.
pub(super) trait Loaded: for<'de> Deserialize<'de> {
    /// Takes every relative path from `base`, the config file's folder.
    fn resolve_paths(&mut self, base: &Path);
    /// `group_password`, to fill in, and `group_password_file`.
    fn password_keys(&mut self) -> (&mut Option<String>, Option<PathBuf>);
    /// Checks values that have the right type but cannot be used.
    fn validate(&self, path: &Path) -> Result<(), ConfigError>;
}

/// Parses and checks config text of either kind; `path` names the file in
/// errors, and relative paths in it are taken from `base` (the file's
/// folder), not from wherever the process was started.
pub(super) fn from_text<T: Loaded>(text: &str, path: &Path, base: &Path) -> Result<T, ConfigError> {
    let mut config: T = parse(text, path)?;
    config.resolve_paths(base);
    let (inline, file) = config.password_keys();
    load_group_password(inline, &file, path)?;
    config.validate(path)?;
    Ok(config)
}

/// Reads the group password from `file` into `inline` when the config
/// names a file (one trailing newline dropped), and checks it; a config
/// may give one of the two, not both. The password itself never appears
/// in an error.
pub(super) fn load_group_password(
    inline: &mut Option<String>,
    file: &Option<PathBuf>,
    path: &Path,
) -> Result<(), ConfigError> {
    let invalid = |key, problem: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        key,
        problem,
    };
    if let Some(f) = file {
        if inline.is_some() {
            return Err(invalid(
                "group_password_file",
                "give group_password or group_password_file, not both".into(),
            ));
        }
        let text = std::fs::read_to_string(f).map_err(|e| {
            invalid(
                "group_password_file",
                format!("cannot read {}: {e}", f.display()),
            )
        })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        *inline = Some(text.to_string());
    }
    if let Some(p) = inline {
        let key = if file.is_some() {
            "group_password_file"
        } else {
            "group_password"
        };
        GroupPassword::new(p).map_err(|e| invalid(key, e.to_string()))?;
    }
    Ok(())
}
