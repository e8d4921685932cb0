//! Server and connection commands against the real binary: INFO, CONFIG, CLIENT, COMMAND,
//! MONITOR, OBJECT, expiry, configuration files and limits.

mod suite;

use std::time::Duration;
use suite::{encode, parse, show, Resp, Server};

fn text(r: &[u8]) -> String {
    match parse(r) {
        Resp::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

#[test]
fn info_uses_redis_field_names() {
    let s = Server::shoal(2);
    let mut c = s.conn();
    for i in 0..10 {
        c.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    c.cmd(&["EXPIRE", "k1", "100"]);
    let info = text(&c.cmd(&["INFO"]));
    for field in [
        "# Server\r\n",
        "redis_version:7.0.15\r\n",
        "tcp_port:",
        "# Clients\r\nconnected_clients:1\r\n",
        "used_memory:",
        "# Stats\r\n",
        "total_commands_processed:",
        "role:master\r\n",
        "# Keyspace\r\ndb0:keys=10,expires=1,avg_ttl=0\r\n",
    ] {
        assert!(info.contains(field), "INFO lacks {field:?}:\n{info}");
    }
    assert!(
        !info.contains("cmdstat_"),
        "commandstats is not a default section"
    );
    let stats = text(&c.cmd(&["INFO", "commandstats"]));
    assert!(stats.contains("cmdstat_set:calls=10,"), "{stats}");
    c.cmd(&["GET", "k0"]);
    c.cmd(&["MGET", "k1", "nope"]);
    let stats = text(&c.cmd(&["INFO", "stats"]));
    assert!(
        stats.contains("keyspace_hits:2\r\n") && stats.contains("keyspace_misses:1\r\n"),
        "{stats}"
    );
    let ks = text(&c.cmd(&["INFO", "keyspace"]));
    assert_eq!(ks, "# Keyspace\r\ndb0:keys=10,expires=1,avg_ttl=0\r\n");
}

#[test]
fn config_get_set() {
    let s = Server::shoal(2);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory-policy"]),
        b"*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1mb"]), b"+OK\r\n");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$7\r\n1048576\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "lots"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "nosuch", "1"]),
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"
    );
    // A run-time change reaches every shard: OBJECT FREQ needs an LFU policy.
    c.cmd(&["SET", "a", "1"]);
    assert!(c
        .cmd(&["OBJECT", "FREQ", "a"])
        .starts_with(b"-ERR An LFU maxmemory policy is not selected"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]),
        b"+OK\r\n"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "a"]), b":0\r\n");
    let Resp::Array(all) = parse(&c.cmd(&["CONFIG", "GET", "*"])) else {
        panic!()
    };
    assert!(all.len() >= 30 && all.len() % 2 == 0);
}

#[test]
fn client_commands() {
    let s = Server::shoal(2);
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "alpha"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), b"$5\r\nalpha\r\n");
    assert_eq!(
        a.cmd(&["CLIENT", "SETNAME", "a b"]),
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    let Resp::Int(bid) = parse(&b.cmd(&["CLIENT", "ID"])) else {
        panic!()
    };
    let list = text(&a.cmd(&["CLIENT", "LIST"]));
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains("name=alpha "), "{list}");
    assert!(list.contains(&format!("id={bid} ")), "{list}");
    let info = text(&a.cmd(&["CLIENT", "INFO"]));
    assert!(
        info.contains("name=alpha") && info.ends_with("\n"),
        "{info}"
    );
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &bid.to_string()]),
        b":1\r\n"
    );
    assert!(
        b.collect(0, true).closed,
        "killed client must be disconnected"
    );
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "127.0.0.1:1"]),
        b"-ERR No such client\r\n"
    );
    // CLIENT REPLY OFF / SKIP / ON.
    a.send(&encode(&["CLIENT", "REPLY", "OFF"]));
    a.send(&encode(&["SET", "quiet", "1"]));
    a.send(&encode(&["CLIENT", "REPLY", "SKIP"]));
    a.send(&encode(&["CLIENT", "REPLY", "ON"]));
    assert_eq!(a.reply(), b"+OK\r\n");
    assert_eq!(a.cmd(&["GET", "quiet"]), b"$1\r\n1\r\n");
    assert_eq!(a.cmd(&["RESET"]), b"+RESET\r\n");
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), b"$-1\r\n");
    assert_eq!(
        a.cmd(&["CLIENT", "FOO"]),
        b"-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n"
    );
}

