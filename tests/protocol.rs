//! Protocol edge cases and bad input, each compared with a real redis-server: the reply bytes
//! must match, the server must stay up, and a client connected all along must keep working.

mod common;

use common::{encode, Raw, Server};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

/// Sends `input` on a fresh connection and returns what came back before the server closed it
/// (or a short timeout passed), and whether it closed.
fn exchange(server: &Server, input: &[u8]) -> (Vec<u8>, bool) {
    let mut c = Raw::connect(server.port());
    c.send(input);
    c.read_until_close(Duration::from_millis(300))
}

fn both() -> (Server, Server) {
    (Server::shoal(2), Server::redis())
}

fn assert_alive(server: &Server, watcher: &mut Raw) {
    assert_eq!(
        watcher.cmd_str(&["PING"]),
        b"+PONG\r\n",
        "{} stopped answering",
        server.name
    );
    let mut fresh = server.raw();
    assert_eq!(fresh.cmd_str(&["SET", "alive", "yes"]), b"+OK\r\n");
    assert_eq!(fresh.cmd_str(&["GET", "alive"]), b"$3\r\nyes\r\n");
}

#[test]
fn malformed_input_matches_redis() {
    let (shoal, redis) = both();
    let mut ws = shoal.raw();
    let mut wr = redis.raw();
    let mut inline_spaces = vec![b' '; 1 << 20];
    inline_spaces.extend_from_slice(b"\r\n");
    let mut long_inline = vec![b'a'; 70 * 1024];
    long_inline.push(b' ');
    let mut long_count = b"*".to_vec();
    long_count.extend(std::iter::repeat_n(b'1', 70 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad multibulk count", b"*abc\r\n".to_vec()),
        ("negative multibulk", b"*-1\r\nPING\r\n".to_vec()),
        ("zero multibulk", b"*0\r\n*1\r\n$4\r\nPING\r\n".to_vec()),
        ("huge multibulk", b"*3000000000\r\n".to_vec()),
        ("missing dollar", b"*1\r\nfoo\r\n".to_vec()),
        ("negative bulk", b"*1\r\n$-5\r\n".to_vec()),
        ("bad bulk length", b"*1\r\n$abc\r\n".to_vec()),
        (
            "bulk over proto-max-bulk-len",
            b"*1\r\n$600000000\r\n".to_vec(),
        ),
        ("unbalanced quotes", b"set \"a b\r\n".to_vec()),
        ("quote then text", b"set \"a\"b c\r\n".to_vec()),
        ("inline ping", b"PING\r\n".to_vec()),
        (
            "inline set get",
            b"set a \"hello world\"\r\nget a\r\n".to_vec(),
        ),
        ("inline with newline only", b"ping\nping\n".to_vec()),
        ("inline hex escape", b"echo \"\\x41\\x42\\n\"\r\n".to_vec()),
        ("empty lines", b"\r\n\r\n\r\nPING\r\n".to_vec()),
        ("1 MB of inline spaces", inline_spaces),
        ("inline longer than 64 KB", long_inline),
        ("count line longer than 64 KB", long_count),
        (
            "binary garbage",
            (0u8..=255).rev().cycle().take(5000).collect(),
        ),
        ("truncated frame", b"*3\r\n$3\r\nSET\r\n$1\r\na".to_vec()),
        (
            "unknown command",
            b"*2\r\n$7\r\nFOOBARZ\r\n$3\r\nbaz\r\n".to_vec(),
        ),
        ("wrong arity", b"*1\r\n$3\r\nGET\r\n".to_vec()),
        ("huge multibulk lowercase", b"*1048577\r\n".to_vec()),
    ];
    for (name, input) in &cases {
        let (a, a_closed) = exchange(&shoal, input);
        let (b, b_closed) = exchange(&redis, input);
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "case '{name}': replies differ"
        );
        assert_eq!(a_closed, b_closed, "case '{name}': closing differs");
        assert_alive(&shoal, &mut ws);
        assert_alive(&redis, &mut wr);
    }
}

#[test]
fn pipelining_and_large_commands() {
    let shoal = Server::shoal(2);
    let mut c = shoal.raw();
    // 10k pipelined commands in one write, replies in order.
    let mut buf = vec![];
    for i in 0..10_000 {
        buf.extend(encode(&[
            b"SET",
            format!("p{i}").as_bytes(),
            format!("{i}").as_bytes(),
        ]));
        buf.extend(encode(&[b"GET", format!("p{i}").as_bytes()]));
    }
    c.send(&buf);
    for i in 0..10_000 {
        assert_eq!(c.read_raw(), b"+OK\r\n");
        assert_eq!(
            c.read_raw(),
            format!("${}\r\n{i}\r\n", i.to_string().len()).into_bytes()
        );
    }
    // A 100k-argument command spanning shards.
    let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
    for i in 0..50_000 {
        args.push(format!("m{i}").into_bytes());
        args.push(b"v".to_vec());
    }
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    assert_eq!(c.cmd(&refs), b"+OK\r\n");
    let mut del: Vec<&[u8]> = vec![b"DEL"];
    del.extend(refs[1..].iter().step_by(2));
    assert_eq!(c.cmd(&del), b":50000\r\n");
    // A 10 MB value.
    let big = vec![b'x'; 10 << 20];
    assert_eq!(c.cmd(&[b"SET", b"big", &big]), b"+OK\r\n");
    let got = c.cmd(&[b"GET", b"big"]);
    assert_eq!(got.len(), big.len() + "$10485760\r\n\r\n".len());
    assert_eq!(c.cmd_str(&["STRLEN", "big"]), b":10485760\r\n");
}

