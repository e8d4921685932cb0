//! Pub/sub against Shoal with 4 shards and against a real redis-server (7.0.15), byte for byte:
//! SUBSCRIBE/PSUBSCRIBE/UNSUBSCRIBE/PUNSUBSCRIBE confirmations and counts, message and pmessage
//! frames, the commands allowed in subscribe mode (RESP2) and RESP3 push frames, delivery to many
//! subscribers on every core in publish order, PUBSUB CHANNELS/NUMSUB/NUMPAT, sharded pub/sub
//! (SSUBSCRIBE/SPUBLISH/SUNSUBSCRIBE, as Redis replies in standalone mode), subscribers that
//! disconnect, and argument errors.

mod suite;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use suite::{encode, expect, parse, shard_of, show, Conn, Resp, Server};

fn servers() -> Vec<Server> {
    vec![Server::shoal(4), Server::redis()]
}

/// Channels on the 4 shards of a 4-shard Shoal: "ch3" is on shard 0, "ch2" on 1, "ch1" on 2,
/// "ch4" on 3 (`channels_are_spread_over_the_shards` checks these sets).
const CH: [&str; 4] = ["ch1", "ch2", "ch3", "ch4"];
/// Four more channels, one per shard.
const C: [&str; 4] = ["c0", "c1", "c2", "c3"];
/// Shard channels, one per shard.
const S: [&str; 4] = ["s1", "s2", "s3", "s4"];

/// How many subscriber connections the multi-connection tests open (so that, with the kernel's
/// SO_REUSEPORT hashing, every core of a 4-shard Shoal is very likely to hold some).
const SUBSCRIBERS: usize = 8;

/// An element of a [`frame`]: a bulk string, an integer or a null.
enum Item<'a> {
    B(&'a str),
    I(i64),
    /// `$-1` in RESP2, `_` in RESP3.
    Null,
}

