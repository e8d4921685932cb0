//! Keys spread over several shards: multi-key commands, all-shard commands, SCAN across shards,
//! and atomicity of cross-shard MSET/DEL against concurrent readers.

mod common;

use common::{parse, Resp, Server};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys that land on different shards of a 4-shard server (slots 0..4095, 4096..8191, ...).
fn spread_keys(n: usize) -> Vec<String> {
    let mut by_shard: Vec<Vec<String>> = vec![vec![]; 4];
    let mut i = 0;
    while by_shard.iter().any(|v| v.len() < n.div_ceil(4)) {
        let k = format!("key:{i}");
        let shard = shoal_data::key_slot(k.as_bytes()) as usize * 4 / 16384;
        by_shard[shard].push(k);
        i += 1;
    }
    (0..n).map(|j| by_shard[j % 4][j / 4].clone()).collect()
}

#[test]
fn multi_key_commands_across_shards() {
    let s = Server::shoal(4);
    let mut c = s.raw();
    let keys = spread_keys(8);
    let mut mset: Vec<&str> = vec!["MSET"];
    for k in &keys {
        mset.push(k);
        mset.push(k);
    }
    assert_eq!(c.cmd_str(&mset), b"+OK\r\n");
    let mut mget: Vec<&str> = vec!["MGET"];
    mget.extend(keys.iter().map(|k| k.as_str()));
    mget.push("missing");
    let Resp::Array(Some(vals)) = parse(&c.cmd_str(&mget)).0 else {
        panic!("MGET reply");
    };
    for (k, v) in keys.iter().zip(&vals) {
        assert_eq!(v.bulk(), Some(k.as_bytes()));
    }
    assert_eq!(vals[8], Resp::Bulk(None));
    let mut exists: Vec<&str> = vec!["EXISTS"];
    exists.extend(keys.iter().map(|k| k.as_str()));
    exists.push(&keys[0]);
    assert_eq!(c.cmd_str(&exists), b":9\r\n");
    let mut touch = exists.clone();
    touch[0] = "TOUCH";
    assert_eq!(c.cmd_str(&touch), b":9\r\n");
    assert_eq!(
        c.cmd_str(&["MSETNX", &keys[0], "x", "fresh", "y"]),
        b":0\r\n"
    );
    assert_eq!(
        c.cmd_str(&["MSETNX", "fresh1", "x", "fresh2", "y", &keys[1], "z"]),
        b":0\r\n"
    );
    assert_eq!(c.cmd_str(&["EXISTS", "fresh1", "fresh2"]), b":0\r\n");
    assert_eq!(
        c.cmd_str(&["MSETNX", "fresh1", "x", "fresh2", "y", "fresh3", "z"]),
        b":1\r\n"
    );
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":11\r\n");
    assert_eq!(c.cmd_str(&["RENAME", &keys[0], &keys[1]]), b"+OK\r\n");
    assert_eq!(
        c.cmd_str(&["GET", &keys[1]]),
        format!("${}\r\n{}\r\n", keys[0].len(), keys[0]).into_bytes()
    );
    assert_eq!(
        c.cmd_str(&["RENAME", &keys[0], &keys[1]]),
        b"-ERR no such key\r\n"
    );
    assert_eq!(c.cmd_str(&["RENAMENX", &keys[1], &keys[2]]), b":0\r\n");
    assert_eq!(c.cmd_str(&["COPY", &keys[1], &keys[2]]), b":0\r\n");
    assert_eq!(
        c.cmd_str(&["COPY", &keys[1], &keys[2], "REPLACE"]),
        b":1\r\n"
    );
    assert_eq!(
        c.cmd_str(&["COPY", &keys[1], &keys[3], "DB", "1"]),
        b":1\r\n"
    );
    assert_eq!(c.cmd_str(&["SET", &keys[4], "ohmytext"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["SET", &keys[5], "mynewtext"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["LCS", &keys[4], &keys[5]]), b"$6\r\nmytext\r\n");
    assert_eq!(c.cmd_str(&["LCS", &keys[4], &keys[5], "LEN"]), b":6\r\n");
    let mut del: Vec<&str> = vec!["DEL"];
    del.extend(keys.iter().map(|k| k.as_str()));
    assert_eq!(c.cmd_str(&del), b":7\r\n");
    assert_eq!(
        c.cmd_str(&["UNLINK", "fresh1", "fresh2", "fresh3", "nope"]),
        b":3\r\n"
    );
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":0\r\n");
    assert_eq!(c.cmd_str(&["SELECT", "1"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":1\r\n");
}

#[test]
fn all_shard_commands() {
    let s = Server::shoal(4);
    let mut c = s.raw();
    let keys = spread_keys(40);
    for k in &keys {
        assert_eq!(c.cmd_str(&["SET", k, "v"]), b"+OK\r\n");
    }
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":40\r\n");
    let Resp::Array(Some(all)) = parse(&c.cmd_str(&["KEYS", "*"])).0 else {
        panic!("KEYS")
    };
    assert_eq!(all.len(), 40);
    let Resp::Array(Some(some)) = parse(&c.cmd_str(&["KEYS", "key:1*"])).0 else {
        panic!("KEYS")
    };
    let expected = keys.iter().filter(|k| k.starts_with("key:1")).count();
    assert_eq!(some.len(), expected);
    // SCAN visits every key at least once across shards, with COUNT and MATCH.
    for (count, pattern) in [("1", "*"), ("7", "*"), ("1000", "key:2*")] {
        let mut seen = HashSet::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let r = c.cmd_str(&[
                "SCAN", &cursor, "COUNT", count, "MATCH", pattern, "TYPE", "string",
            ]);
            let Resp::Array(Some(parts)) = parse(&r).0 else {
                panic!("SCAN")
            };
            cursor = String::from_utf8(parts[0].bulk().expect("cursor").to_vec()).expect("utf8");
            if let Resp::Array(Some(ks)) = &parts[1] {
                for k in ks {
                    seen.insert(k.bulk().expect("key").to_vec());
                }
            }
            calls += 1;
            assert!(calls < 100_000, "SCAN does not terminate");
            if cursor == "0" {
                break;
            }
        }
        let want: HashSet<Vec<u8>> = keys
            .iter()
            .filter(|k| pattern == "*" || k.starts_with("key:2"))
            .map(|k| k.as_bytes().to_vec())
            .collect();
        assert_eq!(seen, want, "SCAN COUNT {count} MATCH {pattern}");
    }
    let r = c.cmd_str(&["SCAN", "0", "TYPE", "list", "COUNT", "100000"]);
    assert!(
        r.ends_with(b"*0\r\n"),
        "TYPE filter: {:?}",
        String::from_utf8_lossy(&r)
    );
    assert!(parse(&c.cmd_str(&["RANDOMKEY"])).0.bulk().is_some());
    assert_eq!(c.cmd_str(&["SWAPDB", "0", "1"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":0\r\n");
    assert_eq!(c.cmd_str(&["SELECT", "1"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":40\r\n");
    assert_eq!(c.cmd_str(&["FLUSHDB"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":0\r\n");
    assert_eq!(c.cmd_str(&["SET", "a", "1"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["SELECT", "0"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["SET", "b", "1"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["FLUSHALL"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":0\r\n");
    assert_eq!(c.cmd_str(&["SELECT", "1"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":0\r\n");
    assert_eq!(c.cmd_str(&["RANDOMKEY"]), b"$-1\r\n");
}

#[test]
fn cluster_keyslot_matches_redis_cluster() {
    let s = Server::shoal(2);
    let mut c = s.raw();
    // Values from the Redis Cluster specification and redis-cli CLUSTER KEYSLOT.
    for (k, slot) in [
        ("somekey", 11058),
        ("foo{hash_tag}", 2515),
        ("{user1000}.following", 3443),
        ("foo", 12182),
        ("", 0),
    ] {
        assert_eq!(
            c.cmd_str(&["CLUSTER", "KEYSLOT", k]),
            format!(":{slot}\r\n").into_bytes(),
            "{k}"
        );
    }
}

/// No client ever observes half of an MSET, nor half of a DEL, across shards.
#[test]
fn cross_shard_mset_is_atomic() {
    let s = Arc::new(Server::shoal(4));
    let keys = Arc::new(spread_keys(8));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = vec![];
    for w in 0..3 {
        let (s, keys, stop) = (Arc::clone(&s), Arc::clone(&keys), Arc::clone(&stop));
        writers.push(std::thread::spawn(move || {
            let mut c = s.raw();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let tag = format!("w{w}-{i}");
                let mut args: Vec<&str> = vec!["MSET"];
                for k in keys.iter() {
                    args.push(k);
                    args.push(&tag);
                }
                assert_eq!(c.cmd_str(&args), b"+OK\r\n");
                if i.is_multiple_of(7) {
                    let mut del: Vec<&str> = vec!["DEL"];
                    del.extend(keys.iter().map(|k| k.as_str()));
                    c.cmd_str(&del);
                }
                i += 1;
            }
            i
        }));
    }
    let mut readers = vec![];
    for _ in 0..2 {
        let (s, keys, stop) = (Arc::clone(&s), Arc::clone(&keys), Arc::clone(&stop));
        readers.push(std::thread::spawn(move || {
            let mut c = s.raw();
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut args: Vec<&str> = vec!["MGET"];
                args.extend(keys.iter().map(|k| k.as_str()));
                let Resp::Array(Some(vals)) = parse(&c.cmd_str(&args)).0 else {
                    panic!("MGET reply")
                };
                let first = &vals[0];
                assert!(vals.iter().all(|v| v == first), "torn MGET: {vals:?}");
                let mut ex: Vec<&str> = vec!["EXISTS"];
                ex.extend(keys.iter().map(|k| k.as_str()));
                let n = c.cmd_str(&ex);
                assert!(
                    n == b":0\r\n" || n == b":8\r\n",
                    "torn EXISTS: {:?}",
                    String::from_utf8_lossy(&n)
                );
                reads += 1;
            }
            reads
        }));
    }
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let writes: u64 = writers.into_iter().map(|t| t.join().expect("writer")).sum();
    let reads: u64 = readers.into_iter().map(|t| t.join().expect("reader")).sum();
    assert!(
        writes > 100 && reads > 100,
        "too little progress: {writes} writes, {reads} reads"
    );
}

#[test]
fn sigterm_and_shutdown_exit_cleanly() {
    let mut s = Server::shoal(2);
    let mut c = s.raw();
    assert_eq!(c.cmd_str(&["SET", "a", "1"]), b"+OK\r\n");
    s.terminate();
    assert_eq!(s.wait_exit(Duration::from_secs(5)), Some(0));

    let mut s = Server::shoal(2);
    let mut c = s.raw();
    c.send(&common::encode(&[b"SHUTDOWN", b"NOSAVE"]));
    let (_, closed) = c.read_until_close(Duration::from_secs(5));
    assert!(closed);
    assert_eq!(s.wait_exit(Duration::from_secs(5)), Some(0));
    let start = Instant::now();
    assert!(!s.alive() && start.elapsed() < Duration::from_secs(1));
}