#[test]
fn slow_partial_writes() {
    let shoal = Server::shoal(1);
    let mut s = TcpStream::connect(("127.0.0.1", shoal.port())).expect("connect");
    let cmd = encode(&[b"SET", b"slow", b"value"]);
    for b in &cmd {
        s.write_all(&[*b]).expect("write");
        s.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut reply = [0u8; 5];
    std::io::Read::read_exact(&mut s, &mut reply).expect("reply");
    assert_eq!(&reply, b"+OK\r\n");
    let mut c = shoal.raw();
    assert_eq!(c.cmd_str(&["GET", "slow"]), b"$5\r\nvalue\r\n");
}

#[test]
fn auth_matches_redis() {
    let shoal = Server::shoal_with(&["--shards", "2", "--requirepass", "secret"]);
    let redis = Server::redis_with(&["--requirepass", "secret"]);
    let script: &[&[&str]] = &[
        &["GET", "a"],
        &["AUTH", "wrong"],
        &["AUTH", "a", "b", "c"],
        &["HELLO", "3"],
        &["HELLO", "3", "AUTH", "default", "wrong"],
        &["AUTH", "secret"],
        &["SET", "a", "1"],
        &["GET", "a"],
        &["AUTH", "default", "secret"],
    ];
    let mut a = shoal.raw();
    let mut b = redis.raw();
    for cmd in script {
        let x = a.cmd_str(cmd);
        let y = b.cmd_str(cmd);
        assert_eq!(
            String::from_utf8_lossy(&x),
            String::from_utf8_lossy(&y),
            "{cmd:?}"
        );
    }
    // Unauthenticated clients get Redis's tight protocol limits.
    let (x, _) = exchange(&shoal, b"*20\r\n");
    let (y, _) = exchange(&redis, b"*20\r\n");
    assert_eq!(x, y);
    // HELLO with AUTH authenticates and switches protocol at once.
    let mut c = shoal.raw();
    c.cmd_str(&["HELLO", "3", "AUTH", "default", "secret", "SETNAME", "me"]);
    assert_eq!(c.cmd_str(&["GET", "nosuch"]), b"_\r\n");
    assert_eq!(c.cmd_str(&["CLIENT", "GETNAME"]), b"$2\r\nme\r\n");
}

#[test]
fn no_password_auth_matches_redis() {
    let (shoal, redis) = both();
    for cmd in [
        &["AUTH", "x"][..],
        &["AUTH", "default", "x"],
        &["AUTH", "bob", "x"],
    ] {
        assert_eq!(
            shoal.raw().cmd_str(cmd),
            redis.raw().cmd_str(cmd),
            "{cmd:?}"
        );
    }
}

#[test]
fn resp3_replies() {
    let (shoal, redis) = both();
    let mut a = shoal.raw();
    let mut b = redis.raw();
    for cmd in [
        &["HELLO", "4"][..],
        &["HELLO", "x"],
        &["HELLO", "3", "FOO"],
        &["HELLO", "3"],
        &["GET", "missing"],
        &["SET", "a", "1"],
        &["MGET", "a", "missing"],
        &["LCS", "a", "a", "IDX"],
        &["SET", "a", "1", "XX", "NX"],
        &["CONFIG", "GET", "maxmemory"],
        &["HELLO", "2"],
        &["GET", "missing"],
    ] {
        let x = a.cmd_str(cmd);
        let y = b.cmd_str(cmd);
        if cmd[0] == "HELLO" && cmd.len() == 2 && (cmd[1] == "3" || cmd[1] == "2") {
            // The map carries the connection id and server version: compare its shape.
            assert_eq!(x[..3], y[..3], "{cmd:?}");
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&x),
            String::from_utf8_lossy(&y),
            "{cmd:?}"
        );
    }
}

#[test]
fn redis_cli_inline_and_client_library() {
    let shoal = Server::shoal(2);
    let port = shoal.port().to_string();
    let cli = |args: &[&str]| -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output()
            .expect("redis-cli is required by the test suite (apt-get install redis-tools)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(cli(&["set", "greeting", "hello world"]), "OK\n");
    assert_eq!(cli(&["get", "greeting"]), "hello world\n");
    assert_eq!(cli(&["incrby", "n", "5"]), "5\n");
    assert_eq!(
        cli(&["mget", "greeting", "n", "none"]),
        "hello world\n5\n\n"
    );
    // The redis crate, a typical client library.
    let mut con = shoal.client();
    let _: () = redis::cmd("SET")
        .arg("lib")
        .arg(42)
        .query(&mut con)
        .expect("set");
    let v: i64 = redis::cmd("GET").arg("lib").query(&mut con).expect("get");
    assert_eq!(v, 42);
    let vals: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["greeting", "nope", "lib"])
        .query(&mut con)
        .expect("mget");
    assert_eq!(
        vals,
        vec![Some("hello world".into()), None, Some("42".into())]
    );
}

#[test]
fn query_buffer_limit_closes_only_that_client() {
    let shoal = Server::shoal_with(&["--shards", "1", "--client-query-buffer-limit", "1mb"]);
    let mut watcher = shoal.raw();
    let mut c = Raw::connect(shoal.port());
    // A 2 MB bulk string exceeds the 1 MB query buffer limit: Redis closes the client.
    let mut big = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2097152\r\n".to_vec();
    big.extend(vec![b'x'; 2 << 20]);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.send(&big)));
    let (_, closed) = c.read_until_close(Duration::from_secs(2));
    assert!(closed, "an over-limit client must be closed");
    assert_eq!(watcher.cmd_str(&["PING"]), b"+PONG\r\n");
}
