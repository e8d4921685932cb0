//! Multi-shard behaviour (4 shards): multi-key and keyspace-wide commands over keys on many
//! slots, compared with a real redis-server; an MSET/MGET/DEL atomicity race; CLUSTER KEYSLOT;
//! listen-shards.

mod suite;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use suite::{encode, key_slot, parse, show, Conn, Resp, Server};

const SHARDS: usize = 4;

/// 8 keys on 8 different slots whose slots fall in each quarter of the slot range twice and
/// have each residue mod 4 twice, so they land on every shard under either a range or a
/// modulo slot-to-shard mapping.
fn spread_keys(prefix: &str) -> Vec<String> {
    let wanted = [
        (0, 0),
        (1, 1),
        (2, 2),
        (3, 3),
        (0, 2),
        (1, 3),
        (2, 0),
        (3, 1),
    ];
    let mut found: Vec<Option<String>> = vec![None; wanted.len()];
    let mut i = 0u64;
    while found.iter().any(|f| f.is_none()) {
        let k = format!("{prefix}{i}");
        let slot = key_slot(k.as_bytes()) as usize;
        let class = (slot * 4 / 16384, slot % 4);
        if let Some(pos) = wanted.iter().position(|w| *w == class) {
            if found[pos].is_none() {
                found[pos] = Some(k);
            }
        }
        i += 1;
    }
    let keys: Vec<String> = found.into_iter().map(Option::unwrap).collect();
    let slots: BTreeSet<u16> = keys.iter().map(|k| key_slot(k.as_bytes())).collect();
    assert_eq!(slots.len(), 8, "{keys:?}");
    keys
}

/// Both servers, one connection each; `run` sends a command to both and compares replies.
struct Pair {
    a: Conn,
    b: Conn,
    shoal: Server,
    redis: Server,
}

impl Pair {
    fn new() -> Pair {
        let shoal = Server::shoal(SHARDS);
        let redis = Server::redis();
        Pair {
            a: shoal.conn(),
            b: redis.conn(),
            shoal,
            redis,
        }
    }

    /// Same reply from both; Redis's must equal `expect` when given. Returns the reply.
    fn run<A: AsRef<[u8]>>(&mut self, cmd: &[A], expect: Option<&[u8]>) -> Vec<u8> {
        let y = self.b.cmd(cmd);
        let name = cmd
            .iter()
            .take(4)
            .map(|a| show(a.as_ref()))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(e) = expect {
            assert_eq!(
                show(&y),
                show(e),
                "reference redis-server, {name}... (suite bug?)"
            );
        }
        let x = self.a.cmd(cmd);
        assert_eq!(show(&x), show(&y), "{name}...: shoal vs redis");
        y
    }

    /// Array replies compared as sets (KEYS).
    fn run_sorted(&mut self, cmd: &[&str], expect_len: usize) -> Vec<Resp> {
        let sorted = |r: &[u8]| match parse(r) {
            Resp::Array(mut v) => {
                v.sort();
                v
            }
            other => panic!("{cmd:?}: not an array: {other:?}"),
        };
        let y = sorted(&self.b.cmd(cmd));
        assert_eq!(y.len(), expect_len, "reference redis-server, {cmd:?}");
        let x = sorted(&self.a.cmd(cmd));
        assert_eq!(x, y, "{cmd:?}: shoal vs redis (sorted)");
        y
    }
}

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

fn bulk(s: &str) -> Vec<u8> {
    format!("${}\r\n{s}\r\n", s.len()).into_bytes()
}

