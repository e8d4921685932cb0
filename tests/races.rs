//! Concurrency races against Shoal with 4 shards and against a real redis-server (7.0.15), with
//! keys spread over every shard so that each move crosses cores: many pipelined client threads
//! run a bounded number of operations while reader threads check, with single atomic commands
//! and MULTI/EXEC, that an invariant holds at every moment; at the end the invariant is checked
//! again, and every successful move the clients were told about must account exactly for where
//! things ended (a flow check: initial + moved in - moved out = final, per item and place).
//!
//! - RENAME / RENAMENX / MULTI{COPY REPLACE, DEL} around a ring of 8 keys: exactly one ring key
//!   exists at every moment and it holds the token (and its TTL).
//! - SMOVE of 200 members between 6 sets: every member is in exactly one set.
//! - LMOVE / RPOPLPUSH between 6 lists: no element is lost or duplicated, also with BLMOVE
//!   among them (and few elements, so that clients block and are served or time out).
//! - MSET / MSETNX / DEL of 8 keys against MGET: no read sees half a write, and no reader sees
//!   a writer's values go back.
//!
//! `SHOAL_RACE_OPS=n` sets the operations per test and server (default 12,000); each test prints
//! the operations done and the operations per second on each server.

mod suite;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use suite::{encode, parse, shard_of, show, Conn, Resp, Server};

const SHARDS: usize = 4;
/// Client threads that change things.
const WORKERS: usize = 8;
/// Client threads that check the invariant while the workers run.
const READERS: usize = 2;
/// Operations a worker sends before it reads their replies.
const DEPTH: usize = 16;
/// Operations per test and server when `SHOAL_RACE_OPS` is not set.
const DEFAULT_OPS: usize = 12_000;
/// Below this many operations the readers are not required to have seen the state change.
const MIN_OPS_FOR_CHANGE: usize = 4_000;

fn servers() -> Vec<Server> {
    vec![Server::shoal(SHARDS), Server::redis()]
}

/// `SHOAL_RACE_OPS`, or the default.
fn total_ops() -> usize {
    match std::env::var("SHOAL_RACE_OPS") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .unwrap_or_else(|_| panic!("SHOAL_RACE_OPS={v:?} is not a number")),
        _ => DEFAULT_OPS,
    }
}

/// The operations each worker runs.
fn ops_per_worker() -> usize {
    total_ops().div_ceil(WORKERS).max(1)
}

/// `n` keys `prefix<number>`, key `i` on shard `i % 4` of a 4-shard Shoal.
fn spread_keys(prefix: &str, n: usize) -> Vec<String> {
    let mut keys: Vec<String> = vec![];
    for i in 0..n {
        let k = (0..)
            .map(|j| format!("{prefix}{j}"))
            .find(|k| shard_of(k, SHARDS) == i % SHARDS && !keys.contains(k))
            .unwrap();
        keys.push(k);
    }
    let shards: BTreeSet<usize> = keys.iter().map(|k| shard_of(k, SHARDS)).collect();
    assert_eq!(
        shards.len(),
        SHARDS.min(n),
        "{keys:?} do not cover the shards"
    );
    keys
}

/// A small xorshift generator.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
        Rng((0x9E37_79B9_7F4A_7C15 ^ nanos ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number below `n` other than `not`.
    fn other(&mut self, n: usize, not: usize) -> usize {
        (not + 1 + self.below(n - 1)) % n
    }
}

/// Counts a worker as finished when dropped (also when it panics).
struct Finished<'a>(&'a AtomicUsize);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What a race did.
struct Outcome {
    elapsed: Duration,
    reads: usize,
}