#[test]
fn command_introspection() {
    let s = Server::shoal(1);
    let mut c = s.conn();
    let Resp::Int(n) = parse(&c.cmd(&["COMMAND", "COUNT"])) else {
        panic!()
    };
    assert!(n >= 60, "COMMAND COUNT {n}");
    let info = c.cmd(&["COMMAND", "INFO", "get", "nosuch"]);
    let Resp::Array(rows) = parse(&info) else {
        panic!()
    };
    let Resp::Array(get) = &rows[0] else { panic!() };
    assert_eq!(get[0], Resp::Bulk(b"get".to_vec()));
    assert_eq!(get[1], Resp::Int(2));
    assert_eq!(&get[3..6], &[Resp::Int(1), Resp::Int(1), Resp::Int(1)]);
    assert_eq!(rows[1], Resp::Nil);
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "PING", "x"]),
        b"-ERR The command has no key arguments\r\n"
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "PING"]),
        b"-ERR wrong number of arguments for 'command|getkeys' command\r\n"
    );
    let docs = c.cmd(&["COMMAND", "DOCS", "set"]);
    assert!(String::from_utf8_lossy(&docs).contains("Set the string value of a key"));
}

#[test]
fn monitor_sees_commands_from_every_shard() {
    let s = Server::shoal(2);
    let mut m = s.conn();
    assert_eq!(m.cmd(&["MONITOR"]), b"+OK\r\n");
    let mut c = s.conn();
    c.cmd(&["SET", "watched", "va\"l"]);
    let line = String::from_utf8(m.reply()).expect("utf8");
    assert!(
        line.starts_with('+') && line.ends_with("\"SET\" \"watched\" \"va\\\"l\"\r\n"),
        "{line}"
    );
}

#[test]
fn active_expiry_reclaims_keys_nobody_reads() {
    let s = Server::shoal(2);
    let mut c = s.conn();
    for i in 0..200 {
        c.cmd(&["SET", &format!("e{i}"), "v", "PX", "50"]);
    }
    c.cmd(&["SET", "stay", "v"]);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(c.cmd(&["DBSIZE"]), b":1\r\n");
    let info = text(&c.cmd(&["INFO", "stats"]));
    assert!(info.contains("expired_keys:200\r\n"), "{info}");
}

#[test]
fn config_file_and_bad_settings() {
    let dir = std::env::temp_dir().join(format!("shoal-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("good.conf");
    std::fs::write(&good, "# test\nshards 2\ndatabases 4\nrequirepass \"pw\"\n").expect("write");
    let s = Server::shoal_with(&[good.to_str().expect("path")]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["AUTH", "pw"]), b"+OK\r\n");
    assert_eq!(
        c.cmd(&["SELECT", "4"]),
        b"-ERR DB index is out of range\r\n"
    );
    // Flags win over the file.
    let s2 = Server::shoal_with(&[good.to_str().expect("path"), "--databases", "8"]);
    let mut c2 = s2.conn();
    c2.cmd(&["AUTH", "pw"]);
    assert_eq!(c2.cmd(&["SELECT", "7"]), b"+OK\r\n");
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "port 7000\nno-such-setting yes\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.conf:2") && err.contains("no-such-setting"),
        "{err}"
    );
}

