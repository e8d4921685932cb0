//! Encoding conversions of hashes and lists against a real redis-server: the same commands,
//! with the thresholds lowered by CONFIG SET and raised from a config flag, must give the same
//! OBJECT ENCODING answers and contents; and a large hash keeps working past the conversion.

mod suite;

use suite::{show, Conn, Server};

fn both(shoal: &mut Conn, redis: &mut Conn, cmd: &[&str]) -> Vec<u8> {
    let a = shoal.cmd(cmd);
    let b = redis.cmd(cmd);
    assert_eq!(show(&a), show(&b), "{cmd:?}");
    a
}

#[test]
fn hash_converts_as_redis_does() {
    let (s, r) = (Server::shoal(2), Server::redis());
    let (mut a, mut b) = (s.conn(), r.conn());
    for cmd in [
        &["CONFIG", "SET", "hash-max-listpack-entries", "4"][..],
        &["CONFIG", "SET", "hash-max-ziplist-value", "8"],
        &["CONFIG", "GET", "hash-max-listpack-entries"],
        &["CONFIG", "GET", "hash-max-ziplist-value"],
        &["HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4"],
        &["OBJECT", "ENCODING", "h"],
        &["HSET", "h", "e", "5"],
        &["OBJECT", "ENCODING", "h"],
        &["HDEL", "h", "a", "b", "c"],
        &["OBJECT", "ENCODING", "h"],
        &["HSET", "v", "f", "12345678"],
        &["OBJECT", "ENCODING", "v"],
        &["HSET", "v", "g", "123456789"],
        &["OBJECT", "ENCODING", "v"],
        &["HSETNX", "w", "f", "1"],
        &["HSETNX", "w", "f", "123456789"],
        &["OBJECT", "ENCODING", "w"],
        &["HINCRBY", "w", "a-long-field-name", "1"],
        &["OBJECT", "ENCODING", "w"],
        &["RPUSH", "l", "a", "b"],
        &["OBJECT", "ENCODING", "l"],
    ] {
        both(&mut a, &mut b, cmd);
    }
}

#[test]
fn large_hash_past_conversion() {
    let s = Server::shoal_with(&["--shards", "1", "--hash-max-listpack-entries", "100"]);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "hash-max-listpack-entries"]),
        b"*2\r\n$25\r\nhash-max-listpack-entries\r\n$3\r\n100\r\n"
    );
    for i in 0..100 {
        c.cmd(&["HSET", "big", &format!("f{i}"), &i.to_string()]);
    }
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "big"]), b"$8\r\nlistpack\r\n");
    for i in 100..20_000 {
        c.cmd(&["HSET", "big", &format!("f{i}"), &i.to_string()]);
    }
    assert_eq!(
        c.cmd(&["OBJECT", "ENCODING", "big"]),
        b"$9\r\nhashtable\r\n"
    );
    assert_eq!(c.cmd(&["HLEN", "big"]), b":20000\r\n");
    for i in (0..20_000).step_by(2) {
        c.cmd(&["HDEL", "big", &format!("f{i}")]);
    }
    assert_eq!(c.cmd(&["HGET", "big", "f19999"]), b"$5\r\n19999\r\n");
    assert_eq!(c.cmd(&["HGET", "big", "f19998"]), b"$-1\r\n");
    // A full HSCAN returns every field once the cursor comes back to 0.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let r = suite::parse(&c.cmd(&["HSCAN", "big", &cursor, "COUNT", "100"]));
        let suite::Resp::Array(parts) = r else {
            panic!("bad HSCAN reply")
        };
        let (suite::Resp::Bulk(next), suite::Resp::Array(items)) = (&parts[0], &parts[1]) else {
            panic!("bad HSCAN reply")
        };
        for pair in items.chunks(2) {
            if let suite::Resp::Bulk(f) = &pair[0] {
                seen.insert(f.clone());
            }
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 10_000);
}