/// Runs `work(worker, conn)` on [`WORKERS`] threads, and `read(reader, iteration, conn)` in a
/// loop on [`READERS`] threads until every worker has finished. `elapsed` is the time until the
/// last worker finished.
fn race<W, R>(s: &Server, work: W, read: R) -> Outcome
where
    W: Fn(usize, &mut Conn) + Sync,
    R: Fn(usize, usize, &mut Conn) + Sync,
{
    let finished = AtomicUsize::new(0);
    let reads = AtomicUsize::new(0);
    let start = Instant::now();
    let mut elapsed = Duration::ZERO;
    std::thread::scope(|scope| {
        let (work, read, finished, reads) = (&work, &read, &finished, &reads);
        let workers: Vec<_> = (0..WORKERS)
            .map(|t| {
                scope.spawn(move || {
                    let _done = Finished(finished);
                    let mut c = s.conn();
                    work(t, &mut c);
                })
            })
            .collect();
        for r in 0..READERS {
            scope.spawn(move || {
                let mut c = s.conn();
                let mut i = 0;
                while finished.load(Ordering::SeqCst) < WORKERS {
                    read(r, i, &mut c);
                    reads.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
        let mut panicked = None;
        for w in workers {
            if let Err(e) = w.join() {
                panicked.get_or_insert(e);
            }
        }
        elapsed = start.elapsed();
        if let Some(e) = panicked {
            // The readers stop: every worker counts as finished.
            std::panic::resume_unwind(e);
        }
    });
    s.assert_running();
    Outcome {
        elapsed,
        reads: reads.load(Ordering::Relaxed),
    }
}

/// Prints the numbers a long run is quoted by.
fn report(test: &str, label: &str, ops: usize, what: &str, out: &Outcome) {
    let secs = out.elapsed.as_secs_f64();
    eprintln!(
        "{test}: {label}: {ops} ops ({what}) in {secs:.2} s = {:.0} ops/s; {} reader checks",
        ops as f64 / secs.max(1e-9),
        out.reads
    );
}

/// One pipelined operation: its bytes, how many replies it gets, and what it is (for messages).
struct Op<T> {
    tag: T,
    wire: Vec<u8>,
    replies: usize,
    what: String,
}

impl<T> Op<T> {
    fn cmd<A: AsRef<[u8]>>(tag: T, args: &[A]) -> Op<T> {
        Op {
            tag,
            wire: encode(args),
            replies: 1,
            what: describe(args),
        }
    }

    /// MULTI, the commands, EXEC.
    fn multi(tag: T, cmds: &[&[&str]]) -> Op<T> {
        let mut wire = encode(&["MULTI"]);
        for c in cmds {
            wire.extend(encode(c));
        }
        wire.extend(encode(&["EXEC"]));
        let inner: Vec<String> = cmds.iter().map(|c| describe(c)).collect();
        Op {
            tag,
            wire,
            replies: cmds.len() + 2,
            what: format!("MULTI, {}, EXEC", inner.join(", ")),
        }
    }
}

fn describe<A: AsRef<[u8]>>(args: &[A]) -> String {
    args.iter()
        .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sends the operations in one write, then reads every reply: each operation with what it was
/// and its replies.
fn pipeline<T>(c: &mut Conn, label: &str, ops: Vec<Op<T>>) -> Vec<(T, String, Vec<Vec<u8>>)> {
    let wire: Vec<u8> = ops.iter().flat_map(|o| o.wire.iter().copied()).collect();
    c.send(&wire);
    let all: Vec<String> = ops.iter().map(|o| o.what.clone()).collect();
    ops.into_iter()
        .enumerate()
        .map(|(i, o)| {
            let replies = (0..o.replies)
                .map(|_| {
                    c.read_reply().unwrap_or_else(|e| {
                        panic!(
                            "{label}: no reply to `{}` (operation {i} of a pipeline of {}): {e}; \
                             the pipeline was: {all:?}",
                            o.what,
                            all.len()
                        )
                    })
                })
                .collect();
            (o.tag, o.what, replies)
        })
        .collect()
}

/// The EXEC reply of a pipelined MULTI ... EXEC, after checking +OK and the +QUEUEDs.
fn exec_reply<'a>(label: &str, what: &str, replies: &'a [Vec<u8>]) -> &'a [u8] {
    let (exec, queued) = replies.split_last().unwrap();
    assert_eq!(
        show(&queued[0]),
        show(b"+OK\r\n"),
        "{label}: MULTI of {what}"
    );
    for q in &queued[1..] {
        assert_eq!(show(q), show(b"+QUEUED\r\n"), "{label}: queueing {what}");
    }
    exec
}

/// MULTI, the commands, EXEC in one write: the EXEC's replies.
fn multi(c: &mut Conn, label: &str, cmds: &[Vec<String>]) -> Vec<Resp> {
    let mut wire = encode(&["MULTI"]);
    for cmd in cmds {
        wire.extend(encode(cmd));
    }
    wire.extend(encode(&["EXEC"]));
    c.send(&wire);
    assert_eq!(show(&c.reply()), show(b"+OK\r\n"), "{label}: MULTI");
    for cmd in cmds {
        assert_eq!(
            show(&c.reply()),
            show(b"+QUEUED\r\n"),
            "{label}: queueing {}",
            cmd.join(" ")
        );
    }
    match parse(&c.reply()) {
        Resp::Array(items) if items.len() == cmds.len() => items,
        other => panic!("{label}: EXEC of {} commands gave {other:?}", cmds.len()),
    }
}

/// A command name followed by the keys.
fn with_keys(cmd: &str, keys: &[String]) -> Vec<String> {
    let mut v = vec![cmd.to_string()];
    v.extend(keys.iter().cloned());
    v
}

/// The items of an array reply.
fn array_of(label: &str, what: &str, r: Resp) -> Vec<Resp> {
    match r {
        Resp::Array(items) => items,
        other => panic!("{label}: {what} gave {other:?}, not an array"),
    }
}

/// The strings of an array of bulk strings.
fn bulks(label: &str, what: &str, r: Resp) -> Vec<Vec<u8>> {
    array_of(label, what, r)
        .into_iter()
        .map(|i| match i {
            Resp::Bulk(b) => b,
            other => panic!("{label}: {what} gave {other:?} among its elements"),
        })
        .collect()
}

fn int(label: &str, what: &str, r: &Resp) -> i64 {
    match r {
        Resp::Int(n) => *n,
        other => panic!("{label}: {what} gave {other:?}, not an integer"),
    }
}

/// How many copies of each item are at each place: `(item, place) -> count`.
type Counts = BTreeMap<(usize, usize), i64>;

/// Adds `n` to `(item, place)`.
fn add(counts: &mut Counts, item: usize, place: usize, n: i64) {
    *counts.entry((item, place)).or_insert(0) += n;
}

/// The elements of every container, read by one MULTI of `read` commands (one per container,
/// in order), tallied as `(item, container) -> copies`; every element must be a known item
/// (`index`) and every item must be there exactly `copies` times in all. `names` name the
/// items in messages.
fn tally(
    c: &mut Conn,
    label: &str,
    what: &str,
    read: &[Vec<String>],
    index: &BTreeMap<Vec<u8>, usize>,
    names: &[String],
    copies: i64,
) -> Counts {
    let mut counts = Counts::new();
    let mut per_item = vec![0; names.len()];
    let cmd = read[0][0].as_str();
    for (p, r) in multi(c, label, read).into_iter().enumerate() {
        for e in bulks(label, cmd, r) {
            let Some(&i) = index.get(&e) else {
                panic!(
                    "{label}: {what}: unknown element {} in {}",
                    show(&e),
                    read[p][1]
                )
            };
            add(&mut counts, i, p, 1);
            per_item[i] += 1;
        }
    }
    let wrong: Vec<String> = per_item
        .iter()
        .enumerate()
        .filter(|(_, &n)| n != copies)
        .map(|(i, n)| format!("{} {n} times", names[i]))
        .collect();
    assert!(
        wrong.is_empty(),
        "{label}: {what}: elements not there {copies} times: {wrong:?}"
    );
    counts
}

/// The flow check: for every item and place, the copies there at the start, plus the moves in,
/// minus the moves out that the server acknowledged, must be the copies there at the end.
fn check_flow(label: &str, what: &str, initial: &Counts, net: &Counts, fin: &Counts) {
    if let Err(wrong) = flow_mismatches(initial, net, fin) {
        panic!(
            "{label}: {what}: the acknowledged moves do not account for the end state ({} \
             mismatches):\n{}",
            wrong.len(),
            wrong[..wrong.len().min(20)].join("\n")
        );
    }
}

/// The places where the flow does not add up, described.
fn flow_mismatches(initial: &Counts, net: &Counts, fin: &Counts) -> Result<(), Vec<String>> {
    let places: BTreeSet<&(usize, usize)> =
        initial.keys().chain(net.keys()).chain(fin.keys()).collect();
    let mut wrong = vec![];
    for p in places {
        let get = |c: &Counts| c.get(p).copied().unwrap_or(0);
        if get(initial) + get(net) != get(fin) {
            wrong.push(format!(
                "item {} at place {}: {} at the start, {:+} acknowledged moves, {} at the end",
                p.0,
                p.1,
                get(initial),
                get(net),
                get(fin)
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong)
    }
}

#[test]
fn the_flow_check_catches_a_lost_or_invented_move() {
    // One item, at place 0, acknowledged to have moved to place 2.
    let mut initial = Counts::new();
    add(&mut initial, 0, 0, 1);
    let mut net = Counts::new();
    add(&mut net, 0, 0, -1);
    add(&mut net, 0, 2, 1);
    let end = |place: usize, n: i64| {
        let mut fin = Counts::new();
        add(&mut fin, 0, place, n);
        fin
    };
    assert_eq!(flow_mismatches(&initial, &net, &end(2, 1)), Ok(()));
    // Not moved, moved elsewhere, duplicated, lost.
    for fin in [end(0, 1), end(1, 1), end(2, 2), Counts::new()] {
        assert!(
            flow_mismatches(&initial, &net, &fin).is_err(),
            "the flow check accepted {fin:?}"
        );
    }
}

#[test]
fn spread_keys_cover_every_shard() {
    for n in [4, 6, 8] {
        let keys = spread_keys("k", n);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(shard_of(k, SHARDS), i % SHARDS, "{keys:?}");
        }
    }
}

/// RENAME, RENAMENX and MULTI{COPY REPLACE, DEL} around a ring of keys on every shard: exactly
/// one ring key exists at every moment, holding the token and its TTL.
#[test]
fn rename_chains_keep_exactly_one_token() {
    const K: usize = 8;
    let token = "the-token:0123456789abcdefghijklmnopqrstuvwxyz";
    let per_worker = ops_per_worker();
    for s in servers() {
        let label = s.label().to_string();
        let keys = spread_keys("ring", K);
        let mut c = s.conn();
        assert_eq!(show(&c.cmd(&["SET", &keys[0], token])), show(b"+OK\r\n"));
        assert_eq!(
            show(&c.cmd(&["EXPIRE", &keys[0], "1000000"])),
            show(b":1\r\n")
        );
        let net = Mutex::new(Counts::new());
        let moves = AtomicUsize::new(0);
        let seen = Mutex::new(BTreeSet::new());
        let (exists_checks, mget_checks, multi_checks) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        // Exactly one bulk of the replies is the token; its index.
        let one_token = |what: &str, items: Vec<Resp>| -> usize {
            let mut at = vec![];
            for (i, r) in items.iter().enumerate() {
                match r {
                    Resp::Nil => {}
                    Resp::Bulk(b) if b == token.as_bytes() => at.push(i),
                    other => panic!("{label}: {what}: ring key {} holds {other:?}", keys[i]),
                }
            }
            assert_eq!(
                at.len(),
                1,
                "{label}: {what}: the token is at ring keys {at:?}, not at exactly one"
            );
            at[0]
        };
        let out = race(
            &s,
            |t, c| {
                let mut rng = Rng::new(t as u64 + 1);
                let mut local = Counts::new();
                let mut moved = 0;
                let mut guess = 0;
                let mut done = 0;
                while done < per_worker {
                    let n = DEPTH.min(per_worker - done);
                    let ops: Vec<Op<(usize, usize, usize)>> = (0..n)
                        .map(|_| {
                            let i = if rng.below(2) == 0 {
                                guess
                            } else {
                                rng.below(K)
                            };
                            let j = rng.other(K, i);
                            let (a, b) = (keys[i].as_str(), keys[j].as_str());
                            match rng.below(8) {
                                0..=3 => Op::cmd((0, i, j), &["RENAME", a, b]),
                                4..=5 => Op::cmd((1, i, j), &["RENAMENX", a, b]),
                                _ => {
                                    Op::multi((2, i, j), &[&["COPY", a, b, "REPLACE"], &["DEL", a]])
                                }
                            }
                        })
                        .collect();
                    for ((kind, i, j), what, replies) in pipeline(c, &label, ops) {
                        let ok = match (kind, replies[0].as_slice()) {
                            (0, b"+OK\r\n") | (1, b":1\r\n") => true,
                            (0 | 1, b"-ERR no such key\r\n") => false,
                            (0 | 1, r) => panic!("{label}: {what} gave {}", show(r)),
                            _ => match exec_reply(&label, &what, &replies) {
                                b"*2\r\n:1\r\n:1\r\n" => true,
                                b"*2\r\n:0\r\n:0\r\n" => false,
                                r => panic!("{label}: EXEC of {what} gave {}", show(r)),
                            },
                        };
                        if ok {
                            add(&mut local, 0, i, -1);
                            add(&mut local, 0, j, 1);
                            guess = j;
                            moved += 1;
                        }
                    }
                    done += n;
                }
                moves.fetch_add(moved, Ordering::Relaxed);
                let mut net = net.lock().unwrap();
                for ((item, place), n) in local {
                    add(&mut net, item, place, n);
                }
            },
            |r, i, c| match (r + i) % 3 {
                0 => {
                    let got = c.cmd(&with_keys("EXISTS", &keys));
                    assert_eq!(
                        show(&got),
                        show(b":1\r\n"),
                        "{label}: EXISTS of the ring keys {keys:?}"
                    );
                    exists_checks.fetch_add(1, Ordering::Relaxed);
                }
                1 => {
                    let items = array_of(&label, "MGET", parse(&c.cmd(&with_keys("MGET", &keys))));
                    let at = one_token("MGET of the ring", items);
                    seen.lock().unwrap().insert(at);
                    mget_checks.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    let mut cmds: Vec<Vec<String>> =
                        keys.iter().map(|k| vec!["GET".into(), k.clone()]).collect();
                    cmds.push(with_keys("EXISTS", &keys));
                    let mut items = multi(c, &label, &cmds);
                    let exists = items.pop().unwrap();
                    assert_eq!(exists, Resp::Int(1), "{label}: EXISTS inside MULTI");
                    let at = one_token("MULTI of GETs of the ring", items);
                    seen.lock().unwrap().insert(at);
                    multi_checks.fetch_add(1, Ordering::Relaxed);
                }
            },
        );
        // The end state: one key, the token, its TTL.
        let items = array_of(&label, "MGET", parse(&c.cmd(&with_keys("MGET", &keys))));
        let at = one_token("final MGET of the ring", items);
        assert_eq!(show(&c.cmd(&with_keys("EXISTS", &keys))), show(b":1\r\n"));
        assert_eq!(
            show(&c.cmd(&["DBSIZE"])),
            show(b":1\r\n"),
            "{label}: DBSIZE"
        );
        let ttl = int(&label, "TTL", &parse(&c.cmd(&["TTL", &keys[at]])));
        assert!(
            (1..=1_000_000).contains(&ttl),
            "{label}: the token's TTL is {ttl} at the end"
        );
        let mut initial = Counts::new();
        add(&mut initial, 0, 0, 1);
        let mut fin = Counts::new();
        add(&mut fin, 0, at, 1);
        check_flow(&label, "the token", &initial, &net.lock().unwrap(), &fin);
        let moves = moves.load(Ordering::Relaxed);
        let seen = seen.lock().unwrap().len();
        let counts =
            [&exists_checks, &mget_checks, &multi_checks].map(|a| a.load(Ordering::Relaxed));
        assert!(moves > 0, "{label}: the token never moved");
        assert!(
            counts.iter().all(|&n| n > 0),
            "{label}: reader checks {counts:?}"
        );
        if per_worker * WORKERS >= MIN_OPS_FOR_CHANGE {
            assert!(
                seen >= 2,
                "{label}: the readers saw the token at only {seen} key"
            );
        }
        report(
            "rename",
            &label,
            per_worker * WORKERS,
            &format!(
                "{moves} moves; readers: {} EXISTS, {} MGET, {} MULTI, token seen at {seen} keys",
                counts[0], counts[1], counts[2]
            ),
            &out,
        );
    }
}

/// SMOVE of members between sets on every shard: every member is in exactly one set.
#[test]
fn smove_keeps_every_member_in_exactly_one_set() {
    const S: usize = 6;
    const M: usize = 200;
    // Half integers (intset), half strings.
    let members: Vec<String> = (0..M)
        .map(|i| {
            if i < M / 2 {
                i.to_string()
            } else {
                format!("m{i}")
            }
        })
        .collect();
    let index: BTreeMap<Vec<u8>, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_bytes().to_vec(), i))
        .collect();
    let per_worker = ops_per_worker();
    for s in servers() {
        let label = s.label().to_string();
        let sets = spread_keys("set", S);
        let mut c = s.conn();
        let mut initial = Counts::new();
        for (p, set) in sets.iter().enumerate() {
            let mut args = vec!["SADD".to_string(), set.clone()];
            for (m, member) in members.iter().enumerate().filter(|(m, _)| m % S == p) {
                args.push(member.clone());
                add(&mut initial, m, p, 1);
            }
            let want = format!(":{}\r\n", args.len() - 2);
            assert_eq!(show(&c.cmd(&args)), show(want.as_bytes()), "{label}: SADD");
        }
        // The members of each set, from one MULTI of SMEMBERS: `(member, set) -> 1`, checking
        // that every member is in exactly one set.
        let read: Vec<Vec<String>> = sets
            .iter()
            .map(|k| vec!["SMEMBERS".into(), k.clone()])
            .collect();
        let placement = |c: &mut Conn, what: &str| -> Counts {
            tally(c, &label, what, &read, &index, &members, 1)
        };
        let sunion = |c: &mut Conn, what: &str| {
            let mut got = bulks(&label, "SUNION", parse(&c.cmd(&with_keys("SUNION", &sets))));
            got.sort();
            let n = got.len();
            got.dedup();
            assert_eq!(got.len(), n, "{label}: {what}: SUNION repeats members");
            let want: Vec<Vec<u8>> = index.keys().cloned().collect();
            assert!(
                got == want,
                "{label}: {what}: SUNION has {} members, not the {M}",
                got.len()
            );
        };
        let scards = |c: &mut Conn, what: &str| -> Vec<i64> {
            let cmds: Vec<Vec<String>> = sets
                .iter()
                .map(|k| vec!["SCARD".into(), k.clone()])
                .collect();
            let v: Vec<i64> = multi(c, &label, &cmds)
                .iter()
                .map(|r| int(&label, "SCARD", r))
                .collect();
            assert_eq!(
                v.iter().sum::<i64>(),
                M as i64,
                "{label}: {what}: SCARDs {v:?}"
            );
            v
        };
        let pairs: Vec<(usize, usize)> = (0..S)
            .flat_map(|a| (a + 1..S).map(move |b| (a, b)))
            .collect();
        let net = Mutex::new(Counts::new());
        let moves = AtomicUsize::new(0);
        let seen = Mutex::new(HashSet::new());
        let checks: [AtomicUsize; 4] = Default::default();
        let out = race(
            &s,
            |t, c| {
                let mut rng = Rng::new(t as u64 + 101);
                let mut local = Counts::new();
                let mut moved = 0;
                let mut done = 0;
                while done < per_worker {
                    let n = DEPTH.min(per_worker - done);
                    let ops: Vec<Op<(usize, usize, usize)>> = (0..n)
                        .map(|_| {
                            let m = rng.below(M);
                            let from = rng.below(S);
                            let to = rng.other(S, from);
                            Op::cmd(
                                (m, from, to),
                                &["SMOVE", &sets[from], &sets[to], &members[m]],
                            )
                        })
                        .collect();
                    for ((m, from, to), what, replies) in pipeline(c, &label, ops) {
                        match replies[0].as_slice() {
                            b":1\r\n" => {
                                add(&mut local, m, from, -1);
                                add(&mut local, m, to, 1);
                                moved += 1;
                            }
                            b":0\r\n" => {}
                            r => panic!("{label}: {what} gave {}", show(r)),
                        }
                    }
                    done += n;
                }
                moves.fetch_add(moved, Ordering::Relaxed);
                let mut net = net.lock().unwrap();
                for ((item, place), n) in local {
                    add(&mut net, item, place, n);
                }
            },
            |r, i, c| {
                let kind = (r + i) % 4;
                match kind {
                    0 => sunion(c, "during the race"),
                    1 => {
                        let v = scards(c, "during the race");
                        seen.lock().unwrap().insert(v);
                    }
                    2 => {
                        placement(c, "MULTI of SMEMBERS during the race");
                    }
                    _ => {
                        let (a, b) = pairs[i % pairs.len()];
                        let got = c.cmd(&["SINTER", &sets[a], &sets[b]]);
                        assert_eq!(
                            show(&got),
                            show(b"*0\r\n"),
                            "{label}: SINTER {} {} during the race",
                            sets[a],
                            sets[b]
                        );
                    }
                }
                checks[kind].fetch_add(1, Ordering::Relaxed);
            },
        );
        for &(a, b) in &pairs {
            let got = c.cmd(&["SINTER", &sets[a], &sets[b]]);
            assert_eq!(show(&got), show(b"*0\r\n"), "{label}: final SINTER {a} {b}");
        }
        sunion(&mut c, "at the end");
        let cards = scards(&mut c, "at the end");
        let fin = placement(&mut c, "at the end");
        let nonempty = cards.iter().filter(|&&n| n > 0).count();
        let want = format!(":{nonempty}\r\n");
        assert_eq!(
            show(&c.cmd(&["DBSIZE"])),
            show(want.as_bytes()),
            "{label}: DBSIZE"
        );
        check_flow(&label, "the members", &initial, &net.lock().unwrap(), &fin);
        let moves = moves.load(Ordering::Relaxed);
        let seen = seen.lock().unwrap().len();
        let checks = checks.each_ref().map(|a| a.load(Ordering::Relaxed));
        assert!(moves > 0, "{label}: no SMOVE moved anything");
        assert!(
            checks.iter().all(|&n| n > 0),
            "{label}: reader checks {checks:?}"
        );
        if per_worker * WORKERS >= MIN_OPS_FOR_CHANGE {
            assert!(
                seen >= 2,
                "{label}: the readers saw {seen} distinct SCARD vectors"
            );
        }
        report(
            "smove",
            &label,
            per_worker * WORKERS,
            &format!(
                "{moves} moves; readers: {} SUNION, {} MULTI SCARD, {} MULTI SMEMBERS, {} SINTER, \
                 {seen} distinct SCARD vectors",
                checks[0], checks[1], checks[2], checks[3]
            ),
            &out,
        );
    }
}

/// LMOVE and RPOPLPUSH between lists on every shard: no element is lost or duplicated.
#[test]
fn list_moves_lose_and_duplicate_nothing() {
    list_race("lists", false);
}

/// The same with BLMOVE (10 ms timeout) among the moves: a blocked client is served or times
/// out, and elements are still neither lost nor duplicated. (This found a lost wake-up: a push
/// that waited for the blocking command's locks could serve or wake its waiter before the
/// client's home had marked it blocked; the home now keeps such an early wake-up.)
#[test]
fn blmove_among_list_moves_is_served_or_times_out() {
    list_race("blmove", true);
}

/// Moves elements between 6 lists on every shard from [`WORKERS`] pipelined clients (with
/// BLMOVE among them when `blocking`) while readers check the lengths and the elements.
fn list_race(test: &str, blocking: bool) {
    const L: usize = 6;
    const COPIES: usize = 2;
    // With BLMOVE, few elements, so that lists are often empty and clients block.
    let values_n = if blocking { 6 } else { 60 };
    let n_elements = values_n * COPIES;
    let values: Vec<String> = (0..values_n).map(|v| format!("e{v}")).collect();
    let index: BTreeMap<Vec<u8>, usize> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_bytes().to_vec(), i))
        .collect();
    let ends = ["LEFT", "RIGHT"];
    let per_worker = ops_per_worker();
    for s in servers() {
        let label = s.label().to_string();
        let lists = spread_keys("list", L);
        let mut c = s.conn();
        let mut initial = Counts::new();
        for (p, list) in lists.iter().enumerate() {
            let mut args = vec!["RPUSH".to_string(), list.clone()];
            for e in (0..n_elements).filter(|e| e % L == p) {
                args.push(values[e % values_n].clone());
                add(&mut initial, e % values_n, p, 1);
            }
            let want = format!(":{}\r\n", args.len() - 2);
            assert_eq!(show(&c.cmd(&args)), show(want.as_bytes()), "{label}: RPUSH");
        }
        // Every list's elements from one MULTI of LRANGEs, checking the multiset.
        let read: Vec<Vec<String>> = lists
            .iter()
            .map(|k| vec!["LRANGE".into(), k.clone(), "0".into(), "-1".into()])
            .collect();
        let contents = |c: &mut Conn, what: &str| -> Counts {
            tally(c, &label, what, &read, &index, &values, COPIES as i64)
        };
        let llens = |c: &mut Conn, what: &str| -> Vec<i64> {
            let cmds: Vec<Vec<String>> = lists
                .iter()
                .map(|k| vec!["LLEN".into(), k.clone()])
                .collect();
            let v: Vec<i64> = multi(c, &label, &cmds)
                .iter()
                .map(|r| int(&label, "LLEN", r))
                .collect();
            assert_eq!(
                v.iter().sum::<i64>(),
                n_elements as i64,
                "{label}: {what}: LLENs {v:?}"
            );
            v
        };
        let net = Mutex::new(Counts::new());
        let (moves, empties, timeouts) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let seen = Mutex::new(HashSet::new());
        let checks: [AtomicUsize; 2] = Default::default();
        let out = race(
            &s,
            |t, c| {
                let mut rng = Rng::new(t as u64 + 201);
                let mut local = Counts::new();
                let (mut moved, mut empty_src, mut timed_out) = (0, 0, 0);
                let mut done = 0;
                while done < per_worker {
                    let n = DEPTH.min(per_worker - done);
                    let ops: Vec<Op<(bool, usize, usize)>> = (0..n)
                        .map(|_| {
                            let from = rng.below(L);
                            let to = rng.below(L);
                            let (a, b) = (lists[from].as_str(), lists[to].as_str());
                            let (wf, wt) = (ends[rng.below(2)], ends[rng.below(2)]);
                            match rng.below(8) {
                                0..=4 => Op::cmd((false, from, to), &["LMOVE", a, b, wf, wt]),
                                5 | 6 => Op::cmd((false, from, to), &["RPOPLPUSH", a, b]),
                                _ if blocking => {
                                    Op::cmd((true, from, to), &["BLMOVE", a, b, wf, wt, "0.01"])
                                }
                                _ => Op::cmd((false, from, to), &["LMOVE", a, b, wf, wt]),
                            }
                        })
                        .collect();
                    for ((blocks, from, to), what, replies) in pipeline(c, &label, ops) {
                        let r = &replies[0];
                        // A source list that stays empty: nil, or for BLMOVE the timeout's
                        // null array.
                        let empty: &[u8] = if blocks { b"*-1\r\n" } else { b"$-1\r\n" };
                        if r == empty {
                            if blocks {
                                timed_out += 1;
                            } else {
                                empty_src += 1;
                            }
                            continue;
                        }
                        let Resp::Bulk(e) = parse(r) else {
                            panic!("{label}: {what} gave {}", show(r))
                        };
                        let Some(&v) = index.get(&e) else {
                            panic!("{label}: {what} moved an unknown element {}", show(&e))
                        };
                        add(&mut local, v, from, -1);
                        add(&mut local, v, to, 1);
                        moved += 1;
                    }
                    done += n;
                }
                moves.fetch_add(moved, Ordering::Relaxed);
                empties.fetch_add(empty_src, Ordering::Relaxed);
                timeouts.fetch_add(timed_out, Ordering::Relaxed);
                let mut net = net.lock().unwrap();
                for ((item, place), n) in local {
                    add(&mut net, item, place, n);
                }
            },
            |r, i, c| {
                let kind = (r + i) % 2;
                if kind == 0 {
                    let v = llens(c, "during the race");
                    seen.lock().unwrap().insert(v);
                } else {
                    contents(c, "MULTI of LRANGEs during the race");
                }
                checks[kind].fetch_add(1, Ordering::Relaxed);
            },
        );
        let lens = llens(&mut c, "at the end");
        let fin = contents(&mut c, "at the end");
        let nonempty = lens.iter().filter(|&&n| n > 0).count();
        let want = format!(":{nonempty}\r\n");
        assert_eq!(
            show(&c.cmd(&["DBSIZE"])),
            show(want.as_bytes()),
            "{label}: DBSIZE"
        );
        check_flow(&label, "the elements", &initial, &net.lock().unwrap(), &fin);
        let moves = moves.load(Ordering::Relaxed);
        let empties = empties.load(Ordering::Relaxed);
        let timeouts = timeouts.load(Ordering::Relaxed);
        let seen = seen.lock().unwrap().len();
        let checks = checks.each_ref().map(|a| a.load(Ordering::Relaxed));
        assert!(moves > 0, "{label}: nothing moved");
        assert!(
            checks.iter().all(|&n| n > 0),
            "{label}: reader checks {checks:?}"
        );
        if per_worker * WORKERS >= MIN_OPS_FOR_CHANGE {
            assert!(
                seen >= 2,
                "{label}: the readers saw {seen} distinct LLEN vectors"
            );
            // Sources were empty at times, so BLMOVEs had to block then.
            assert!(!blocking || empties > 0, "{label}: no list was ever empty");
        }
        report(
            test,
            &label,
            per_worker * WORKERS,
            &format!(
                "{moves} moves, {empties} from an empty list{}; readers: {} MULTI LLEN, {} MULTI \
                 LRANGE, {seen} distinct LLEN vectors",
                if blocking {
                    format!(", {timeouts} BLMOVE timeouts")
                } else {
                    String::new()
                },
                checks[0],
                checks[1]
            ),
            &out,
        );
    }
}

