//! MULTI/EXEC/DISCARD/WATCH/UNWATCH against Shoal with 4 shards and against a real
//! redis-server (7.0.15), byte for byte: queueing, queue-time errors (EXECABORT), runtime errors
//! inside EXEC, optimistic locking with WATCH (writes, deletes and expiry by other clients on
//! other cores), blocking commands inside MULTI, and races that check that a transaction is
//! atomic across cores (no torn reads, no lost updates).

mod suite;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use suite::{encode, expect, parse, shard_of, show, Conn, Resp, Server};

fn servers() -> Vec<Server> {
    vec![Server::shoal(4), Server::redis()]
}

/// Keys on the 4 shards of a 4-shard Shoal (slots are split into 4 equal ranges): "a" is on
/// shard 3, "b" on 0, "c" on 1, "d" on 2. (`spread_keys_are_on_every_shard` checks this.)
const CROSS: [&str; 4] = ["a", "b", "c", "d"];

/// `prefix0`..`prefix7`, checked to cover every shard twice.
fn eight_keys(prefix: &str) -> Vec<String> {
    let keys: Vec<String> = (0..8).map(|i| format!("{prefix}{i}")).collect();
    let mut per_shard = [0; 4];
    for k in &keys {
        per_shard[shard_of(k, 4)] += 1;
    }
    assert_eq!(
        per_shard,
        [2, 2, 2, 2],
        "{keys:?} are not spread over the shards"
    );
    keys
}

/// The RESP2 array of exactly these reply bytes.
fn array(items: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend_from_slice(i);
    }
    out
}

/// A bulk string reply.
fn bulk(v: &str) -> Vec<u8> {
    format!("${}\r\n{v}\r\n", v.len()).into_bytes()
}

