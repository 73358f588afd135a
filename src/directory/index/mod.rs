//! The directory's search index, built for lookups rather than scans:
//!
//! - file id -> file record (the size most sources claim, and its sources
//!   as compact (peer, name) index pairs); a source claiming another size
//!   is listed apart, in a small map of disputed files;
//! - each distinct name is interned once; each distinct token (a case-folded
//!   run of letters and digits) is interned once, with the list of names
//!   that contain it (postings);
//! - each token's trigrams point back to it, so a query fragment finds the
//!   tokens that contain it (`port` finds `report`) without scanning them;
//! - extensions point to the names that end in them.
//!
//! A query starts from the postings of its most selective term and merges
//! the others in (integers only). For a common term it does not rank every
//! match: each posting list keeps, per block of 32 names, a bound on the
//! best rank key in it (the highest source count reached, the smallest
//! name prefix), and per name a lead byte from its first two; the search
//! visits blocks best bound first, passes over the names whose lead cannot
//! beat its `limit`th result so far, and stops once no unvisited block
//! can; the total is then an estimate from a sample, marked as such. A
//! common term beside others walks only the positions whose names are in
//! all of them (a bitmap), or ranks them outright when they are few. Names whose last file left
//! are marked dead and skipped; once they outnumber the live ones the token
//! side is rebuilt. Pure data: no I/O, no clock, no locks (the store holds
//! one).

mod catalogue;
mod files;
mod names;
mod postings;
mod scratch;
mod search;
#[cfg(test)]
mod tests;

pub use catalogue::Index;
pub use files::{Found, PeerIdx};
