//! Set encodings as OBJECT ENCODING reports them: an intset while every member is an integer
//! and the set holds at most set-max-intset-entries members (CONFIG SET honoured), a hashtable
//! otherwise, and the encodings Redis 7.0 gives the sets that SMOVE, SPOP and the *STORE
//! commands create. Runs against Redis too (`SHOAL_TEST_AGAINST_REDIS=1`).

mod suite;

use suite::{show, Conn, Server};

const INTSET: &[u8] = b"$6\r\nintset\r\n";
const HASHTABLE: &[u8] = b"$9\r\nhashtable\r\n";

fn encoding(c: &mut Conn, key: &str) -> Vec<u8> {
    c.cmd(&["OBJECT", "ENCODING", key])
}

fn assert_encoding(c: &mut Conn, key: &str, want: &[u8]) {
    let got = encoding(c, key);
    assert_eq!(
        got,
        want,
        "encoding of {key}: got {}, want {}",
        show(&got),
        show(want)
    );
}

fn int_reply(n: usize) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

/// SADD of `from..to` as decimal members.
fn sadd_range(c: &mut Conn, key: &str, from: i64, to: i64) -> Vec<u8> {
    let mut args = vec!["SADD".to_string(), key.to_string()];
    args.extend((from..to).map(|n| n.to_string()));
    c.cmd(&args)
}

#[test]
fn intset_converts_past_512_integers() {
    let server = Server::shoal(1);
    let mut c = server.conn();
    assert_eq!(sadd_range(&mut c, "s", 0, 512), int_reply(512));
    assert_encoding(&mut c, "s", INTSET);
    // Adding a member already there is no growth.
    assert_eq!(c.cmd(&["SADD", "s", "511"]), int_reply(0));
    assert_encoding(&mut c, "s", INTSET);
    assert_eq!(c.cmd(&["SADD", "s", "-1"]), int_reply(1));
    assert_encoding(&mut c, "s", HASHTABLE);
    assert_eq!(c.cmd(&["SCARD", "s"]), int_reply(513));
    // A hashtable stays one when it shrinks back.
    assert_eq!(c.cmd(&["SREM", "s", "-1", "0"]), int_reply(2));
    assert_encoding(&mut c, "s", HASHTABLE);
    // One SADD of 513 integers converts too.
    assert_eq!(sadd_range(&mut c, "t", 0, 513), int_reply(513));
    assert_encoding(&mut c, "t", HASHTABLE);
    server.assert_running();
}

#[test]
fn a_string_member_converts() {
    let server = Server::shoal(1);
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SADD", "s", "1", "2", "3"]), int_reply(3));
    assert_encoding(&mut c, "s", INTSET);
    // Not integers as Redis's string2ll reads them.
    for m in ["007", "+1", " 1", "1.0", "-0", "9223372036854775808"] {
        c.cmd(&["DEL", "n"]);
        c.cmd(&["SADD", "n", "1"]);
        assert_eq!(c.cmd(&["SADD", "n", m]), int_reply(1), "{m:?}");
        assert_encoding(&mut c, "n", HASHTABLE);
    }
    assert_eq!(c.cmd(&["SADD", "s", "-9223372036854775808"]), int_reply(1));
    assert_encoding(&mut c, "s", INTSET);
    assert_eq!(c.cmd(&["SADD", "s", "x"]), int_reply(1));
    assert_encoding(&mut c, "s", HASHTABLE);
    // Removing the string keeps the hashtable.
    assert_eq!(c.cmd(&["SREM", "s", "x"]), int_reply(1));
    assert_encoding(&mut c, "s", HASHTABLE);
    // A set whose first member is a string starts as a hashtable.
    assert_eq!(c.cmd(&["SADD", "h", "a", "1"]), int_reply(2));
    assert_encoding(&mut c, "h", HASHTABLE);
    // ... and one whose first member is an integer as an intset, even if a string follows.
    assert_eq!(c.cmd(&["SADD", "i", "1"]), int_reply(1));
    assert_encoding(&mut c, "i", INTSET);
    server.assert_running();
}

#[test]
fn config_set_max_intset_entries_is_honoured() {
    let server = Server::shoal(1);
    let mut c = server.conn();
    assert_eq!(sadd_range(&mut c, "big", 0, 10), int_reply(10));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "set-max-intset-entries", "4"]),
        b"+OK\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "set-max-intset-entries"]),
        b"*2\r\n$22\r\nset-max-intset-entries\r\n$1\r\n4\r\n"
    );
    // An existing intset is only checked when it grows.
    assert_encoding(&mut c, "big", INTSET);
    assert_eq!(c.cmd(&["SADD", "big", "5"]), int_reply(0));
    assert_encoding(&mut c, "big", INTSET);
    assert_eq!(c.cmd(&["SADD", "big", "10"]), int_reply(1));
    assert_encoding(&mut c, "big", HASHTABLE);
    assert_eq!(sadd_range(&mut c, "s", 0, 4), int_reply(4));
    assert_encoding(&mut c, "s", INTSET);
    assert_eq!(c.cmd(&["SADD", "s", "4"]), int_reply(1));
    assert_encoding(&mut c, "s", HASHTABLE);
    // The *STORE commands build their result under the same limit.
    sadd_range(&mut c, "a", 0, 6);
    assert_eq!(c.cmd(&["SINTERSTORE", "d", "a", "a"]), int_reply(6));
    assert_encoding(&mut c, "d", HASHTABLE);
    assert_eq!(c.cmd(&["SREM", "a", "0", "1"]), int_reply(2));
    assert_eq!(c.cmd(&["SUNIONSTORE", "d", "a"]), int_reply(4));
    assert_encoding(&mut c, "d", INTSET);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "set-max-intset-entries", "512"]),
        b"+OK\r\n"
    );
    assert_eq!(sadd_range(&mut c, "t", 0, 100), int_reply(100));
    assert_encoding(&mut c, "t", INTSET);
    server.assert_running();
}

