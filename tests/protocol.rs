//! Wire-protocol tests on raw sockets. Every input is sent to Shoal and to a real redis-server;
//! the exact reply bytes and whether the connection was closed must match Redis (and the
//! expectation written here, which was taken from Redis 7.0.15). After every bad input both
//! servers must still be running and a client connected all along must still work.

mod suite;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;
use suite::{encode, parse, show, Conn, Exchange, Resp, Server};

#[derive(Clone, Copy, PartialEq)]
enum End {
    /// Keep the connection open after writing.
    Open,
    /// Close the write half after writing (the client hangs up).
    HangUp,
}

/// A Shoal and a redis-server, each with a "witness" connection opened before any bad input.
struct Pair {
    shoal: Server,
    redis: Server,
    ws: Conn,
    wr: Conn,
}

impl Pair {
    fn new(shards: usize) -> Pair {
        let shoal = Server::shoal(shards);
        let redis = Server::redis();
        let ws = shoal.conn();
        let wr = redis.conn();
        Pair {
            shoal,
            redis,
            ws,
            wr,
        }
    }

    fn exchange(server: &Server, input: &[u8], want: &Exchange, end: End) -> Exchange {
        let mut c = server.conn();
        c.send_background(input.to_vec());
        if end == End::HangUp {
            c.shutdown_write();
        }
        c.collect(want.reply.len(), want.closed)
    }

    /// Sends `input` on a fresh connection to both servers (at the same time): Redis must reply
    /// `expect` (and close the connection if `closes`), Shoal must reply exactly what Redis did.
    fn check(&mut self, name: &str, input: &[u8], expect: &[u8], closes: bool, end: End) {
        let want = Exchange {
            reply: expect.to_vec(),
            closed: closes,
        };
        let (r, s) = std::thread::scope(|sc| {
            let r = sc.spawn(|| Pair::exchange(&self.redis, input, &want, end));
            let s = sc.spawn(|| Pair::exchange(&self.shoal, input, &want, end));
            (r.join().unwrap(), s.join().unwrap())
        });
        assert_eq!(
            r, want,
            "case '{name}': the reference redis-server replied {r}, the test expects {want} (suite bug?)"
        );
        assert!(
            s == r,
            "case '{name}': input {}\n  shoal: {s}\n  redis: {r}",
            show(&input[..input.len().min(200)])
        );
        self.assert_alive(name);
    }

    /// Both servers run, their witnesses still answer, and a fresh client works.
    fn assert_alive(&mut self, after: &str) {
        for (server, witness) in [(&self.shoal, &mut self.ws), (&self.redis, &mut self.wr)] {
            server.assert_running();
            let pong = witness.cmd(&["PING"]);
            assert_eq!(
                show(&pong),
                show(b"+PONG\r\n"),
                "{}: witness after case '{after}'",
                server.label()
            );
            let mut fresh = server.conn();
            assert_eq!(
                show(&fresh.cmd(&["SET", "alive", after])),
                show(b"+OK\r\n"),
                "{} after '{after}'",
                server.label()
            );
            let got = witness.cmd(&["GET", "alive"]);
            assert_eq!(
                show(&got),
                show(&encode_bulk(after.as_bytes())),
                "{} after '{after}'",
                server.label()
            );
        }
    }

    /// The same command on both witnesses; replies must be identical. Returns the reply.
    fn both(&mut self, args: &[&str]) -> Vec<u8> {
        let a = self.ws.cmd(args);
        let b = self.wr.cmd(args);
        assert_eq!(show(&a), show(&b), "{args:?}");
        a
    }
}

fn encode_bulk(b: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", b.len()).into_bytes();
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
    out
}

const BAD_MBULK: &[u8] = b"-ERR Protocol error: invalid multibulk length\r\n";
const BAD_BULK: &[u8] = b"-ERR Protocol error: invalid bulk length\r\n";
const UNBALANCED: &[u8] = b"-ERR Protocol error: unbalanced quotes in request\r\n";
const TOO_BIG_INLINE: &[u8] = b"-ERR Protocol error: too big inline request\r\n";

