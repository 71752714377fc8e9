//! Recomputing IDs from the bytes on disk.

pub mod identity;