/// Writers set all keys to one value per write (MSET, MSETNX after a DEL) or delete them all;
/// readers (MGET, MULTI of GETs, EXISTS) never see half a write, nor a writer's writes go back.
#[test]
fn overlapping_msets_are_never_torn() {
    const K: usize = 8;
    let per_worker = ops_per_worker();
    for s in servers() {
        let label = s.label().to_string();
        let keys = spread_keys("mk", K);
        let mut c = s.conn();
        let mut args = vec!["MSET".to_string()];
        for k in &keys {
            args.push(k.clone());
            args.push("init".into());
        }
        assert_eq!(show(&c.cmd(&args)), show(b"+OK\r\n"), "{label}: MSET");
        let last = Mutex::new(vec![String::new(); WORKERS]);
        let (sets, dels) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let seen = Mutex::new(HashSet::new());
        let checks: [AtomicUsize; 3] = Default::default();
        // Per reader: the highest write number seen of each writer, and whether any writer's
        // value was seen ("init" may not come back after that).
        let progress = Mutex::new(vec![(vec![0u64; WORKERS], false); READERS]);
        // The common value of one read (None: all keys missing).
        let common = |what: &str, items: &[Resp]| -> Option<Vec<u8>> {
            let first = &items[0];
            assert!(
                items.iter().all(|r| r == first),
                "{label}: torn {what}: {items:?}"
            );
            match first {
                Resp::Nil => None,
                Resp::Bulk(b) => Some(b.clone()),
                other => panic!("{label}: {what} gave {other:?}"),
            }
        };
        let out = race(
            &s,
            |t, c| {
                let mut rng = Rng::new(t as u64 + 301);
                let mut n = 0u64;
                let mut done = 0;
                let (mut set_ok, mut del_ok) = (0, 0);
                let set_args = |cmd: &str, v: &str| -> Vec<String> {
                    let mut args = vec![cmd.to_string()];
                    for k in &keys {
                        args.push(k.clone());
                        args.push(v.to_string());
                    }
                    args
                };
                while done < per_worker {
                    let count = DEPTH.min(per_worker - done);
                    let ops: Vec<Op<(usize, String)>> = (0..count)
                        .map(|o| {
                            n += 1;
                            let v = format!("w{t}:{n}");
                            // The last operation is an MSET, so the end state is a writer's last.
                            let kind = if done + o + 1 == per_worker {
                                2
                            } else {
                                match rng.below(32) {
                                    0 => 0,
                                    1..=2 => 1,
                                    _ => 2,
                                }
                            };
                            match kind {
                                0 => Op::cmd((0, v), &with_keys("DEL", &keys)),
                                1 => Op::cmd((1, v.clone()), &set_args("MSETNX", &v)),
                                _ => Op::cmd((2, v.clone()), &set_args("MSET", &v)),
                            }
                        })
                        .collect();
                    for ((kind, v), what, replies) in pipeline(c, &label, ops) {
                        let r = replies[0].as_slice();
                        match (kind, r) {
                            (0, b":0\r\n") => {}
                            (0, b":8\r\n") => del_ok += 1,
                            (1, b":0\r\n") => {}
                            (1, b":1\r\n") | (2, b"+OK\r\n") => set_ok += 1,
                            _ => panic!("{label}: {what} gave {}", show(r)),
                        }
                        if kind == 2 {
                            last.lock().unwrap()[t] = v;
                        }
                    }
                    done += count;
                }
                sets.fetch_add(set_ok, Ordering::Relaxed);
                dels.fetch_add(del_ok, Ordering::Relaxed);
            },
            |r, i, c| {
                let kind = (r + i) % 3;
                let value = match kind {
                    0 => {
                        let items =
                            array_of(&label, "MGET", parse(&c.cmd(&with_keys("MGET", &keys))));
                        common("MGET", &items)
                    }
                    1 => {
                        let cmds: Vec<Vec<String>> =
                            keys.iter().map(|k| vec!["GET".into(), k.clone()]).collect();
                        common("MULTI of GETs", &multi(c, &label, &cmds))
                    }
                    _ => {
                        let got = c.cmd(&with_keys("EXISTS", &keys));
                        assert!(
                            got == b":0\r\n" || got == b":8\r\n",
                            "{label}: EXISTS of the 8 keys gave {}",
                            show(&got)
                        );
                        None
                    }
                };
                checks[kind].fetch_add(1, Ordering::Relaxed);
                let Some(value) = value else { return };
                let text = String::from_utf8(value).unwrap();
                let mut progress = progress.lock().unwrap();
                let (highest, any) = &mut progress[r];
                if text == "init" {
                    assert!(
                        !*any,
                        "{label}: a reader saw \"init\" after a writer's value"
                    );
                    return;
                }
                let (w, n) = text
                    .strip_prefix('w')
                    .and_then(|s| s.split_once(':'))
                    .and_then(|(w, n)| Some((w.parse::<usize>().ok()?, n.parse::<u64>().ok()?)))
                    .unwrap_or_else(|| panic!("{label}: unexpected value {text:?}"));
                assert!(
                    n >= highest[w],
                    "{label}: a reader saw writer {w}'s write {n} after its write {}",
                    highest[w]
                );
                highest[w] = n;
                *any = true;
                drop(progress);
                seen.lock().unwrap().insert(text);
            },
        );
        let items = array_of(&label, "MGET", parse(&c.cmd(&with_keys("MGET", &keys))));
        let fin = common("final MGET", &items).map(|v| String::from_utf8(v).unwrap());
        let last = last.lock().unwrap();
        assert!(
            fin.as_ref().is_some_and(|v| last.contains(v)),
            "{label}: the end value {fin:?} is not one of the writers' last MSETs {last:?}"
        );
        let (sets, dels) = (sets.load(Ordering::Relaxed), dels.load(Ordering::Relaxed));
        let seen = seen.lock().unwrap().len();
        let checks = checks.each_ref().map(|a| a.load(Ordering::Relaxed));
        assert!(
            checks.iter().all(|&n| n > 0),
            "{label}: reader checks {checks:?}"
        );
        if per_worker * WORKERS >= MIN_OPS_FOR_CHANGE {
            assert!(seen >= 2, "{label}: the readers saw {seen} distinct values");
            assert!(dels > 0, "{label}: no DEL deleted the keys");
        }
        report(
            "mset",
            &label,
            per_worker * WORKERS,
            &format!(
                "{sets} writes, {dels} deletes; readers: {} MGET, {} MULTI GET, {} EXISTS, {seen} \
                 distinct values",
                checks[0], checks[1], checks[2]
            ),
            &out,
        );
    }
}