#[test]
fn maxclients_rejects_extra_connections() {
    let s = Server::shoal_with(&["--shards", "1", "--maxclients", "2"]);
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(a.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(b.cmd(&["PING"]), b"+PONG\r\n");
    let mut c = s.conn();
    let got = c.collect(0, true);
    assert_eq!(got.reply, b"-ERR max number of clients reached\r\n");
    assert!(got.closed);
    drop(b);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(s.conn().cmd(&["PING"]), b"+PONG\r\n");
}

/// Keys that land on different shards of a 4-shard server (slots are split into 4 ranges).
fn spread_keys(n: usize) -> Vec<String> {
    let mut by_shard: Vec<Vec<String>> = vec![vec![]; 4];
    let mut i = 0;
    while by_shard.iter().any(|v| v.len() < n.div_ceil(4)) {
        let k = format!("key:{i}");
        let shard = suite::key_slot(k.as_bytes()) as usize * 4 / 16384;
        by_shard[shard].push(k);
        i += 1;
    }
    (0..n).map(|j| by_shard[j % 4][j / 4].clone()).collect()
}

#[test]
fn scan_covers_every_shard() {
    let s = Server::shoal(4);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["SCAN", "0"]),
        b"*2\r\n$1\r\n0\r\n*0\r\n",
        "empty keyspace"
    );
    let keys = spread_keys(40);
    for k in &keys {
        assert_eq!(c.cmd(&["SET", k, "v"]), b"+OK\r\n");
    }
    for (count, pattern) in [("1", "*"), ("7", "*"), ("1000", "key:2*")] {
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let r = c.cmd(&[
                "SCAN", &cursor, "COUNT", count, "MATCH", pattern, "TYPE", "string",
            ]);
            let Resp::Array(parts) = parse(&r) else {
                panic!("SCAN reply {r:?}")
            };
            let Resp::Bulk(next) = &parts[0] else {
                panic!()
            };
            cursor = String::from_utf8(next.clone()).expect("cursor");
            if let Resp::Array(ks) = &parts[1] {
                for k in ks {
                    let Resp::Bulk(k) = k else { panic!() };
                    seen.insert(k.clone());
                }
            }
            calls += 1;
            assert!(calls < 100_000, "SCAN does not terminate");
            if cursor == "0" {
                break;
            }
        }
        let want: std::collections::HashSet<Vec<u8>> = keys
            .iter()
            .filter(|k| pattern == "*" || k.starts_with("key:2"))
            .map(|k| k.as_bytes().to_vec())
            .collect();
        assert_eq!(seen, want, "SCAN COUNT {count} MATCH {pattern}");
    }
    // A large COUNT covers all shards in one call.
    let r = c.cmd(&["SCAN", "0", "COUNT", "1000"]);
    let Resp::Array(parts) = parse(&r) else {
        panic!()
    };
    assert_eq!(parts[0], Resp::Bulk(b"0".to_vec()));
    let r = c.cmd(&["SCAN", "0", "TYPE", "list", "COUNT", "100000"]);
    assert_eq!(r, b"*2\r\n$1\r\n0\r\n*0\r\n");
}

