//! Collections of a million elements on Shoal: they are built, converted to their large
//! encodings, and read by rank, index, score and member, and shrunk again. Each step is one
//! command or a pipeline, so an operation that were linear where Redis's is logarithmic (rank
//! in a sorted set, index in a list) would make this test take hours instead of seconds; the
//! replies are checked exactly.

mod suite;

use suite::{encode, Conn, Server};

const N: usize = 1_000_000;

/// Sends `cmds` as one pipeline and checks that every reply is `want(i)`.
fn pipeline(
    c: &mut Conn,
    cmds: impl Iterator<Item = Vec<String>>,
    want: impl Fn(usize) -> Vec<u8>,
) {
    let mut wire = Vec::new();
    let mut n = 0;
    for cmd in cmds {
        wire.extend(encode(&cmd));
        n += 1;
    }
    c.send_background(wire);
    for i in 0..n {
        let r = c.reply();
        assert_eq!(r, want(i), "reply {i}");
    }
}

fn member(i: usize) -> String {
    format!("m{i:07}")
}

#[test]
fn million_element_sorted_set() {
    let s = Server::shoal(1);
    let mut c = s.conn();
    // 1,000 ZADDs of 1,000 members each; score = i, so rank = i.
    pipeline(
        &mut c,
        (0..N / 1000).map(|b| {
            let mut cmd = vec!["ZADD".to_string(), "z".to_string()];
            for i in b * 1000..(b + 1) * 1000 {
                cmd.push(i.to_string());
                cmd.push(member(i));
            }
            cmd
        }),
        |_| b":1000\r\n".to_vec(),
    );
    assert_eq!(c.cmd(&["ZCARD", "z"]), b":1000000\r\n");
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "z"]), b"$8\r\nskiplist\r\n");
    // 10,000 rank lookups and rank ranges spread over the set.
    pipeline(
        &mut c,
        (0..10_000).map(|k| vec!["ZRANK".into(), "z".into(), member(k * 97)]),
        |k| format!(":{}\r\n", k * 97).into_bytes(),
    );
    pipeline(
        &mut c,
        (0..10_000).map(|k| {
            let r = (k * 89).to_string();
            vec!["ZRANGE".into(), "z".into(), r.clone(), r]
        }),
        |k| {
            let m = member(k * 89);
            format!("*1\r\n${}\r\n{m}\r\n", m.len()).into_bytes()
        },
    );
    assert_eq!(c.cmd(&["ZCOUNT", "z", "250000", "(750000"]), b":500000\r\n");
    // Remove every other member by score range, then ranks halve.
    assert_eq!(
        c.cmd(&["ZREMRANGEBYRANK", "z", "0", "499999"]),
        b":500000\r\n"
    );
    assert_eq!(c.cmd(&["ZRANK", "z", &member(600_000)]), b":100000\r\n");
    assert_eq!(c.cmd(&["ZREVRANK", "z", &member(999_999)]), b":0\r\n");
}

#[test]
fn million_element_list_set_and_hash() {
    let s = Server::shoal(2);
    let mut c = s.conn();
    let batch = |key: &str, cmd: &str, b: usize, pairs: bool| {
        let mut v = vec![cmd.to_string(), key.to_string()];
        for i in b * 1000..(b + 1) * 1000 {
            if pairs {
                v.push(member(i));
            }
            v.push(i.to_string());
        }
        v
    };
    pipeline(
        &mut c,
        (0..N / 1000).map(|b| batch("l", "RPUSH", b, false)),
        |b| format!(":{}\r\n", (b + 1) * 1000).into_bytes(),
    );
    pipeline(
        &mut c,
        (0..N / 1000).map(|b| batch("s", "SADD", b, false)),
        |_| b":1000\r\n".to_vec(),
    );
    pipeline(
        &mut c,
        (0..N / 1000).map(|b| batch("h", "HSET", b, true)),
        |_| b":1000\r\n".to_vec(),
    );
    assert_eq!(c.cmd(&["LLEN", "l"]), b":1000000\r\n");
    assert_eq!(c.cmd(&["SCARD", "s"]), b":1000000\r\n");
    assert_eq!(c.cmd(&["HLEN", "h"]), b":1000000\r\n");
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "s"]), b"$9\r\nhashtable\r\n");
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "h"]), b"$9\r\nhashtable\r\n");
    // Index access anywhere in the list, membership and field reads anywhere in the others.
    pipeline(
        &mut c,
        (0..10_000).map(|k| vec!["LINDEX".into(), "l".into(), (k * 99).to_string()]),
        |k| {
            let v = (k * 99).to_string();
            format!("${}\r\n{v}\r\n", v.len()).into_bytes()
        },
    );
    pipeline(
        &mut c,
        (0..10_000).map(|k| vec!["SISMEMBER".into(), "s".into(), (k * 99).to_string()]),
        |_| b":1\r\n".to_vec(),
    );
    pipeline(
        &mut c,
        (0..10_000).map(|k| vec!["HGET".into(), "h".into(), member(k * 99)]),
        |k| {
            let v = (k * 99).to_string();
            format!("${}\r\n{v}\r\n", v.len()).into_bytes()
        },
    );
    // Pops from both ends and random pops shrink them.
    assert_eq!(c.cmd(&["LPOP", "l"]), b"$1\r\n0\r\n");
    assert_eq!(c.cmd(&["RPOP", "l"]), b"$6\r\n999999\r\n");
    let mut wire = Vec::new();
    for _ in 0..1000 {
        wire.extend(encode(&["SPOP", "s", "500"]));
    }
    c.send_background(wire);
    for _ in 0..1000 {
        assert!(c.reply().starts_with(b"*500\r\n"));
    }
    assert_eq!(c.cmd(&["SCARD", "s"]), b":500000\r\n");
    // A full SSCAN with COUNT 10000 returns every member at least once.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let suite::Resp::Array(parts) =
            suite::parse(&c.cmd(&["SSCAN", "s", &cursor, "COUNT", "10000"]))
        else {
            panic!("bad SSCAN reply")
        };
        let (suite::Resp::Bulk(next), suite::Resp::Array(items)) = (&parts[0], &parts[1]) else {
            panic!("bad SSCAN reply")
        };
        for m in items {
            if let suite::Resp::Bulk(m) = m {
                seen.insert(m.clone());
            }
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 500_000);
}
