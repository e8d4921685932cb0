//! INFO: server state in Redis's sections and field names, so existing exporters and dashboards
//! read Shoal unchanged. Per-shard figures are gathered with one fan-out and summed.

use crate::admin::{all_shards, REDIS_VERSION};
use crate::conn::Step;
use crate::mesh::ConnId;
use crate::shard::Shard;
use shoal_protocol::Args;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// What one shard reports for INFO.
#[derive(Default, Clone)]
pub struct ShardInfo {
    /// (keys, volatile keys) per database.
    pub dbs: Vec<(usize, usize)>,
    pub counters: shoal_commands::Counters,
    pub calls: Vec<u64>,
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

fn human(bytes: i64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage fills a zeroed struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        (t(ru.ru_stime), t(ru.ru_utime))
    }
}

/// INFO [section ...]
pub fn info(sh: &mut Shard, id: ConnId, args: Args<'_>) -> Step {
    let mut sections: Vec<String> = args
        .iter_from(1)
        .map(|a| String::from_utf8_lossy(a).to_lowercase())
        .collect();
    let all = sections.iter().any(|s| s == "all" || s == "everything");
    if sections.is_empty() || sections.iter().any(|s| s == "default") {
        sections.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    if all {
        sections.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
        sections.push("commandstats".into());
    }
    all_shards(
        sh,
        id,
        |x| ShardInfo {
            dbs: x
                .keyspace
                .dbs_mut()
                .iter()
                .map(|d| (d.len(), d.volatile()))
                .collect(),
            counters: x.counters,
            calls: x.cmd_calls.clone(),
        },
        move |sh, id, infos| {
            let text = render(sh, &sections, &infos);
            sh.reply_with(id, |r| r.verbatim(text.as_bytes()));
        },
    )
}

fn render(sh: &Shard, sections: &[String], infos: &[ShardInfo]) -> String {
    let shared = &sh.shared;
    let config = &sh.config;
    let sum =
        |f: fn(&crate::shard::ShardStats) -> u64| -> u64 { shared.stats.iter().map(&f).sum() };
    let want = |s: &str| sections.iter().any(|x| x == s);
    let mut out = String::new();
    let uptime = shared.started.elapsed().as_secs();
    let used: i64 = shared
        .stats
        .iter()
        .map(|s| s.used_memory.load(Ordering::Relaxed))
        .sum::<i64>()
        + crate::mem::unpublished();
    let used = used.max(0);
    let rss = crate::mem::rss_bytes() as i64;
    let mut first = true;
    let mut section = |out: &mut String, name: &str| {
        if !first {
            out.push_str("\r\n");
        }
        first = false;
        let _ = write!(out, "# {name}\r\n");
    };
    if want("server") {
        section(&mut out, "Server");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let _ = write!(
            out,
            "redis_version:{REDIS_VERSION}\r\nshoal_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:io_uring\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:\r\nio_threads_active:0\r\nshards:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            shared.run_id,
            shared.port,
            now.as_micros(),
            uptime,
            uptime / 86400,
            config.hz,
            config.hz,
            (now.as_secs() & 0xff_ffff),
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            shared.shards(),
        );
    }
    if want("clients") {
        section(&mut out, "Clients");
        let _ = write!(
            out,
            "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
            shared.clients.load(Ordering::Relaxed),
            config.maxclients,
            shared
                .stats
                .iter()
                .map(|s| s.blocked_clients.load(Ordering::Relaxed))
                .sum::<u64>()
        );
    }
    if want("memory") {
        section(&mut out, "Memory");
        let frag = if used > 0 {
            rss as f64 / used as f64
        } else {
            0.0
        };
        let _ = write!(
            out,
            "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{used}\r\nused_memory_peak_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{frag:.2}\r\nmem_allocator:shoal-slab+libc\r\n",
            human(used),
            human(rss),
            human(used),
            config.maxmemory,
            human(config.maxmemory as i64),
            config.maxmemory_policy
        );
    }
    if want("persistence") {
        section(&mut out, "Persistence");
        let dirty: u64 = infos.iter().map(|i| i.counters.dirty).sum();
        let _ = write!(
            out,
            "loading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{dirty}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_last_write_status:ok\r\n",
            shared.started_unix
        );
    }
    if want("stats") {
        section(&mut out, "Stats");
        let _ = write!(
            out,
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:0\r\npubsub_patterns:0\r\ntotal_error_replies:0\r\n",
            sum(|s| s.total_connections.load(Ordering::Relaxed)),
            sum(|s| s.total_commands.load(Ordering::Relaxed)),
            sum(|s| s.instantaneous_ops.load(Ordering::Relaxed)),
            sum(|s| s.net_input_bytes.load(Ordering::Relaxed)),
            sum(|s| s.net_output_bytes.load(Ordering::Relaxed)),
            sum(|s| s.rejected_connections.load(Ordering::Relaxed)),
            sum(|s| s.expired_keys.load(Ordering::Relaxed)),
            infos.iter().map(|i| i.counters.hits).sum::<u64>(),
            infos.iter().map(|i| i.counters.misses).sum::<u64>(),
        );
    }
    if want("replication") {
        section(&mut out, "Replication");
        let _ = write!(
            out,
            "role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
            shared.run_id
        );
    }
    if want("cpu") {
        section(&mut out, "CPU");
        let (sys, user) = cpu_times();
        let _ = write!(
            out,
            "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"
        );
    }
    if want("modules") {
        section(&mut out, "Modules");
    }
    if want("errorstats") {
        section(&mut out, "Errorstats");
    }
    if want("commandstats") {
        section(&mut out, "Commandstats");
        for (c, subs) in shared.commands.all() {
            for cmd in std::iter::once(c).chain(subs) {
                let calls: u64 = infos
                    .iter()
                    .map(|i| i.calls.get(cmd.id).copied().unwrap_or(0))
                    .sum();
                if calls > 0 {
                    let _ = write!(
                        out,
                        "cmdstat_{}:calls={calls},usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=0\r\n",
                        cmd.spec.name
                    );
                }
            }
        }
    }
    if want("cluster") {
        section(&mut out, "Cluster");
        out.push_str("cluster_enabled:0\r\n");
    }
    if want("keyspace") {
        section(&mut out, "Keyspace");
        let n = infos.first().map_or(0, |i| i.dbs.len());
        for db in 0..n {
            let keys: usize = infos.iter().map(|i| i.dbs[db].0).sum();
            let expires: usize = infos.iter().map(|i| i.dbs[db].1).sum();
            if keys > 0 {
                let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
        }
    }
    out
}
