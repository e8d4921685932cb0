//! The differential runner: a seeded generator's commands go to Shoal and to a real
//! redis-server over several connections in the same interleaving (sometimes pipelined), and
//! every reply is compared as the generator says; at the end both keyspaces must agree key by
//! key (type, content and TTL class).

use super::{encode, parse, show, Conn, Resp, Server};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Connections per server.
pub const CONNS: usize = 4;

/// How two replies are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmp {
    Exact,
    /// Integer replies compared as -2 / -1 / non-negative (TTL, PTTL, EXPIRETIME...).
    TtlClass,
    /// A top-level array compared as a sorted list (KEYS, SMEMBERS).
    Sorted,
    /// Arrays at every depth compared as multisets (SINTER of sets in hash tables, nested
    /// replies of unordered collections).
    Unordered,
    /// A flat array of pairs (HGETALL, ZRANGE WITHSCORES of ties) compared as a set of pairs.
    Pairs,
    /// A numeric SORT: as Exact, except that Redis may refuse with "One or more scores can't be
    /// converted into double" where every score converts: sort.c tests `errno == ERANGE`
    /// without clearing errno first, so an overflow parsed by any earlier command in the same
    /// thread leaks into it. Shoal sorts; generators never STORE such sorts, so the keyspaces
    /// stay identical.
    SortNumeric,
    /// A reply with a random part (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER): only its kind
    /// and, for arrays, its length are compared.
    Shape,
}

/// Canonical form of a reply under a comparison.
fn canon(r: Resp, cmp: Cmp) -> Resp {
    match (cmp, r) {
        (Cmp::TtlClass, Resp::Int(n)) => Resp::Int(n.min(0)),
        (Cmp::Sorted, Resp::Array(mut v)) => {
            v.sort();
            Resp::Array(v)
        }
        (Cmp::Unordered, Resp::Array(v)) | (Cmp::Unordered, Resp::Set(v)) => {
            let mut v: Vec<Resp> = v.into_iter().map(|x| canon(x, Cmp::Unordered)).collect();
            v.sort();
            Resp::Array(v)
        }
        (Cmp::Unordered, Resp::Map(v)) | (Cmp::Pairs, Resp::Map(v)) => {
            let mut v: Vec<(Resp, Resp)> = v
                .into_iter()
                .map(|(a, b)| (canon(a, Cmp::Unordered), canon(b, Cmp::Unordered)))
                .collect();
            v.sort();
            Resp::Map(v)
        }
        (Cmp::Pairs, Resp::Array(v)) => {
            let mut pairs: Vec<Resp> = v.chunks(2).map(|c| Resp::Array(c.to_vec())).collect();
            pairs.sort();
            Resp::Array(pairs)
        }
        (Cmp::Shape, Resp::Array(v)) => Resp::Int(v.len() as i64),
        (Cmp::Shape, Resp::Bulk(_)) => Resp::Bulk(vec![]),
        (_, r) => r,
    }
}

/// Whether two replies agree under `cmp`.
pub fn same(a: &[u8], b: &[u8], cmp: Cmp) -> bool {
    match cmp {
        Cmp::Exact => a == b,
        Cmp::SortNumeric => {
            a == b
                || (b == b"-ERR One or more scores can't be converted into double\r\n"
                    && a.first() == Some(&b'*'))
        }
        _ => canon(parse(a), cmp) == canon(parse(b), cmp),
    }
}