/// The exact bytes of a RESP2 array (`head` `*`) or RESP3 push (`>`) of `items`.
fn frame(head: u8, items: &[Item]) -> Vec<u8> {
    let mut out = format!("{}{}\r\n", head as char, items.len()).into_bytes();
    for i in items {
        match i {
            Item::B(s) => out.extend_from_slice(format!("${}\r\n{s}\r\n", s.len()).as_bytes()),
            Item::I(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Item::Null if head == b'>' => out.extend_from_slice(b"_\r\n"),
            Item::Null => out.extend_from_slice(b"$-1\r\n"),
        }
    }
    out
}

/// `*3 kind channel count` (subscribe, unsubscribe, psubscribe, ... confirmations).
fn conf(kind: &str, channel: &str, count: i64) -> Vec<u8> {
    frame(b'*', &[Item::B(kind), Item::B(channel), Item::I(count)])
}

/// `*3 kind $-1 count` (an unsubscribe of everything when nothing was subscribed).
fn conf_null(kind: &str, count: i64) -> Vec<u8> {
    frame(b'*', &[Item::B(kind), Item::Null, Item::I(count)])
}

/// `*3 message channel payload`.
fn msg(channel: &str, payload: &str) -> Vec<u8> {
    frame(
        b'*',
        &[Item::B("message"), Item::B(channel), Item::B(payload)],
    )
}

/// `*4 pmessage pattern channel payload`.
fn pmsg(pattern: &str, channel: &str, payload: &str) -> Vec<u8> {
    frame(
        b'*',
        &[
            Item::B("pmessage"),
            Item::B(pattern),
            Item::B(channel),
            Item::B(payload),
        ],
    )
}

/// `*3 smessage channel payload`.
fn smsg(channel: &str, payload: &str) -> Vec<u8> {
    frame(
        b'*',
        &[Item::B("smessage"), Item::B(channel), Item::B(payload)],
    )
}

/// The same frame as a RESP3 push (`>` instead of `*`).
fn as_push(mut f: Vec<u8>) -> Vec<u8> {
    f[0] = b'>';
    f
}

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

fn bulk(v: &str) -> Vec<u8> {
    format!("${}\r\n{v}\r\n", v.len()).into_bytes()
}

/// Sends a command to a subscriber that may have messages waiting: skips message, pmessage
/// and smessage frames, then asserts the command's exact reply.
#[track_caller]
fn expect_after_messages(s: &Server, c: &mut Conn, args: &[&str], want: &[u8]) {
    c.send_cmd(args);
    loop {
        let got = c.reply();
        if let Resp::Array(v) = parse(&got) {
            if matches!(v.first(), Some(Resp::Bulk(k))
                if [&b"message"[..], b"pmessage", b"smessage"].contains(&k.as_slice()))
            {
                continue;
            }
        }
        assert_eq!(
            show(&got),
            show(want),
            "{}: reply to {}",
            s.label(),
            args.join(" ")
        );
        return;
    }
}

/// Reads the next reply (a frame pushed to a subscriber) and asserts its exact bytes.
#[track_caller]
fn expect_next(s: &Server, c: &mut Conn, want: &[u8], what: &str) {
    let got = c.reply();
    assert_eq!(show(&got), show(want), "{}: {what}", s.label());
}

/// Sends a command whose reply is several frames (SUBSCRIBE a b c, ...) and asserts each.
#[track_caller]
fn expect_frames(s: &Server, c: &mut Conn, args: &[&str], want: &[Vec<u8>]) {
    c.send_cmd(args);
    let got: Vec<String> = want.iter().map(|_| show(&c.reply())).collect();
    let want: Vec<String> = want.iter().map(|w| show(w)).collect();
    assert_eq!(got, want, "{}: replies to {}", s.label(), args.join(" "));
}

/// `kind ch1 ch2 ...` on `c`, asserting the confirmations count up from `start + 1`.
#[track_caller]
fn subscribe(s: &Server, c: &mut Conn, kind: &str, chans: &[&str], start: i64) {
    let mut args = vec![kind];
    args.extend_from_slice(chans);
    let want: Vec<Vec<u8>> = chans
        .iter()
        .enumerate()
        .map(|(i, ch)| conf(&kind.to_lowercase(), ch, start + 1 + i as i64))
        .collect();
    expect_frames(s, c, &args, &want);
}

/// Sends an argument-less UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE while `chans` are
/// subscribed (plus `others` subscriptions that it does not touch): the confirmations may come
/// in any order (Redis walks a dict), but each names one of `chans` once and the counts go down
/// one by one to `others`.
#[track_caller]
fn unsubscribe_all(s: &Server, c: &mut Conn, kind: &str, chans: &[&str], others: i64) {
    c.send_cmd(&[kind]);
    let mut seen = BTreeSet::new();
    for i in 0..chans.len() {
        let got = c.reply();
        let want_count = others + (chans.len() - 1 - i) as i64;
        match parse(&got) {
            Resp::Array(v)
                if v.len() == 3
                    && v[0] == Resp::Bulk(kind.to_lowercase().into_bytes())
                    && v[2] == Resp::Int(want_count) =>
            {
                let Resp::Bulk(ch) = &v[1] else {
                    panic!("{}: {kind} confirmation {}", s.label(), show(&got))
                };
                seen.insert(String::from_utf8_lossy(ch).into_owned());
            }
            _ => panic!(
                "{}: {kind} confirmation #{i}: got {}, want a {kind} of one of {chans:?} with \
                 count {want_count}",
                s.label(),
                show(&got)
            ),
        }
    }
    let want: BTreeSet<String> = chans.iter().map(|c| c.to_string()).collect();
    assert_eq!(seen, want, "{}: channels that {kind} confirmed", s.label());
}

/// The elements of an array reply, sorted (for replies whose order is unspecified).
#[track_caller]
fn sorted_names(s: &Server, reply: &[u8]) -> Vec<String> {
    match parse(reply) {
        Resp::Array(v) => {
            let mut names: Vec<String> = v
                .into_iter()
                .map(|r| match r {
                    Resp::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => panic!("{}: not a bulk string: {other:?}", s.label()),
                })
                .collect();
            names.sort();
            names
        }
        _ => panic!("{}: not an array: {}", s.label(), show(reply)),
    }
}

/// PUBLISH (or SPUBLISH) until it reports `want` receivers (disconnects are asynchronous on
/// both servers); fails after 5 s with the last count.
#[track_caller]
fn publish_until(s: &Server, p: &mut Conn, cmd: &str, channel: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = p.cmd(&[cmd, channel, "probe"]);
        if got == int(want) {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{}: {cmd} {channel} still reports {} after 5 s, want {want}",
                s.label(),
                show(&got)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Payload number `i` of a publisher: the number first, then a length that varies.
fn payload(tag: &str, i: usize) -> String {
    format!("{tag}{i:05}:{}", "x".repeat(i % 37))
}

/// The (channel, payload) of a `message` frame.
#[track_caller]
fn message_parts(s: &Server, frame: &[u8]) -> (String, String) {
    match parse(frame) {
        Resp::Array(v) if v.len() == 3 && v[0] == Resp::Bulk(b"message".to_vec()) => {
            match (&v[1], &v[2]) {
                (Resp::Bulk(ch), Resp::Bulk(p)) => (
                    String::from_utf8_lossy(ch).into_owned(),
                    String::from_utf8_lossy(p).into_owned(),
                ),
                _ => panic!("{}: bad message frame {}", s.label(), show(frame)),
            }
        }
        _ => panic!("{}: not a message frame: {}", s.label(), show(frame)),
    }
}

#[test]
fn channels_are_spread_over_the_shards() {
    for set in [CH, C, S] {
        let shards: BTreeSet<usize> = set.iter().map(|c| shard_of(c, 4)).collect();
        assert_eq!(shards.len(), 4, "{set:?} are not on 4 different shards");
    }
    assert_eq!(CH.map(|c| shard_of(c, 4)), [2, 1, 0, 3]);
}

#[test]
fn subscribe_publish_and_message_frames() {
    for s in servers() {
        let mut sub = s.conn();
        let mut p = s.conn();
        expect_frames(
            &s,
            &mut sub,
            &["SUBSCRIBE", "ch1", "ch2"],
            &[
                b"*3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n".to_vec(),
                b"*3\r\n$9\r\nsubscribe\r\n$3\r\nch2\r\n:2\r\n".to_vec(),
            ],
        );
        expect(&s, &mut p, &["PUBLISH", "ch1", "hello"], b":1\r\n");
        expect_next(
            &s,
            &mut sub,
            b"*3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$5\r\nhello\r\n",
            "message on ch1",
        );
        expect(&s, &mut p, &["PUBLISH", "ch2", ""], b":1\r\n");
        expect_next(&s, &mut sub, &msg("ch2", ""), "empty message on ch2");
        // Nobody listens on ch3; binary payloads pass through untouched.
        expect(&s, &mut p, &["PUBLISH", "ch3", "lost"], b":0\r\n");
        p.send_cmd(&[&b"PUBLISH"[..], b"ch2", b"\x00\xff\r\n*1"]);
        assert_eq!(show(&p.reply()), show(b":1\r\n"), "{}", s.label());
        expect_next(
            &s,
            &mut sub,
            b"*3\r\n$7\r\nmessage\r\n$3\r\nch2\r\n$6\r\n\x00\xff\r\n*1\r\n",
            "binary message on ch2 (and nothing from ch3 before it)",
        );
        // Subscribing twice to the same channel confirms again without counting it twice.
        subscribe(&s, &mut sub, "SUBSCRIBE", &["ch3"], 2);
        expect_frames(
            &s,
            &mut sub,
            &["SUBSCRIBE", "ch1", "ch3", "ch4"],
            &[
                conf("subscribe", "ch1", 3),
                conf("subscribe", "ch3", 3),
                conf("subscribe", "ch4", 4),
            ],
        );
        // Two subscribers on channels on every shard.
        let mut sub2 = s.conn();
        subscribe(&s, &mut sub2, "SUBSCRIBE", &CH, 0);
        for ch in CH {
            expect(&s, &mut p, &["PUBLISH", ch, &format!("to {ch}")], b":2\r\n");
        }
        for ch in CH {
            let m = msg(ch, &format!("to {ch}"));
            expect_next(&s, &mut sub, &m, "first subscriber");
            expect_next(&s, &mut sub2, &m, "second subscriber");
        }
    }
}

#[test]
fn psubscribe_pmessage_and_double_delivery() {
    for s in servers() {
        let mut sub = s.conn();
        let mut p = s.conn();
        expect(
            &s,
            &mut sub,
            &["PSUBSCRIBE", "ch*"],
            b"*3\r\n$10\r\npsubscribe\r\n$3\r\nch*\r\n:1\r\n",
        );
        expect(&s, &mut p, &["PUBLISH", "chz", "y"], b":1\r\n");
        expect_next(
            &s,
            &mut sub,
            b"*4\r\n$8\r\npmessage\r\n$3\r\nch*\r\n$3\r\nchz\r\n$1\r\ny\r\n",
            "pmessage for chz",
        );
        expect(&s, &mut p, &["PUBLISH", "other", "n"], b":0\r\n");
        // A channel and a matching pattern on the same connection: both count, both deliver,
        // the channel's message first.
        expect(
            &s,
            &mut sub,
            &["SUBSCRIBE", "ch1"],
            b"*3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:2\r\n",
        );
        expect(&s, &mut p, &["PUBLISH", "ch1", "x"], b":2\r\n");
        expect_next(
            &s,
            &mut sub,
            b"*3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$1\r\nx\r\n",
            "message for ch1 (before the pmessage)",
        );
        expect_next(&s, &mut sub, &pmsg("ch*", "ch1", "x"), "pmessage for ch1");
        // Two patterns that both match deliver twice.
        subscribe(&s, &mut sub, "PSUBSCRIBE", &["c?1", "[a-c]h[0-9]"], 2);
        expect(&s, &mut p, &["PUBLISH", "ch4", "z"], b":2\r\n");
        let got: BTreeSet<String> = (0..2).map(|_| show(&sub.reply())).collect();
        let want: BTreeSet<String> = [pmsg("ch*", "ch4", "z"), pmsg("[a-c]h[0-9]", "ch4", "z")]
            .iter()
            .map(|f| show(f))
            .collect();
        assert_eq!(got, want, "{}: pmessages for ch4", s.label());
        expect(&s, &mut p, &["PUBLISH", "ch1", "w"], b":4\r\n");
        expect_next(&s, &mut sub, &msg("ch1", "w"), "message for ch1");
        let got: BTreeSet<String> = (0..3).map(|_| show(&sub.reply())).collect();
        let want: BTreeSet<String> = [
            pmsg("ch*", "ch1", "w"),
            pmsg("c?1", "ch1", "w"),
            pmsg("[a-c]h[0-9]", "ch1", "w"),
        ]
        .iter()
        .map(|f| show(f))
        .collect();
        assert_eq!(got, want, "{}: pmessages for ch1", s.label());
        // Another subscriber's pattern counts too; patterns on channels on every shard.
        let mut sub2 = s.conn();
        subscribe(&s, &mut sub2, "PSUBSCRIBE", &["*"], 0);
        for ch in C {
            expect(&s, &mut p, &["PUBLISH", ch, ch], b":1\r\n");
            expect_next(&s, &mut sub2, &pmsg("*", ch, ch), "pmessage for *");
        }
        expect(&s, &mut p, &["PUBLISH", "chx", "v"], b":2\r\n");
        expect_next(&s, &mut sub, &pmsg("ch*", "chx", "v"), "pmessage chx");
        expect_next(&s, &mut sub2, &pmsg("*", "chx", "v"), "pmessage chx");
    }
}

#[test]
fn unsubscribe_and_punsubscribe_with_and_without_arguments() {
    for s in servers() {
        let mut c = s.conn();
        let mut p = s.conn();
        // Nothing subscribed: a null channel, count 0, and the connection stays normal.
        expect(
            &s,
            &mut c,
            &["UNSUBSCRIBE"],
            b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
        );
        expect(
            &s,
            &mut c,
            &["PUNSUBSCRIBE"],
            b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n",
        );
        expect(&s, &mut c, &["PING"], b"+PONG\r\n");
        // Named channels that are not subscribed are confirmed with the current count.
        expect(
            &s,
            &mut c,
            &["UNSUBSCRIBE", "zz"],
            b"*3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:0\r\n",
        );
        expect(
            &s,
            &mut c,
            &["PUNSUBSCRIBE", "zz*"],
            b"*3\r\n$12\r\npunsubscribe\r\n$3\r\nzz*\r\n:0\r\n",
        );
        expect(&s, &mut c, &["GET", "k"], b"$-1\r\n");

        // Counts include channels and patterns.
        subscribe(&s, &mut c, "SUBSCRIBE", &CH, 0);
        subscribe(&s, &mut c, "PSUBSCRIBE", &["p*", "q*"], 4);
        expect_frames(
            &s,
            &mut c,
            &["UNSUBSCRIBE", "ch2", "nope", "ch2"],
            &[
                b"*3\r\n$11\r\nunsubscribe\r\n$3\r\nch2\r\n:5\r\n".to_vec(),
                conf("unsubscribe", "nope", 5),
                conf("unsubscribe", "ch2", 5),
            ],
        );
        expect(&s, &mut p, &["PUBLISH", "ch2", "gone"], b":0\r\n");
        expect(&s, &mut p, &["PUBLISH", "ch1", "kept"], b":1\r\n");
        expect_next(&s, &mut c, &msg("ch1", "kept"), "ch1 is still subscribed");
        expect(
            &s,
            &mut c,
            &["PUNSUBSCRIBE", "q*"],
            b"*3\r\n$12\r\npunsubscribe\r\n$2\r\nq*\r\n:4\r\n",
        );
        // Without arguments: every channel (patterns stay), then every pattern.
        unsubscribe_all(&s, &mut c, "UNSUBSCRIBE", &["ch1", "ch3", "ch4"], 1);
        expect(&s, &mut p, &["PUBLISH", "ch1", "none"], b":0\r\n");
        expect(&s, &mut p, &["PUBLISH", "px", "pat"], b":1\r\n");
        expect_next(
            &s,
            &mut c,
            &pmsg("p*", "px", "pat"),
            "p* is still subscribed",
        );
        // Only patterns left: UNSUBSCRIBE without arguments names no channel.
        expect(
            &s,
            &mut c,
            &["UNSUBSCRIBE"],
            b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n",
        );
        expect(
            &s,
            &mut c,
            &["PUNSUBSCRIBE"],
            b"*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n",
        );
        expect(
            &s,
            &mut c,
            &["PUNSUBSCRIBE"],
            b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n",
        );
        expect(&s, &mut p, &["PUBLISH", "px", "none"], b":0\r\n");
        // Several patterns at once, channels untouched by PUNSUBSCRIBE.
        subscribe(&s, &mut c, "PSUBSCRIBE", &["a*", "b*", "c*"], 0);
        subscribe(&s, &mut c, "SUBSCRIBE", &["ch4"], 3);
        unsubscribe_all(&s, &mut c, "PUNSUBSCRIBE", &["a*", "b*", "c*"], 1);
        expect(
            &s,
            &mut c,
            &["UNSUBSCRIBE"],
            b"*3\r\n$11\r\nunsubscribe\r\n$3\r\nch4\r\n:0\r\n",
        );
        // Back in normal mode.
        expect(&s, &mut c, &["SET", "k", "v"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "k"], b"$1\r\nv\r\n");
        expect(&s, &mut c, &["PING"], b"+PONG\r\n");
    }
}

#[test]
fn subscribe_mode_allows_only_pubsub_commands() {
    const ONLY: &str =
        "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";
    let refused = |cmd: &str| format!("-ERR Can't execute '{cmd}': {ONLY}\r\n").into_bytes();
    for s in servers() {
        let mut c = s.conn();
        let mut p = s.conn();
        expect(&s, &mut p, &["SET", "k", "v"], b"+OK\r\n");
        subscribe(&s, &mut c, "SUBSCRIBE", &["ch1"], 0);
        expect(
            &s,
            &mut c,
            &["GET", "k"],
            b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
              RESET are allowed in this context\r\n",
        );
        // The command name is reported in lower case, subcommands as "cmd|sub".
        expect(&s, &mut c, &["SeT", "k", "w"], &refused("set"));
        expect(&s, &mut c, &["ECHO", "x"], &refused("echo"));
        expect(&s, &mut c, &["MULTI"], &refused("multi"));
        expect(&s, &mut c, &["CLIENT", "ID"], &refused("client|id"));
        expect(&s, &mut c, &["PUBLISH", "ch1", "m"], &refused("publish"));
        // Unknown commands and arity errors come first.
        expect(
            &s,
            &mut c,
            &["NOSUCHCMD"],
            b"-ERR unknown command 'NOSUCHCMD', with args beginning with: \r\n",
        );
        expect(
            &s,
            &mut c,
            &["PING", "a", "b"],
            b"-ERR wrong number of arguments for 'ping' command\r\n",
        );
        // PING answers as a pong message.
        expect(&s, &mut c, &["PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        expect(
            &s,
            &mut c,
            &["PING", "hi"],
            b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n",
        );
        // The refused SET did not run; messages still arrive.
        expect(&s, &mut p, &["GET", "k"], b"$1\r\nv\r\n");
        expect(&s, &mut p, &["PUBLISH", "ch1", "m"], b":1\r\n");
        expect_next(&s, &mut c, &msg("ch1", "m"), "message after refusals");
        // A pattern alone keeps the connection in subscribe mode.
        subscribe(&s, &mut c, "PSUBSCRIBE", &["p*"], 1);
        expect(&s, &mut c, &["UNSUBSCRIBE"], &conf("unsubscribe", "ch1", 1));
        expect(&s, &mut c, &["GET", "k"], &refused("get"));
        expect(&s, &mut c, &["PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        expect(
            &s,
            &mut c,
            &["PUNSUBSCRIBE"],
            &conf("punsubscribe", "p*", 0),
        );
        // Out of subscribe mode: everything works again.
        expect(&s, &mut c, &["GET", "k"], b"$1\r\nv\r\n");
        expect(&s, &mut c, &["PING"], b"+PONG\r\n");
        expect(&s, &mut c, &["PING", "hi"], b"$2\r\nhi\r\n");
        expect(&s, &mut c, &["ECHO", "x"], b"$1\r\nx\r\n");
        expect(&s, &mut c, &["PUBLISH", "ch1", "m"], b":0\r\n");
        // A shard channel alone keeps it in subscribe mode too.
        expect(
            &s,
            &mut c,
            &["SSUBSCRIBE", "s1"],
            &conf("ssubscribe", "s1", 1),
        );
        expect(&s, &mut c, &["GET", "k"], &refused("get"));
        expect(&s, &mut c, &["UNSUBSCRIBE"], &conf_null("unsubscribe", 0));
        expect(&s, &mut c, &["PUNSUBSCRIBE"], &conf_null("punsubscribe", 0));
        expect(&s, &mut c, &["GET", "k"], &refused("get"));
        expect(
            &s,
            &mut c,
            &["SUNSUBSCRIBE"],
            &conf("sunsubscribe", "s1", 0),
        );
        expect(&s, &mut c, &["GET", "k"], b"$1\r\nv\r\n");
    }
}

#[test]
fn reset_and_quit_leave_subscribe_mode() {
    for s in servers() {
        let mut p = s.conn();
        expect(&s, &mut p, &["SET", "k", "v"], b"+OK\r\n");
        // RESET drops every subscription and leaves subscribe mode.
        let mut c = s.conn();
        subscribe(&s, &mut c, "SUBSCRIBE", &["ch1", "ch2"], 0);
        subscribe(&s, &mut c, "PSUBSCRIBE", &["ch*"], 2);
        expect(
            &s,
            &mut c,
            &["SSUBSCRIBE", "s1"],
            &conf("ssubscribe", "s1", 1),
        );
        expect(&s, &mut c, &["RESET"], b"+RESET\r\n");
        expect(&s, &mut c, &["GET", "k"], b"$1\r\nv\r\n");
        expect(&s, &mut c, &["PING"], b"+PONG\r\n");
        expect(&s, &mut p, &["PUBLISH", "ch1", "m"], b":0\r\n");
        expect(&s, &mut p, &["SPUBLISH", "s1", "m"], b":0\r\n");
        expect(&s, &mut c, &["UNSUBSCRIBE"], &conf_null("unsubscribe", 0));
        // ...and the connection can subscribe again.
        subscribe(&s, &mut c, "SUBSCRIBE", &["ch1"], 0);
        expect(&s, &mut p, &["PUBLISH", "ch1", "again"], b":1\r\n");
        expect_next(&s, &mut c, &msg("ch1", "again"), "message after RESET");
        // QUIT answers +OK and closes.
        let mut q = s.conn();
        subscribe(&s, &mut q, "SUBSCRIBE", &["ch1"], 0);
        expect(&s, &mut p, &["PUBLISH", "ch1", "two"], b":2\r\n");
        expect_next(&s, &mut q, &msg("ch1", "two"), "message before QUIT");
        q.send_cmd(&["QUIT"]);
        let ex = q.collect(5, true);
        assert_eq!(
            (show(&ex.reply), ex.closed),
            (show(b"+OK\r\n"), true),
            "{}: QUIT in subscribe mode",
            s.label()
        );
        publish_until(&s, &mut p, "PUBLISH", "ch1", 1);
        expect_next(
            &s,
            &mut c,
            &msg("ch1", "two"),
            "first subscriber, message two",
        );
    }
}

#[test]
fn resp3_push_frames_and_normal_commands_while_subscribed() {
    for s in servers() {
        let mut c = s.conn();
        let mut p = s.conn();
        let hello = c.cmd(&["HELLO", "3"]);
        assert!(
            matches!(parse(&hello), Resp::Map(_)),
            "{}: HELLO 3 reply {}",
            s.label(),
            show(&hello)
        );
        expect_frames(
            &s,
            &mut c,
            &["SUBSCRIBE", "ch1", "ch2"],
            &[
                b">3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n".to_vec(),
                b">3\r\n$9\r\nsubscribe\r\n$3\r\nch2\r\n:2\r\n".to_vec(),
            ],
        );
        expect(
            &s,
            &mut c,
            &["PSUBSCRIBE", "c*"],
            b">3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:3\r\n",
        );
        // Normal commands keep working, with their ordinary replies.
        expect(&s, &mut c, &["SET", "k", "v"], b"+OK\r\n");
        expect(&s, &mut c, &["GET", "k"], b"$1\r\nv\r\n");
        expect(&s, &mut c, &["GET", "missing"], b"_\r\n");
        expect(&s, &mut c, &["PING"], b"+PONG\r\n");
        expect(&s, &mut c, &["PING", "x"], b"$1\r\nx\r\n");
        expect(&s, &mut c, &["ECHO", "e"], b"$1\r\ne\r\n");
        // Messages are pushes.
        expect(&s, &mut p, &["PUBLISH", "ch1", "m"], b":2\r\n");
        expect_next(
            &s,
            &mut c,
            b">3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$1\r\nm\r\n",
            "RESP3 message",
        );
        expect_next(
            &s,
            &mut c,
            b">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$3\r\nch1\r\n$1\r\nm\r\n",
            "RESP3 pmessage",
        );
        expect(
            &s,
            &mut c,
            &["PUNSUBSCRIBE", "c*"],
            b">3\r\n$12\r\npunsubscribe\r\n$2\r\nc*\r\n:2\r\n",
        );
        // A message arriving between commands comes before the next reply.
        expect(&s, &mut p, &["PUBLISH", "ch2", "n"], b":1\r\n");
        expect(&s, &mut p, &["PUBLISH", "ch2", "o"], b":1\r\n");
        c.send_cmd(&["GET", "k"]);
        let got: Vec<String> = (0..3).map(|_| show(&c.reply())).collect();
        let want: Vec<String> = [
            as_push(msg("ch2", "n")),
            as_push(msg("ch2", "o")),
            bulk("v"),
        ]
        .iter()
        .map(|f| show(f))
        .collect();
        assert_eq!(got, want, "{}: pushes, then the GET reply", s.label());
        // Publishing to its own channel: the push comes before PUBLISH's reply.
        c.send_cmd(&["PUBLISH", "ch2", "self"]);
        let got: Vec<String> = (0..2).map(|_| show(&c.reply())).collect();
        let want = vec![
            show(b">3\r\n$7\r\nmessage\r\n$3\r\nch2\r\n$4\r\nself\r\n"),
            show(b":1\r\n"),
        ];
        assert_eq!(got, want, "{}: PUBLISH to its own channel", s.label());
        // Unsubscribing: pushes, with `_` for "no channel".
        unsubscribe_all_push(&s, &mut c, "unsubscribe", &["ch1", "ch2"], 0);
        expect(
            &s,
            &mut c,
            &["UNSUBSCRIBE"],
            b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n",
        );
        expect(
            &s,
            &mut c,
            &["PUNSUBSCRIBE"],
            b">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n",
        );
        // Shard channels.
        expect(
            &s,
            &mut c,
            &["SSUBSCRIBE", "s1"],
            b">3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n",
        );
        expect(&s, &mut p, &["SPUBLISH", "s1", "z"], b":1\r\n");
        expect_next(
            &s,
            &mut c,
            b">3\r\n$8\r\nsmessage\r\n$2\r\ns1\r\n$1\r\nz\r\n",
            "RESP3 smessage",
        );
        expect(
            &s,
            &mut c,
            &["SUNSUBSCRIBE"],
            b">3\r\n$12\r\nsunsubscribe\r\n$2\r\ns1\r\n:0\r\n",
        );
        expect(
            &s,
            &mut c,
            &["SUNSUBSCRIBE"],
            b">3\r\n$12\r\nsunsubscribe\r\n_\r\n:0\r\n",
        );
        // RESET goes back to RESP2 and out of pub/sub.
        subscribe_push(&s, &mut c, "ch1", 1);
        expect(&s, &mut c, &["RESET"], b"+RESET\r\n");
        expect(&s, &mut p, &["PUBLISH", "ch1", "m"], b":0\r\n");
        expect(
            &s,
            &mut c,
            &["SUBSCRIBE", "ch1"],
            b"*3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n",
        );
        expect(&s, &mut c, &["GET", "k"], b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n");
    }
}

/// SUBSCRIBE one channel over RESP3.
#[track_caller]
fn subscribe_push(s: &Server, c: &mut Conn, ch: &str, count: i64) {
    expect(
        s,
        c,
        &["SUBSCRIBE", ch],
        &frame(b'>', &[Item::B("subscribe"), Item::B(ch), Item::I(count)]),
    );
}

/// [`unsubscribe_all`] over RESP3: the confirmations are pushes.
#[track_caller]
fn unsubscribe_all_push(s: &Server, c: &mut Conn, kind: &str, chans: &[&str], others: i64) {
    c.send_cmd(&[kind]);
    let mut seen = BTreeSet::new();
    for i in 0..chans.len() {
        let got = c.reply();
        let want_count = others + (chans.len() - 1 - i) as i64;
        match parse(&got) {
            Resp::Push(v)
                if v.len() == 3
                    && v[0] == Resp::Bulk(kind.as_bytes().to_vec())
                    && v[2] == Resp::Int(want_count) =>
            {
                seen.insert(format!("{:?}", v[1]));
            }
            _ => panic!(
                "{}: {kind} push #{i}: got {}, want a push for one of {chans:?} with count \
                 {want_count}",
                s.label(),
                show(&got)
            ),
        }
    }
    let want: BTreeSet<String> = chans
        .iter()
        .map(|c| format!("{:?}", Resp::Bulk(c.as_bytes().to_vec())))
        .collect();
    assert_eq!(seen, want, "{}: channels that {kind} confirmed", s.label());
}

/// Opens [`SUBSCRIBERS`] connections subscribed to `chans`.
fn subscribers(s: &Server, chans: &[&str]) -> Vec<Conn> {
    (0..SUBSCRIBERS)
        .map(|_| {
            let mut c = s.conn();
            subscribe(s, &mut c, "SUBSCRIBE", chans, 0);
            c
        })
        .collect()
}

/// Sends `cmds` pipelined on `p` and asserts every reply is `:want`.
#[track_caller]
fn publish_pipelined(s: &Server, p: &mut Conn, cmds: &[Vec<String>], want: i64) {
    let mut wire = vec![];
    for c in cmds {
        wire.extend(encode(c));
    }
    p.send_background(wire);
    for (i, c) in cmds.iter().enumerate() {
        let got = p.reply();
        assert_eq!(
            show(&got),
            show(&int(want)),
            "{}: reply to pipelined command #{i} {c:?}",
            s.label()
        );
    }
}

#[test]
fn every_subscriber_gets_every_message_in_order() {
    const N: usize = 1000;
    for s in servers() {
        let mut subs = subscribers(&s, &["news"]);
        let mut p = s.conn();
        let cmds: Vec<Vec<String>> = (0..N)
            .map(|i| vec!["PUBLISH".into(), "news".into(), payload("m", i)])
            .collect();
        publish_pipelined(&s, &mut p, &cmds, SUBSCRIBERS as i64);
        for (k, sub) in subs.iter_mut().enumerate() {
            for i in 0..N {
                let got = sub.reply();
                assert_eq!(
                    show(&got),
                    show(&msg("news", &payload("m", i))),
                    "{}: subscriber {k}, message #{i}",
                    s.label()
                );
            }
        }
    }
}

#[test]
fn publish_order_holds_across_channels_on_every_shard() {
    const N: usize = 1000;
    for s in servers() {
        let mut subs = subscribers(&s, &C);
        let mut p = s.conn();
        // One publisher, pipelined, cycling over channels on the 4 shards.
        let cmds: Vec<Vec<String>> = (0..N)
            .map(|i| vec!["PUBLISH".into(), C[i % 4].into(), payload("m", i)])
            .collect();
        publish_pipelined(&s, &mut p, &cmds, SUBSCRIBERS as i64);
        for (k, sub) in subs.iter_mut().enumerate() {
            for i in 0..N {
                let got = sub.reply();
                assert_eq!(
                    show(&got),
                    show(&msg(C[i % 4], &payload("m", i))),
                    "{}: subscriber {k}, message #{i}",
                    s.label()
                );
            }
        }
        // The same one command at a time (each PUBLISH answered before the next is sent).
        for i in 0..200 {
            expect(
                &s,
                &mut p,
                &["PUBLISH", C[(i * 3) % 4], &payload("q", i)],
                &int(SUBSCRIBERS as i64),
            );
        }
        for (k, sub) in subs.iter_mut().enumerate() {
            for i in 0..200 {
                let got = sub.reply();
                assert_eq!(
                    show(&got),
                    show(&msg(C[(i * 3) % 4], &payload("q", i))),
                    "{}: subscriber {k}, sequential message #{i}",
                    s.label()
                );
            }
        }
    }
}

#[test]
fn two_publishers_each_keep_their_order() {
    const N: usize = 500;
    // Publisher A uses "ch1", publisher B "ch3" (different shards); every subscriber listens to
    // both.
    for s in servers() {
        let mut subs = subscribers(&s, &["ch1", "ch3"]);
        std::thread::scope(|scope| {
            for (tag, ch) in [("A", "ch1"), ("B", "ch3")] {
                let s = &s;
                scope.spawn(move || {
                    let mut p = s.conn();
                    let cmds: Vec<Vec<String>> = (0..N)
                        .map(|i| vec!["PUBLISH".into(), ch.into(), payload(tag, i)])
                        .collect();
                    publish_pipelined(s, &mut p, &cmds, SUBSCRIBERS as i64);
                });
            }
        });
        for (k, sub) in subs.iter_mut().enumerate() {
            let mut next = [0usize; 2];
            for n in 0..2 * N {
                let got = sub.reply();
                let (ch, body) = message_parts(&s, &got);
                let (idx, tag, want_ch) = if body.starts_with('A') {
                    (0, "A", "ch1")
                } else {
                    (1, "B", "ch3")
                };
                assert_eq!(
                    (ch.as_str(), body.as_str()),
                    (want_ch, payload(tag, next[idx]).as_str()),
                    "{}: subscriber {k}, frame #{n}: publisher {tag}'s messages out of order",
                    s.label()
                );
                next[idx] += 1;
            }
            assert_eq!(next, [N, N], "{}: subscriber {k}", s.label());
        }
    }
}

#[test]
fn pubsub_channels_numsub_numpat() {
    for s in servers() {
        let mut q = s.conn();
        expect(&s, &mut q, &["PUBSUB", "CHANNELS"], b"*0\r\n");
        expect(&s, &mut q, &["PUBSUB", "NUMPAT"], b":0\r\n");
        expect(&s, &mut q, &["PUBSUB", "NUMSUB"], b"*0\r\n");
        expect(
            &s,
            &mut q,
            &["PUBSUB", "NUMSUB", "ch1"],
            b"*2\r\n$3\r\nch1\r\n:0\r\n",
        );
        // Subscriber i listens to C[0..=i%4]: c0 8 times, c1 6, c2 4, c3 2.
        let mut subs: Vec<Conn> = (0..SUBSCRIBERS)
            .map(|i| {
                let mut c = s.conn();
                subscribe(&s, &mut c, "SUBSCRIBE", &C[..=i % 4], 0);
                c
            })
            .collect();
        // Patterns: "c*" on subscribers 0 and 1, "x*" on subscriber 0 (NUMPAT counts distinct
        // patterns).
        subscribe(&s, &mut subs[0], "PSUBSCRIBE", &["c*", "x*"], 1);
        subscribe(&s, &mut subs[1], "PSUBSCRIBE", &["c*"], 2);
        expect(
            &s,
            &mut q,
            &["PUBSUB", "NUMSUB", "c0", "c1", "c2", "c3", "ch1", "c0"],
            b"*12\r\n$2\r\nc0\r\n:8\r\n$2\r\nc1\r\n:6\r\n$2\r\nc2\r\n:4\r\n$2\r\nc3\r\n:2\r\n\
              $3\r\nch1\r\n:0\r\n$2\r\nc0\r\n:8\r\n",
        );
        expect(&s, &mut q, &["PUBSUB", "NUMPAT"], b":2\r\n");
        let got = q.cmd(&["PUBSUB", "CHANNELS"]);
        assert_eq!(
            sorted_names(&s, &got),
            vec!["c0", "c1", "c2", "c3"],
            "{}: PUBSUB CHANNELS {}",
            s.label(),
            show(&got)
        );
        let got = q.cmd(&["PUBSUB", "CHANNELS", "c[12]"]);
        assert_eq!(
            sorted_names(&s, &got),
            vec!["c1", "c2"],
            "{}: PUBSUB CHANNELS c[12] {}",
            s.label(),
            show(&got)
        );
        expect(
            &s,
            &mut q,
            &["PUBSUB", "CHANNELS", "c3"],
            b"*1\r\n$2\r\nc3\r\n",
        );
        expect(&s, &mut q, &["PUBSUB", "CHANNELS", "x*"], b"*0\r\n");
        // PUBLISH counts channel subscribers plus pattern matches.
        expect(&s, &mut q, &["PUBLISH", "c3", "m"], b":4\r\n");
        expect(&s, &mut q, &["PUBLISH", "c0", "m"], b":10\r\n");
        expect(&s, &mut q, &["PUBLISH", "xy", "m"], b":1\r\n");
        // Unsubscribing (confirmed) is visible at once.
        // Subscriber 0 keeps its two patterns, subscriber 4 had only c0.
        expect_after_messages(
            &s,
            &mut subs[0],
            &["UNSUBSCRIBE", "c0"],
            &conf("unsubscribe", "c0", 2),
        );
        expect_after_messages(
            &s,
            &mut subs[4],
            &["UNSUBSCRIBE", "c0"],
            &conf("unsubscribe", "c0", 0),
        );
        expect(
            &s,
            &mut q,
            &["PUBSUB", "NUMSUB", "c0", "c3"],
            b"*4\r\n$2\r\nc0\r\n:6\r\n$2\r\nc3\r\n:2\r\n",
        );
        expect(&s, &mut q, &["PUBLISH", "c0", "m"], b":8\r\n");
        expect_after_messages(
            &s,
            &mut subs[1],
            &["PUNSUBSCRIBE", "c*"],
            &conf("punsubscribe", "c*", 2),
        );
        expect(&s, &mut q, &["PUBSUB", "NUMPAT"], b":2\r\n");
        expect_after_messages(
            &s,
            &mut subs[0],
            &["PUNSUBSCRIBE", "c*"],
            &conf("punsubscribe", "c*", 1),
        );
        expect(&s, &mut q, &["PUBSUB", "NUMPAT"], b":1\r\n");
        // c3's last subscribers leave: it is no longer an active channel.
        for i in [3, 7] {
            expect_after_messages(
                &s,
                &mut subs[i],
                &["UNSUBSCRIBE", "c3"],
                &conf("unsubscribe", "c3", 3),
            );
        }
        let got = q.cmd(&["PUBSUB", "CHANNELS"]);
        assert_eq!(
            sorted_names(&s, &got),
            vec!["c0", "c1", "c2"],
            "{}: PUBSUB CHANNELS {}",
            s.label(),
            show(&got)
        );
        // Shard channels are not channels.
        expect_after_messages(
            &s,
            &mut subs[5],
            &["SSUBSCRIBE", "c3"],
            &conf("ssubscribe", "c3", 1),
        );
        expect(&s, &mut q, &["PUBSUB", "CHANNELS", "c3"], b"*0\r\n");
        expect(
            &s,
            &mut q,
            &["PUBSUB", "NUMSUB", "c3"],
            b"*2\r\n$2\r\nc3\r\n:0\r\n",
        );
        // Lower-case subcommands work.
        expect(&s, &mut q, &["pubsub", "numpat"], b":1\r\n");
    }
}

#[test]
fn sharded_pubsub_in_standalone_mode() {
    for s in servers() {
        let mut a = s.conn();
        let mut b = s.conn();
        let mut p = s.conn();
        // Shard channels in different slots are fine outside cluster mode; the counts in
        // SSUBSCRIBE confirmations count shard channels only.
        expect_frames(
            &s,
            &mut a,
            &["SSUBSCRIBE", "s1", "s2"],
            &[
                b"*3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n".to_vec(),
                b"*3\r\n$10\r\nssubscribe\r\n$2\r\ns2\r\n:2\r\n".to_vec(),
            ],
        );
        // ...and SUBSCRIBE/PSUBSCRIBE counts leave them out.
        expect(
            &s,
            &mut a,
            &["SUBSCRIBE", "ch"],
            &conf("subscribe", "ch", 1),
        );
        expect(
            &s,
            &mut a,
            &["PSUBSCRIBE", "s*"],
            &conf("psubscribe", "s*", 2),
        );
        expect(
            &s,
            &mut a,
            &["SSUBSCRIBE", "s3"],
            &conf("ssubscribe", "s3", 3),
        );
        subscribe(&s, &mut b, "SSUBSCRIBE", &S, 0);
        // SPUBLISH reaches shard subscribers only (not patterns), as smessage.
        expect(&s, &mut p, &["SPUBLISH", "s1", "m1"], b":2\r\n");
        expect_next(
            &s,
            &mut a,
            b"*3\r\n$8\r\nsmessage\r\n$2\r\ns1\r\n$2\r\nm1\r\n",
            "smessage on s1",
        );
        expect_next(&s, &mut b, &smsg("s1", "m1"), "smessage on s1");
        // PUBLISH on a shard channel's name reaches only pattern and plain subscribers.
        expect(&s, &mut p, &["PUBLISH", "s1", "m2"], b":1\r\n");
        expect_next(
            &s,
            &mut a,
            &pmsg("s*", "s1", "m2"),
            "pmessage for PUBLISH s1 (and no pmessage for SPUBLISH before it)",
        );
        expect(&s, &mut p, &["SPUBLISH", "s4", "m3"], b":1\r\n");
        expect(&s, &mut p, &["SPUBLISH", "nobody", "m"], b":0\r\n");
        expect(&s, &mut p, &["SPUBLISH", "s1", "m4"], b":2\r\n");
        expect_next(&s, &mut b, &smsg("s4", "m3"), "smessage on s4");
        expect_next(&s, &mut b, &smsg("s1", "m4"), "smessage on s1");
        expect_next(
            &s,
            &mut a,
            &smsg("s1", "m4"),
            "smessage on s1 (none for s4)",
        );
        for ch in S {
            expect(
                &s,
                &mut p,
                &["SPUBLISH", ch, ch],
                if ch == "s4" { b":1\r\n" } else { b":2\r\n" },
            );
            expect_next(&s, &mut b, &smsg(ch, ch), "smessage on every shard");
        }
        for ch in ["s1", "s2", "s3"] {
            expect_next(&s, &mut a, &smsg(ch, ch), "smessage on every shard");
        }
        // PUBSUB SHARDCHANNELS / SHARDNUMSUB.
        let got = p.cmd(&["PUBSUB", "SHARDCHANNELS"]);
        assert_eq!(
            sorted_names(&s, &got),
            vec!["s1", "s2", "s3", "s4"],
            "{}: PUBSUB SHARDCHANNELS {}",
            s.label(),
            show(&got)
        );
        expect(
            &s,
            &mut p,
            &["PUBSUB", "SHARDCHANNELS", "s4"],
            b"*1\r\n$2\r\ns4\r\n",
        );
        expect(&s, &mut p, &["PUBSUB", "SHARDCHANNELS", "ch*"], b"*0\r\n");
        expect(
            &s,
            &mut p,
            &["PUBSUB", "SHARDNUMSUB", "s1", "s4", "zz", "ch"],
            b"*8\r\n$2\r\ns1\r\n:2\r\n$2\r\ns4\r\n:1\r\n$2\r\nzz\r\n:0\r\n$2\r\nch\r\n:0\r\n",
        );
        expect(&s, &mut p, &["PUBSUB", "SHARDNUMSUB"], b"*0\r\n");
        expect(
            &s,
            &mut p,
            &["PUBSUB", "NUMSUB", "s1", "ch"],
            b"*4\r\n$2\r\ns1\r\n:0\r\n$2\r\nch\r\n:1\r\n",
        );
        expect(&s, &mut p, &["PUBSUB", "CHANNELS"], b"*1\r\n$2\r\nch\r\n");
        expect(&s, &mut p, &["PUBSUB", "NUMPAT"], b":1\r\n");
        // SUNSUBSCRIBE: named (subscribed or not), then all; counts are shard channels only.
        expect(&s, &mut a, &["UNSUBSCRIBE"], &conf("unsubscribe", "ch", 1));
        expect(
            &s,
            &mut a,
            &["PUNSUBSCRIBE"],
            &conf("punsubscribe", "s*", 0),
        );
        expect(
            &s,
            &mut a,
            &["GET", "x"],
            b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
              RESET are allowed in this context\r\n",
        );
        expect(&s, &mut a, &["PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        expect_frames(
            &s,
            &mut a,
            &["SUNSUBSCRIBE", "s2", "zz"],
            &[
                b"*3\r\n$12\r\nsunsubscribe\r\n$2\r\ns2\r\n:2\r\n".to_vec(),
                conf("sunsubscribe", "zz", 2),
            ],
        );
        unsubscribe_all(&s, &mut a, "SUNSUBSCRIBE", &["s1", "s3"], 0);
        expect(
            &s,
            &mut a,
            &["SUNSUBSCRIBE"],
            b"*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n",
        );
        expect(&s, &mut a, &["GET", "x"], b"$-1\r\n");
        expect(
            &s,
            &mut p,
            &["PUBSUB", "SHARDNUMSUB", "s1", "s2"],
            b"*4\r\n$2\r\ns1\r\n:1\r\n$2\r\ns2\r\n:1\r\n",
        );
        expect(&s, &mut p, &["SPUBLISH", "s2", "last"], b":1\r\n");
        expect_next(
            &s,
            &mut b,
            &smsg("s2", "last"),
            "smessage after a's SUNSUBSCRIBE",
        );
        unsubscribe_all(&s, &mut b, "SUNSUBSCRIBE", &S, 0);
        expect(&s, &mut p, &["PUBSUB", "SHARDCHANNELS"], b"*0\r\n");
        expect(&s, &mut b, &["PING"], b"+PONG\r\n");
    }
}

#[test]
fn disconnected_subscribers_stop_counting() {
    for s in servers() {
        let mut p = s.conn();
        let mut subs = subscribers(&s, &["ch1", "ch2"]);
        subscribe(&s, &mut subs[0], "PSUBSCRIBE", &["ch*"], 2);
        expect(&s, &mut p, &["PUBLISH", "ch1", "all"], b":9\r\n");
        // Close three subscribers (the pattern one among them) without unsubscribing.
        subs.drain(..3);
        publish_until(&s, &mut p, "PUBLISH", "ch1", 5);
        publish_until(&s, &mut p, "PUBLISH", "ch2", 5);
        expect(
            &s,
            &mut p,
            &["PUBSUB", "NUMSUB", "ch1", "ch2"],
            b"*4\r\n$3\r\nch1\r\n:5\r\n$3\r\nch2\r\n:5\r\n",
        );
        expect(&s, &mut p, &["PUBSUB", "NUMPAT"], b":0\r\n");
        // The remaining ones still get everything, in order.
        expect(&s, &mut p, &["PUBLISH", "ch2", "after"], b":5\r\n");
        for (k, sub) in subs.iter_mut().enumerate() {
            expect_next(&s, sub, &msg("ch1", "all"), &format!("subscriber {k}"));
            loop {
                let got = sub.reply();
                if got != msg("ch1", "probe") && got != msg("ch2", "probe") {
                    assert_eq!(
                        show(&got),
                        show(&msg("ch2", "after")),
                        "{}: subscriber {k}, after the probes",
                        s.label()
                    );
                    break;
                }
            }
        }
        // A shard subscriber that disconnects stops counting too.
        let mut ss = s.conn();
        expect(
            &s,
            &mut ss,
            &["SSUBSCRIBE", "s1"],
            &conf("ssubscribe", "s1", 1),
        );
        expect(&s, &mut p, &["SPUBLISH", "s1", "x"], b":1\r\n");
        drop(ss);
        publish_until(&s, &mut p, "SPUBLISH", "s1", 0);
        // Everyone gone: the channels are no longer active.
        subs.clear();
        publish_until(&s, &mut p, "PUBLISH", "ch1", 0);
        publish_until(&s, &mut p, "PUBLISH", "ch2", 0);
        expect(&s, &mut p, &["PUBSUB", "CHANNELS"], b"*0\r\n");
        expect(&s, &mut p, &["PUBSUB", "SHARDCHANNELS"], b"*0\r\n");
    }
}

#[test]
fn pubsub_argument_errors() {
    for s in servers() {
        let mut c = s.conn();
        let arity = |cmd: &str| {
            format!("-ERR wrong number of arguments for '{cmd}' command\r\n").into_bytes()
        };
        expect(&s, &mut c, &["SUBSCRIBE"], &arity("subscribe"));
        expect(&s, &mut c, &["PSUBSCRIBE"], &arity("psubscribe"));
        expect(&s, &mut c, &["SSUBSCRIBE"], &arity("ssubscribe"));
        expect(&s, &mut c, &["PUBLISH"], &arity("publish"));
        expect(&s, &mut c, &["PUBLISH", "ch"], &arity("publish"));
        expect(&s, &mut c, &["PUBLISH", "ch", "m", "x"], &arity("publish"));
        expect(&s, &mut c, &["SPUBLISH", "ch"], &arity("spublish"));
        expect(&s, &mut c, &["PUBSUB"], &arity("pubsub"));
        expect(
            &s,
            &mut c,
            &["PUBSUB", "FOO"],
            b"-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n",
        );
        expect(
            &s,
            &mut c,
            &["PUBSUB", "NUMPAT", "x"],
            &arity("pubsub|numpat"),
        );
        expect(
            &s,
            &mut c,
            &["PUBSUB", "CHANNELS", "a", "b"],
            b"-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB \
              HELP.\r\n",
        );
        expect(
            &s,
            &mut c,
            &["PUBSUB", "SHARDCHANNELS", "a", "b"],
            b"-ERR unknown subcommand or wrong number of arguments for 'SHARDCHANNELS'. Try \
              PUBSUB HELP.\r\n",
        );
        // None of these entered subscribe mode.
        expect(&s, &mut c, &["GET", "k"], b"$-1\r\n");
        // The same arity error while subscribed.
        subscribe(&s, &mut c, "SUBSCRIBE", &["ch1"], 0);
        expect(&s, &mut c, &["SUBSCRIBE"], &arity("subscribe"));
        expect(&s, &mut c, &["UNSUBSCRIBE"], &conf("unsubscribe", "ch1", 0));
    }
}

/// CONFIG GET client-output-buffer-limit's reply for `v`.
fn limits_reply(v: &str) -> Vec<u8> {
    format!(
        "*2\r\n$26\r\nclient-output-buffer-limit\r\n${}\r\n{v}\r\n",
        v.len()
    )
    .into_bytes()
}

/// client-output-buffer-limit: CONFIG GET and SET (the classes, units, and errors) as Redis
/// answers them, and a subscriber that does not read is disconnected once its unsent output
/// passes the pubsub hard limit, while other clients carry on.
#[test]
fn client_output_buffer_limit_pubsub() {
    for s in servers() {
        let mut c = s.conn();
        let get = ["CONFIG", "GET", "client-output-buffer-limit"];
        for (set, want) in [
            ("pubsub 1mb 256kb 10", "+OK\r\n"),
            ("pubsub 1mb", "-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration.\r\n"),
            ("foo 1 2 3", "-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Invalid client class specified in buffer limit configuration.\r\n"),
            ("pubsub 1 2 x", "-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Error in hard, soft or soft_seconds setting in buffer limit configuration.\r\n"),
            ("normal 0 0 0 replica 268435456 67108864 60 pubsub 33554432 8388608 60", "+OK\r\n"),
        ] {
            expect(&s, &mut c, &["CONFIG", "SET", "client-output-buffer-limit", set], want.as_bytes());
            if set == "pubsub 1mb 256kb 10" {
                expect(&s, &mut c, &get, &limits_reply("normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 262144 10"));
            }
        }
        expect(
            &s,
            &mut c,
            &get,
            &limits_reply("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
        );

        expect(
            &s,
            &mut c,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 256kb 0 0",
            ],
            b"+OK\r\n",
        );
        let mut slow = s.conn();
        slow.send_cmd(&["SUBSCRIBE", "flood"]);
        assert_eq!(slow.reply(), conf("subscribe", "flood", 1), "{}", s.label());
        // Far more than the kernel's socket buffers can absorb: the rest stays unsent.
        let payload = "x".repeat(64 * 1024);
        let mut delivered_to_zero = false;
        for _ in 0..400 {
            let r = c.cmd(&["PUBLISH", "flood", &payload]);
            if r == b":0\r\n" {
                delivered_to_zero = true;
                break;
            }
            assert_eq!(r, b":1\r\n", "{}: PUBLISH", s.label());
        }
        assert!(
            delivered_to_zero,
            "{}: the slow subscriber was never dropped",
            s.label()
        );
        expect(
            &s,
            &mut c,
            &["PUBSUB", "NUMSUB", "flood"],
            b"*2\r\n$5\r\nflood\r\n:0\r\n",
        );
        // The subscriber's connection was closed: reading drains what was sent, then ends.
        slow.set_reply_timeout(Duration::from_secs(10));
        let mut closed = false;
        for _ in 0..10_000 {
            if slow.read_reply().is_err() {
                closed = true;
                break;
            }
        }
        assert!(
            closed,
            "{}: the slow subscriber's connection stays open",
            s.label()
        );
        expect(&s, &mut c, &["PING"], b"+PONG\r\n");
    }
}
