//! Server and connection commands against the real binary: INFO, CONFIG, CLIENT, COMMAND,
//! MONITOR, OBJECT, expiry, configuration files and limits.

mod common;

use common::{parse, Resp, Server};
use std::time::Duration;

fn text(r: &[u8]) -> String {
    match parse(r).0 {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

#[test]
fn info_uses_redis_field_names() {
    let s = Server::shoal(2);
    let mut c = s.raw();
    for i in 0..10 {
        c.cmd_str(&["SET", &format!("k{i}"), "v"]);
    }
    c.cmd_str(&["EXPIRE", "k1", "100"]);
    let info = text(&c.cmd_str(&["INFO"]));
    for field in [
        "# Server\r\n",
        "redis_version:7.0.15\r\n",
        "tcp_port:",
        "# Clients\r\nconnected_clients:1\r\n",
        "used_memory:",
        "# Stats\r\n",
        "total_commands_processed:",
        "role:master\r\n",
        "# Keyspace\r\ndb0:keys=10,expires=1,avg_ttl=0\r\n",
    ] {
        assert!(info.contains(field), "INFO lacks {field:?}:\n{info}");
    }
    assert!(
        !info.contains("cmdstat_"),
        "commandstats is not a default section"
    );
    let stats = text(&c.cmd_str(&["INFO", "commandstats"]));
    assert!(stats.contains("cmdstat_set:calls=10,"), "{stats}");
    let ks = text(&c.cmd_str(&["INFO", "keyspace"]));
    assert_eq!(ks, "# Keyspace\r\ndb0:keys=10,expires=1,avg_ttl=0\r\n");
}

#[test]
fn config_get_set() {
    let s = Server::shoal(2);
    let mut c = s.raw();
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "maxmemory-policy"]),
        b"*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "maxmemory", "1mb"]),
        b"+OK\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$7\r\n1048576\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "maxmemory", "lots"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "nosuch", "1"]),
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"
    );
    // A run-time change reaches every shard: OBJECT FREQ needs an LFU policy.
    c.cmd_str(&["SET", "a", "1"]);
    assert!(c
        .cmd_str(&["OBJECT", "FREQ", "a"])
        .starts_with(b"-ERR An LFU maxmemory policy is not selected"));
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]),
        b"+OK\r\n"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd_str(&["OBJECT", "FREQ", "a"]), b":0\r\n");
    let Resp::Array(Some(all)) = parse(&c.cmd_str(&["CONFIG", "GET", "*"])).0 else {
        panic!()
    };
    assert!(all.len() >= 30 && all.len() % 2 == 0);
}

#[test]
fn client_commands() {
    let s = Server::shoal(2);
    let mut a = s.raw();
    let mut b = s.raw();
    assert_eq!(a.cmd_str(&["CLIENT", "SETNAME", "alpha"]), b"+OK\r\n");
    assert_eq!(a.cmd_str(&["CLIENT", "GETNAME"]), b"$5\r\nalpha\r\n");
    assert_eq!(
        a.cmd_str(&["CLIENT", "SETNAME", "a b"]),
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    let Resp::Int(bid) = parse(&b.cmd_str(&["CLIENT", "ID"])).0 else {
        panic!()
    };
    let list = text(&a.cmd_str(&["CLIENT", "LIST"]));
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains("name=alpha "), "{list}");
    assert!(list.contains(&format!("id={bid} ")), "{list}");
    assert!(text(&a.cmd_str(&["CLIENT", "INFO"])).contains("name=alpha"));
    assert_eq!(
        a.cmd_str(&["CLIENT", "KILL", "ID", &bid.to_string()]),
        b":1\r\n"
    );
    let (_, closed) = b.read_until_close(Duration::from_secs(2));
    assert!(closed, "killed client must be disconnected");
    assert_eq!(
        a.cmd_str(&["CLIENT", "KILL", "127.0.0.1:1"]),
        b"-ERR No such client\r\n"
    );
    // CLIENT REPLY OFF / SKIP / ON.
    a.send(&common::encode(&[b"CLIENT", b"REPLY", b"OFF"]));
    a.send(&common::encode(&[b"SET", b"quiet", b"1"]));
    a.send(&common::encode(&[b"CLIENT", b"REPLY", b"SKIP"]));
    a.send(&common::encode(&[b"CLIENT", b"REPLY", b"ON"]));
    assert_eq!(a.read_raw(), b"+OK\r\n");
    assert_eq!(a.cmd_str(&["GET", "quiet"]), b"$1\r\n1\r\n");
    assert_eq!(a.cmd_str(&["RESET"]), b"+RESET\r\n");
    assert_eq!(a.cmd_str(&["CLIENT", "GETNAME"]), b"$-1\r\n");
    assert_eq!(
        a.cmd_str(&["CLIENT", "FOO"]),
        b"-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n"
    );
}