#[test]
fn sigterm_and_shutdown_exit_cleanly() {
    let s = Server::shoal(2);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "a", "1"]), b"+OK\r\n");
    let started = std::time::Instant::now();
    s.terminate();
    assert_eq!(s.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );

    let s = Server::shoal(2);
    let mut c = s.conn();
    c.send(&encode(&[&b"SHUTDOWN"[..], b"NOSAVE"]));
    assert!(c.collect(0, true).closed);
    assert_eq!(s.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn query_buffer_limit_closes_only_that_client() {
    let s = Server::shoal_with(&["--shards", "1", "--client-query-buffer-limit", "1mb"]);
    let mut watcher = s.conn();
    let mut c = s.conn();
    let mut big = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2097152\r\n".to_vec();
    big.extend(vec![b'x'; 2 << 20]);
    c.send_background(big);
    assert!(
        c.collect(0, true).closed,
        "an over-limit client must be closed"
    );
    assert_eq!(watcher.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn client_reply_skip_covers_fanned_out_and_cross_shard_replies() {
    let s = Server::shoal(4);
    let mut c = s.conn();
    c.send(&encode(&["CLIENT", "REPLY", "SKIP"]));
    c.send(&encode(&["DBSIZE"]));
    c.send(&encode(&["CLIENT", "REPLY", "SKIP"]));
    c.send(&encode(&["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]));
    assert_eq!(c.cmd(&["MGET", "a", "d"]), b"*2\r\n$1\r\n1\r\n$1\r\n4\r\n");
}

#[test]
fn large_pipelined_output_is_paced_and_complete() {
    let s = Server::shoal(1);
    let mut c = s.conn();
    let big = vec![b'v'; 1 << 20];
    assert_eq!(c.cmd(&[&b"SET"[..], b"big", &big]), b"+OK\r\n");
    let mut pipeline = vec![];
    for _ in 0..40 {
        pipeline.extend(encode(&["GET", "big"]));
    }
    pipeline.extend(encode(&["PING"]));
    c.send(&pipeline);
    let mut expect = format!("${}\r\n", big.len()).into_bytes();
    expect.extend_from_slice(&big);
    expect.extend_from_slice(b"\r\n");
    for i in 0..40 {
        assert!(c.reply() == expect, "reply {i} differs");
    }
    assert_eq!(c.reply(), b"+PONG\r\n");
}

/// Plain commands that touch keys locked by cross-shard transactions wait and then run (locally
/// and in batches from other shards); nothing hangs and the last MSET wins everywhere.
#[test]
fn plain_commands_wait_for_cross_shard_locks() {
    let s = std::sync::Arc::new(Server::shoal(4));
    let keys = std::sync::Arc::new(spread_keys(8));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut threads = vec![];
    for w in 0..2 {
        let (s, keys, stop) = (s.clone(), keys.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut c = s.conn();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let tag = format!("w{w}-{i}");
                let mut args: Vec<&str> = vec!["MSET"];
                for k in keys.iter() {
                    args.push(k);
                    args.push(&tag);
                }
                assert_eq!(c.cmd(&args), b"+OK\r\n");
                i += 1;
            }
            i
        }));
    }
    for _ in 0..2 {
        let (s, keys, stop) = (s.clone(), keys.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut c = s.conn();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // A pipeline of single-key commands: some run on this connection's shard, the
                // rest travel in batches; any of them may meet a locked key.
                let mut p = vec![];
                for k in keys.iter() {
                    p.extend(encode(&["GET", k]));
                    p.extend(encode(&["APPEND", &format!("{k}:log"), "x"]));
                }
                c.send(&p);
                for _ in 0..keys.len() * 2 {
                    let r = c.reply();
                    assert!(r[0] == b'$' || r[0] == b':', "{}", suite::show(&r));
                }
                n += 1;
            }
            n
        }));
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let counts: Vec<u64> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert!(
        counts.iter().all(|&n| n > 10),
        "too little progress: {counts:?}"
    );
    let mut c = s.conn();
    let mut mget: Vec<&str> = vec!["MGET"];
    mget.extend(keys.iter().map(|k| k.as_str()));
    let Resp::Array(vals) = parse(&c.cmd(&mget)) else {
        panic!()
    };
    assert!(vals.iter().all(|v| *v == vals[0]), "{vals:?}");
}

/// HELP replies end as Redis's addReplyHelp does; those whose subcommands Shoal serves in full
/// are identical to Redis's.
#[test]
fn help_replies_match_redis() {
    let (s, r) = (Server::shoal(2), Server::redis());
    let (mut a, mut b) = (s.conn(), r.conn());
    for cmd in [["OBJECT", "HELP"], ["XINFO", "HELP"], ["XGROUP", "HELP"]] {
        assert_eq!(show(&a.cmd(&cmd)), show(&b.cmd(&cmd)), "{cmd:?}");
    }
    for cmd in [["CLIENT", "HELP"], ["CONFIG", "HELP"], ["COMMAND", "HELP"]] {
        let reply = a.cmd(&cmd);
        assert!(
            reply.ends_with(b"+HELP\r\n+    Prints this help.\r\n"),
            "{cmd:?}: {}",
            show(&reply)
        );
    }
}