#[test]
fn multi_key_commands_across_shards() {
    let mut p = Pair::new();
    let k = spread_keys("mk:");
    let ok = Some(&b"+OK\r\n"[..]);
    let mut mset = vec!["MSET".to_string()];
    for (i, key) in k.iter().enumerate() {
        mset.push(key.clone());
        mset.push(format!("v{i}"));
    }
    p.run(&mset, ok);
    let mut mget = vec!["MGET".to_string()];
    mget.extend(k.iter().cloned());
    mget.push("missing".into());
    mget.push(k[0].clone());
    let mut want = b"*10\r\n".to_vec();
    for i in 0..8 {
        want.extend(bulk(&format!("v{i}")));
    }
    want.extend(b"$-1\r\n");
    want.extend(bulk("v0"));
    p.run(&mget, Some(&want));
    let exists = [
        &["EXISTS"][..],
        &k.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        &["missing", &k[3], &k[3]],
    ]
    .concat();
    p.run(&exists, Some(&int(10)));
    let touch = [
        &["TOUCH"][..],
        &k[..4].iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        &["missing"],
    ]
    .concat();
    p.run(&touch, Some(&int(4)));
    p.run(&["DBSIZE"], Some(&int(8)));
    // MSETNX fails as a whole when any key exists (on any shard), and sets nothing.
    p.run(
        &[
            "MSETNX", "new:1", "x", "new:2", "x", &k[5], "x", "new:3", "x",
        ],
        Some(&int(0)),
    );
    p.run(&["EXISTS", "new:1", "new:2", "new:3"], Some(&int(0)));
    p.run(&["GET", &k[5]], Some(&bulk("v5")));
    p.run(
        &["MSETNX", "new:1", "x", "new:2", "y", "new:3", "z"],
        Some(&int(1)),
    );
    p.run(
        &["MGET", "new:1", "new:2", "new:3"],
        Some(b"*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"),
    );
    // The same key twice in one MSET/MSETNX: the last value wins.
    p.run(&["MSET", &k[0], "first", &k[1], "b", &k[0], "last"], ok);
    p.run(
        &["MGET", &k[0], &k[1]],
        Some(b"*2\r\n$4\r\nlast\r\n$1\r\nb\r\n"),
    );
    p.run(&["MSETNX", "dup", "1", "dup", "2"], Some(&int(1)));
    p.run(&["GET", "dup"], Some(&bulk("2")));
    // DEL / UNLINK across shards, with duplicates and missing keys.
    p.run(
        &["DEL", &k[0], &k[1], &k[0], "missing", "new:1"],
        Some(&int(3)),
    );
    p.run(
        &["UNLINK", &k[2], &k[3], &k[4], "new:2", "missing"],
        Some(&int(4)),
    );
    p.run(&["DBSIZE"], Some(&int(5)));
    p.run(
        &["MGET", &k[0], &k[5], &k[6], &k[7], "new:3", "dup"],
        Some(b"*6\r\n$-1\r\n$2\r\nv5\r\n$2\r\nv6\r\n$2\r\nv7\r\n$1\r\nz\r\n$1\r\n2\r\n"),
    );
    // Two-key commands across shards.
    p.run(&["RENAME", &k[5], &k[0]], ok);
    p.run(&["GET", &k[0]], Some(&bulk("v5")));
    p.run(&["RENAMENX", &k[0], &k[6]], Some(&int(0)));
    p.run(&["RENAMENX", &k[0], &k[1]], Some(&int(1)));
    p.run(&["COPY", &k[1], &k[2]], Some(&int(1)));
    p.run(&["COPY", &k[1], &k[6]], Some(&int(0)));
    p.run(&["COPY", &k[1], &k[6], "REPLACE"], Some(&int(1)));
    p.run(&["COPY", &k[1], &k[3], "DB", "1"], Some(&int(1)));
    p.run(&["SET", &k[4], "abcdef"], ok);
    p.run(&["LCS", &k[4], &k[6]], Some(&bulk("")));
    p.run(&["SET", &k[7], "xbcdyf"], ok);
    p.run(&["LCS", &k[4], &k[7]], Some(&bulk("bcdf")));
    p.run(&["LCS", &k[4], &k[7], "LEN"], Some(&int(4)));
    p.run(
        &["MGET", &k[0], &k[1], &k[2], &k[6]],
        Some(b"*4\r\n$-1\r\n$2\r\nv5\r\n$2\r\nv5\r\n$2\r\nv5\r\n"),
    );
    p.run(&["SELECT", "1"], ok);
    p.run(&["GET", &k[3]], Some(&bulk("v5")));
    p.run(&["DBSIZE"], Some(&int(1)));
    p.run(&["SELECT", "0"], ok);
    p.run_sorted(&["KEYS", "*"], 7);
    p.run_sorted(&["KEYS", "mk:*"], 5);
}