#[test]
fn malformed_multibulk() {
    let mut p = Pair::new(2);
    use End::*;
    p.check("negative count is ignored", b"*-1\r\n", b"", false, Open);
    p.check(
        "negative count then PING",
        b"*-1\r\n*1\r\n$4\r\nPING\r\n",
        b"+PONG\r\n",
        false,
        Open,
    );
    p.check(
        "zero count is ignored",
        b"*0\r\n*1\r\n$4\r\nPING\r\n",
        b"+PONG\r\n",
        false,
        Open,
    );
    p.check("non-numeric count", b"*abc\r\n", BAD_MBULK, true, Open);
    p.check(
        "count with a plus sign",
        b"*+1\r\n$4\r\nPING\r\n",
        BAD_MBULK,
        true,
        Open,
    );
    p.check("binary count", b"*\xff\xfe\r\n", BAD_MBULK, true, Open);
    p.check(
        "count above INT_MAX",
        b"*2147483648\r\n",
        BAD_MBULK,
        true,
        Open,
    );
    p.check(
        "count 3000000000",
        b"*3000000000\r\n",
        BAD_MBULK,
        true,
        Open,
    );
    // Large counts up to INT_MAX are accepted (nothing is allocated up front): Redis waits.
    p.check(
        "count 2000000000 waits",
        b"*2000000000\r\n",
        b"",
        false,
        Open,
    );
    p.check(
        "count 2000000000 with one arg",
        b"*2000000000\r\n$3\r\nfoo\r\n",
        b"",
        false,
        Open,
    );
    p.check("count INT_MAX waits", b"*2147483647\r\n", b"", false, Open);
    p.check("count 1048577 waits", b"*1048577\r\n", b"", false, Open);
    let mut long_count = b"*".to_vec();
    long_count.extend(std::iter::repeat_n(b'1', 70_000));
    p.check(
        "count line over 64 KB",
        &long_count,
        b"-ERR Protocol error: too big mbulk count string\r\n",
        true,
        Open,
    );
    p.check(
        "expected $",
        b"*1\r\nfoo\r\n",
        b"-ERR Protocol error: expected '$', got 'f'\r\n",
        true,
        Open,
    );
    p.check(
        "expected $ got binary",
        b"*2\r\n$3\r\nGET\r\n\xff\xfe\x01\x02\r\n",
        b"-ERR Protocol error: expected '$', got '\xff'\r\n",
        true,
        Open,
    );
    p.check(
        "negative bulk length",
        b"*1\r\n$-5\r\n",
        BAD_BULK,
        true,
        Open,
    );
    p.check(
        "non-numeric bulk length",
        b"*1\r\n$abc\r\n",
        BAD_BULK,
        true,
        Open,
    );
    p.check(
        "bulk length with space",
        b"*1\r\n$ 4\r\nPING\r\n",
        BAD_BULK,
        true,
        Open,
    );
    p.check(
        "bulk over proto-max-bulk-len",
        b"*1\r\n$600000000\r\n",
        BAD_BULK,
        true,
        Open,
    );
    p.check(
        "bulk 512 MB + 1",
        b"*1\r\n$536870913\r\n",
        BAD_BULK,
        true,
        Open,
    );
    p.check(
        "bulk of exactly 512 MB waits",
        b"*1\r\n$536870912\r\n",
        b"",
        false,
        Open,
    );
    p.check(
        "empty bulk",
        b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
        b"$0\r\n\r\n",
        false,
        Open,
    );
    p.check(
        "replies before the error are sent",
        b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*x\r\n*1\r\n$4\r\nPING\r\n",
        b"+PONG\r\n$2\r\nhi\r\n-ERR Protocol error: invalid multibulk length\r\n",
        true,
        Open,
    );
    p.check(
        "unknown command",
        b"*2\r\n$7\r\nFOOBARZ\r\n$3\r\nbaz\r\n",
        b"-ERR unknown command 'FOOBARZ', with args beginning with: 'baz' \r\n",
        false,
        Open,
    );
    p.check(
        "wrong arity",
        b"*1\r\n$3\r\nGET\r\n",
        b"-ERR wrong number of arguments for 'get' command\r\n",
        false,
        Open,
    );
    p.check(
        "multibulk then inline",
        b"*1\r\n$4\r\nPING\r\nPING\r\n",
        b"+PONG\r\n+PONG\r\n",
        false,
        Open,
    );
    p.check(
        "QUIT drops what follows",
        b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n",
        b"+OK\r\n",
        true,
        Open,
    );
}

