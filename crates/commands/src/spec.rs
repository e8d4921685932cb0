//! The declarative description of a command, as Redis's COMMAND INFO and COMMAND DOCS report it.
//!
//! One row per command (and per subcommand) lives in `table.rs`; the dispatcher, COMMAND INFO,
//! COMMAND DOCS, COMMAND GETKEYS and key routing all read the same rows.

/// What Redis reports about one command or subcommand.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lower-case name as COMMAND INFO prints it; subcommands are `container|sub` (e.g. `client|list`).
    pub name: &'static str,
    /// Redis arity: positive = exact argument count (name included), negative = at least -arity.
    pub arity: i32,
    /// Command flags as COMMAND INFO prints them (`write`, `readonly`, `denyoom`, `fast`, ...).
    pub flags: &'static [&'static str],
    /// Position of the first key argument (0 = no keys).
    pub first_key: i32,
    /// Position of the last key argument (-1 = the last argument, -2 = the one before, ...).
    pub last_key: i32,
    /// Step between key positions.
    pub step: i32,
    /// ACL categories as COMMAND INFO prints them (`@read`, `@string`, ...).
    pub acl_categories: &'static [&'static str],
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards`, ...).
    pub tips: &'static [&'static str],
    /// COMMAND DOCS: one-line summary.
    pub summary: &'static str,
    /// COMMAND DOCS: the Redis version that introduced the command.
    pub since: &'static str,
    /// COMMAND DOCS: the command group (`string`, `generic`, `connection`, `server`, ...).
    pub group: &'static str,
    /// COMMAND DOCS: time complexity (may be empty).
    pub complexity: &'static str,
    /// Subcommands (CLIENT LIST, CONFIG GET, ...); empty for plain commands.
    pub subcommands: &'static [CommandSpec],
}
