//! Blocking stream reads against Shoal with 4 shards and against a real redis-server: XREAD
//! with `$` and XREADGROUP with `>` wait until another connection adds an entry, on keys owned
//! by different cores; timeouts keep their deadline across wake-ups that serve nothing;
//! consumers of one group share new entries; a destroyed group ends the wait with NOGROUP.
//! Each scenario runs on both servers and the transcripts must be equal byte for byte.

mod suite;

use std::time::{Duration, Instant};
use suite::{show, Conn, Server};

fn servers() -> Vec<Server> {
    vec![Server::shoal(4), Server::redis()]
}

/// Lets a blocked command register its wait (Shoal registers it before releasing the
/// command's locks; Redis blocks at once).
fn settle() {
    std::thread::sleep(Duration::from_millis(100));
}

/// Runs `scenario` on Shoal and Redis; their transcripts must agree. Returns Shoal's.
fn agree(scenario: impl Fn(&Server, &mut Vec<String>)) -> Vec<String> {
    let mut transcripts = vec![];
    for s in servers() {
        let mut t = vec![];
        scenario(&s, &mut t);
        s.assert_running();
        transcripts.push((s.label().to_string(), t));
    }
    let (shoal, redis) = (&transcripts[0], &transcripts[1]);
    for (i, (a, b)) in shoal.1.iter().zip(&redis.1).enumerate() {
        assert_eq!(a, b, "step {i}: {} vs {}", shoal.0, redis.0);
    }
    assert_eq!(shoal.1.len(), redis.1.len());
    transcripts.swap_remove(0).1
}

/// Whether `c` is still waiting (no reply within 200 ms).
fn still_blocked(c: &mut Conn) -> bool {
    c.set_reply_timeout(Duration::from_millis(200));
    let r = c.read_reply().is_err();
    c.set_reply_timeout(Duration::from_secs(10));
    r
}

#[test]
fn xread_dollar_wakes_on_xadd_from_another_connection() {
    let t = agree(|s, t| {
        let mut p = s.conn();
        let mut w = s.conn();
        t.push(show(&p.cmd(&["XADD", "s", "1-1", "a", "1"])));
        // `$` is the last ID when the command blocks: 1-1 is not returned.
        w.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        settle();
        t.push(show(&p.cmd(&["XADD", "s", "2-1", "b", "2"])));
        t.push(show(&w.reply()));
        // A stream that does not exist yet: `$` is 0-0.
        w.send_cmd(&["XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "fresh", "$"]);
        settle();
        assert!(still_blocked(&mut w), "{}", s.label());
        t.push(show(&p.cmd(&["XADD", "fresh", "7-0", "x", "y"])));
        t.push(show(&w.reply()));
        // With data already past the ID the read does not wait.
        t.push(show(
            &w.cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "1-1"]),
        ));
        // In RESP3 the reply is a map of streams.
        t.push(show(&w.cmd(&["HELLO", "3"])[..1]));
        w.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        settle();
        t.push(show(&p.cmd(&["XADD", "s", "3-1", "c", "3"])));
        t.push(show(&w.reply()));
    });
    assert_eq!(
        t[2],
        show(b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n")
    );
    assert_eq!(
        t[8],
        show(b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n")
    );
}

#[test]
fn xread_over_several_streams_on_different_cores() {
    let t = agree(|s, t| {
        let mut p = s.conn();
        let mut w = s.conn();
        // "a" and "b" hash to different shards of a 4-shard Shoal ("k1" and "x" to "a"'s).
        for k in ["a", "b"] {
            t.push(show(&p.cmd(&["XADD", k, "1-1", "f", k])));
        }
        t.push(show(&p.cmd(&[
            "XREAD", "STREAMS", "a", "b", "k1", "x", "0", "0", "0", "0",
        ])));
        w.send_cmd(&[
            "XREAD", "COUNT", "10", "BLOCK", "0", "STREAMS", "a", "b", "k1", "x", "$", "$", "0",
            "$",
        ]);
        settle();
        t.push(show(&p.cmd(&["XADD", "x", "5-1", "f", "x"])));
        t.push(show(&w.reply()));
        w.send_cmd(&[
            "XREAD", "BLOCK", "0", "STREAMS", "a", "b", "k1", "x", "$", "$", "$", "$",
        ]);
        settle();
        t.push(show(&p.cmd(&["XADD", "k1", "9-9", "f", "k1"])));
        t.push(show(&w.reply()));
        // XADD to a key nobody waits on leaves the reader blocked.
        w.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "a", "b", "$", "$"]);
        settle();
        t.push(show(&p.cmd(&["XADD", "x", "6-1", "f", "x"])));
        assert!(still_blocked(&mut w), "{}", s.label());
        t.push(show(&p.cmd(&["XADD", "b", "2-1", "f", "b"])));
        t.push(show(&w.reply()));
    });
    assert_eq!(
        t[4],
        show(b"*1\r\n*2\r\n$1\r\nx\r\n*1\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\nf\r\n$1\r\nx\r\n")
    );
}