#[test]
fn truncated_frames_then_hang_up() {
    let mut p = Pair::new(2);
    use End::*;
    for (name, input) in [
        ("count only", &b"*3\r\n"[..]),
        ("partial count", b"*3"),
        ("inside a bulk length", b"*3\r\n$3\r\nSET\r\n$"),
        ("inside a bulk", b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nval"),
        ("bulk without CRLF", b"*3\r\n$3\r\nSET\r\n$1\r\na"),
        ("inline without newline", b"SET a b"),
        ("huge count", b"*2000000000\r\n$3\r\nSET\r\n"),
    ] {
        p.check(name, input, b"", true, HangUp);
    }
    // None of the truncated SETs ran.
    assert_eq!(show(&p.both(&["EXISTS", "a"])), show(b":0\r\n"));
    // A complete command followed by a truncated one: the first is answered and executed.
    p.check(
        "complete then truncated",
        b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nGET",
        b"+OK\r\n",
        true,
        HangUp,
    );
    assert_eq!(show(&p.both(&["GET", "a"])), show(b"$1\r\n1\r\n"));
}

#[test]
fn inline_commands() {
    let mut p = Pair::new(2);
    use End::*;
    p.check("inline PING", b"PING\r\n", b"+PONG\r\n", false, Open);
    p.check(
        "inline set/get",
        b"set a b\r\nget a\r\n",
        b"+OK\r\n$1\r\nb\r\n",
        false,
        Open,
    );
    p.check(
        "LF-only lines",
        b"ping\nping\n",
        b"+PONG\r\n+PONG\r\n",
        false,
        Open,
    );
    p.check(
        "empty lines are ignored",
        b"\r\n\r\n   \r\nPING\r\n",
        b"+PONG\r\n",
        false,
        Open,
    );
    p.check(
        "quoted arguments",
        b"set k \"hello world\"\r\nget k\r\necho 'single quoted'\r\n",
        b"+OK\r\n$11\r\nhello world\r\n$13\r\nsingle quoted\r\n",
        false,
        Open,
    );
    p.check(
        "escapes in double quotes",
        b"echo \"\\x41\\x42\\n\\t\"\r\n",
        b"$4\r\nAB\n\t\r\n",
        false,
        Open,
    );
    p.check(
        "unbalanced double quote",
        b"set \"a b\r\n",
        UNBALANCED,
        true,
        Open,
    );
    p.check(
        "unbalanced single quote",
        b"set 'a b\r\n",
        UNBALANCED,
        true,
        Open,
    );
    p.check(
        "text right after a closing quote",
        b"set \"a\"b c\r\n",
        UNBALANCED,
        true,
        Open,
    );
    p.check(
        "a bulk header is an inline command",
        b"$3\r\nfoo\r\n",
        b"-ERR unknown command '$3', with args beginning with: \r\n-ERR unknown command 'foo', with args beginning with: \r\n",
        false,
        Open,
    );
    p.check(
        "$-5 inline",
        b"$-5\r\n",
        b"-ERR unknown command '$-5', with args beginning with: \r\n",
        false,
        Open,
    );
    p.check(
        "inline unknown with args",
        b"foo bar baz\r\n",
        b"-ERR unknown command 'foo', with args beginning with: 'bar' 'baz' \r\n",
        false,
        Open,
    );
    p.check(
        "inline wrong arity",
        b"get\r\n",
        b"-ERR wrong number of arguments for 'get' command\r\n",
        false,
        Open,
    );
    let mut spaces_line = vec![b' '; 1000];
    spaces_line.extend_from_slice(b"\r\nPING\r\n");
    p.check(
        "a line of 1000 spaces",
        &spaces_line,
        b"+PONG\r\n",
        false,
        Open,
    );
    p.check(
        "1 MB of inline spaces",
        &vec![b' '; 1 << 20],
        TOO_BIG_INLINE,
        true,
        Open,
    );
    p.check(
        "inline over 64 KB without newline",
        &vec![b'a'; 70_000],
        TOO_BIG_INLINE,
        true,
        Open,
    );
    p.check(
        "inline of exactly 64 KB waits",
        &vec![b'a'; 65_536],
        b"",
        false,
        Open,
    );
}

/// Redis's "unknown command" error for `argv` (name cut to 128 bytes, arguments listed until
/// the list reaches 128 bytes).
fn unknown_command_error(argv: &[Vec<u8>]) -> Vec<u8> {
    let mut args = vec![];
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push(b'\'');
        args.extend_from_slice(&a[..a.len().min(room)]);
        args.extend_from_slice(b"' ");
    }
    let mut out = b"-ERR unknown command '".to_vec();
    out.extend_from_slice(&argv[0][..argv[0].len().min(128)]);
    out.extend_from_slice(b"', with args beginning with: ");
    out.extend_from_slice(&args);
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn binary_garbage() {
    let mut p = Pair::new(2);
    // Seeded binary garbage as inline lines: bytes 0x01..0xff except whitespace, quotes and '*'
    // (NUL is left out: Redis scans its buffer with strchr). Each line is an unknown command.
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let alphabet: Vec<u8> = (1..=255u8)
        .filter(|b| {
            !matches!(
                b,
                b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | b'"' | b'\'' | b'*'
            )
        })
        .collect();
    let mut input = vec![];
    let mut expect = vec![];
    for _ in 0..30 {
        let argv: Vec<Vec<u8>> = (0..rng.gen_range(1..=8))
            .map(|_| {
                (0..rng.gen_range(1..=200))
                    .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                    .collect()
            })
            .collect();
        input.extend(argv.join(&b' '));
        input.extend_from_slice(b"\r\n");
        expect.extend(unknown_command_error(&argv));
    }
    p.check("binary garbage lines", &input, &expect, false, End::Open);
    // Every byte value, descending: the first line opens a quote mid-word and never closes it.
    let all: Vec<u8> = (0..=255u8).rev().cycle().take(5000).collect();
    p.check("all byte values", &all, UNBALANCED, true, End::Open);
    // Garbage where a multibulk frame expects '$'.
    let mut frame = b"*3\r\n$3\r\nSET\r\n".to_vec();
    frame.extend((0..64).map(|i| 0x80 + i as u8));
    frame.extend_from_slice(b"\r\n");
    p.check(
        "garbage inside a frame",
        &frame,
        b"-ERR Protocol error: expected '$', got '\x80'\r\n",
        true,
        End::Open,
    );
}

#[test]
fn slow_partial_writes() {
    let mut p = Pair::new(2);
    let input = [
        encode(&["SET", "slow", "value"]),
        encode(&["GET", "slow"]),
        b"PING\r\n".to_vec(),
    ]
    .concat();
    for (server, witness) in [(&p.shoal, &mut p.ws), (&p.redis, &mut p.wr)] {
        let mut c = server.conn();
        for b in &input {
            c.send(&[*b]);
            std::thread::sleep(Duration::from_micros(500));
        }
        assert_eq!(show(&c.reply()), show(b"+OK\r\n"), "{}", server.label());
        assert_eq!(
            show(&c.reply()),
            show(b"$5\r\nvalue\r\n"),
            "{}",
            server.label()
        );
        assert_eq!(show(&c.reply()), show(b"+PONG\r\n"), "{}", server.label());
        assert_eq!(
            show(&witness.cmd(&["GET", "slow"])),
            show(b"$5\r\nvalue\r\n")
        );
    }
}

/// 10,000 commands in one write, over keys on many slots; the replies must be Redis's, in order.
#[test]
fn pipeline_10k_commands_in_one_write() {
    let mut p = Pair::new(4);
    let mut input = vec![];
    for i in 0..10_000usize {
        let k = format!("p{}", i % 100);
        let cmd: Vec<String> = match i % 10 {
            0 => vec!["SET".into(), k, i.to_string()],
            1 => vec!["GET".into(), k],
            2 => vec!["INCR".into(), "ctr".into()],
            3 => vec![
                "MGET".into(),
                "p1".into(),
                k,
                "p99".into(),
                "ctr".into(),
                "nokey".into(),
            ],
            4 => vec!["DEL".into(), format!("p{}", (i * 7) % 100)],
            5 => vec!["EXISTS".into(), "p10".into(), "p50".into(), k],
            6 => vec!["APPEND".into(), "log".into(), "x".into()],
            7 => vec!["NOSUCH".into(), k],
            8 => vec!["GET".into()],
            _ => vec![
                "MSET".into(),
                k,
                i.to_string(),
                format!("q{}", i % 37),
                "v".into(),
            ],
        };
        input.extend(encode(&cmd));
    }
    let mut streams = vec![];
    for server in [&p.redis, &p.shoal] {
        let mut c = server.conn();
        c.send_background(input.clone());
        let mut all = vec![];
        for n in 0..10_000 {
            match c.read_reply() {
                Ok(r) => all.extend(r),
                Err(e) => panic!(
                    "{}: reply {n} of 10000 missing: {e}\n{}",
                    server.label(),
                    server.output()
                ),
            }
        }
        streams.push(all);
    }
    if streams[0] != streams[1] {
        let at = streams[0]
            .iter()
            .zip(&streams[1])
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let from = at.saturating_sub(100);
        panic!(
            "pipelined replies differ at byte {at}:\n  redis: {}\n  shoal: {}",
            show(&streams[0][from..(at + 100).min(streams[0].len())]),
            show(&streams[1][from..(at + 100).min(streams[1].len())])
        );
    }
    assert_eq!(show(&p.both(&["GET", "ctr"])), show(b"$4\r\n1000\r\n"));
    assert_eq!(show(&p.both(&["STRLEN", "log"])), show(b":1000\r\n"));
    p.assert_alive("pipeline");
}

/// Commands with 100k arguments spanning every shard, and a 10 MB bulk string.
#[test]
fn huge_commands_and_values() {
    let mut p = Pair::new(4);
    let mut mset: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
    for i in 0..50_000 {
        mset.push(format!("m{i}").into_bytes());
        mset.push(format!("v{i}").into_bytes());
    }
    let keys: Vec<Vec<u8>> = (0..100_000).map(|i| format!("m{i}").into_bytes()).collect();
    let mget: Vec<Vec<u8>> = [vec![b"MGET".to_vec()], keys.clone()].concat();
    let exists: Vec<Vec<u8>> = [vec![b"EXISTS".to_vec()], keys.clone()].concat();
    let del: Vec<Vec<u8>> = [vec![b"DEL".to_vec()], keys].concat();
    for (server, c) in [(&p.redis, &mut p.wr), (&p.shoal, &mut p.ws)] {
        let l = server.label().to_string();
        // Generous: these are big, and a debug build on a busy machine is slow.
        c.set_reply_timeout(Duration::from_secs(60));
        assert_eq!(
            show(&c.cmd(&mset)),
            show(b"+OK\r\n"),
            "{l}: MSET of 50k pairs"
        );
        assert_eq!(show(&c.cmd(&["DBSIZE"])), show(b":50000\r\n"), "{l}");
        let r = c.cmd(&mget);
        let Resp::Array(items) = parse(&r) else {
            panic!("{l}: MGET reply {}", show(&r))
        };
        assert_eq!(items.len(), 100_000, "{l}");
        for (i, item) in items.iter().enumerate() {
            let want = if i < 50_000 {
                Resp::Bulk(format!("v{i}").into_bytes())
            } else {
                Resp::Nil
            };
            assert_eq!(item, &want, "{l}: MGET item {i}");
        }
        assert_eq!(show(&c.cmd(&exists)), show(b":50000\r\n"), "{l}");
        assert_eq!(
            show(&c.cmd(&del)),
            show(b":50000\r\n"),
            "{l}: DEL of 100k keys"
        );
        assert_eq!(show(&c.cmd(&["DBSIZE"])), show(b":0\r\n"), "{l}");

        // 10 MB value: SET, GET, STRLEN, APPEND another 10 MB, GETRANGE across the seam.
        let mut big = vec![b'x'; 10 << 20];
        big[0] = b'<';
        *big.last_mut().unwrap() = b'>';
        assert_eq!(
            show(&c.cmd(&[&b"SET"[..], b"big", &big])),
            show(b"+OK\r\n"),
            "{l}"
        );
        let got = c.cmd(&[b"GET", b"big"]);
        assert!(
            got == encode_bulk(&big),
            "{l}: GET of a 10 MB value returned {} bytes: {}",
            got.len(),
            show(&got[..got.len().min(64)])
        );
        assert_eq!(
            show(&c.cmd(&["STRLEN", "big"])),
            show(b":10485760\r\n"),
            "{l}"
        );
        let more = vec![b'y'; 10 << 20];
        assert_eq!(
            show(&c.cmd(&[&b"APPEND"[..], b"big", &more])),
            show(b":20971520\r\n"),
            "{l}"
        );
        assert_eq!(
            show(&c.cmd(&["GETRANGE", "big", "10485758", "10485761"])),
            show(b"$4\r\nx>yy\r\n"),
            "{l}"
        );
        assert_eq!(show(&c.cmd(&["DEL", "big"])), show(b":1\r\n"), "{l}");
    }
    p.assert_alive("huge commands");
}

const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";

/// The fields of a HELLO reply that do not depend on the server's identity.
fn hello_shape(reply: &[u8], proto: i64) -> Vec<(String, Resp)> {
    let pairs: Vec<(Resp, Resp)> = match parse(reply) {
        Resp::Map(m) if proto == 3 => m,
        Resp::Array(a) if proto == 2 => a.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect(),
        other => panic!(
            "HELLO {proto} reply is not a {}: {other:?}",
            if proto == 3 { "map" } else { "flat array" }
        ),
    };
    pairs
        .into_iter()
        .map(|(k, v)| {
            let Resp::Bulk(k) = k else {
                panic!("HELLO key {k:?}")
            };
            let k = String::from_utf8(k).unwrap();
            // server, version and id identify the server: only their types must match.
            let v = match (k.as_str(), v) {
                ("server" | "version", Resp::Bulk(_)) => Resp::Bulk(b"<string>".to_vec()),
                ("id", Resp::Int(_)) => Resp::Int(0),
                (_, v) => v,
            };
            (k, v)
        })
        .collect()
}

fn expected_hello(proto: i64) -> Vec<(String, Resp)> {
    vec![
        ("server".into(), Resp::Bulk(b"<string>".to_vec())),
        ("version".into(), Resp::Bulk(b"<string>".to_vec())),
        ("proto".into(), Resp::Int(proto)),
        ("id".into(), Resp::Int(0)),
        ("mode".into(), Resp::Bulk(b"standalone".to_vec())),
        ("role".into(), Resp::Bulk(b"master".to_vec())),
        ("modules".into(), Resp::Array(vec![])),
    ]
}

/// Runs `script` on one connection to each server: replies must equal Redis's and `expect`.
fn script(shoal: &Server, redis: &Server, steps: &[(&[&str], &[u8])]) {
    let mut a = shoal.conn();
    let mut b = redis.conn();
    for (cmd, expect) in steps {
        let y = b.cmd(cmd);
        assert_eq!(
            show(&y),
            show(expect),
            "reference redis-server, {cmd:?} (suite bug?)"
        );
        let x = a.cmd(cmd);
        assert_eq!(show(&x), show(&y), "{cmd:?}: shoal vs redis");
    }
}

#[test]
fn requirepass() {
    let shoal = Server::shoal_with(&["--shards", "2", "--requirepass", "secret"]);
    let redis = Server::redis_with(&["--requirepass", "secret"]);
    script(
        &shoal,
        &redis,
        &[
            (&["GET", "a"], NOAUTH),
            (&["PING"], NOAUTH),
            (&["SELECT", "1"], NOAUTH),
            (&["NOSUCH"], b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n"),
            (&["ECHO"], b"-ERR wrong number of arguments for 'echo' command\r\n"),
            (&["AUTH"], b"-ERR wrong number of arguments for 'auth' command\r\n"),
            (&["AUTH", "a", "b", "c"], b"-ERR syntax error\r\n"),
            (&["AUTH", "wrong"], WRONGPASS),
            (&["AUTH", "default", "wrong"], WRONGPASS),
            (&["AUTH", "bob", "secret"], WRONGPASS),
            (
                &["HELLO", "3"],
                b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n",
            ),
            (&["HELLO", "3", "AUTH", "default", "wrong"], WRONGPASS),
            (&["HELLO", "2", "AUTH", "default"], b"-ERR Syntax error in HELLO option 'AUTH'\r\n"),
            (&["GET", "a"], NOAUTH),
            (&["AUTH", "secret"], b"+OK\r\n"),
            (&["SET", "a", "1"], b"+OK\r\n"),
            (&["GET", "a"], b"$1\r\n1\r\n"),
            // A failed AUTH does not log an authenticated client out.
            (&["AUTH", "wrong"], WRONGPASS),
            (&["GET", "a"], b"$1\r\n1\r\n"),
            (&["AUTH", "default", "secret"], b"+OK\r\n"),
        ],
    );
    // Authentication is per connection.
    assert_eq!(show(&shoal.conn().cmd(&["GET", "a"])), show(NOAUTH));
    // Inline commands are checked too.
    assert_eq!(show(&shoal.send_raw(b"GET a\r\n")), show(NOAUTH));
    // Unauthenticated clients get tight protocol limits (more than 10 arguments, bulks over 16 KB).
    for (input, expect, closes) in [
        (
            &b"*20\r\n"[..],
            &b"-ERR Protocol error: unauthenticated multibulk length\r\n"[..],
            true,
        ),
        (b"*10\r\n", b"", false),
        (
            b"*1\r\n$20000\r\n",
            b"-ERR Protocol error: unauthenticated bulk length\r\n",
            true,
        ),
        (b"*1\r\n$16384\r\n", b"", false),
    ] {
        let want = Exchange {
            reply: expect.to_vec(),
            closed: closes,
        };
        let r = redis.exchange(input, expect.len(), closes);
        assert_eq!(r, want, "reference redis-server, input {}", show(input));
        let s = shoal.exchange(input, expect.len(), closes);
        assert_eq!(s, r, "input {}: shoal {s} vs redis {r}", show(input));
    }
    // After AUTH the limits are gone: 20 arguments are fine.
    for server in [&shoal, &redis] {
        let mut c = server.conn();
        assert_eq!(show(&c.cmd(&["AUTH", "secret"])), show(b"+OK\r\n"));
        let mut mset = vec!["MSET".to_string()];
        for i in 0..10 {
            mset.push(format!("key{i}"));
            mset.push(i.to_string());
        }
        assert_eq!(show(&c.cmd(&mset)), show(b"+OK\r\n"), "{}", server.label());
    }
    // HELLO 3 AUTH authenticates and switches to RESP3 at once.
    for server in [&shoal, &redis] {
        let mut c = server.conn();
        let hello = c.cmd(&["HELLO", "3", "AUTH", "default", "secret"]);
        assert_eq!(
            hello_shape(&hello, 3),
            expected_hello(3),
            "{}: {}",
            server.label(),
            show(&hello)
        );
        assert_eq!(
            show(&c.cmd(&["GET", "nosuch"])),
            show(b"_\r\n"),
            "{}",
            server.label()
        );
        assert_eq!(
            show(&c.cmd(&["GET", "a"])),
            show(b"$1\r\n1\r\n"),
            "{}",
            server.label()
        );
        assert_eq!(
            show(&c.cmd(&["MGET", "a", "nosuch"])),
            show(b"*2\r\n$1\r\n1\r\n_\r\n"),
            "{}",
            server.label()
        );
    }
}

#[test]
fn auth_without_password() {
    let shoal = Server::shoal(2);
    let redis = Server::redis();
    script(
        &shoal,
        &redis,
        &[
            (
                &["AUTH", "x"],
                b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
            ),
            (&["AUTH", "default", "x"], b"+OK\r\n"),
            (&["AUTH", "bob", "x"], WRONGPASS),
            (&["GET", "a"], b"$-1\r\n"),
        ],
    );
}

#[test]
fn hello_and_resp3() {
    let shoal = Server::shoal(2);
    let redis = Server::redis();
    script(
        &shoal,
        &redis,
        &[
            (
                &["HELLO", "4"],
                b"-NOPROTO unsupported protocol version\r\n",
            ),
            (
                &["HELLO", "1"],
                b"-NOPROTO unsupported protocol version\r\n",
            ),
            (
                &["HELLO", "x"],
                b"-ERR Protocol version is not an integer or out of range\r\n",
            ),
            (
                &["HELLO", "3", "FOO"],
                b"-ERR Syntax error in HELLO option 'FOO'\r\n",
            ),
            (
                &["HELLO", "3", "AUTH", "default"],
                b"-ERR Syntax error in HELLO option 'AUTH'\r\n",
            ),
        ],
    );
    let mut a = shoal.conn();
    let mut b = redis.conn();
    let (x, y) = (a.cmd(&["HELLO"]), b.cmd(&["HELLO"]));
    assert_eq!(hello_shape(&y, 2), expected_hello(2));
    assert_eq!(
        hello_shape(&x, 2),
        expected_hello(2),
        "shoal HELLO: {}",
        show(&x)
    );
    let (x, y) = (a.cmd(&["HELLO", "3"]), b.cmd(&["HELLO", "3"]));
    assert_eq!(hello_shape(&y, 3), expected_hello(3));
    assert_eq!(
        hello_shape(&x, 3),
        expected_hello(3),
        "shoal HELLO 3: {}",
        show(&x)
    );
    let resp3: &[(&[&str], &[u8])] = &[
        (&["GET", "nosuch"], b"_\r\n"),
        (&["SET", "a", "1"], b"+OK\r\n"),
        (&["MGET", "a", "nosuch"], b"*2\r\n$1\r\n1\r\n_\r\n"),
        (&["SET", "a", "2", "GET"], b"$1\r\n1\r\n"),
        (&["SET", "zz", "2", "XX", "GET"], b"_\r\n"),
        (&["GETDEL", "nosuch"], b"_\r\n"),
        (&["GETEX", "nosuch", "PERSIST"], b"_\r\n"),
        (&["GETSET", "nosuch", "v"], b"_\r\n"),
        (&["SET", "b", "abcd"], b"+OK\r\n"),
        (
            &["LCS", "a", "b", "IDX"],
            b"%2\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n",
        ),
        (
            &["LCS", "b", "b", "IDX", "WITHMATCHLEN"],
            b"%2\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:0\r\n:3\r\n*2\r\n:0\r\n:3\r\n:4\r\n$3\r\nlen\r\n:4\r\n",
        ),
        (&["INCRBYFLOAT", "a", "0.5"], b"$3\r\n2.5\r\n"),
        (&["KEYS", "nomatch*"], b"*0\r\n"),
        (&["TTL", "a"], b":-1\r\n"),
        (&["EXISTS", "a", "b", "nokey"], b":2\r\n"),
        (&["NOSUCH"], b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n"),
        (&["PING"], b"+PONG\r\n"),
        (&["ECHO", "x"], b"$1\r\nx\r\n"),
    ];
    for (cmd, expect) in resp3 {
        let y = b.cmd(cmd);
        assert_eq!(
            show(&y),
            show(expect),
            "reference redis-server (RESP3), {cmd:?}"
        );
        assert_eq!(show(&a.cmd(cmd)), show(&y), "RESP3 {cmd:?}");
    }
    // Back to RESP2: nulls are $-1 again, LCS IDX is an array.
    let (x, y) = (a.cmd(&["HELLO", "2"]), b.cmd(&["HELLO", "2"]));
    assert_eq!(hello_shape(&y, 2), expected_hello(2));
    assert_eq!(
        hello_shape(&x, 2),
        expected_hello(2),
        "shoal HELLO 2: {}",
        show(&x)
    );
    let resp2: &[(&[&str], &[u8])] = &[
        (&["GET", "nokey"], b"$-1\r\n"),
        (&["MGET", "a", "nokey"], b"*2\r\n$3\r\n2.5\r\n$-1\r\n"),
        (
            &["LCS", "a", "b", "IDX"],
            b"*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n",
        ),
    ];
    for (cmd, expect) in resp2 {
        let y = b.cmd(cmd);
        assert_eq!(
            show(&y),
            show(expect),
            "reference redis-server (RESP2), {cmd:?}"
        );
        assert_eq!(show(&a.cmd(cmd)), show(&y), "RESP2 {cmd:?}");
    }
}

#[test]
fn redis_cli() {
    let shoal = Server::shoal(2);
    let redis = Server::redis();
    let cases: &[(&[&str], &str)] = &[
        (&["set", "a", "b"], "OK\n"),
        (&["get", "a"], "b\n"),
        (&["get", "nosuch"], "\n"),
        (&["mget", "a", "nosuch"], "b\n\n"),
        (&["set", "greeting", "hello world"], "OK\n"),
        (&["get", "greeting"], "hello world\n"),
        (&["incrby", "n", "5"], "5\n"),
        (
            &["incr", "a"],
            "ERR value is not an integer or out of range\n\n",
        ),
        (
            &["get"],
            "ERR wrong number of arguments for 'get' command\n\n",
        ),
        (&["exists", "a", "n", "nosuch"], "2\n"),
        (&["dbsize"], "3\n"),
        (&["ping"], "PONG\n"),
        (&["-n", "1", "get", "a"], "\n"),
        (&["-3", "get", "nosuch"], "\n"),
        (&["-3", "get", "a"], "b\n"),
    ];
    for (args, expect) in cases {
        let r = redis.redis_cli(args);
        assert_eq!(
            r,
            (expect.to_string(), String::new(), 0),
            "reference redis-cli/redis-server: {args:?}"
        );
        let s = shoal.redis_cli(args);
        assert_eq!(s, r, "redis-cli {args:?}: shoal vs redis");
    }
    // Mass insertion with --pipe (raw protocol, ends with an ECHO of a random marker).
    for server in [&shoal, &redis] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf 'SET p1 v1\\r\\nINCR c\\r\\nINCR c\\r\\nSET \"with space\" x\\r\\n' | redis-cli -p {} --pipe",
                server.port()
            ))
            .output()
            .expect("sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: redis-cli --pipe failed: {stdout}",
            server.label()
        );
        assert!(
            stdout.ends_with("errors: 0, replies: 4\n"),
            "{}: redis-cli --pipe said: {stdout}",
            server.label()
        );
        assert_eq!(
            server.redis_cli(&["get", "c"]).0,
            "2\n",
            "{}",
            server.label()
        );
        assert_eq!(
            server.redis_cli(&["get", "with space"]).0,
            "x\n",
            "{}",
            server.label()
        );
    }
}