/// `SCAN` until the cursor is 0; returns every key returned (with repetitions).
fn scan_all(c: &mut Conn, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut keys = vec![];
    for round in 0.. {
        assert!(round < 100_000, "SCAN did not finish");
        let mut cmd = vec!["SCAN", &cursor];
        cmd.extend_from_slice(extra);
        let r = c.cmd(&cmd);
        let Resp::Array(parts) = parse(&r) else {
            panic!("SCAN reply {}", show(&r))
        };
        let [Resp::Bulk(next), Resp::Array(batch)] = &parts[..] else {
            panic!("SCAN reply {}", show(&r))
        };
        for k in batch {
            let Resp::Bulk(k) = k else {
                panic!("SCAN key {k:?}")
            };
            keys.push(String::from_utf8(k.clone()).unwrap());
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        assert!(cursor.parse::<u64>().is_ok(), "SCAN cursor {cursor:?}");
        if cursor == "0" {
            break;
        }
    }
    keys
}

/// Checks that `got` covers `want` (each at least once) and holds nothing else.
fn assert_covers(label: &str, got: &[String], want: &BTreeSet<String>) {
    let seen: BTreeSet<String> = got.iter().cloned().collect();
    let missing: Vec<_> = want.difference(&seen).take(10).collect();
    let extra: Vec<_> = seen.difference(want).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{label}: missing {missing:?}, unexpected {extra:?} ({} returned)",
        got.len()
    );
}

