//! The command table the dispatcher reads: the declarative rows of `table.rs` joined with the
//! handlers the families register.

use crate::ctx::Ctx;
use crate::spec::CommandSpec;
use crate::table::COMMANDS;
use crate::{bitmap, generic, hash, hll, list, set, sort, stream, string, zset};
use hashbrown::HashMap;
use shoal_protocol::Args;

/// A command that runs on the shard owning its keys.
pub type ShardFn = fn(&mut Ctx<'_>, Args<'_>);

/// Who executes a command.
#[derive(Clone, Copy)]
pub enum Handler {
    /// A pure operation on the keyspace of the shard that owns the keys.
    Shard(ShardFn),
    /// Implemented by the runtime (connection state, all shards, server state).
    Runtime(RuntimeCmd),
}

/// How a keyed command whose keys live on several shards is carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cross {
    /// Single-key command, or one whose keys never need to be split.
    Local,
    /// Split the keys by shard, run the same command on each part, sum the integer replies.
    SumInt,
    /// MGET: split the keys, reassemble the array in key order.
    Mget,
    /// MSET: split the pairs, atomically.
    Mset,
    /// MSETNX: check every key, then set all or none, atomically.
    Msetnx,
    /// RENAME / RENAMENX (`true`) between shards.
    Rename(bool),
    /// COPY between shards.
    Copy,
    /// LCS of keys on two shards.
    Lcs,
    /// Any other multi-key command: lock the keys, copy the values from their shards, run the
    /// handler over the copies, write back what it changed.
    Gather,
}

/// Commands the runtime implements itself.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeCmd {
    Subscribe,
    Unsubscribe,
    Psubscribe,
    Punsubscribe,
    Ssubscribe,
    Sunsubscribe,
    Publish,
    Spublish,
    PubsubChannels,
    PubsubNumsub,
    PubsubNumpat,
    PubsubShardchannels,
    PubsubShardnumsub,
    PubsubHelp,
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
    Ping,
    Echo,
    Quit,
    Hello,
    Auth,
    Select,
    Reset,
    Info,
    Dbsize,
    Time,
    Lastsave,
    Monitor,
    Shutdown,
    Flushdb,
    Flushall,
    Swapdb,
    Keys,
    Scan,
    Randomkey,
    ObjectHelp,
    ClientId,
    ClientSetname,
    ClientGetname,
    ClientList,
    ClientInfo,
    ClientKill,
    ClientUnblock,
    ClientSetinfo,
    ClientReply,
    ClientNoEvict,
    ClientNoTouch,
    ClientHelp,
    Command,
    CommandCount,
    CommandInfo,
    CommandDocs,
    CommandGetkeys,
    CommandList,
    CommandHelp,
    ConfigGet,
    ConfigSet,
    ConfigResetstat,
    ConfigHelp,
    ClusterKeyslot,
}

/// One command as the dispatcher sees it.
pub struct Command {
    /// Its declarative description.
    pub spec: &'static CommandSpec,
    /// Who runs it.
    pub handler: Handler,
    /// What to do when its keys span shards.
    pub cross: Cross,
    /// Whether the command writes (the `write` flag): marks the keyspace dirty, later journaled.
    pub write: bool,
    /// Whether the command may run before AUTH (`no-auth` flag).
    pub no_auth: bool,
    /// Dense index for per-command counters (INFO commandstats).
    pub id: usize,
    /// Whether key positions depend on the arguments (`movablekeys`): see [`crate::keys`].
    pub movable: bool,
    /// Whether the command may block (`blocking`): it always runs as a cross-shard command.
    pub blocking: bool,
}

impl Command {
    /// The key argument positions for a request of `argc` arguments, as first/last/step.
    #[inline]
    pub fn key_range(&self, argc: usize) -> (usize, usize, usize) {
        let s = self.spec;
        if s.first_key <= 0 || argc <= s.first_key as usize {
            return (0, 0, 0);
        }
        let last = if s.last_key < 0 {
            argc as i64 + s.last_key as i64
        } else {
            (s.last_key as i64).min(argc as i64 - 1)
        };
        if last < s.first_key as i64 {
            return (0, 0, 0);
        }
        (s.first_key as usize, last as usize, s.step.max(1) as usize)
    }
    /// The argument positions of a request's keys.
    pub fn key_positions(&self, args: &Args<'_>) -> crate::keys::KeyPositions {
        crate::keys::movable(self.spec, args)
    }
    /// Whether the request has the right number of arguments.
    #[inline]
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.spec.arity;
        if a >= 0 {
            argc == a as usize
        } else {
            argc >= (-a) as usize
        }
    }
}

