//! Shoal's commands: the declarative command table and the command families.
//!
//! A keyed command is a pure operation on one shard's keyspace (`fn(&mut Ctx, Args)`) plus its
//! table row; routing, batching, cross-shard atomicity and reply ordering belong to the runtime.
//! Commands that need the runtime (connections, all-shard operations, server state) are named in
//! the table with a [`RuntimeCmd`] the runtime implements.

pub mod bitmap;
pub mod busy;
pub mod ctx;
pub mod function;
pub mod generic;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod list;
mod lualibs;
pub mod registry;
pub mod script;
pub mod set;
pub mod sort;
pub mod spec;
pub mod stream;
pub mod string;
pub mod table;
pub mod zset;

pub use ctx::{err, Counters, Ctx, KeyHint, Notes, ShardSettings};
pub use registry::{Command, CommandTable, Cross, Handler, Lookup, RuntimeCmd};
pub use spec::CommandSpec;