/// An integer held in a bulk reply (a missing key counts as 0).
fn int_of(r: &Resp, label: &str) -> i64 {
    match r {
        Resp::Bulk(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{label}: not an integer: {r:?}")),
        Resp::Nil => 0,
        other => panic!("{label}: expected a bulk integer, got {other:?}"),
    }
}

#[test]
fn spread_keys_are_on_every_shard() {
    let shards: Vec<usize> = CROSS.iter().map(|k| shard_of(k, 4)).collect();
    assert_eq!(shards, vec![3, 0, 1, 2]);
    eight_keys("acct");
    eight_keys("m");
}

#[test]
fn multi_exec_queues_and_runs_across_cores() {
    for s in servers() {
        let mut c = s.conn();
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "a", "1"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["INCR", "a"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["GET", "a"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["LPUSH", "b", "p", "q"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["SET", "c", "v"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["INCRBY", "d", "5"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["MGET", "a", "b", "c", "d"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["LRANGE", "b", "0", "-1"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["EXEC"],
            &array(&[
                b"+OK\r\n",
                b":2\r\n",
                b"$1\r\n2\r\n",
                b":2\r\n",
                b"+OK\r\n",
                b":5\r\n",
                b"*4\r\n$1\r\n2\r\n$-1\r\n$1\r\nv\r\n$1\r\n5\r\n",
                b"*2\r\n$1\r\nq\r\n$1\r\np\r\n",
            ]),
        );
        // The effects are visible to other clients afterwards.
        let mut o = s.conn();
        expect(&s, &mut o, &["GET", "a"], b"$1\r\n2\r\n");
        expect(&s, &mut o, &["LLEN", "b"], b":2\r\n");
        expect(&s, &mut o, &["GET", "c"], b"$1\r\nv\r\n");
        expect(&s, &mut o, &["GET", "d"], b"$1\r\n5\r\n");
        // An empty transaction.
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["EXEC"], b"*0\r\n");
        // Back to normal mode after EXEC.
        expect(&s, &mut c, &["GET", "a"], b"$1\r\n2\r\n");
        expect(&s, &mut c, &["EXEC"], b"-ERR EXEC without MULTI\r\n");
    }
}

#[test]
fn whole_transaction_in_one_pipeline() {
    for s in servers() {
        let mut c = s.conn();
        let mut wire = vec![];
        for cmd in [
            &["MULTI"][..],
            &["SET", "a", "x"],
            &["APPEND", "b", "yz"],
            &["GET", "a"],
            &["EXEC"],
            &["STRLEN", "b"],
        ] {
            wire.extend(encode(cmd));
        }
        c.send(&wire);
        let got: Vec<String> = (0..6).map(|_| show(&c.reply())).collect();
        let want: Vec<String> = [
            &b"+OK\r\n"[..],
            b"+QUEUED\r\n",
            b"+QUEUED\r\n",
            b"+QUEUED\r\n",
            b"*3\r\n+OK\r\n:2\r\n$1\r\nx\r\n",
            b":2\r\n",
        ]
        .iter()
        .map(|b| show(b))
        .collect();
        assert_eq!(got, want, "{}", s.label());
    }
}

#[test]
fn exec_discard_without_multi_nested_multi_and_discard() {
    for s in servers() {
        let mut c = s.conn();
        expect(&s, &mut c, &["EXEC"], b"-ERR EXEC without MULTI\r\n");
        expect(&s, &mut c, &["DISCARD"], b"-ERR DISCARD without MULTI\r\n");
        // MULTI inside MULTI is refused but does not spoil the transaction.
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(
            &s,
            &mut c,
            &["MULTI"],
            b"-ERR MULTI calls can not be nested\r\n",
        );
        expect(&s, &mut c, &["SET", "a", "1"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["SET", "b", "2"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*2\r\n+OK\r\n+OK\r\n");
        // DISCARD drops the queue: nothing of it runs.
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "a", "changed"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["DEL", "b"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["INCR", "c"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["DISCARD"], b"+OK\r\n");
        expect(
            &s,
            &mut c,
            &["MGET", "a", "b", "c"],
            b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n",
        );
        // ...and leaves MULTI.
        expect(&s, &mut c, &["DISCARD"], b"-ERR DISCARD without MULTI\r\n");
        expect(&s, &mut c, &["EXEC"], b"-ERR EXEC without MULTI\r\n");
        expect(&s, &mut c, &["SET", "d", "1"], b"+OK\r\n");
    }
}

#[test]
fn queue_time_errors_abort_exec() {
    for s in servers() {
        let mut c = s.conn();
        expect(&s, &mut c, &["SET", "a", "orig"], b"+OK\r\n");
        // Unknown command.
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "a", "new"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["FOO", "bar"],
            b"-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n",
        );
        expect(&s, &mut c, &["SET", "b", "1"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["EXEC"],
            b"-EXECABORT Transaction discarded because of previous errors.\r\n",
        );
        expect(
            &s,
            &mut c,
            &["MGET", "a", "b"],
            b"*2\r\n$4\r\norig\r\n$-1\r\n",
        );
        // Wrong arity.
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["INCR", "c"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["SET", "a"],
            b"-ERR wrong number of arguments for 'set' command\r\n",
        );
        expect(&s, &mut c, &["LPUSH", "d", "x"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["EXEC"],
            b"-EXECABORT Transaction discarded because of previous errors.\r\n",
        );
        expect(
            &s,
            &mut c,
            &["MGET", "a", "c", "d"],
            b"*3\r\n$4\r\norig\r\n$-1\r\n$-1\r\n",
        );
        // An unknown command with no arguments; the connection is out of MULTI afterwards.
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(
            &s,
            &mut c,
            &["NOPE"],
            b"-ERR unknown command 'NOPE', with args beginning with: \r\n",
        );
        expect(
            &s,
            &mut c,
            &["EXEC"],
            b"-EXECABORT Transaction discarded because of previous errors.\r\n",
        );
        expect(&s, &mut c, &["EXEC"], b"-ERR EXEC without MULTI\r\n");
        expect(&s, &mut c, &["GET", "a"], b"$4\r\norig\r\n");
        // A failed transaction can be followed by a good one.
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "a", "new"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*1\r\n+OK\r\n");
        expect(&s, &mut c, &["GET", "a"], b"$3\r\nnew\r\n");
    }
}

#[test]
fn arity_errors_of_the_transaction_commands() {
    for s in servers() {
        let mut c = s.conn();
        expect(
            &s,
            &mut c,
            &["WATCH"],
            b"-ERR wrong number of arguments for 'watch' command\r\n",
        );
        expect(
            &s,
            &mut c,
            &["UNWATCH", "x"],
            b"-ERR wrong number of arguments for 'unwatch' command\r\n",
        );
        // EXEC with arguments inside MULTI discards the transaction.
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "a", "1"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["EXEC", "foo"],
            b"-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n",
        );
        expect(&s, &mut c, &["EXEC"], b"-ERR EXEC without MULTI\r\n");
        expect(&s, &mut c, &["EXISTS", "a"], b":0\r\n");
        // MULTI with arguments inside MULTI flags the transaction.
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(
            &s,
            &mut c,
            &["MULTI", "x"],
            b"-ERR wrong number of arguments for 'multi' command\r\n",
        );
        expect(&s, &mut c, &["SET", "a", "1"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["EXEC"],
            b"-EXECABORT Transaction discarded because of previous errors.\r\n",
        );
        expect(&s, &mut c, &["EXISTS", "a"], b":0\r\n");
    }
}

#[test]
fn runtime_errors_inside_exec_do_not_stop_the_rest() {
    for s in servers() {
        let mut c = s.conn();
        expect(&s, &mut c, &["SET", "a", "v"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["INCR", "a"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["SET", "b", "1"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["LPUSH", "a", "x"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["RPUSH", "c", "e"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["GET", "c"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["INCR", "b"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["GET", "b"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["EXEC"],
            &array(&[
                b"-ERR value is not an integer or out of range\r\n",
                b"+OK\r\n",
                b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
                b":1\r\n",
                b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
                b":2\r\n",
                b"$1\r\n2\r\n",
            ]),
        );
        // Nothing was rolled back.
        expect(
            &s,
            &mut c,
            &["MGET", "a", "b"],
            b"*2\r\n$1\r\nv\r\n$1\r\n2\r\n",
        );
        expect(
            &s,
            &mut c,
            &["LRANGE", "c", "0", "-1"],
            b"*1\r\n$1\r\ne\r\n",
        );
    }
}

#[test]
fn watch_inside_multi_is_refused_without_spoiling_the_transaction() {
    for s in servers() {
        let mut c = s.conn();
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "a", "1"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["WATCH", "a"],
            b"-ERR WATCH inside MULTI is not allowed\r\n",
        );
        expect(&s, &mut c, &["UNWATCH"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*2\r\n+OK\r\n+OK\r\n");
        expect(&s, &mut c, &["GET", "a"], b"$1\r\n1\r\n");
        // The refused WATCH watched nothing.
        let mut o = s.conn();
        expect(&s, &mut o, &["SET", "a", "2"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "a"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*1\r\n$1\r\n2\r\n");
    }
}

#[test]
fn watch_aborts_exec_when_another_client_writes_the_key() {
    for s in servers() {
        // Every key on every shard, watched from several connections (which Shoal spreads
        // over its cores) and written from another connection.
        for (i, key) in CROSS.iter().enumerate() {
            let mut c = s.conn();
            let mut o = s.conn();
            let mut spare: Vec<Conn> = (0..i).map(|_| s.conn()).collect();
            expect(&s, &mut c, &["SET", key, "1"], b"+OK\r\n");
            expect(&s, &mut c, &["WATCH", key], b"+OK\r\n");
            // Writing the same value still counts as a write.
            expect(&s, &mut o, &["SET", key, "1"], b"+OK\r\n");
            expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
            expect(&s, &mut c, &["SET", key, "mine"], b"+QUEUED\r\n");
            expect(&s, &mut c, &["SET", "other", "mine"], b"+QUEUED\r\n");
            expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
            expect(
                &s,
                &mut o,
                &["MGET", key, "other"],
                b"*2\r\n$1\r\n1\r\n$-1\r\n",
            );
            // The aborted EXEC ended the transaction and cleared the watch.
            expect(&s, &mut c, &["EXEC"], b"-ERR EXEC without MULTI\r\n");
            expect(&s, &mut o, &["INCR", key], b":2\r\n");
            expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
            expect(&s, &mut c, &["GET", key], b"+QUEUED\r\n");
            expect(&s, &mut c, &["EXEC"], b"*1\r\n$1\r\n2\r\n");
            spare.clear();
        }
        // Several watched keys on different cores: a write to any one of them aborts.
        for key in CROSS {
            let mut c = s.conn();
            let mut o = s.conn();
            expect(&s, &mut c, &["WATCH", "a", "b"], b"+OK\r\n");
            expect(&s, &mut c, &["WATCH", "c", "d"], b"+OK\r\n");
            expect(&s, &mut o, &["SET", key, "z"], b"+OK\r\n");
            expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
            expect(&s, &mut c, &["DEL", key], b"+QUEUED\r\n");
            expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
            expect(&s, &mut o, &["DEL", key], b":1\r\n");
        }
        // The watching client's own write aborts too.
        let mut c = s.conn();
        expect(&s, &mut c, &["WATCH", "d"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "d", "own"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "d"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
        // A write after MULTI (before EXEC) aborts as well.
        let mut o = s.conn();
        expect(&s, &mut c, &["WATCH", "b"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["INCR", "b"], b"+QUEUED\r\n");
        expect(&s, &mut o, &["RPUSH", "b", "e"], b":1\r\n");
        expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
        expect(&s, &mut o, &["TYPE", "b"], b"+list\r\n");
    }
}

#[test]
fn watch_without_writes_runs_and_reads_do_not_abort() {
    for s in servers() {
        let mut c = s.conn();
        let mut o = s.conn();
        expect(&s, &mut o, &["SET", "a", "10"], b"+OK\r\n");
        expect(&s, &mut c, &["WATCH", "a", "b", "c", "d"], b"+OK\r\n");
        // Reads by another client, and a write to an unwatched key, do not abort.
        expect(&s, &mut o, &["GET", "a"], b"$2\r\n10\r\n");
        expect(&s, &mut o, &["EXISTS", "b", "c"], b":0\r\n");
        expect(&s, &mut o, &["SET", "e", "1"], b"+OK\r\n");
        // Nor does a DEL of a watched key that does not exist.
        expect(&s, &mut o, &["DEL", "b"], b":0\r\n");
        expect(&s, &mut c, &["GET", "a"], b"$2\r\n10\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["INCRBY", "a", "5"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["SET", "b", "x"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*2\r\n:15\r\n+OK\r\n");
        // A watched key with a TTL that has not run out.
        expect(&s, &mut o, &["SET", "c", "v", "EX", "100"], b"+OK\r\n");
        expect(&s, &mut c, &["WATCH", "c"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "c"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*1\r\n$1\r\nv\r\n");
    }
}

#[test]
fn unwatch_exec_and_discard_clear_watches() {
    for s in servers() {
        let mut c = s.conn();
        let mut o = s.conn();
        // UNWATCH.
        expect(&s, &mut c, &["WATCH", "a", "b"], b"+OK\r\n");
        expect(&s, &mut c, &["UNWATCH"], b"+OK\r\n");
        expect(&s, &mut o, &["SET", "a", "1"], b"+OK\r\n");
        expect(&s, &mut o, &["SET", "b", "1"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "a"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*1\r\n$1\r\n1\r\n");
        // UNWATCH with nothing watched.
        expect(&s, &mut c, &["UNWATCH"], b"+OK\r\n");
        // DISCARD.
        expect(&s, &mut c, &["WATCH", "c"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["DISCARD"], b"+OK\r\n");
        expect(&s, &mut o, &["SET", "c", "1"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "c"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*1\r\n$1\r\n1\r\n");
        // A successful EXEC.
        expect(&s, &mut c, &["WATCH", "d"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "d"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*1\r\n$-1\r\n");
        expect(&s, &mut o, &["SET", "d", "2"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "d"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*1\r\n$1\r\n2\r\n");
        // An EXEC refused with EXECABORT.
        expect(&s, &mut c, &["WATCH", "a"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(
            &s,
            &mut c,
            &["GET"],
            b"-ERR wrong number of arguments for 'get' command\r\n",
        );
        expect(
            &s,
            &mut c,
            &["EXEC"],
            b"-EXECABORT Transaction discarded because of previous errors.\r\n",
        );
        expect(&s, &mut o, &["SET", "a", "3"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "a"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*1\r\n$1\r\n3\r\n");
    }
}

#[test]
fn watch_aborts_when_the_key_is_deleted_or_created() {
    for s in servers() {
        let mut c = s.conn();
        let mut o = s.conn();
        // Deleted by another client.
        expect(&s, &mut o, &["RPUSH", "b", "1", "2"], b":2\r\n");
        expect(&s, &mut c, &["WATCH", "b"], b"+OK\r\n");
        expect(&s, &mut o, &["DEL", "b"], b":1\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["RPUSH", "b", "3"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
        expect(&s, &mut o, &["EXISTS", "b"], b":0\r\n");
        // Emptied (a list that loses its last element is deleted).
        expect(&s, &mut o, &["RPUSH", "c", "1"], b":1\r\n");
        expect(&s, &mut c, &["WATCH", "c"], b"+OK\r\n");
        expect(&s, &mut o, &["LPOP", "c"], b"$1\r\n1\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["RPUSH", "c", "3"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
        // Created by another client (the watched key did not exist).
        expect(&s, &mut c, &["WATCH", "d"], b"+OK\r\n");
        expect(&s, &mut o, &["SET", "d", "theirs"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "d", "mine"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
        expect(&s, &mut o, &["GET", "d"], b"$6\r\ntheirs\r\n");
        // Created and deleted again: it was still touched.
        expect(&s, &mut c, &["WATCH", "a"], b"+OK\r\n");
        expect(&s, &mut o, &["SET", "a", "1"], b"+OK\r\n");
        expect(&s, &mut o, &["DEL", "a"], b":1\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "a", "mine"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
        expect(&s, &mut o, &["EXISTS", "a"], b":0\r\n");
        // Renamed away and renamed onto.
        expect(&s, &mut o, &["SET", "a", "1"], b"+OK\r\n");
        expect(&s, &mut c, &["WATCH", "a"], b"+OK\r\n");
        expect(&s, &mut o, &["RENAME", "a", "b"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["PING"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
        expect(&s, &mut c, &["WATCH", "a"], b"+OK\r\n");
        expect(&s, &mut o, &["RENAME", "b", "a"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["PING"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
    }
}

#[test]
fn watch_aborts_when_the_key_expires_before_exec() {
    for s in servers() {
        for key in CROSS {
            let mut c = s.conn();
            // Alive when watched, expired by EXEC time: Redis 7.0 aborts (whether or not
            // anything noticed the expiry in between).
            expect(&s, &mut c, &["SET", key, "v", "PX", "300"], b"+OK\r\n");
            expect(&s, &mut c, &["WATCH", key], b"+OK\r\n");
            std::thread::sleep(Duration::from_millis(450));
            expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
            expect(&s, &mut c, &["SET", "other", key], b"+QUEUED\r\n");
            expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
            expect(&s, &mut c, &["MGET", key, "other"], b"*2\r\n$-1\r\n$-1\r\n");
        }
        // Same, when another client reads the expired key (lazy expiry) before EXEC.
        let mut c = s.conn();
        let mut o = s.conn();
        expect(&s, &mut o, &["SET", "a", "v"], b"+OK\r\n");
        expect(&s, &mut o, &["PEXPIRE", "a", "300"], b":1\r\n");
        expect(&s, &mut c, &["WATCH", "a"], b"+OK\r\n");
        std::thread::sleep(Duration::from_millis(450));
        expect(&s, &mut o, &["GET", "a"], b"$-1\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "a", "mine"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
        expect(&s, &mut o, &["EXISTS", "a"], b":0\r\n");
        // Already expired when watched: its removal is no change, EXEC runs.
        expect(&s, &mut o, &["SET", "b", "v", "PX", "50"], b"+OK\r\n");
        std::thread::sleep(Duration::from_millis(200));
        expect(&s, &mut c, &["WATCH", "b"], b"+OK\r\n");
        expect(&s, &mut o, &["EXISTS", "b"], b":0\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "b", "mine"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*1\r\n+OK\r\n");
        expect(&s, &mut o, &["GET", "b"], b"$4\r\nmine\r\n");
    }
}

#[test]
fn watch_and_flushall() {
    for s in servers() {
        let mut c = s.conn();
        let mut o = s.conn();
        // FLUSHALL removes a watched key that exists: abort.
        expect(&s, &mut o, &["SET", "c", "1"], b"+OK\r\n");
        expect(&s, &mut c, &["WATCH", "c", "d"], b"+OK\r\n");
        expect(&s, &mut o, &["FLUSHALL"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "c"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*-1\r\n");
        // Watched keys that do not exist are not touched by FLUSHALL.
        expect(&s, &mut c, &["WATCH", "a", "b"], b"+OK\r\n");
        expect(&s, &mut o, &["SET", "d", "1"], b"+OK\r\n");
        expect(&s, &mut o, &["FLUSHALL"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "a"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*1\r\n$-1\r\n");
    }
}

#[test]
fn aborted_exec_is_null_in_resp3_too() {
    for s in servers() {
        let mut c = s.conn();
        let mut o = s.conn();
        let hello = c.cmd(&["HELLO", "3"]);
        assert!(
            hello.starts_with(b"%"),
            "{}: HELLO 3 gave {}",
            s.label(),
            show(&hello)
        );
        expect(&s, &mut c, &["WATCH", "b"], b"+OK\r\n");
        expect(&s, &mut o, &["SET", "b", "9"], b"+OK\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "b"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"_\r\n");
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "b"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["BLPOP", "emptylist", "0"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["EXEC"], b"*2\r\n$1\r\n9\r\n_\r\n");
    }
}

#[test]
fn blocking_commands_inside_multi_do_not_block() {
    for s in servers() {
        let mut c = s.conn();
        c.set_reply_timeout(Duration::from_secs(3));
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(&s, &mut c, &["BLPOP", "emptylist", "0"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["BRPOP", "a", "b", "0"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["BLMOVE", "c", "d", "LEFT", "LEFT", "0"],
            b"+QUEUED\r\n",
        );
        expect(&s, &mut c, &["BRPOPLPUSH", "c", "d", "0"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["BZPOPMIN", "z", "0"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["BLMPOP", "0", "2", "a", "c", "LEFT"],
            b"+QUEUED\r\n",
        );
        let t = Instant::now();
        expect(
            &s,
            &mut c,
            &["EXEC"],
            b"*6\r\n*-1\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n*-1\r\n",
        );
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "{}: EXEC took {:?}",
            s.label(),
            t.elapsed()
        );
        // Nothing was left waiting: a later push stays in the list.
        let mut o = s.conn();
        expect(&s, &mut o, &["RPUSH", "emptylist", "v"], b":1\r\n");
        expect(&s, &mut o, &["RPUSH", "b", "w"], b":1\r\n");
        std::thread::sleep(Duration::from_millis(100));
        expect(&s, &mut o, &["LLEN", "emptylist"], b":1\r\n");
        expect(&s, &mut c, &["PING"], b"+PONG\r\n");
        // With data there, they pop as usual inside the transaction, from keys of any core.
        expect(&s, &mut c, &["MULTI"], b"+OK\r\n");
        expect(
            &s,
            &mut c,
            &["BLPOP", "a", "emptylist", "0"],
            b"+QUEUED\r\n",
        );
        expect(&s, &mut c, &["BRPOP", "a", "b", "0"], b"+QUEUED\r\n");
        expect(&s, &mut c, &["BLPOP", "emptylist", "0"], b"+QUEUED\r\n");
        expect(
            &s,
            &mut c,
            &["EXEC"],
            b"*3\r\n*2\r\n$9\r\nemptylist\r\n$1\r\nv\r\n*2\r\n$1\r\nb\r\n$1\r\nw\r\n*-1\r\n",
        );
    }
}

/// Counts a worker as finished when dropped (also when it panics).
struct Finished<'a>(&'a AtomicUsize);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A small xorshift generator (deterministic per thread).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// MULTI, GET of every key, EXEC in one pipeline; the values (missing = 0).
fn read_all(c: &mut Conn, keys: &[String], label: &str) -> Vec<i64> {
    let mut wire = encode(&["MULTI"]);
    for k in keys {
        wire.extend(encode(&["GET", k.as_str()]));
    }
    wire.extend(encode(&["EXEC"]));
    c.send(&wire);
    assert_eq!(show(&c.reply()), show(b"+OK\r\n"), "{label}: MULTI");
    for _ in keys {
        assert_eq!(
            show(&c.reply()),
            show(b"+QUEUED\r\n"),
            "{label}: GET in MULTI"
        );
    }
    match parse(&c.reply()) {
        Resp::Array(items) if items.len() == keys.len() => {
            items.iter().map(|r| int_of(r, label)).collect()
        }
        other => panic!("{label}: EXEC of {} GETs gave {other:?}", keys.len()),
    }
}

#[test]
fn concurrent_transfers_keep_the_total() {
    const THREADS: usize = 4;
    const TRANSFERS: usize = 2000;
    for s in servers() {
        let label = s.label().to_string();
        let keys = eight_keys("acct");
        let mut c = s.conn();
        for k in &keys {
            expect(&s, &mut c, &["SET", k, "1000"], b"+OK\r\n");
        }
        let deadline = Instant::now() + Duration::from_secs(4);
        let finished = AtomicUsize::new(0);
        let commits = AtomicUsize::new(0);
        let aborts = AtomicUsize::new(0);
        let reads = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (s, keys, label) = (&s, &keys, &label);
                let (finished, commits, aborts) = (&finished, &commits, &aborts);
                scope.spawn(move || {
                    let _done = Finished(finished);
                    let mut c = s.conn();
                    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ ((t as u64 + 1) * 0x1234_5678_9ABC);
                    let mut done = 0;
                    while done < TRANSFERS && Instant::now() < deadline {
                        let from = (next(&mut rng) % 8) as usize;
                        let to = (from + 1 + (next(&mut rng) % 7) as usize) % 8;
                        let n = 1 + (next(&mut rng) % 300) as i64;
                        let (fk, tk) = (keys[from].as_str(), keys[to].as_str());
                        loop {
                            let r = c.cmd(&["WATCH", fk, tk]);
                            assert_eq!(show(&r), show(b"+OK\r\n"), "{label}: WATCH");
                            let fb = int_of(&parse(&c.cmd(&["GET", fk])), label);
                            let tb = int_of(&parse(&c.cmd(&["GET", tk])), label);
                            assert!(fb >= 0 && tb >= 0, "{label}: negative balance {fb} {tb}");
                            if fb < n {
                                let r = c.cmd(&["UNWATCH"]);
                                assert_eq!(show(&r), show(b"+OK\r\n"), "{label}: UNWATCH");
                                break;
                            }
                            let ns = n.to_string();
                            let mut wire = encode(&["MULTI"]);
                            wire.extend(encode(&["DECRBY", fk, ns.as_str()]));
                            wire.extend(encode(&["INCRBY", tk, ns.as_str()]));
                            wire.extend(encode(&["EXEC"]));
                            c.send(&wire);
                            assert_eq!(show(&c.reply()), show(b"+OK\r\n"), "{label}: MULTI");
                            assert_eq!(show(&c.reply()), show(b"+QUEUED\r\n"), "{label}");
                            assert_eq!(show(&c.reply()), show(b"+QUEUED\r\n"), "{label}");
                            let r = c.reply();
                            if r == b"*-1\r\n" {
                                aborts.fetch_add(1, Ordering::Relaxed);
                                if Instant::now() >= deadline {
                                    break;
                                }
                                continue;
                            }
                            // Nobody changed either balance between the GETs and EXEC.
                            let want = format!(":{}\r\n:{}\r\n", fb - n, tb + n);
                            assert_eq!(
                                show(&r),
                                show(format!("*2\r\n{want}").as_bytes()),
                                "{label}: EXEC of a transfer of {n} from {fk} ({fb}) to {tk} ({tb})"
                            );
                            commits.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        done += 1;
                    }
                });
            }
            let (s, keys, label) = (&s, &keys, &label);
            let (finished, reads) = (&finished, &reads);
            scope.spawn(move || {
                let mut c = s.conn();
                while finished.load(Ordering::SeqCst) < THREADS
                    && Instant::now() < deadline + Duration::from_secs(2)
                {
                    let v = read_all(&mut c, keys, label);
                    assert_eq!(
                        v.iter().sum::<i64>(),
                        8000,
                        "{label}: torn read of the balances {v:?}"
                    );
                    assert!(v.iter().all(|&b| b >= 0), "{label}: negative balance {v:?}");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        });
        let v = read_all(&mut c, &keys, &label);
        assert_eq!(v.iter().sum::<i64>(), 8000, "{label}: final balances {v:?}");
        assert!(v.iter().all(|&b| b >= 0), "{label}: final balances {v:?}");
        let mut args = vec!["MGET"];
        args.extend(keys.iter().map(|k| k.as_str()));
        let mget = parse(&c.cmd(&args));
        let Resp::Array(items) = mget else {
            panic!("{label}: MGET gave {mget:?}")
        };
        let m: Vec<i64> = items.iter().map(|r| int_of(r, &label)).collect();
        assert_eq!(m, v, "{label}: MGET and MULTI/GET disagree");
        let (commits, aborts, reads) = (
            commits.load(Ordering::Relaxed),
            aborts.load(Ordering::Relaxed),
            reads.load(Ordering::Relaxed),
        );
        assert!(commits > 100, "{label}: only {commits} transfers committed");
        assert!(reads > 10, "{label}: only {reads} consistent reads");
        eprintln!("{label}: {commits} transfers, {aborts} aborted EXECs, {reads} reads");
    }
}

#[test]
fn check_and_set_loses_no_updates() {
    const THREADS: usize = 4;
    const INCREMENTS: i64 = 300;
    for s in servers() {
        let label = s.label().to_string();
        // Two counters on different cores, bumped together under WATCH.
        let (k0, k1) = ("b", "a");
        let deadline = Instant::now() + Duration::from_secs(4);
        let aborts = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                let (s, label, aborts) = (&s, &label, &aborts);
                scope.spawn(move || {
                    let mut c = s.conn();
                    let mut done = 0;
                    while done < INCREMENTS {
                        assert!(
                            Instant::now() < deadline,
                            "{label}: only {done} increments in time"
                        );
                        let r = c.cmd(&["WATCH", k0, k1]);
                        assert_eq!(show(&r), show(b"+OK\r\n"), "{label}: WATCH");
                        let v0 = int_of(&parse(&c.cmd(&["GET", k0])), label);
                        let v1 = int_of(&parse(&c.cmd(&["GET", k1])), label);
                        // The two GETs are not atomic together: a transaction may commit
                        // between them, but then that write must abort this EXEC.
                        let nv = (v0.max(v1) + 1).to_string();
                        let mut wire = encode(&["MULTI"]);
                        wire.extend(encode(&["SET", k0, nv.as_str()]));
                        wire.extend(encode(&["SET", k1, nv.as_str()]));
                        wire.extend(encode(&["EXEC"]));
                        c.send(&wire);
                        assert_eq!(show(&c.reply()), show(b"+OK\r\n"), "{label}: MULTI");
                        assert_eq!(show(&c.reply()), show(b"+QUEUED\r\n"), "{label}");
                        assert_eq!(show(&c.reply()), show(b"+QUEUED\r\n"), "{label}");
                        let r = c.reply();
                        if r == b"*-1\r\n" {
                            aborts.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        assert_eq!(show(&r), show(b"*2\r\n+OK\r\n+OK\r\n"), "{label}: EXEC");
                        assert_eq!(
                            v0, v1,
                            "{label}: EXEC ran although a watched counter changed between the GETs"
                        );
                        done += 1;
                    }
                });
            }
        });
        let mut c = s.conn();
        let total = (THREADS as i64 * INCREMENTS).to_string();
        let want = format!("*2\r\n{}{}", show_bulk(&total), show_bulk(&total));
        expect(&s, &mut c, &["MGET", k0, k1], want.as_bytes());
        eprintln!("{label}: {} aborted EXECs", aborts.load(Ordering::Relaxed));
    }
}

fn show_bulk(v: &str) -> String {
    String::from_utf8(bulk(v)).unwrap()
}

#[test]
fn mset_mget_and_multi_reads_are_never_torn() {
    for s in servers() {
        let label = s.label().to_string();
        let keys = eight_keys("m");
        let set_all = |v: u64| -> Vec<String> {
            let mut args = vec!["MSET".to_string()];
            for k in &keys {
                args.push(k.clone());
                args.push(v.to_string());
            }
            args
        };
        let mut c = s.conn();
        assert_eq!(show(&c.cmd(&set_all(0))), show(b"+OK\r\n"), "{label}");
        let deadline = Instant::now() + Duration::from_millis(1500);
        let finished = AtomicUsize::new(0);
        let (writes, mgets, multis) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        std::thread::scope(|scope| {
            {
                let (s, label, finished, writes) = (&s, &label, &finished, &writes);
                let set_all = &set_all;
                scope.spawn(move || {
                    let _done = Finished(finished);
                    let mut c = s.conn();
                    let mut v = 1u64;
                    while Instant::now() < deadline {
                        // Alternate plain MSET and MSET inside a transaction.
                        if v.is_multiple_of(2) {
                            let r = c.cmd(&set_all(v));
                            assert_eq!(show(&r), show(b"+OK\r\n"), "{label}: MSET");
                        } else {
                            let mut wire = encode(&["MULTI"]);
                            for (i, k) in set_all(v)[1..].chunks(2).enumerate() {
                                // Half of the keys by SET, the rest by one MSET.
                                if i < 4 {
                                    wire.extend(encode(&["SET", k[0].as_str(), k[1].as_str()]));
                                }
                            }
                            let mut rest = vec!["MSET".to_string()];
                            rest.extend(set_all(v)[9..].iter().cloned());
                            wire.extend(encode(&rest));
                            wire.extend(encode(&["EXEC"]));
                            c.send(&wire);
                            assert_eq!(show(&c.reply()), show(b"+OK\r\n"), "{label}: MULTI");
                            for _ in 0..5 {
                                assert_eq!(show(&c.reply()), show(b"+QUEUED\r\n"), "{label}");
                            }
                            assert_eq!(
                                show(&c.reply()),
                                show(b"*5\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n"),
                                "{label}: EXEC"
                            );
                        }
                        writes.fetch_add(1, Ordering::Relaxed);
                        v += 1;
                    }
                });
            }
            {
                let (s, keys, label, finished, mgets) = (&s, &keys, &label, &finished, &mgets);
                scope.spawn(move || {
                    let mut c = s.conn();
                    let mut args = vec!["MGET"];
                    args.extend(keys.iter().map(|k| k.as_str()));
                    let mut last = 0;
                    while finished.load(Ordering::SeqCst) < 1 {
                        let Resp::Array(items) = parse(&c.cmd(&args)) else {
                            panic!("{label}: MGET did not give an array")
                        };
                        let v: Vec<i64> = items.iter().map(|r| int_of(r, label)).collect();
                        assert!(v.iter().all(|&x| x == v[0]), "{label}: torn MGET {v:?}");
                        assert!(
                            v[0] >= last,
                            "{label}: MGET went back from {last} to {}",
                            v[0]
                        );
                        last = v[0];
                        mgets.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            {
                let (s, keys, label, finished, multis) = (&s, &keys, &label, &finished, &multis);
                scope.spawn(move || {
                    let mut c = s.conn();
                    let mut last = 0;
                    while finished.load(Ordering::SeqCst) < 1 {
                        let v = read_all(&mut c, keys, label);
                        assert!(
                            v.iter().all(|&x| x == v[0]),
                            "{label}: torn MULTI/GET read {v:?}"
                        );
                        assert!(
                            v[0] >= last,
                            "{label}: read went back from {last} to {}",
                            v[0]
                        );
                        last = v[0];
                        multis.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        let (writes, mgets, multis) = (
            writes.load(Ordering::Relaxed),
            mgets.load(Ordering::Relaxed),
            multis.load(Ordering::Relaxed),
        );
        assert!(
            writes > 100 && mgets > 100 && multis > 100,
            "{label}: too little work: {writes} writes, {mgets} MGETs, {multis} MULTI reads"
        );
        eprintln!("{label}: {writes} writes, {mgets} MGETs, {multis} MULTI reads");
    }
}
