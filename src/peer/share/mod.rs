//! The share table: which files this peer offers, by id. It is filled by
//! scanning the share folder and hashing what is new or changed (with the
//! on-disk hash cache, a restart hashes nothing unchanged), and it is the
//! only way the HTTP server finds a file: a URL is never turned into a path.
//! Every rescan yields the difference to announce to the directory. A file
//! still being written is left out until it settles.

mod cache;
mod entries;
mod open;
mod pieces;
mod rescan;
mod scan;
mod table;
#[cfg(test)]
mod tests;

pub use entries::{Change, ShareEntry};
pub use rescan::{map_big_allocations_apart, release_free_memory};
pub use scan::{make_state_dir, skipped, LOCK_SUFFIX, PART_SUFFIX, STATE_SUFFIX};
pub use table::{ShareError, ShareTable};