#[test]
fn keyspace_commands_across_shards() {
    let mut p = Pair::new();
    let ok = Some(&b"+OK\r\n"[..]);
    // db 0: 300 "user:" keys, 200 "item:" keys, 20 keys with hash tags; db 1: 50 keys.
    let mut db0 = BTreeSet::new();
    let mut cmds = vec![];
    for i in 0..300 {
        db0.insert(format!("user:{i}"));
    }
    for i in 0..200 {
        db0.insert(format!("item:{i}"));
    }
    for i in 0..20 {
        db0.insert(format!("{{tag}}:{i}"));
    }
    for k in &db0 {
        cmds.push(encode(&["SET", k, k]));
    }
    cmds.push(encode(&["SELECT", "1"]));
    let db1: BTreeSet<String> = (0..50).map(|i| format!("other:{i}")).collect();
    for k in &db1 {
        cmds.push(encode(&["SET", k, "1"]));
    }
    cmds.push(encode(&["SELECT", "0"]));
    let wire = cmds.concat();
    for c in [&mut p.a, &mut p.b] {
        c.send(&wire);
        for _ in 0..cmds.len() {
            assert_eq!(show(&c.reply()), show(b"+OK\r\n"));
        }
    }
    p.run(&["DBSIZE"], Some(&int(520)));
    p.run_sorted(&["KEYS", "*"], 520);
    p.run_sorted(&["KEYS", "user:1?"], 10);
    p.run_sorted(&["KEYS", "{tag}:*"], 20);
    p.run_sorted(&["KEYS", "item:[0-4]"], 5);

    let users: BTreeSet<String> = db0
        .iter()
        .filter(|k| k.starts_with("user:"))
        .cloned()
        .collect();
    let tagged: BTreeSet<String> = db0
        .iter()
        .filter(|k| k.starts_with("{tag}"))
        .cloned()
        .collect();
    for (server, c) in [(&p.shoal, &mut p.a), (&p.redis, &mut p.b)] {
        let l = server.label();
        assert_covers(&format!("{l}: SCAN"), &scan_all(c, &[]), &db0);
        assert_covers(
            &format!("{l}: SCAN COUNT 7"),
            &scan_all(c, &["COUNT", "7"]),
            &db0,
        );
        assert_covers(
            &format!("{l}: SCAN COUNT 1000"),
            &scan_all(c, &["COUNT", "1000"]),
            &db0,
        );
        assert_covers(
            &format!("{l}: SCAN MATCH user:*"),
            &scan_all(c, &["MATCH", "user:*"]),
            &users,
        );
        assert_covers(
            &format!("{l}: SCAN MATCH COUNT"),
            &scan_all(c, &["MATCH", "{tag}*", "COUNT", "3"]),
            &tagged,
        );
        assert_covers(
            &format!("{l}: SCAN TYPE string"),
            &scan_all(c, &["TYPE", "string"]),
            &db0,
        );
        assert_covers(
            &format!("{l}: SCAN TYPE hash"),
            &scan_all(c, &["TYPE", "hash"]),
            &BTreeSet::new(),
        );
        assert_covers(
            &format!("{l}: SCAN MATCH TYPE COUNT"),
            &scan_all(c, &["MATCH", "item:1*", "TYPE", "string", "COUNT", "50"]),
            &db0.iter()
                .filter(|k| k.starts_with("item:1"))
                .cloned()
                .collect(),
        );
        assert_eq!(show(&c.cmd(&["SELECT", "1"])), show(b"+OK\r\n"));
        assert_covers(
            &format!("{l}: SCAN db 1"),
            &scan_all(c, &["COUNT", "5"]),
            &db1,
        );
        assert_eq!(show(&c.cmd(&["SELECT", "0"])), show(b"+OK\r\n"));
    }
    p.run(&["SCAN", "0", "COUNT", "0"], Some(b"-ERR syntax error\r\n"));
    p.run(&["SCAN", "x"], Some(b"-ERR invalid cursor\r\n"));
    p.run(&["SCAN", "0", "BOGUS", "1"], Some(b"-ERR syntax error\r\n"));

    // SWAPDB swaps every shard's databases at once.
    p.run(&["SWAPDB", "0", "1"], ok);
    p.run(&["DBSIZE"], Some(&int(50)));
    p.run(&["GET", "other:7"], Some(&bulk("1")));
    p.run(&["GET", "user:7"], Some(b"$-1\r\n"));
    p.run(&["SELECT", "1"], ok);
    p.run(&["DBSIZE"], Some(&int(520)));
    p.run(
        &["MGET", "user:7", "item:3", "{tag}:1", "other:7"],
        Some(b"*4\r\n$6\r\nuser:7\r\n$6\r\nitem:3\r\n$7\r\n{tag}:1\r\n$-1\r\n"),
    );
    p.run(&["SWAPDB", "1", "0"], ok);
    p.run(&["DBSIZE"], Some(&int(50)));
    p.run(
        &["SWAPDB", "0", "16"],
        Some(b"-ERR DB index is out of range\r\n"),
    );
    p.run(&["SELECT", "0"], ok);
    p.run(&["DBSIZE"], Some(&int(520)));
    // FLUSHDB empties only the selected database, on every shard.
    p.run(&["FLUSHDB"], ok);
    p.run(&["DBSIZE"], Some(&int(0)));
    p.run(&["KEYS", "*"], Some(b"*0\r\n"));
    // (SCAN cursors are the server's own business: only what a full scan returns is compared.)
    for (server, c) in [(&p.shoal, &mut p.a), (&p.redis, &mut p.b)] {
        let label = format!("{}: SCAN of an empty database", server.label());
        assert_covers(&label, &scan_all(c, &["COUNT", "3"]), &BTreeSet::new());
    }
    p.run(&["SELECT", "1"], ok);
    p.run(&["DBSIZE"], Some(&int(50)));
    p.run(&["FLUSHDB", "ASYNC"], ok);
    p.run(&["DBSIZE"], Some(&int(0)));
    p.run(&["MSET", "a", "1", "b", "2", "c", "3", "{tag}x", "4"], ok);
    p.run(&["SELECT", "2"], ok);
    p.run(&["MSET", "a", "1", "d", "2"], ok);
    p.run(&["FLUSHDB", "BOGUS"], Some(b"-ERR syntax error\r\n"));
    p.run(&["FLUSHALL"], ok);
    p.run(&["DBSIZE"], Some(&int(0)));
    p.run(&["SELECT", "1"], ok);
    p.run(&["DBSIZE"], Some(&int(0)));
    p.run(&["MSET", "a", "1", "b", "2"], ok);
    p.run(&["FLUSHALL", "SYNC"], ok);
    p.run(&["DBSIZE"], Some(&int(0)));
    p.run(&["EXISTS", "a", "b"], Some(&int(0)));
    p.shoal.assert_running();
}