/// The `redis` crate, a typical client library, works unchanged.
#[test]
fn client_library() {
    let shoal = Server::shoal(2);
    let mut con = shoal.client();
    let _: () = redis::cmd("SET")
        .arg("lib")
        .arg(42)
        .query(&mut con)
        .expect("SET");
    let v: i64 = redis::cmd("GET").arg("lib").query(&mut con).expect("GET");
    assert_eq!(v, 42);
    let vals: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["lib", "nope"])
        .query(&mut con)
        .expect("MGET");
    assert_eq!(vals, vec![Some("42".to_string()), None]);
    let n: i64 = redis::cmd("INCRBY")
        .arg("lib")
        .arg(8)
        .query(&mut con)
        .expect("INCRBY");
    assert_eq!(n, 50);
    let err = redis::cmd("INCR")
        .arg("nokey")
        .arg("extra")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert_eq!(
        err.detail(),
        Some("wrong number of arguments for 'incr' command"),
        "{err:?}"
    );
    let (a, b): (i64, Option<String>) = redis::pipe()
        .cmd("DECR")
        .arg("lib")
        .cmd("GET")
        .arg("nope")
        .query(&mut con)
        .expect("pipe");
    assert_eq!((a, b), (49, None));
    assert_eq!(shoal.addr(), format!("127.0.0.1:{}", shoal.port()));
}

