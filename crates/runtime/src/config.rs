//! Server configuration: redis.conf-style settings from a file and from flags (flags win), and
//! the live view CONFIG GET/SET read and change.

use std::fmt;

/// An invalid setting, worded for a start-up error or a CONFIG SET reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Every setting Shoal understands, with Redis's names and defaults.
#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    /// Number of shards (threads); 0 = all available cores.
    pub shards: usize,
    /// Number of shards that accept connections (the first ones); 0 = all. The others only
    /// serve their slots to the shards that do (cores kept for data, or hop measurements).
    pub listen_shards: usize,
    pub requirepass: Option<String>,
    pub databases: usize,
    pub maxclients: usize,
    pub loglevel: String,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: usize,
    /// max-commands-per-turn: commands one connection runs per turn (per iteration of its
    /// shard's loop) before every other connection with input gets a turn, so a client that
    /// pipelines megabytes delays another client's command by one turn, not by all it sent.
    pub max_commands_per_turn: u64,
    /// client-input-backlog: unprocessed input (bytes) past which a connection whose turn ran
    /// out stops receiving until it has caught up: the rest waits in the kernel's socket
    /// buffer, and the sender blocks, as with Redis.
    pub client_input_backlog: usize,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub hz: u32,
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub save: String,
    pub appendonly: bool,
    pub dir: String,
    pub logfile: String,
    /// Encoding thresholds (hash-max-listpack-entries and friends).
    pub limits: shoal_data::Limits,
    pub list_compress_depth: i64,
    /// notify-keyspace-events, as flags (see shoal_data::events).
    pub notify_keyspace_events: u32,
    /// busy-reply-threshold (lua-time-limit), milliseconds.
    pub busy_reply_threshold: u64,
    /// client-output-buffer-limit for normal, replica and pubsub clients.
    pub output_limits: [OutputLimit; 3],
}

/// One class of client-output-buffer-limit: a client whose unsent output passes `hard` bytes,
/// or stays above `soft` bytes for `soft_secs` seconds, is disconnected (0 = no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_secs: u64,
}

/// The classes of client-output-buffer-limit, in CONFIG GET order.
const OUTPUT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];
/// Index of the pubsub class in `Config::output_limits`.
pub const PUBSUB_CLASS: usize = 2;

impl Config {
    /// Parses `class hard soft seconds [class hard soft seconds ...]` and applies it to the
    /// classes named (all or none, as Redis).
    fn set_output_limits(&mut self, value: &str) -> Result<(), ConfigError> {
        let words: Vec<&str> = value.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err(ConfigError(
                "Wrong number of arguments in buffer limit configuration.".into(),
            ));
        }
        let mut limits = self.output_limits;
        for w in words.chunks(4) {
            let class = match w[0].to_ascii_lowercase().as_str() {
                "normal" => 0,
                "slave" | "replica" => 1,
                "pubsub" => PUBSUB_CLASS,
                _ => {
                    return Err(ConfigError(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    ))
                }
            };
            let bad = || {
                ConfigError(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                )
            };
            limits[class] = OutputLimit {
                hard: parse_memory(w[1]).ok_or_else(bad)?,
                soft: parse_memory(w[2]).ok_or_else(bad)?,
                soft_secs: w[3].parse().map_err(|_| bad())?,
            };
        }
        self.output_limits = limits;
        Ok(())
    }

    /// client-output-buffer-limit as CONFIG GET shows it.
    fn output_limits_string(&self) -> String {
        OUTPUT_CLASSES
            .iter()
            .zip(self.output_limits)
            .map(|(c, l)| format!("{c} {} {} {}", l.hard, l.soft, l.soft_secs))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["127.0.0.1".into()],
            shards: 0,
            listen_shards: 0,
            requirepass: None,
            databases: 16,
            maxclients: 10000,
            loglevel: "notice".into(),
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            max_commands_per_turn: 512,
            client_input_backlog: 1 << 20,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            hz: 10,
            timeout: 0,
            tcp_keepalive: 300,
            save: String::new(),
            appendonly: false,
            dir: ".".into(),
            logfile: String::new(),
            limits: shoal_data::Limits::default(),
            list_compress_depth: 0,
            notify_keyspace_events: 0,
            busy_reply_threshold: 5000,
            output_limits: [
                OutputLimit {
                    hard: 0,
                    soft: 0,
                    soft_secs: 0,
                },
                OutputLimit {
                    hard: 256 << 20,
                    soft: 64 << 20,
                    soft_secs: 60,
                },
                OutputLimit {
                    hard: 32 << 20,
                    soft: 8 << 20,
                    soft_secs: 60,
                },
            ],
        }
    }
}