/// Writers MSET (or DEL) the same 8 keys, one per shard, with one tag per write; readers MGET
/// them and must never see a mix of two writes.
#[test]
fn mset_mget_del_are_atomic_across_shards() {
    let shoal = Server::shoal(SHARDS);
    let keys = Arc::new(spread_keys("race:"));
    let run_for = Duration::from_millis(2500);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    {
        let mut c = shoal.conn();
        let mut init = vec!["MSET".to_string()];
        for k in keys.iter() {
            init.push(k.clone());
            init.push("init".into());
        }
        assert_eq!(show(&c.cmd(&init)), show(b"+OK\r\n"));
    }
    let mut threads = vec![];
    for w in 0..3 {
        let (keys, stop, port) = (keys.clone(), stop.clone(), shoal.port());
        threads.push(std::thread::spawn(move || {
            let mut c = Conn::connect(port, "shoal");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if i % 7 == 6 {
                    let mut del = vec!["DEL".to_string()];
                    del.extend(keys.iter().cloned());
                    let r = c.cmd(&del);
                    assert!(r.starts_with(b":"), "DEL replied {}", show(&r));
                } else {
                    let tag = format!("w{w}-{i}");
                    let mut mset = vec!["MSET".to_string()];
                    for k in keys.iter() {
                        mset.push(k.clone());
                        mset.push(tag.clone());
                    }
                    assert_eq!(show(&c.cmd(&mset)), show(b"+OK\r\n"));
                }
                i += 1;
            }
            i
        }));
    }
    let mut readers = vec![];
    for _ in 0..3 {
        let (keys, stop, reads, port) = (keys.clone(), stop.clone(), reads.clone(), shoal.port());
        readers.push(std::thread::spawn(move || {
            let mut c = Conn::connect(port, "shoal");
            let mut mget = vec!["MGET".to_string()];
            mget.extend(keys.iter().cloned());
            let mut seen: BTreeMap<Option<Vec<u8>>, usize> = BTreeMap::new();
            while !stop.load(Ordering::Relaxed) {
                let r = c.cmd(&mget);
                let Resp::Array(vals) = parse(&r) else {
                    panic!("MGET replied {}", show(&r))
                };
                assert_eq!(vals.len(), 8);
                let first = vals[0].clone();
                assert!(
                    vals.iter().all(|v| *v == first),
                    "torn read: one MGET saw values of different writes: {vals:?} (keys {keys:?})"
                );
                let key = match first {
                    Resp::Bulk(b) => Some(b),
                    Resp::Nil => None,
                    other => panic!("MGET item {other:?}"),
                };
                *seen.entry(key).or_default() += 1;
                reads.fetch_add(1, Ordering::Relaxed);
            }
            seen
        }));
    }
    let start = Instant::now();
    while start.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(50));
        if threads.iter().any(|t| t.is_finished()) || readers.iter().any(|t| t.is_finished()) {
            break; // a thread panicked: stop and report it below
        }
    }
    stop.store(true, Ordering::Relaxed);
    let writes: u64 = threads
        .into_iter()
        .map(|t| t.join().expect("writer failed"))
        .sum();
    let mut distinct = BTreeSet::new();
    for r in readers {
        distinct.extend(r.join().expect("reader failed").into_keys());
    }
    let reads = reads.load(Ordering::Relaxed);
    shoal.assert_running();
    // The race must have happened: many operations, and readers saw many different writes.
    assert!(
        writes >= 100 && reads >= 100,
        "too few operations to mean anything: {writes} writes, {reads} reads"
    );
    assert!(
        distinct.len() >= 10,
        "readers saw only {} distinct states",
        distinct.len()
    );
}