/// A client that pipelines a million commands (about 40 MB) faster than they run: its turns
/// end, its receive pauses while a backlog waits, and resumes; another client is served
/// meanwhile, and every reply comes back once and in order.
#[test]
fn heavy_pipeliner_is_paused_and_resumed() {
    let s = Server::shoal(1);
    const N: usize = 1_000_000;
    let mut input = Vec::with_capacity(N * 40);
    for i in 0..N {
        input.extend_from_slice(&encode(&["SET", &format!("key:{i}"), "v"]));
    }
    input.extend_from_slice(&encode(&["ECHO", "end"]));
    let mut a = s.conn();
    a.set_reply_timeout(Duration::from_secs(60));
    a.send_background(input);
    let mut b = s.conn();
    assert_eq!(b.cmd(&["PING"]), b"+PONG\r\n");
    let replies = a.read_exact_bytes(5 * N + 9);
    assert_eq!(replies.len(), 5 * N + 9, "all replies came back");
    assert!(
        replies[..5 * N].chunks(5).all(|r| r == b"+OK\r\n"),
        "one +OK per SET"
    );
    assert_eq!(&replies[5 * N..], b"$3\r\nend\r\n");
    assert_eq!(b.cmd(&["DBSIZE"]), format!(":{N}\r\n").as_bytes());
    assert_eq!(a.cmd(&["GET", "key:999999"]), b"$1\r\nv\r\n");
}

