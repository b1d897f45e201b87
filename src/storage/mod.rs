//! What Strata keeps about a library, and the rules for keeping it.
//!
//! The data folder ([`data_dir`]), the SQLite catalog ([`catalog`]), the
//! memory-mapped vector store ([`store`]) and its self-check
//! ([`store_check`]), the read-only view the window and the commands search
//! ([`snapshot`]), the lock that lets one process write at a time
//! ([`writer_lock`]) and the writer that holds it and commits tracks in a
//! crash-safe order ([`library_writer`]). Nothing here decodes audio or runs a model.

pub mod catalog;
pub mod data_dir;
pub mod library_writer;
pub mod snapshot;
pub mod store;
pub mod store_check;
pub mod writer_lock;