/// Result of looking a request's command up.
pub enum Lookup<'a> {
    /// The command (or subcommand) to run.
    Found(&'a Command),
    /// No such command.
    Unknown,
    /// A container command with an unknown subcommand.
    UnknownSubcommand,
}

struct Row {
    cmd: Command,
    subs: HashMap<Box<[u8]>, Command>,
}

/// Every command Shoal serves, by lower-case name.
pub struct CommandTable {
    rows: HashMap<Box<[u8]>, Row>,
    ids: usize,
}

/// The command table, built once per process.
pub fn table() -> &'static CommandTable {
    static T: std::sync::OnceLock<CommandTable> = std::sync::OnceLock::new();
    T.get_or_init(CommandTable::new)
}

fn family_bindings() -> HashMap<&'static str, (Handler, Cross)> {
    let mut m = HashMap::new();
    let families = [
        string::COMMANDS,
        generic::COMMANDS,
        list::COMMANDS,
        list::BLOCKING,
        hash::COMMANDS,
        set::COMMANDS,
        zset::COMMANDS,
        zset::BLOCKING,
        bitmap::COMMANDS,
        hll::COMMANDS,
        stream::COMMANDS,
        crate::geo::COMMANDS,
        sort::COMMANDS,
        crate::script::COMMANDS,
        crate::function::COMMANDS,
    ];
    for (name, h, c) in families.into_iter().flatten() {
        m.insert(*name, (*h, *c));
    }
    use RuntimeCmd as R;
    let runtime: &[(&str, RuntimeCmd)] = &[
        ("subscribe", R::Subscribe),
        ("unsubscribe", R::Unsubscribe),
        ("psubscribe", R::Psubscribe),
        ("punsubscribe", R::Punsubscribe),
        ("ssubscribe", R::Ssubscribe),
        ("sunsubscribe", R::Sunsubscribe),
        ("publish", R::Publish),
        ("spublish", R::Spublish),
        ("pubsub|channels", R::PubsubChannels),
        ("pubsub|numsub", R::PubsubNumsub),
        ("pubsub|numpat", R::PubsubNumpat),
        ("pubsub|shardchannels", R::PubsubShardchannels),
        ("pubsub|shardnumsub", R::PubsubShardnumsub),
        ("pubsub|help", R::PubsubHelp),
        ("multi", R::Multi),
        ("exec", R::Exec),
        ("discard", R::Discard),
        ("watch", R::Watch),
        ("unwatch", R::Unwatch),
        ("ping", R::Ping),
        ("echo", R::Echo),
        ("quit", R::Quit),
        ("hello", R::Hello),
        ("auth", R::Auth),
        ("select", R::Select),
        ("reset", R::Reset),
        ("info", R::Info),
        ("dbsize", R::Dbsize),
        ("time", R::Time),
        ("lastsave", R::Lastsave),
        ("monitor", R::Monitor),
        ("shutdown", R::Shutdown),
        ("flushdb", R::Flushdb),
        ("flushall", R::Flushall),
        ("swapdb", R::Swapdb),
        ("keys", R::Keys),
        ("scan", R::Scan),
        ("randomkey", R::Randomkey),
        ("object|help", R::ObjectHelp),
        ("client|id", R::ClientId),
        ("client|setname", R::ClientSetname),
        ("client|getname", R::ClientGetname),
        ("client|list", R::ClientList),
        ("client|info", R::ClientInfo),
        ("client|kill", R::ClientKill),
        ("client|unblock", R::ClientUnblock),
        ("client|setinfo", R::ClientSetinfo),
        ("client|reply", R::ClientReply),
        ("client|no-evict", R::ClientNoEvict),
        ("client|no-touch", R::ClientNoTouch),
        ("client|help", R::ClientHelp),
        ("command", R::Command),
        ("command|count", R::CommandCount),
        ("command|info", R::CommandInfo),
        ("command|docs", R::CommandDocs),
        ("command|getkeys", R::CommandGetkeys),
        ("command|list", R::CommandList),
        ("command|help", R::CommandHelp),
        ("config|get", R::ConfigGet),
        ("config|set", R::ConfigSet),
        ("config|resetstat", R::ConfigResetstat),
        ("config|help", R::ConfigHelp),
        ("cluster|keyslot", R::ClusterKeyslot),
    ];
    for (name, r) in runtime {
        m.insert(*name, (Handler::Runtime(*r), Cross::Local));
    }
    m
}