/// A turn also ends on time: a client pipelining 1,000 scripts that each run for a while
/// (far over 0.5 ms per 32) gives way to another client every 64 of them, not every 512, and
/// the other client's reply leaves before the pipeliner's next turn runs. The other client's
/// GETs of the scripts' counter show how many ran between them: 64 (128 allowed for a GET that
/// arrives late; 512 without the time limit).
#[test]
fn slow_commands_end_a_turn_early() {
    if suite::against_redis() {
        return; // Shoal's turn budget; Redis runs what a read brought in one go.
    }
    let s = Server::shoal(1);
    const N: usize = 1_000;
    let script = "for i = 1, 20000 do end return redis.call('INCR', KEYS[1])";
    let mut input = Vec::new();
    for _ in 0..N {
        input.extend_from_slice(&encode(&["EVAL", script, "1", "slow:count"]));
    }
    let mut a = s.conn();
    a.set_reply_timeout(Duration::from_secs(60));
    a.send_background(input);
    let mut b = s.conn();
    let mut seen = vec![];
    loop {
        let r = b.cmd(&["GET", "slow:count"]);
        let n: usize = match r.as_slice() {
            b"$-1\r\n" => 0,
            _ => String::from_utf8_lossy(&r)
                .lines()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .expect("a count"),
        };
        seen.push(n);
        if n == N {
            break;
        }
    }
    let steps: Vec<usize> = seen.windows(2).map(|w| w[1] - w[0]).collect();
    let biggest = steps.iter().copied().max().unwrap_or(0);
    assert!(
        seen.len() > 5 && biggest <= 128,
        "counts seen between the other client's turns: {seen:?}"
    );
    let replies = a.read_exact_bytes((1..=N).map(|i| format!(":{i}\r\n").len()).sum());
    let want: Vec<u8> = (1..=N)
        .flat_map(|i| format!(":{i}\r\n").into_bytes())
        .collect();
    assert_eq!(replies, want, "every reply, in order");
}