#[test]
fn cluster_keyslot_matches_redis() {
    // Redis answers CLUSTER KEYSLOT only with cluster support enabled.
    let reference = Server::redis_cluster();
    let shoal = if suite::against_redis() {
        Server::redis_cluster()
    } else {
        Server::shoal(SHARDS)
    };
    let mut a = shoal.conn();
    let mut b = reference.conn();
    let mut keys: Vec<Vec<u8>> = [
        "",
        "a",
        "foo",
        "123456789",
        "{user1000}.following",
        "{user1000}.followers",
        "foo{}{bar}",
        "foo{{bar}}zap",
        "foo{bar}{zap}",
        "{}",
        "{",
        "}",
        "}{",
        "{a",
        "a}",
        "{}a",
        "a{}",
        "{a}",
        "x{a}y",
        "{{a}}",
        "\u{e9}t\u{e9}",
        "user:1",
        "{u1}:a",
        "{u1}:b",
        "tag{k1}",
        "k1",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    keys.push(vec![0, 1, 2, 255, b'{', 0xfe, b'}']);
    keys.push(vec![b'k'; 1000]);
    keys.extend((0..200).map(|i| format!("key:{i}").into_bytes()));
    for k in &keys {
        let cmd = [&b"CLUSTER"[..], b"KEYSLOT", k];
        let y = b.cmd(&cmd);
        assert_eq!(
            show(&y),
            show(&int(key_slot(k) as i64)),
            "reference redis-server / key_slot() for key {}",
            show(k)
        );
        let x = a.cmd(&cmd);
        assert_eq!(show(&x), show(&y), "CLUSTER KEYSLOT {}", show(k));
    }
    assert_eq!(
        show(&b.cmd(&["CLUSTER", "KEYSLOT", "123456789"])),
        show(b":12739\r\n")
    );
    for cmd in [
        &["CLUSTER", "KEYSLOT"][..],
        &["CLUSTER", "KEYSLOT", "a", "b"],
    ] {
        let y = b.cmd(cmd);
        assert_eq!(
            show(&y),
            show(b"-ERR wrong number of arguments for 'cluster|keyslot' command\r\n")
        );
        assert_eq!(show(&a.cmd(cmd)), show(&y), "{cmd:?}");
    }
}

/// A key name tagged so that its slot is owned by shard `shard` of `shards`.
fn key_on_shard(shard: usize, shards: usize) -> String {
    (0..)
        .map(|i| format!("k{{t{i}}}"))
        .find(|k| suite::shard_of(k, shards) == shard)
        .unwrap_or_default()
}

/// listen-shards 1: every connection lives on shard 0, which a script's undeclared key shows
/// (scripts reach undeclared keys only on their own shard). With every shard listening, the
/// connections spread, and some land on shard 1.
#[test]
fn listen_shards_keeps_connections_on_the_first_shards() {
    if suite::against_redis() {
        return; // a Shoal setting; Redis has one thread.
    }
    let (on0, on1) = (key_on_shard(0, 2), key_on_shard(1, 2));
    let script = |k: &str| format!("return redis.call('set', '{k}', 1)");
    let s = Server::shoal_with(&["--shards", "2", "--listen-shards", "1"]);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "listen-shards"]),
        b"*2\r\n$13\r\nlisten-shards\r\n$1\r\n1\r\n"
    );
    for _ in 0..16 {
        let mut c = s.conn();
        assert_eq!(c.cmd(&["EVAL", &script(&on0), "0"]), b"+OK\r\n");
        let r = show(&c.cmd(&["EVAL", &script(&on1), "0"]));
        assert!(r.contains("non local key"), "{r}");
    }
    let s = Server::shoal(2);
    let homes: BTreeSet<bool> = (0..32)
        .map(|_| s.conn().cmd(&["EVAL", &script(&on0), "0"]) == b"+OK\r\n")
        .collect();
    assert_eq!(
        homes,
        BTreeSet::from([false, true]),
        "connections on both shards"
    );
}