fn make(spec: &'static CommandSpec, bind: Option<&(Handler, Cross)>) -> Option<Command> {
    let (handler, cross) = *bind?;
    Some(Command {
        spec,
        handler,
        cross,
        // A script may write whatever its keys are (Redis flags EVAL by what the script does,
        // once it runs); cross-shard locks must be exclusive for it.
        write: spec.flags.contains(&"write") || matches!(spec.name, "eval" | "evalsha" | "fcall"),
        no_auth: spec.flags.contains(&"no_auth"),
        id: 0,
        movable: spec.flags.contains(&"movablekeys"),
        blocking: spec.flags.contains(&"blocking"),
    })
}

impl CommandTable {
    /// Builds the table: every row of `table.rs` that a family or the runtime implements.
    pub fn new() -> Self {
        let bind = family_bindings();
        let mut rows = HashMap::new();
        for spec in COMMANDS {
            let mut subs = HashMap::new();
            for sub in spec.subcommands {
                if let Some(c) = make(sub, bind.get(sub.name)) {
                    let subname = sub.name.split('|').nth(1).unwrap_or(sub.name);
                    subs.insert(subname.as_bytes().into(), c);
                }
            }
            // A container is served when it has a handler or any served subcommand.
            let cmd = match make(spec, bind.get(spec.name)) {
                Some(c) => c,
                None if !subs.is_empty() => Command {
                    spec,
                    handler: Handler::Runtime(RuntimeCmd::Command),
                    cross: Cross::Local,
                    write: false,
                    no_auth: false,
                    id: 0,
                    movable: false,
                    blocking: false,
                },
                None => continue,
            };
            rows.insert(spec.name.as_bytes().into(), Row { cmd, subs });
        }
        let mut next = 0;
        for row in rows.values_mut() {
            row.cmd.id = next;
            next += 1;
            for sub in row.subs.values_mut() {
                sub.id = next;
                next += 1;
            }
        }
        CommandTable { rows, ids: next }
    }

    /// Finds the command for a request (name case-insensitive; subcommand for containers).
    #[inline]
    pub fn lookup(&self, args: &Args<'_>) -> Lookup<'_> {
        let mut buf = [0u8; 32];
        let Some(row) = lower(args.get(0), &mut buf).and_then(|n| self.rows.get(n)) else {
            return Lookup::Unknown;
        };
        if row.subs.is_empty() || args.len() == 1 {
            return Lookup::Found(&row.cmd);
        }
        let mut buf2 = [0u8; 32];
        match lower(args.get(1), &mut buf2).and_then(|n| row.subs.get(n)) {
            Some(c) => Lookup::Found(c),
            None => Lookup::UnknownSubcommand,
        }
    }

    /// The command named `name` (lower-case), for COMMAND INFO/DOCS/GETKEYS.
    pub fn get(&self, name: &[u8]) -> Option<&Command> {
        let mut buf = [0u8; 32];
        let n = lower(name, &mut buf)?;
        if let Some((c, s)) = n
            .iter()
            .position(|&b| b == b'|')
            .map(|i| (&n[..i], &n[i + 1..]))
        {
            return self.rows.get(c)?.subs.get(s);
        }
        self.rows.get(n).map(|r| &r.cmd)
    }

    /// Every top-level command with its served subcommands, sorted by name.
    pub fn all(&self) -> Vec<(&Command, Vec<&Command>)> {
        let mut v: Vec<_> = self
            .rows
            .values()
            .map(|r| {
                let mut subs: Vec<&Command> = r.subs.values().collect();
                subs.sort_by_key(|c| c.spec.name);
                (&r.cmd, subs)
            })
            .collect();
        v.sort_by_key(|(c, _)| c.spec.name);
        v
    }

    /// Number of command ids (commands and subcommands), for counter arrays.
    pub fn ids(&self) -> usize {
        self.ids
    }

    /// Number of top-level commands.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Default for CommandTable {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn lower<'b>(name: &[u8], buf: &'b mut [u8; 32]) -> Option<&'b [u8]> {
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    Some(&buf[..name.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binding_has_a_row() {
        let table = CommandTable::new();
        for name in family_bindings().keys() {
            assert!(
                table.get(name.as_bytes()).is_some(),
                "{name} has no table row"
            );
        }
    }
}
