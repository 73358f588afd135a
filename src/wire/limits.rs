//! The sizes both sides of the directory protocol agree on.

/// Largest gRPC message either side sends or accepts (a Login or Announce
/// with a long file list, a Search reply with many hits).
pub const MAX_MESSAGE_BYTES: i32 = 16 << 20;

/// Most files (added and removed together) one Login or Announce may
/// carry: a directory may not be configured for more, and a peer never
/// sends more, because more may not fit in [`MAX_MESSAGE_BYTES`] (an entry
/// is at most 64 hex digits of id, a 255-byte name, a size and framing:
/// under 400 bytes).
pub const MAX_FILES_PER_MESSAGE: u32 = 40_000;
const _: () = assert!(MAX_FILES_PER_MESSAGE as i64 * 400 <= MAX_MESSAGE_BYTES as i64);

/// Files a Login carries at most: every directory accepts at least this
/// many in one call (its `max_files_per_call` may not be set lower), and
/// tells the peer its real limit in the reply, so the rest of a long list
/// follows in Announce calls of that size.
pub const LOGIN_FILES: u32 = 100;