/// A client that pipelines more than one turn of commands (512) and then half-closes still
/// gets every reply before the server closes: a hang-up does not drop the rest of its turns.
#[test]
fn long_pipeline_then_half_close_is_served_whole() {
    let s = Server::shoal(1);
    const N: usize = 20_000;
    let mut input = Vec::new();
    for i in 0..N {
        input.extend_from_slice(&encode(&["SET", &format!("k{i}"), "v"]));
    }
    let want: Vec<u8> = b"+OK\r\n".repeat(N);
    let mut c = s.conn();
    c.send_background(input);
    c.shutdown_write();
    let got = c.collect(want.len(), true);
    assert_eq!(
        got,
        Exchange {
            reply: want,
            closed: true
        }
    );
    assert_eq!(s.conn().cmd(&["DBSIZE"]), format!(":{N}\r\n").as_bytes());
}

/// Big values pipelined faster than they run: the receive pauses past 1 MB of backlog, the
/// turns may drain it before the pause takes effect, and reading resumes either way.
#[test]
fn big_values_pipelined_resume_after_pause() {
    let s = Server::shoal(1);
    const N: usize = 4000;
    let value = "x".repeat(8192);
    let mut input = Vec::with_capacity(N * 8300);
    for i in 0..N {
        input.extend_from_slice(&encode(&["SET", &format!("big:{i}"), &value]));
    }
    let mut c = s.conn();
    c.set_reply_timeout(Duration::from_secs(60));
    c.send_background(input);
    let replies = c.read_exact_bytes(5 * N);
    assert_eq!(replies, b"+OK\r\n".repeat(N));
    assert_eq!(c.cmd(&["STRLEN", "big:3999"]), b":8192\r\n");
}

