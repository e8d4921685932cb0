//! Blocking list commands against Shoal with 4 shards and against a real redis-server: clients
//! blocked on keys owned by other cores wake when any client pushes, in the order they blocked;
//! timeouts (fractional, 0 = forever), errors, disconnects and pipelines behind a blocked
//! command behave as in Redis.

mod suite;

use std::time::{Duration, Instant};
use suite::{show, Conn, Server};

fn servers() -> Vec<Server> {
    vec![Server::shoal(4), Server::redis()]
}

/// Waits until `n` clients are blocked (Redis reports it in INFO; Shoal registers the wait
/// before it releases the command's locks, so a short pause is enough there).
fn settle() {
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn wakes_across_cores_in_blocking_order() {
    for s in servers() {
        // "a" and "b" hash to different shards of a 4-shard Shoal (slots are split into 4
        // ranges: "a" is in the last, "b" in the first).
        let mut waiters: Vec<Conn> = (0..3).map(|_| s.conn()).collect();
        for w in waiters.iter_mut() {
            w.send_cmd(&["BLPOP", "a", "b", "0"]);
            settle();
        }
        let mut p = s.conn();
        assert_eq!(
            p.cmd(&["RPUSH", "b", "1", "2", "3"]),
            b":3\r\n",
            "{}",
            s.label()
        );
        let got: Vec<String> = waiters.iter_mut().map(|w| show(&w.reply())).collect();
        assert_eq!(
            got,
            vec![
                show(b"*2\r\n$1\r\nb\r\n$1\r\n1\r\n"),
                show(b"*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
                show(b"*2\r\n$1\r\nb\r\n$1\r\n3\r\n"),
            ],
            "{}",
            s.label()
        );
        assert_eq!(p.cmd(&["EXISTS", "b"]), b":0\r\n");
        // A key earlier in the list wins when both have elements.
        p.cmd(&["RPUSH", "a", "A"]);
        p.cmd(&["RPUSH", "b", "X"]);
        assert_eq!(
            p.cmd(&["BRPOP", "b", "a", "1"]),
            b"*2\r\n$1\r\nb\r\n$1\r\nX\r\n"
        );
    }
}

#[test]
fn blmove_between_cores_and_pipelines_behind_a_blocked_command() {
    for s in servers() {
        let mut w = s.conn();
        let mut wire = suite::encode(&["BLMOVE", "src", "k1", "LEFT", "RIGHT", "0"]);
        wire.extend(suite::encode(&["LRANGE", "k1", "0", "-1"]));
        w.send(&wire);
        settle();
        let mut p = s.conn();
        assert_eq!(p.cmd(&["LPUSH", "src", "e"]), b":1\r\n");
        assert_eq!(w.reply(), b"$1\r\ne\r\n", "{}", s.label());
        assert_eq!(w.reply(), b"*1\r\n$1\r\ne\r\n", "{}", s.label());
        assert_eq!(p.cmd(&["EXISTS", "src"]), b":0\r\n");
        // BRPOPLPUSH with data: no wait.
        p.cmd(&["RPUSH", "b", "1", "2"]);
        assert_eq!(p.cmd(&["BRPOPLPUSH", "b", "c", "0"]), b"$1\r\n2\r\n");
        assert_eq!(p.cmd(&["LRANGE", "c", "0", "-1"]), b"*1\r\n$1\r\n2\r\n");
        // BLMPOP with COUNT on keys of several cores.
        w.send_cmd(&["BLMPOP", "0", "3", "a", "b2", "x2", "RIGHT", "COUNT", "2"]);
        settle();
        p.cmd(&["RPUSH", "x2", "1", "2", "3"]);
        assert_eq!(
            w.reply(),
            b"*2\r\n$2\r\nx2\r\n*2\r\n$1\r\n3\r\n$1\r\n2\r\n",
            "{}",
            s.label()
        );
    }
}

#[test]
fn timeouts_and_errors() {
    for s in servers() {
        let mut c = s.conn();
        let t = Instant::now();
        assert_eq!(
            c.cmd(&["BLPOP", "nothing", "0.2"]),
            b"*-1\r\n",
            "{}",
            s.label()
        );
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(190) && waited < Duration::from_secs(2),
            "{}: waited {waited:?}",
            s.label()
        );
        assert_eq!(
            c.cmd(&["BLMOVE", "nothing", "d", "LEFT", "LEFT", "0.1"]),
            b"*-1\r\n"
        );
        assert_eq!(c.cmd(&["BRPOPLPUSH", "nothing", "d", "0.1"]), b"*-1\r\n");
        assert_eq!(
            c.cmd(&["BLMPOP", "0.1", "1", "nothing", "LEFT"]),
            b"*-1\r\n"
        );
        for (cmd, want) in [
            (
                &["BLPOP", "k", "-1"][..],
                &b"-ERR timeout is negative\r\n"[..],
            ),
            (
                &["BLPOP", "k", "abc"],
                b"-ERR timeout is not a float or out of range\r\n",
            ),
            (
                &["BLMOVE", "k", "d", "UP", "LEFT", "1"],
                b"-ERR syntax error\r\n",
            ),
            (
                &["BLMPOP", "1", "0", "k", "LEFT"],
                b"-ERR numkeys should be greater than 0\r\n",
            ),
            (
                &["BLMPOP", "1", "1", "k", "LEFT", "COUNT", "0"],
                b"-ERR count should be greater than 0\r\n",
            ),
        ] {
            assert_eq!(show(&c.cmd(cmd)), show(want), "{}: {cmd:?}", s.label());
        }
        c.cmd(&["SET", "str", "v"]);
        assert_eq!(
            c.cmd(&["BLPOP", "str", "0"]),
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
        // 0 waits until a push, however long.
        c.send_cmd(&["BRPOP", "later", "0"]);
        std::thread::sleep(Duration::from_millis(300));
        s.conn().cmd(&["LPUSH", "later", "v"]);
        assert_eq!(c.reply(), b"*2\r\n$5\r\nlater\r\n$1\r\nv\r\n");
    }
}

#[test]
fn a_client_that_leaves_while_blocked_takes_nothing() {
    for s in servers() {
        let mut gone = s.conn();
        gone.send_cmd(&["BLPOP", "q", "0"]);
        settle();
        drop(gone);
        settle();
        let mut w = s.conn();
        w.send_cmd(&["BLPOP", "q", "5"]);
        settle();
        let mut p = s.conn();
        assert_eq!(p.cmd(&["RPUSH", "q", "only"]), b":1\r\n");
        assert_eq!(
            w.reply(),
            b"*2\r\n$1\r\nq\r\n$4\r\nonly\r\n",
            "{}",
            s.label()
        );
        p.cmd(&["RPUSH", "q", "kept"]);
        assert_eq!(p.cmd(&["LRANGE", "q", "0", "-1"]), b"*1\r\n$4\r\nkept\r\n");
        s.assert_running();
    }
}

#[test]
fn client_unblock_from_another_connection() {
    for s in servers() {
        let mut w = s.conn();
        let id = String::from_utf8(w.cmd(&["CLIENT", "ID"])).unwrap();
        let id = id.trim_start_matches(':').trim().to_string();
        let mut admin = s.conn();
        w.send_cmd(&["BLPOP", "u", "0"]);
        settle();
        assert!(
            String::from_utf8_lossy(&admin.cmd(&["INFO", "clients"])).contains("blocked_clients:1"),
            "{}",
            s.label()
        );
        assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), b":1\r\n");
        assert_eq!(w.reply(), b"*-1\r\n", "{}", s.label());
        assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), b":0\r\n");
        w.send_cmd(&["BRPOP", "u", "0"]);
        settle();
        assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), b":1\r\n");
        assert_eq!(
            w.reply(),
            b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n",
            "{}",
            s.label()
        );
        assert_eq!(
            admin.cmd(&["CLIENT", "UNBLOCK", &id, "BOGUS"]),
            b"-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
        );
        assert_eq!(
            admin.cmd(&["CLIENT", "UNBLOCK", "abc"]),
            b"-ERR value is not an integer or out of range\r\n"
        );
        assert!(
            String::from_utf8_lossy(&admin.cmd(&["INFO", "clients"])).contains("blocked_clients:0"),
            "{}",
            s.label()
        );
    }
}

