//! Shoal's runtime: one shard per core, each a thread pinned to its core that owns a contiguous
//! range of hash slots, its own listener (SO_REUSEPORT), its connections and an io_uring that
//! carries all of its network I/O. Shards share nothing but immutable state and talk through
//! the message mesh; multi-shard commands run as cross-shard transactions.

pub mod admin;
pub mod admin_info;
pub mod blocking;
pub mod config;
pub mod conn;
pub mod dispatch;
pub mod locks;
pub mod mem;
pub mod mesh;
pub mod multi;
pub mod pubsub;
pub mod ring;
pub mod server;
pub mod shard;
pub mod slab;
pub mod txn;

pub use config::{Config, ConfigError};
pub use server::run;