/// Which settings CONFIG SET may change at run time.
const MUTABLE: &[&str] = &[
    "requirepass",
    "maxclients",
    "loglevel",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "max-commands-per-turn",
    "client-input-backlog",
    "maxmemory",
    "maxmemory-policy",
    "hz",
    "timeout",
    "tcp-keepalive",
    "save",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "list-max-listpack-size",
    "list-compress-depth",
    "notify-keyspace-events",
    "busy-reply-threshold",
    "client-output-buffer-limit",
];

/// Every setting name, in CONFIG GET order.
pub const NAMES: &[&str] = &[
    "port",
    "bind",
    "shards",
    "listen-shards",
    "requirepass",
    "databases",
    "maxclients",
    "loglevel",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "max-commands-per-turn",
    "client-input-backlog",
    "maxmemory",
    "maxmemory-policy",
    "hz",
    "timeout",
    "tcp-keepalive",
    "save",
    "appendonly",
    "dir",
    "logfile",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "list-max-listpack-size",
    "list-compress-depth",
    "notify-keyspace-events",
    "busy-reply-threshold",
    "client-output-buffer-limit",
];

/// Redis's older names for the encoding thresholds, accepted as aliases.
pub const ALIASES: &[(&str, &str)] = &[
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("lua-time-limit", "busy-reply-threshold"),
];

/// The canonical name of a setting (resolving Redis's old aliases).
pub fn canonical(name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(old, _)| *old == name)
        .map_or(name, |(_, new)| new)
}

const POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// Parses a memory amount as redis.conf does: `100`, `1k`, `1kb`, `1m`, `1mb`, `1g`, `1gb`.
pub fn parse_memory(s: &str) -> Option<u64> {
    let l = s.to_ascii_lowercase();
    let (num, mul) = if let Some(n) = l.strip_suffix("gb") {
        (n, 1u64 << 30)
    } else if let Some(n) = l.strip_suffix("mb") {
        (n, 1 << 20)
    } else if let Some(n) = l.strip_suffix("kb") {
        (n, 1 << 10)
    } else if let Some(n) = l.strip_suffix('g') {
        (n, 1_000_000_000)
    } else if let Some(n) = l.strip_suffix('m') {
        (n, 1_000_000)
    } else if let Some(n) = l.strip_suffix('k') {
        (n, 1000)
    } else if let Some(n) = l.strip_suffix('b') {
        (n, 1)
    } else {
        (l.as_str(), 1)
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// `n` when `lo <= n <= hi`, else Redis's error for a number out of range.
fn bounded<T: PartialOrd + std::fmt::Display>(n: T, lo: T, hi: T) -> Result<T, ConfigError> {
    if lo <= n && n <= hi {
        Ok(n)
    } else {
        Err(ConfigError(format!(
            "argument must be between {lo} and {hi} inclusive"
        )))
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

impl Config {
    /// Applies one setting (`name` lower-case as in redis.conf).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let bad = || ConfigError("argument couldn't be parsed into an integer".to_string());
        let memory = |v: &str| -> Result<u64, ConfigError> {
            parse_memory(v).ok_or_else(|| ConfigError("argument must be a memory value".into()))
        };
        let size = |v: &str| memory(v).map(|n| n as usize);
        let int = |v: &str| -> Result<i64, ConfigError> {
            v.parse()
                .map_err(|_| ConfigError("argument couldn't be parsed into an integer".into()))
        };
        match canonical(name) {
            "hash-max-listpack-entries" => self.limits.hash_max_listpack_entries = size(value)?,
            "hash-max-listpack-value" => self.limits.hash_max_listpack_value = size(value)?,
            "set-max-intset-entries" => self.limits.set_max_intset_entries = size(value)?,
            "zset-max-listpack-entries" => self.limits.zset_max_listpack_entries = size(value)?,
            "zset-max-listpack-value" => self.limits.zset_max_listpack_value = size(value)?,
            "list-max-listpack-size" => {
                self.limits.list_max_listpack_size = bounded(int(value)?, i32::MIN as i64, i32::MAX as i64)?
            }
            "list-compress-depth" => {
                self.list_compress_depth = bounded(int(value)?, 0, i32::MAX as i64)?
            }
            "client-output-buffer-limit" => self.set_output_limits(value)?,
            "busy-reply-threshold" => {
                self.busy_reply_threshold = bounded(int(value)?, 0, i64::MAX)? as u64
            }
            "notify-keyspace-events" => {
                self.notify_keyspace_events = shoal_data::events::parse_flags(value.as_bytes())
                    .ok_or_else(|| {
                        ConfigError(
                            "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into(),
                        )
                    })?;
            }
            "port" => self.port = value.parse().map_err(|_| bad())?,
            "bind" => self.bind = value.split_whitespace().map(String::from).collect(),
            "shards" => self.shards = value.parse().map_err(|_| bad())?,
            "listen-shards" => self.listen_shards = value.parse().map_err(|_| bad())?,
            "requirepass" => {
                self.requirepass = (!value.is_empty()).then(|| value.to_string());
            }
            "databases" => {
                let n: usize = value.parse().map_err(|_| bad())?;
                self.databases = bounded(n, 1, i32::MAX as usize)?;
            }
            "maxclients" => {
                let n: usize = value.parse().map_err(|_| bad())?;
                self.maxclients = bounded(n, 1, u32::MAX as usize)?;
            }
            "loglevel" => match value.to_ascii_lowercase().as_str() {
                l @ ("debug" | "verbose" | "notice" | "warning" | "nothing") => {
                    self.loglevel = l.to_string()
                }
                _ => return Err(ConfigError("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into())),
            },
            "proto-max-bulk-len" => {
                self.proto_max_bulk_len = bounded(memory(value)?, 1 << 20, i64::MAX as u64)? as i64
            }
            "client-query-buffer-limit" => {
                self.client_query_buffer_limit =
                    bounded(memory(value)?, 1 << 20, i64::MAX as u64)? as usize
            }
            "max-commands-per-turn" => {
                self.max_commands_per_turn = bounded(int(value)?, 1, i64::MAX)? as u64
            }
            "client-input-backlog" => {
                self.client_input_backlog =
                    bounded(memory(value)?, 16 << 10, i64::MAX as u64)? as usize
            }
            "maxmemory" => self.maxmemory = memory(value)?,
            "maxmemory-policy" => {
                let v = value.to_ascii_lowercase();
                if !POLICIES.contains(&v.as_str()) {
                    return Err(ConfigError(format!("argument(s) must be one of the following: {}", POLICIES.join(", "))));
                }
                self.maxmemory_policy = v;
            }
            "hz" => {
                let n: u32 = value.parse().map_err(|_| bad())?;
                self.hz = n.clamp(1, 500);
            }
            "timeout" => self.timeout = value.parse().map_err(|_| bad())?,
            "tcp-keepalive" => self.tcp_keepalive = value.parse().map_err(|_| bad())?,
            "save" => self.save = value.to_string(),
            "appendonly" => {
                let b = parse_bool(value).ok_or_else(|| ConfigError("argument must be 'yes' or 'no'".into()))?;
                if b {
                    return Err(ConfigError("appendonly yes is not supported yet".into()));
                }
                self.appendonly = b;
            }
            "dir" => self.dir = value.to_string(),
            "logfile" => self.logfile = value.to_string(),
            _ => return Err(ConfigError(format!("Bad directive or wrong number of arguments: '{name}'"))),
        }
        Ok(())
    }

    /// CONFIG SET: applies a run-time change to a mutable setting.
    pub fn set_runtime(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let name = canonical(name);
        if !NAMES.contains(&name) {
            return Err(ConfigError(
                "Unknown option or number of arguments for CONFIG SET - '".to_string() + name + "'",
            ));
        }
        if !MUTABLE.contains(&name) {
            return Err(ConfigError("can't set immutable config".into()));
        }
        self.set(name, value)
    }

    /// CONFIG GET: the current value of a setting, formatted as Redis prints it.
    pub fn get(&self, name: &str) -> Option<String> {
        let l = &self.limits;
        Some(match canonical(name) {
            "hash-max-listpack-entries" => l.hash_max_listpack_entries.to_string(),
            "hash-max-listpack-value" => l.hash_max_listpack_value.to_string(),
            "set-max-intset-entries" => l.set_max_intset_entries.to_string(),
            "zset-max-listpack-entries" => l.zset_max_listpack_entries.to_string(),
            "zset-max-listpack-value" => l.zset_max_listpack_value.to_string(),
            "list-max-listpack-size" => l.list_max_listpack_size.to_string(),
            "list-compress-depth" => self.list_compress_depth.to_string(),
            "notify-keyspace-events" => {
                shoal_data::events::flags_string(self.notify_keyspace_events)
            }
            "busy-reply-threshold" => self.busy_reply_threshold.to_string(),
            "client-output-buffer-limit" => self.output_limits_string(),
            "port" => self.port.to_string(),
            "bind" => self.bind.join(" "),
            "shards" => self.shards.to_string(),
            "listen-shards" => self.listen_shards.to_string(),
            "requirepass" => self.requirepass.clone().unwrap_or_default(),
            "databases" => self.databases.to_string(),
            "maxclients" => self.maxclients.to_string(),
            "loglevel" => self.loglevel.clone(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "max-commands-per-turn" => self.max_commands_per_turn.to_string(),
            "client-input-backlog" => self.client_input_backlog.to_string(),
            "maxmemory" => self.maxmemory.to_string(),
            "maxmemory-policy" => self.maxmemory_policy.clone(),
            "hz" => self.hz.to_string(),
            "timeout" => self.timeout.to_string(),
            "tcp-keepalive" => self.tcp_keepalive.to_string(),
            "save" => self.save.clone(),
            "appendonly" => if self.appendonly { "yes" } else { "no" }.into(),
            "dir" => self.dir.clone(),
            "logfile" => self.logfile.clone(),
            _ => return None,
        })
    }

    /// Reads a redis.conf-style file: `name value...` per line, `#` comments, quoted values.
    pub fn load_file(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = split_conf_line(line)
                .map_err(|e| ConfigError(format!("{origin}:{}: {e}", i + 1)))?;
            if words.is_empty() {
                continue;
            }
            let name = words.remove(0).to_ascii_lowercase();
            let value = words.join(" ");
            self.set(&name, &value)
                .map_err(|e| ConfigError(format!("{origin}:{}: '{line}': {e}", i + 1)))?;
        }
        Ok(())
    }

    /// Whether maxmemory-policy is one of the LFU policies.
    pub fn lfu(&self) -> bool {
        self.maxmemory_policy.ends_with("lfu")
    }
}

fn split_conf_line(line: &str) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unbalanced quotes in configuration line".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Glob match of a CONFIG GET pattern against a setting name.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    shoal_data::glob::matches(pattern.to_ascii_lowercase().as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_errors() {
        let mut c = Config::default();
        c.load_file(
            "# comment\nport 7000\nrequirepass \"a b\"\nmaxmemory 1mb\n",
            "t.conf",
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.requirepass.as_deref(), Some("a b"));
        assert_eq!(c.maxmemory, 1 << 20);
        let e = c.load_file("nosuchthing 1\n", "t.conf").unwrap_err();
        assert!(e.0.contains("Bad directive"), "{e}");
    }

    /// Range errors as Redis 7.0 words them, with Redis's bounds (each checked against
    /// redis-server 7.0.15's CONFIG SET).
    #[test]
    fn ranges_as_redis() {
        let mut c = Config::default();
        let err = |c: &mut Config, n, v| c.set_runtime(n, v).unwrap_err().0;
        assert_eq!(
            err(&mut c, "maxclients", "5000000000"),
            "argument must be between 1 and 4294967295 inclusive"
        );
        assert_eq!(
            err(&mut c, "proto-max-bulk-len", "1000"),
            "argument must be between 1048576 and 9223372036854775807 inclusive"
        );
        assert_eq!(
            err(&mut c, "list-max-listpack-size", "3000000000"),
            "argument must be between -2147483648 and 2147483647 inclusive"
        );
        c.set_runtime("list-max-listpack-size", "-6").unwrap();
        assert_eq!(c.get("list-max-listpack-size").as_deref(), Some("-6"));
    }

    #[test]
    fn turn_and_input_backlog() {
        let mut c = Config::default();
        assert_eq!(c.get("max-commands-per-turn").as_deref(), Some("512"));
        assert_eq!(c.get("client-input-backlog").as_deref(), Some("1048576"));
        c.load_file(
            "max-commands-per-turn 1\nclient-input-backlog 16kb\n",
            "t.conf",
        )
        .unwrap();
        assert_eq!(
            (c.max_commands_per_turn, c.client_input_backlog),
            (1, 16384)
        );
        c.set_runtime("max-commands-per-turn", "100").unwrap();
        c.set_runtime("client-input-backlog", "2mb").unwrap();
        assert_eq!(c.get("max-commands-per-turn").as_deref(), Some("100"));
        assert_eq!(c.get("client-input-backlog").as_deref(), Some("2097152"));
        let err = |c: &mut Config, n, v| c.set_runtime(n, v).unwrap_err().0;
        assert_eq!(
            err(&mut c, "max-commands-per-turn", "0"),
            "argument must be between 1 and 9223372036854775807 inclusive"
        );
        assert_eq!(
            err(&mut c, "max-commands-per-turn", "many"),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            err(&mut c, "client-input-backlog", "16383"),
            "argument must be between 16384 and 9223372036854775807 inclusive"
        );
        assert_eq!(
            err(&mut c, "client-input-backlog", "lots"),
            "argument must be a memory value"
        );
        assert_eq!(
            (c.max_commands_per_turn, c.client_input_backlog),
            (100, 2 << 20)
        );
    }
}
