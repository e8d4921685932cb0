//! Shoal's data layer: hash slots, values and their encodings, the per-shard keyspace (one
//! table per owned slot per database) and expiry. Pure: no I/O, no threads.

pub mod dict;
pub mod entry;
pub mod events;
pub mod glob;
pub mod hash;
pub mod intset;
pub mod keyspace;
pub mod list;
pub mod listpack;
pub mod numeric;
pub mod rdb;
pub mod set;
pub mod slot;
pub mod stream;
pub mod table;
pub mod value;
pub mod zset;

pub use dict::{Dict, Elem};
pub use entry::Entry;
pub use events::KeyEvent;
pub use hash::Hash;
pub use keyspace::{Db, Keyspace};
pub use list::List;
pub use listpack::Listpack;
pub use set::Set;
pub use slot::{key_slot, SLOTS};
pub use stream::Stream;
pub use value::{Value, ValueType};
pub use zset::ZSet;

/// The thresholds at which compact encodings convert, with Redis's configuration names and
/// Redis 7.0's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// hash-max-listpack-entries
    pub hash_max_listpack_entries: usize,
    /// hash-max-listpack-value
    pub hash_max_listpack_value: usize,
    /// set-max-intset-entries
    pub set_max_intset_entries: usize,
    /// zset-max-listpack-entries
    pub zset_max_listpack_entries: usize,
    /// zset-max-listpack-value
    pub zset_max_listpack_value: usize,
    /// list-max-listpack-size (negative: a size class in bytes, positive: entries per node)
    pub list_max_listpack_size: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
        }
    }
}