/// On `a`, `n` pipelined APPENDs of 100 bytes to `key` (each reply is the new length, so the
/// replies are distinct and ordered) then `ECHO end`, while `b` runs rounds of a two-command
/// pipeline (`PING`, `ECHO`) and, with `flip`, changes both fairness settings every tenth
/// round, and `c` pipelines SETs and hangs up: every reply comes back exactly, in order.
fn fairness_traffic(s: &Server, key: &str, n: usize, flip: bool) {
    let value = "v".repeat(100);
    let mut input = Vec::with_capacity(n * 140);
    let mut want = Vec::with_capacity(n * 10);
    for i in 1..=n {
        input.extend_from_slice(&encode(&["APPEND", key, &value]));
        want.extend_from_slice(format!(":{}\r\n", 100 * i).as_bytes());
    }
    input.extend_from_slice(&encode(&["ECHO", "end"]));
    want.extend_from_slice(b"$3\r\nend\r\n");
    let mut a = s.conn();
    a.set_reply_timeout(Duration::from_secs(60));
    a.send_background(input);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut b = s.conn();
            for i in 0..300 {
                let echo = format!("b{i}");
                let mut pipe = encode(&["PING"]);
                pipe.extend_from_slice(&encode(&["ECHO", &echo]));
                b.send(&pipe);
                assert_eq!(b.reply(), b"+PONG\r\n", "round {i}");
                assert_eq!(
                    b.reply(),
                    format!("${}\r\n{echo}\r\n", echo.len()).as_bytes(),
                    "round {i}"
                );
                if flip && i % 10 == 0 {
                    let (turn, backlog) = if i % 20 == 0 {
                        ("3", "64kb")
                    } else {
                        ("1", "16kb")
                    };
                    assert_eq!(
                        b.cmd(&["CONFIG", "SET", "max-commands-per-turn", turn]),
                        b"+OK\r\n"
                    );
                    assert_eq!(
                        b.cmd(&["CONFIG", "SET", "client-input-backlog", backlog]),
                        b"+OK\r\n"
                    );
                }
            }
        });
        sc.spawn(|| {
            const M: usize = 2000;
            let mut input = Vec::new();
            for i in 0..M {
                input.extend_from_slice(&encode(&["SET", &format!("{key}:c{i}"), "v"]));
            }
            let mut c = s.conn();
            c.send_background(input);
            c.shutdown_write();
            let got = c.collect(5 * M, true);
            assert_eq!(
                got,
                Exchange {
                    reply: b"+OK\r\n".repeat(M),
                    closed: true
                }
            );
        });
        let got = a.read_exact_bytes(want.len());
        let first_diff = got.iter().zip(&want).position(|(x, y)| x != y);
        assert!(
            got == want,
            "pipeliner: {} of {} reply bytes, first difference at {first_diff:?}: {}",
            got.len(),
            want.len(),
            show(&got[first_diff.unwrap_or(got.len()).saturating_sub(20)..][..40.min(got.len())])
        );
    });
    assert_eq!(
        a.cmd(&["STRLEN", key]),
        format!(":{}\r\n", 100 * n).as_bytes()
    );
}

/// max-commands-per-turn and client-input-backlog: set by flags, read and changed by CONFIG
/// GET/SET with Redis's replies and errors, and at their smallest (a turn of one command, a
/// 16 KB backlog, so the pipeliner's megabytes keep pausing its receive) a pipeliner, a client
/// interleaving short pipelines and a client that hangs up mid-pipeline each get every reply in
/// order, also while CONFIG SET changes both settings under them.
#[test]
fn small_turns_and_input_backlog_keep_every_reply_in_order() {
    if suite::against_redis() {
        return; // Shoal settings; Redis has neither.
    }
    let s = Server::shoal_with(&[
        "--shards",
        "1",
        "--max-commands-per-turn",
        "1",
        "--client-input-backlog",
        "16kb",
    ]);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "max-commands-per-turn"]),
        b"*2\r\n$21\r\nmax-commands-per-turn\r\n$1\r\n1\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "client-input-backlog"]),
        b"*2\r\n$20\r\nclient-input-backlog\r\n$5\r\n16384\r\n"
    );
    fairness_traffic(&s, "log:flags", 40_000, false);

    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "max-commands-per-turn",
            "1000",
            "client-input-backlog",
            "2mb"
        ]),
        b"+OK\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "max-commands-per-turn"]),
        b"*2\r\n$21\r\nmax-commands-per-turn\r\n$4\r\n1000\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "client-input-backlog"]),
        b"*2\r\n$20\r\nclient-input-backlog\r\n$7\r\n2097152\r\n"
    );
    for (name, value, error) in [
        (
            "max-commands-per-turn",
            "0",
            "argument must be between 1 and 9223372036854775807 inclusive",
        ),
        (
            "max-commands-per-turn",
            "-1",
            "argument must be between 1 and 9223372036854775807 inclusive",
        ),
        (
            "max-commands-per-turn",
            "1k",
            "argument couldn't be parsed into an integer",
        ),
        (
            "client-input-backlog",
            "16383",
            "argument must be between 16384 and 9223372036854775807 inclusive",
        ),
        (
            "client-input-backlog",
            "lots",
            "argument must be a memory value",
        ),
    ] {
        assert_eq!(
            c.cmd(&["CONFIG", "SET", name, value]),
            format!("-ERR CONFIG SET failed (possibly related to argument '{name}') - {error}\r\n")
                .as_bytes(),
            "CONFIG SET {name} {value}"
        );
    }
    // A refused CONFIG SET changes nothing.
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "max-commands-per-turn", "client-input-backlog"]),
        b"*4\r\n$21\r\nmax-commands-per-turn\r\n$4\r\n1000\r\n$20\r\nclient-input-backlog\r\n$7\r\n2097152\r\n"
    );
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "max-commands-per-turn",
            "1",
            "client-input-backlog",
            "16kb"
        ]),
        b"+OK\r\n"
    );
    fairness_traffic(&s, "log:set", 40_000, true);

    // Out of range at start-up: the same wording, and the server does not start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["--max-commands-per-turn", "0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "shoal: configuration error: --max-commands-per-turn 0: argument must be between 1 and 9223372036854775807 inclusive\n"
    );
}
