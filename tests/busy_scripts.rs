//! Scripts that run past busy-reply-threshold, against Shoal (4 shards) and a real
//! redis-server (7.0.15), byte for byte: other clients get `-BUSY` for the busy script's keys,
//! SCRIPT KILL and FUNCTION KILL stop a script of their own kind (and refuse the other kind),
//! the killed script's caller gets Redis's error with the script's line, a script that wrote
//! is UNKILLABLE, and SHUTDOWN NOSAVE stops the server even then.
//!
//! Redis answers every other connection while a script is busy. A Shoal core running a script
//! serves its own connections only after the script ends, so the tests talk from a connection
//! that lives on another core: one that answers `GET a` within a short time.

mod suite;

use std::time::Duration;
use suite::{Conn, Server};

fn servers() -> Vec<Server> {
    vec![Server::shoal(4), Server::redis()]
}

const BUSY_EVAL: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
const BUSY_FUNCTION: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";
const SPIN: &str = "local i = 0 while true do i = i + 1 end";
/// SHA1 of [`SPIN`].
const SPIN_SHA: &str = "3fcf51a9b854b8f66cb8685600b0d7df968f4398";

/// A connection answered while the script on key `a` runs, and its reply to `GET a`.
fn other(s: &Server) -> (Conn, Vec<u8>) {
    for _ in 0..64 {
        let mut c = s.conn();
        c.set_reply_timeout(Duration::from_millis(300));
        c.send_cmd(&["GET", "a"]);
        if let Ok(r) = c.read_reply() {
            c.set_reply_timeout(Duration::from_secs(10));
            return (c, r);
        }
    }
    panic!("{}: no connection answered while the script ran", s.label());
}

/// Sets a short threshold and starts `args` (a script on key `a`) on a connection of its own.
fn start_busy(s: &Server, args: &[&str]) -> Conn {
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]),
        b"+OK\r\n",
        "{}",
        s.label()
    );
    let mut a = s.conn();
    a.set_reply_timeout(Duration::from_secs(20));
    a.send_cmd(args);
    std::thread::sleep(Duration::from_millis(400));
    a
}

#[test]
fn script_kill_stops_a_busy_script() {
    for s in servers() {
        let l = s.label().to_string();
        let mut a = start_busy(&s, &["EVAL", SPIN, "1", "a"]);
        let (mut b, r) = other(&s);
        assert_eq!(r, BUSY_EVAL, "{l}: GET a while the script is busy");
        assert_eq!(
            b.cmd(&["FUNCTION", "KILL"]),
            BUSY_EVAL,
            "{l}: FUNCTION KILL"
        );
        assert_eq!(b.cmd(&["SCRIPT", "KILL"]), b"+OK\r\n", "{l}: SCRIPT KILL");
        assert_eq!(
            a.reply(),
            format!("-ERR Script killed by user with SCRIPT KILL... script: {SPIN_SHA}, on @user_script:1.\r\n")
                .into_bytes(),
            "{l}: the killed script's reply"
        );
        assert_eq!(b.cmd(&["GET", "a"]), b"$-1\r\n", "{l}: served again");
        assert_eq!(
            b.cmd(&["SCRIPT", "KILL"]),
            b"-NOTBUSY No scripts in execution right now.\r\n",
            "{l}: nothing left to kill"
        );
        assert_eq!(
            a.cmd(&["EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "a"]),
            b"+OK\r\n",
            "{l}: scripts run again"
        );
    }
}

#[test]
fn function_kill_stops_a_busy_function() {
    let lib = format!(
        "#!lua name=busylib\nredis.register_function('spin', function(keys, args) {SPIN} end)"
    );
    for s in servers() {
        let l = s.label().to_string();
        let mut c = s.conn();
        assert_eq!(
            c.cmd(&["FUNCTION", "LOAD", &lib]),
            b"$7\r\nbusylib\r\n",
            "{l}"
        );
        let mut a = start_busy(&s, &["FCALL", "spin", "1", "a"]);
        let (mut b, r) = other(&s);
        assert_eq!(r, BUSY_FUNCTION, "{l}: GET a while the function is busy");
        assert_eq!(
            b.cmd(&["SCRIPT", "KILL"]),
            BUSY_FUNCTION,
            "{l}: SCRIPT KILL"
        );
        assert_eq!(
            b.cmd(&["FUNCTION", "KILL"]),
            b"+OK\r\n",
            "{l}: FUNCTION KILL"
        );
        assert_eq!(
            a.reply(),
            b"-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.\r\n",
            "{l}: the killed function's reply"
        );
        assert_eq!(b.cmd(&["GET", "a"]), b"$-1\r\n", "{l}: served again");
    }
}

#[test]
fn a_script_that_wrote_is_unkillable_but_shutdown_stops_it() {
    for s in servers() {
        let l = s.label().to_string();
        let _a = start_busy(
            &s,
            &[
                "EVAL",
                &format!("redis.call('set', KEYS[1], '1') {SPIN}"),
                "1",
                "a",
            ],
        );
        let (mut b, r) = other(&s);
        assert_eq!(r, BUSY_EVAL, "{l}: GET a while the script is busy");
        assert_eq!(
            b.cmd(&["SCRIPT", "KILL"]),
            b"-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n",
            "{l}: SCRIPT KILL"
        );
        b.send_cmd(&["SHUTDOWN", "NOSAVE"]);
        assert!(
            s.wait_exit(Duration::from_secs(10)).is_some(),
            "{l}: SHUTDOWN NOSAVE while a script is busy"
        );
    }
}