/// A command as it would be typed, escaped.
pub fn describe(cmd: &[String]) -> String {
    cmd.iter()
        .map(|a| show(a.as_bytes()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A generator of commands.
pub trait Generator {
    /// The next command and how its reply is compared.
    fn command(&mut self, rng: &mut SmallRng) -> (Vec<String>, Cmp);
    /// Every key the generator uses (checked at the end).
    fn keys(&self) -> &[&'static str];
}

struct Step {
    conn: usize,
    cmd: Vec<String>,
    cmp: Cmp,
}

/// Runs `steps` generated commands against Shoal with `shards` shards and against Redis.
pub fn run(seed: u64, steps: usize, shards: usize, gen: &mut dyn Generator) {
    let shoal = Server::shoal(shards);
    let redis = Server::redis();
    let mut sc: Vec<Conn> = (0..CONNS).map(|_| shoal.conn()).collect();
    let mut rc: Vec<Conn> = (0..CONNS).map(|_| redis.conn()).collect();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut history: Vec<String> = vec![];
    // The database each connection has selected (for the diagnosis of a mismatch).
    let mut selected = [0usize; CONNS];
    let mut step = 0;
    let mut compared = 0usize;
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    // SHOAL_DIFF_TRACE=1 prints every command and Redis's reply.
    let trace = std::env::var("SHOAL_DIFF_TRACE").is_ok_and(|v| !v.is_empty());
    while step < steps {
        // Mostly one command; sometimes a pipeline of several on one connection.
        let conn = rng.gen_range(0..CONNS);
        let n = if rng.gen_bool(0.08) {
            rng.gen_range(2..=6)
        } else {
            1
        };
        let batch: Vec<Step> = (0..n)
            .map(|_| {
                let (cmd, cmp) = gen.command(&mut rng);
                Step { conn, cmd, cmp }
            })
            .collect();
        let mut wire = vec![];
        for st in &batch {
            wire.extend(encode(&st.cmd));
        }
        rc[conn].send(&wire);
        sc[conn].send(&wire);
        for (i, st) in batch.iter().enumerate() {
            let b = rc[conn].reply();
            let a = match sc[conn].read_reply() {
                Ok(a) => a,
                Err(e) => panic!(
                    "seed {seed}, {shards} shard(s), step {}: no reply from {} to {} on connection {conn}: {e}\n\
                     redis replied: {}\nlast commands:\n{}\nserver output:\n{}\n(reproduce: SHOAL_DIFF_SEED={seed})",
                    step + i,
                    shoal.label(),
                    describe(&st.cmd),
                    show(&b),
                    tail(&history),
                    shoal.output()
                ),
            };
            if trace {
                eprintln!(
                    "  step {:5} conn {}: {} -> {}",
                    step + i,
                    st.conn,
                    describe(&st.cmd),
                    show(&b)
                );
            }
            history.push(format!(
                "  step {:5} conn {}{}: {} -> {}",
                step + i,
                st.conn,
                if n > 1 { " (pipelined)" } else { "" },
                describe(&st.cmd),
                show(&b)
            ));
            if !same(&a, &b, st.cmp) {
                panic!(
                    "seed {seed}, {shards} shard(s), step {}: replies differ (comparison {:?})\n\
                     command (connection {conn}, db {}): {}\n  shoal: {}\n  redis: {}\n\
                     last commands (redis replies):\n{}\n{}(reproduce: SHOAL_DIFF_SEED={seed})",
                    step + i,
                    st.cmp,
                    selected[conn],
                    describe(&st.cmd),
                    show(&a),
                    show(&b),
                    tail(&history),
                    keyspace_diff(&shoal, &redis, gen.keys())
                );
            }
            if st.cmd[0].eq_ignore_ascii_case("SELECT") && b == b"+OK\r\n" {
                selected[conn] = st.cmd[1].parse().unwrap();
            }
            compared += 1;
            let kind = match b.first() {
                Some(b'-') => String::from_utf8_lossy(&b[..b.len().min(40)])
                    .trim_end()
                    .to_string(),
                Some(b'$') if b.starts_with(b"$-1") => "nil".into(),
                Some(&t) => format!("{}", t as char),
                None => "?".into(),
            };
            *kinds.entry(kind).or_default() += 1;
        }
        step += n;
    }
    assert!(compared >= steps, "only {compared} replies compared");
    eprintln!("seed {seed}, {shards} shard(s): {compared} replies compared; reply kinds (redis): {kinds:#?}");

    // The final keyspaces must agree: every database, every key, value and TTL class.
    for db in 0..4 {
        let dbs = db.to_string();
        assert_eq!(sc[0].cmd(&["SELECT", &dbs]), rc[0].cmd(&["SELECT", &dbs]));
        let a = sc[0].cmd(&["DBSIZE"]);
        let b = rc[0].cmd(&["DBSIZE"]);
        assert_eq!(
            show(&a),
            show(&b),
            "seed {seed}, {shards} shard(s): final DBSIZE of db {db}"
        );
        let a = sc[0].cmd(&["KEYS", "*"]);
        let b = rc[0].cmd(&["KEYS", "*"]);
        assert!(
            same(&a, &b, Cmp::Sorted),
            "seed {seed}: final KEYS of db {db}: shoal {} redis {}",
            show(&a),
            show(&b)
        );
        for key in gen.keys() {
            let (a, b) = (dump_key(&mut sc[0], key), dump_key(&mut rc[0], key));
            assert_eq!(
                a, b,
                "seed {seed}, {shards} shard(s): final content of {key} in db {db}"
            );
        }
    }
    shoal.assert_running();
}

/// A key's type, content (canonical: unordered collections sorted), TTL class and encoding.
pub fn dump_key(c: &mut Conn, key: &str) -> (Resp, Resp, Resp, Resp) {
    let t = parse(&c.cmd(&["TYPE", key]));
    let content = match &t {
        Resp::Simple(s) if s == b"string" => parse(&c.cmd(&["GET", key])),
        Resp::Simple(s) if s == b"list" => parse(&c.cmd(&["LRANGE", key, "0", "-1"])),
        Resp::Simple(s) if s == b"hash" => canon(parse(&c.cmd(&["HGETALL", key])), Cmp::Pairs),
        Resp::Simple(s) if s == b"set" => canon(parse(&c.cmd(&["SMEMBERS", key])), Cmp::Sorted),
        Resp::Simple(s) if s == b"stream" => parse(&c.cmd(&["XRANGE", key, "-", "+"])),
        Resp::Simple(s) if s == b"zset" => parse(&c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"])),
        _ => Resp::Nil,
    };
    let ttl = canon(parse(&c.cmd(&["TTL", key])), Cmp::TtlClass);
    let encoding = parse(&c.cmd(&["OBJECT", "ENCODING", key]));
    (t, content, ttl, encoding)
}

/// How the keyspaces of the two servers differ, database by database: printed with a
/// mismatch, since the state may have diverged before the replies did.
pub fn keyspace_diff(shoal: &Server, redis: &Server, keys: &[&str]) -> String {
    let mut out = String::new();
    let (mut a, mut b) = (shoal.conn(), redis.conn());
    for db in 0..4 {
        a.cmd(&["SELECT", &db.to_string()]);
        b.cmd(&["SELECT", &db.to_string()]);
        for key in keys {
            let (x, y) = (dump_key(&mut a, key), dump_key(&mut b, key));
            if x != y {
                out += &format!("  db {db} key {key}: shoal {x:?}, redis {y:?}\n");
            }
        }
    }
    if out.is_empty() {
        "keyspaces now agree\n".into()
    } else {
        format!("keyspaces now differ (type, content, TTL class, encoding):\n{out}")
    }
}

fn tail(history: &[String]) -> String {
    history[history.len().saturating_sub(20)..].join("\n")
}

/// The seeds to run: `SHOAL_DIFF_SEED` when set, else `default`.
pub fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("SHOAL_DIFF_SEED") {
        Ok(s) if !s.is_empty() => vec![s.parse().expect("SHOAL_DIFF_SEED must be an integer")],
        _ => default.to_vec(),
    }
}

/// Steps per run: `SHOAL_DIFF_STEPS` when set, else `default`.
pub fn steps(default: usize) -> usize {
    match std::env::var("SHOAL_DIFF_STEPS") {
        Ok(s) if !s.is_empty() => s.parse().expect("SHOAL_DIFF_STEPS must be an integer"),
        _ => default,
    }
}

/// Picks one of `v`.
pub fn pick<'a>(rng: &mut SmallRng, v: &[&'a str]) -> &'a str {
    v[rng.gen_range(0..v.len())]
}

/// A command name in a random letter case.
pub fn name(rng: &mut SmallRng, n: &str) -> String {
    match rng.gen_range(0..10) {
        0 => n.to_ascii_lowercase(),
        1 => n
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect(),
        _ => n.to_string(),
    }
}
