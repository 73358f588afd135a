//! What a download needs before the swarm starts: the name to save under,
//! and a piece list that merges to the file id, from the first source that
//! gives one.

use std::io;
use std::path::Path;

use blake3::hazmat::ChainingValue;

use super::transfer::{self, http_err, TransferError};
use crate::id::FileId;
use crate::names;
use crate::peer::share::STATE_SUFFIX;
use crate::wire::{PieceList, Source};

/// The name to save `id` under: the one the user asked for (which must be a
/// plain file name), else the first source's, made safe; short enough to
/// leave room for " (n)" and ".part.state".
pub(super) fn name(
    asked: Option<&str>,
    sources: &[Source],
    id: FileId,
    dest_dir: &Path,
) -> Result<String, TransferError> {
    let wanted = match asked {
        Some(n) => {
            names::check_file_name(n).map_err(|e| TransferError::Io {
                path: dest_dir.join(n),
                source: io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
            })?;
            n.to_string()
        }
        None => names::sanitize_file_name(&sources[0].name, &id.to_string()),
    };
    Ok(names::shorten(
        &wanted,
        names::MAX_FILE_NAME_LEN - STATE_SUFFIX.len() - 8,
    ))
}

/// The first piece list, from any source, that merges to the id.
pub(super) fn piece_list(
    sources: &[Source],
    id: FileId,
    size: u64,
) -> Result<Vec<ChainingValue>, TransferError> {
    let agent = transfer::agent();
    let mut failures = Vec::new();
    for s in sources {
        let url = s.http_addr.url(&format!("/files/{id}/pieces"));
        let list: PieceList = match agent
            .get(&url)
            .call()
            .map_err(|e| http_err(&url, e))
            .and_then(|r| transfer::read_json(r, &url))
        {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!("{}: {e}", s.peer));
                continue;
            }
        };
        match list.verified(id, size) {
            Ok(cvs) => return Ok(cvs),
            Err(why) => {
                log::warn!("{} sent a bad piece list for {id}: {why}", s.peer);
                failures.push(format!("{}: {why}", s.peer));
            }
        }
    }
    Err(TransferError::BadPieceList { id, failures })
}