#[test]
fn xreadgroup_waits_for_new_entries_and_consumers_share_them() {
    agree(|s, t| {
        let mut p = s.conn();
        let mut alice = s.conn();
        let mut bob = s.conn();
        t.push(show(
            &p.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        ));
        alice.send_cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ]);
        settle();
        bob.send_cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ]);
        settle();
        // One new entry goes to the consumer that waited first; the other keeps waiting.
        t.push(show(&p.cmd(&["XADD", "s", "1-1", "a", "1"])));
        t.push(show(&alice.reply()));
        assert!(still_blocked(&mut bob), "{}", s.label());
        t.push(show(&p.cmd(&["XADD", "s", "2-1", "b", "2"])));
        t.push(show(&bob.reply()));
        t.push(show(&p.cmd(&["XPENDING", "s", "g"])));
        t.push(show(&p.cmd(&["XINFO", "GROUPS", "s"])));
        // NOACK: delivered without entering the pending list.
        alice.send_cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "NOACK",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ]);
        settle();
        t.push(show(&p.cmd(&["XADD", "s", "3-1", "c", "3"])));
        t.push(show(&alice.reply()));
        t.push(show(&p.cmd(&["XPENDING", "s", "g"])));
        // A destroyed group ends the wait with an error.
        bob.send_cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ]);
        settle();
        t.push(show(&p.cmd(&["XGROUP", "DESTROY", "s", "g"])));
        t.push(show(&bob.reply()));
        // The history of a consumer never waits.
        t.push(show(&p.cmd(&["XGROUP", "CREATE", "s", "h", "0"])));
        t.push(show(&bob.cmd(&[
            "XREADGROUP",
            "GROUP",
            "h",
            "bob",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            "0",
        ])));
    });
}

#[test]
fn timeouts_and_errors() {
    agree(|s, t| {
        let mut c = s.conn();
        let started = Instant::now();
        t.push(show(
            &c.cmd(&["XREAD", "BLOCK", "200", "STREAMS", "nothing", "$"]),
        ));
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(190) && waited < Duration::from_secs(2),
            "{}: waited {waited:?}",
            s.label()
        );
        t.push(show(
            &c.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        ));
        t.push(show(&c.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "100",
            "STREAMS",
            "s",
            ">",
        ])));
        // The deadline holds even when writes to the key wake the reader without serving it.
        t.push(show(&c.cmd(&["XADD", "s", "1-1", "a", "1"])));
        t.push(show(&c.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "STREAMS",
            "s",
            ">",
        ])));
        let mut w = s.conn();
        let started = Instant::now();
        w.send_cmd(&["XREAD", "BLOCK", "600", "STREAMS", "s", "$"]);
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(150));
            c.cmd(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"]);
            c.cmd(&["XCLAIM", "s", "g", "other", "0", "1-1"]);
        }
        t.push(show(&w.reply()));
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(590) && waited < Duration::from_millis(900),
            "{}: waited {waited:?}",
            s.label()
        );
        t.push(show(&c.cmd(&["HELLO", "3"])[..1]));
        t.push(show(&c.cmd(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"])));
        t.push(show(&c.cmd(&["HELLO", "2"])[..1]));
        for cmd in [
            &["XREAD", "BLOCK", "-1", "STREAMS", "s", "$"][..],
            &["XREAD", "BLOCK", "abc", "STREAMS", "s", "$"],
            &["XREAD", "BLOCK", "0", "STREAMS", "s"],
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "t", "$"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                "$",
            ],
            &[
                "XREADGROUP",
                "GROUP",
                "nog",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
            &["XREAD", "BLOCK", "0", "STREAMS", "s", ">"],
        ] {
            t.push(show(&c.cmd(cmd)));
        }
        c.cmd(&["SET", "str", "v"]);
        t.push(show(
            &c.cmd(&["XREAD", "BLOCK", "0", "STREAMS", "str", "$"]),
        ));
        // 0 waits until an entry comes, however long.
        c.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "later", "$"]);
        std::thread::sleep(Duration::from_millis(300));
        s.conn().cmd(&["XADD", "later", "1-1", "k", "v"]);
        t.push(show(&c.reply()));
    });
}

#[test]
fn a_reader_that_leaves_while_blocked_is_forgotten() {
    agree(|s, t| {
        let mut gone = s.conn();
        gone.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "q", "$"]);
        settle();
        drop(gone);
        settle();
        let mut w = s.conn();
        w.send_cmd(&["XREAD", "BLOCK", "5000", "STREAMS", "q", "$"]);
        settle();
        let mut p = s.conn();
        t.push(show(&p.cmd(&["XADD", "q", "1-1", "a", "b"])));
        t.push(show(&w.reply()));
    });
}

/// Redis serves every XREAD blocked on a stream when an entry arrives: a write to a stream wakes
/// all of its waiters, since reading an entry does not take it.
#[test]
fn every_blocked_reader_gets_the_new_entry() {
    agree(|s, t| {
        let mut readers: Vec<Conn> = (0..3).map(|_| s.conn()).collect();
        for r in readers.iter_mut() {
            r.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "fan", "$"]);
            settle();
        }
        t.push(show(&s.conn().cmd(&["XADD", "fan", "1-1", "a", "b"])));
        for r in readers.iter_mut() {
            t.push(show(&r.reply()));
        }
    });
}