#[test]
fn created_sets_get_redis_encodings() {
    let server = Server::shoal(1);
    let mut c = server.conn();
    // A hashtable holding only integers (its string was removed).
    c.cmd(&["SADD", "h", "1", "2", "3", "x"]);
    c.cmd(&["SREM", "h", "x"]);
    assert_encoding(&mut c, "h", HASHTABLE);
    c.cmd(&["SADD", "i", "2", "3", "4"]);
    // The *STORE results start as intsets.
    assert_eq!(c.cmd(&["SINTERSTORE", "d1", "h", "i"]), int_reply(2));
    assert_encoding(&mut c, "d1", INTSET);
    assert_eq!(c.cmd(&["SUNIONSTORE", "d2", "h"]), int_reply(3));
    assert_encoding(&mut c, "d2", INTSET);
    assert_eq!(c.cmd(&["SDIFFSTORE", "d3", "h", "i"]), int_reply(1));
    assert_encoding(&mut c, "d3", INTSET);
    c.cmd(&["SADD", "s", "a", "2"]);
    assert_eq!(c.cmd(&["SUNIONSTORE", "d4", "i", "s"]), int_reply(4));
    assert_encoding(&mut c, "d4", HASHTABLE);
    // SDIFFSTORE's second algorithm (the sets subtracted are small) adds the first set's
    // members, then removes: the string it removed leaves a hashtable.
    c.cmd(&["SADD", "big", "a", "1", "2", "3", "4", "5", "6", "7", "8"]);
    c.cmd(&["SADD", "x1", "a"]);
    c.cmd(&["SADD", "x2", "8"]);
    assert_eq!(
        c.cmd(&["SDIFFSTORE", "d5", "big", "x1", "x2"]),
        int_reply(7)
    );
    assert_encoding(&mut c, "d5", HASHTABLE);
    // The first algorithm only adds what stays.
    assert_eq!(c.cmd(&["SDIFFSTORE", "d6", "big", "x1"]), int_reply(8));
    assert_encoding(&mut c, "d6", INTSET);
    // An empty result deletes the destination.
    c.cmd(&["SET", "str", "v"]);
    assert_eq!(c.cmd(&["SINTERSTORE", "str", "h", "nokey"]), int_reply(0));
    assert_eq!(c.cmd(&["EXISTS", "str"]), int_reply(0));
    // SMOVE creates the destination for the member it moves.
    assert_eq!(c.cmd(&["SMOVE", "s", "m1", "2"]), int_reply(1));
    assert_encoding(&mut c, "m1", INTSET);
    assert_eq!(c.cmd(&["SMOVE", "s", "m2", "a"]), int_reply(1));
    assert_encoding(&mut c, "m2", HASHTABLE);
    assert_eq!(c.cmd(&["EXISTS", "s"]), int_reply(0));
    // SPOP of most of a set rebuilds the rest as a new set, an intset if it can be.
    for _ in 0..8 {
        c.cmd(&["DEL", "p"]);
        c.cmd(&[
            "SADD", "p", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a",
        ]);
        c.cmd(&["SPOP", "p", "9"]);
        let rest = c.cmd(&["SMEMBERS", "p"]);
        let want = if rest == b"*1\r\n$1\r\na\r\n" {
            HASHTABLE
        } else {
            INTSET
        };
        assert_encoding(&mut c, "p", want);
    }
    server.assert_running();
}

#[test]
fn stores_across_shards_get_redis_encodings() {
    // Keys on several shards: the command runs over copies and writes back what changed,
    // here only the encoding (a table of integers stored into itself becomes an intset).
    let server = Server::shoal(4);
    let mut c = server.conn();
    c.cmd(&["SADD", "a", "1", "2", "x"]);
    c.cmd(&["SREM", "a", "x"]);
    assert_encoding(&mut c, "a", HASHTABLE);
    assert_eq!(
        c.cmd(&["SUNIONSTORE", "a", "a", "b", "c", "d", "k1", "k2"]),
        int_reply(2)
    );
    assert_encoding(&mut c, "a", INTSET);
    c.cmd(&["SADD", "b", "1", "2", "y"]);
    c.cmd(&["SREM", "b", "y"]);
    assert_eq!(
        c.cmd(&["SINTERSTORE", "b", "b", "a", "c", "d", "k1", "k2"]),
        int_reply(0)
    );
    assert_eq!(c.cmd(&["EXISTS", "b"]), int_reply(0));
    c.cmd(&["SADD", "c", "1", "2", "3", "z"]);
    c.cmd(&["SREM", "c", "z"]);
    assert_eq!(c.cmd(&["SINTERSTORE", "c", "c", "a"]), int_reply(2));
    assert_encoding(&mut c, "c", INTSET);
    assert_eq!(c.cmd(&["SMOVE", "c", "k1", "1"]), int_reply(1));
    assert_encoding(&mut c, "k1", INTSET);
    server.assert_running();
}
