//! `shoal`: a Redis-compatible in-memory database server, one shard per core over io_uring.
//!
//! `shoal [path/to/shoal.conf] [--setting value ...]`: settings use redis.conf names; flags win
//! over the file.

use clap::Parser;
use shoal_runtime::{Config, ConfigError};
use std::process::ExitCode;

#[global_allocator]
static ALLOC: shoal_runtime::mem::CountingAlloc = shoal_runtime::mem::CountingAlloc;

/// Command-line flags; each is also a redis.conf setting of the same name.
#[derive(Parser, Debug)]
#[command(
    name = "shoal",
    version,
    about = "A Redis-compatible, thread-per-core in-memory database"
)]
struct Cli {
    /// A redis.conf-style configuration file.
    config_file: Option<String>,
    /// TCP port to listen on.
    #[arg(long)]
    port: Option<u16>,
    /// Addresses to listen on (space separated).
    #[arg(long)]
    bind: Option<String>,
    /// Number of shards (threads, one per core); default: all available cores.
    #[arg(long)]
    shards: Option<usize>,
    /// Number of shards that accept connections (the first ones); default: all.
    #[arg(long)]
    listen_shards: Option<usize>,
    /// Password clients must AUTH with.
    #[arg(long)]
    requirepass: Option<String>,
    /// Number of databases (SELECT 0..n-1).
    #[arg(long)]
    databases: Option<usize>,
    /// Maximum number of connected clients.
    #[arg(long)]
    maxclients: Option<usize>,
    /// debug, verbose, notice, warning or nothing.
    #[arg(long)]
    loglevel: Option<String>,
    /// Largest bulk string accepted (e.g. 512mb).
    #[arg(long = "proto-max-bulk-len")]
    proto_max_bulk_len: Option<String>,
    /// Largest query buffer per client (e.g. 1gb).
    #[arg(long = "client-query-buffer-limit")]
    client_query_buffer_limit: Option<String>,
    /// Commands one connection runs per turn before other connections with input get one.
    #[arg(long = "max-commands-per-turn")]
    max_commands_per_turn: Option<String>,
    /// Unprocessed input past which a client whose turn ran out is not read (e.g. 1mb).
    #[arg(long = "client-input-backlog")]
    client_input_backlog: Option<String>,
    /// Memory limit (e.g. 4gb; 0 = none).
    #[arg(long)]
    maxmemory: Option<String>,
    /// Eviction policy (Redis names).
    #[arg(long = "maxmemory-policy")]
    maxmemory_policy: Option<String>,
    /// Background task frequency.
    #[arg(long)]
    hz: Option<String>,
    /// Snapshot schedule (accepted for compatibility).
    #[arg(long)]
    save: Option<String>,
    /// Append-only file (accepted for compatibility; only "no").
    #[arg(long)]
    appendonly: Option<String>,
    /// Working directory for persistence files (accepted for compatibility).
    #[arg(long)]
    dir: Option<String>,
    /// Log file (accepted for compatibility; logs go to stderr).
    #[arg(long)]
    logfile: Option<String>,
    /// Idle client timeout in seconds (accepted for compatibility).
    #[arg(long)]
    timeout: Option<String>,
    /// TCP keepalive in seconds (accepted for compatibility).
    #[arg(long = "tcp-keepalive")]
    tcp_keepalive: Option<String>,
    /// Largest hash kept as a listpack (fields).
    #[arg(long = "hash-max-listpack-entries")]
    hash_max_listpack_entries: Option<String>,
    /// Longest field or value a listpack hash may hold (bytes).
    #[arg(long = "hash-max-listpack-value")]
    hash_max_listpack_value: Option<String>,
    /// Largest set of integers kept as an intset.
    #[arg(long = "set-max-intset-entries")]
    set_max_intset_entries: Option<String>,
    /// Largest sorted set kept as a listpack (members).
    #[arg(long = "zset-max-listpack-entries")]
    zset_max_listpack_entries: Option<String>,
    /// Longest member a listpack sorted set may hold (bytes).
    #[arg(long = "zset-max-listpack-value")]
    zset_max_listpack_value: Option<String>,
    /// List node size (negative: a size class, positive: entries).
    #[arg(long = "list-max-listpack-size", allow_hyphen_values = true)]
    list_max_listpack_size: Option<String>,
}

fn build_config(cli: &Cli) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    if let Some(path) = &cli.config_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read configuration file '{path}': {e}")))?;
        config.load_file(&text, path)?;
    }
    let flags: [(&str, Option<String>); 27] = [
        ("port", cli.port.map(|v| v.to_string())),
        ("bind", cli.bind.clone()),
        ("shards", cli.shards.map(|v| v.to_string())),
        ("listen-shards", cli.listen_shards.map(|v| v.to_string())),
        ("requirepass", cli.requirepass.clone()),
        ("databases", cli.databases.map(|v| v.to_string())),
        ("maxclients", cli.maxclients.map(|v| v.to_string())),
        ("loglevel", cli.loglevel.clone()),
        ("proto-max-bulk-len", cli.proto_max_bulk_len.clone()),
        (
            "client-query-buffer-limit",
            cli.client_query_buffer_limit.clone(),
        ),
        ("max-commands-per-turn", cli.max_commands_per_turn.clone()),
        ("client-input-backlog", cli.client_input_backlog.clone()),
        ("maxmemory", cli.maxmemory.clone()),
        ("maxmemory-policy", cli.maxmemory_policy.clone()),
        ("hz", cli.hz.clone()),
        ("save", cli.save.clone()),
        ("appendonly", cli.appendonly.clone()),
        ("dir", cli.dir.clone()),
        ("logfile", cli.logfile.clone()),
        ("timeout", cli.timeout.clone()),
        ("tcp-keepalive", cli.tcp_keepalive.clone()),
        (
            "hash-max-listpack-entries",
            cli.hash_max_listpack_entries.clone(),
        ),
        (
            "hash-max-listpack-value",
            cli.hash_max_listpack_value.clone(),
        ),
        ("set-max-intset-entries", cli.set_max_intset_entries.clone()),
        (
            "zset-max-listpack-entries",
            cli.zset_max_listpack_entries.clone(),
        ),
        (
            "zset-max-listpack-value",
            cli.zset_max_listpack_value.clone(),
        ),
        ("list-max-listpack-size", cli.list_max_listpack_size.clone()),
    ];
    for (name, value) in flags {
        if let Some(v) = value {
            config
                .set(name, &v)
                .map_err(|e| ConfigError(format!("--{name} {v}: {e}")))?;
        }
    }
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match build_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shoal: configuration error: {e}");
            return ExitCode::from(1);
        }
    };
    let level = match config.loglevel.as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "notice" => "info",
        "warning" => "warn",
        _ => "off",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match shoal_runtime::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("fatal: {e}");
            eprintln!("shoal: {e}");
            ExitCode::from(1)
        }
    }
}