#[test]
fn a_blocking_command_without_valid_keys_does_not_stall_the_pipeline() {
    for s in servers() {
        let mut c = s.conn();
        let mut wire = suite::encode(&["BLMPOP", "0", "abc", "k", "LEFT"]);
        wire.extend(suite::encode(&["BLMPOP", "0", "5", "k", "LEFT"]));
        wire.extend(suite::encode(&["PING"]));
        c.send(&wire);
        assert_eq!(
            c.reply(),
            b"-ERR numkeys should be greater than 0\r\n",
            "{}",
            s.label()
        );
        assert_eq!(c.reply(), b"-ERR syntax error\r\n", "{}", s.label());
        assert_eq!(c.reply(), b"+PONG\r\n", "{}", s.label());
    }
}

/// A blocking command, the push that serves it, a command that would take the element, and the
/// blocked client's reply.
type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], &'a [u8]);

#[test]
fn a_blocked_client_gets_the_element_before_commands_pipelined_after_the_push() {
    for s in servers() {
        let label = s.label().to_string();
        let mut w = s.conn();
        let mut p = s.conn();
        // One key; a move whose source and destination share a hash tag; a sorted set.
        let cases: [Case; 3] = [
            (
                &["BLPOP", "q", "0"],
                &["RPUSH", "q", "v"],
                &["LPOP", "q"],
                b"*2\r\n$1\r\nq\r\n$1\r\nv\r\n",
            ),
            (
                &["BLMOVE", "{t}src", "{t}dst", "LEFT", "RIGHT", "0"],
                &["RPUSH", "{t}src", "v"],
                &["LPOP", "{t}src"],
                b"$1\r\nv\r\n",
            ),
            (
                &["BZPOPMIN", "z", "0"],
                &["ZADD", "z", "1", "m"],
                &["ZPOPMIN", "z"],
                b"*3\r\n$1\r\nz\r\n$1\r\nm\r\n$1\r\n1\r\n",
            ),
        ];
        for (block, push, take, want) in cases {
            w.send_cmd(block);
            settle();
            // The push and a command that would take the element, in one write.
            let mut both = suite::encode(push);
            both.extend_from_slice(&suite::encode(take));
            p.send(&both);
            let first = p.reply();
            let second = p.reply();
            assert_eq!(show(&w.reply()), show(want), "{label} {block:?}");
            assert_eq!(first[0], b':', "{label} {push:?}");
            assert!(
                second == b"$-1\r\n" || second == b"*0\r\n",
                "{label} {take:?}: {}",
                show(&second)
            );
        }
        assert_eq!(
            p.cmd(&["LRANGE", "{t}dst", "0", "-1"]),
            b"*1\r\n$1\r\nv\r\n"
        );
    }
}
