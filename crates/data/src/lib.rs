//! Shoal's data layer: hash slots, values and their encodings, the per-shard keyspace (one
//! table per owned slot per database) and expiry. Pure: no I/O, no threads.

pub mod glob;
pub mod keyspace;
pub mod numeric;
pub mod slot;
pub mod value;

pub use keyspace::{Db, Entry, Keyspace};
pub use slot::{key_slot, SLOTS};
pub use value::Value;