#[test]
fn command_introspection() {
    let s = Server::shoal(1);
    let mut c = s.raw();
    let Resp::Int(n) = parse(&c.cmd_str(&["COMMAND", "COUNT"])).0 else {
        panic!()
    };
    assert!(n >= 60, "COMMAND COUNT {n}");
    let info = c.cmd_str(&["COMMAND", "INFO", "get", "nosuch"]);
    let Resp::Array(Some(rows)) = parse(&info).0 else {
        panic!()
    };
    let Resp::Array(Some(get)) = &rows[0] else {
        panic!()
    };
    assert_eq!(get[0], Resp::Bulk(Some(b"get".to_vec())));
    assert_eq!(get[1], Resp::Int(2));
    assert_eq!(&get[3..6], &[Resp::Int(1), Resp::Int(1), Resp::Int(1)]);
    assert_eq!(rows[1], Resp::Array(None));
    assert_eq!(
        c.cmd_str(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        c.cmd_str(&["COMMAND", "GETKEYS", "PING", "x"]),
        b"-ERR The command has no key arguments\r\n"
    );
    assert_eq!(
        c.cmd_str(&["COMMAND", "GETKEYS", "PING"]),
        b"-ERR wrong number of arguments for 'command|getkeys' command\r\n"
    );
    let docs = c.cmd_str(&["COMMAND", "DOCS", "set"]);
    assert!(String::from_utf8_lossy(&docs).contains("Set the string value of a key"));
}

#[test]
fn monitor_sees_commands_from_every_shard() {
    let s = Server::shoal(2);
    let mut m = s.raw();
    assert_eq!(m.cmd_str(&["MONITOR"]), b"+OK\r\n");
    let mut c = s.raw();
    c.cmd_str(&["SET", "watched", "va\"l"]);
    let line = String::from_utf8(m.read_raw()).expect("utf8");
    assert!(
        line.starts_with('+') && line.ends_with("\"SET\" \"watched\" \"va\\\"l\"\r\n"),
        "{line}"
    );
}

#[test]
fn active_expiry_reclaims_keys_nobody_reads() {
    let s = Server::shoal(2);
    let mut c = s.raw();
    for i in 0..200 {
        c.cmd_str(&["SET", &format!("e{i}"), "v", "PX", "50"]);
    }
    c.cmd_str(&["SET", "stay", "v"]);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":1\r\n");
    let info = text(&c.cmd_str(&["INFO", "stats"]));
    assert!(info.contains("expired_keys:200\r\n"), "{info}");
}

#[test]
fn config_file_and_bad_settings() {
    let dir = std::env::temp_dir().join(format!("shoal-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("good.conf");
    std::fs::write(&good, "# test\nshards 2\ndatabases 4\nrequirepass \"pw\"\n").expect("write");
    let s = Server::shoal_with(&[good.to_str().expect("path")]);
    let mut c = s.raw();
    assert_eq!(c.cmd_str(&["AUTH", "pw"]), b"+OK\r\n");
    assert_eq!(
        c.cmd_str(&["SELECT", "4"]),
        b"-ERR DB index is out of range\r\n"
    );
    // Flags win over the file.
    let s2 = Server::shoal_with(&[good.to_str().expect("path"), "--databases", "8"]);
    let mut c2 = s2.raw();
    c2.cmd_str(&["AUTH", "pw"]);
    assert_eq!(c2.cmd_str(&["SELECT", "7"]), b"+OK\r\n");
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "port 7000\nno-such-setting yes\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.conf:2") && err.contains("no-such-setting"),
        "{err}"
    );
}

#[test]
fn maxclients_rejects_extra_connections() {
    let s = Server::shoal_with(&["--shards", "1", "--maxclients", "2"]);
    let mut a = s.raw();
    let mut b = s.raw();
    assert_eq!(a.cmd_str(&["PING"]), b"+PONG\r\n");
    assert_eq!(b.cmd_str(&["PING"]), b"+PONG\r\n");
    let mut c = s.raw();
    let (out, closed) = c.read_until_close(Duration::from_secs(2));
    assert_eq!(out, b"-ERR max number of clients reached\r\n");
    assert!(closed);
    drop(b);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(s.raw().cmd_str(&["PING"]), b"+PONG\r\n");
}
