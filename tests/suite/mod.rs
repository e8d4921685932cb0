//! Harness for the `suite_*` integration tests: starts the real `shoal` binary or a real
//! `redis-server` (the reference implementation) on a free loopback port, kills it on drop, and
//! speaks raw RESP to it so replies can be compared byte for byte.
//!
//! Running (redis-server and redis-cli must be on PATH; every test starts its own servers):
//!
//! ```text
//! cargo test --test suite_differential --test suite_protocol --test suite_multishard
//! SHOAL_TEST_AGAINST_REDIS=1 cargo test --test suite_protocol   # the "shoal" side is Redis too
//! SHOAL_DIFF_SEED=13 SHOAL_DIFF_STEPS=20000 cargo test --test suite_differential
//! ```
//!
//! `SHOAL_TEST_AGAINST_REDIS=1` makes every `Server::shoal*` start a redis-server instead (the
//! `--shards` flag is dropped, every other flag is passed through), which is how the suite itself
//! is validated: it must pass when both sides are Redis.
#![allow(dead_code)]

pub mod diff;

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first PING.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reply may take before a test fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection must stay quiet, after the expected reply came, to count as "no more
/// replies" (only used where the server is expected to keep the connection open).
pub const IDLE: Duration = Duration::from_millis(200);

/// Whether the "shoal" side of every test is really a redis-server (suite self-check).
pub fn against_redis() -> bool {
    matches!(std::env::var("SHOAL_TEST_AGAINST_REDIS"), Ok(v) if !v.is_empty() && v != "0")
}

/// A loopback port that nothing listens on, never handed out twice in this process.
fn pick_port() -> u16 {
    static USED: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let used = USED.get_or_init(|| Mutex::new(HashSet::new()));
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("cannot bind a loopback port");
        if used.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// Which program a [`Server`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Shoal,
    Redis,
}

/// A server process on 127.0.0.1, killed on drop.
pub struct Server {
    child: Mutex<Child>,
    port: u16,
    kind: Kind,
    label: String,
    cmdline: String,
    output: Arc<Mutex<Vec<u8>>>,
    dir: PathBuf,
}

impl Server {
    /// Shoal with `shards` shards (or a redis-server under `SHOAL_TEST_AGAINST_REDIS`).
    pub fn shoal(shards: usize) -> Server {
        Server::shoal_with(&["--shards", &shards.to_string()])
    }

    /// Shoal with extra redis.conf-named flags, e.g. `&["--shards", "4", "--requirepass", "x"]`.
    pub fn shoal_with(args: &[&str]) -> Server {
        if against_redis() {
            let mut rest: Vec<&str> = vec![];
            let mut i = 0;
            while i < args.len() {
                if args[i] == "--shards" {
                    i += 2;
                    continue;
                }
                rest.push(args[i]);
                i += 1;
            }
            return Server::launch(
                Kind::Redis,
                "redis (standing in for shoal)",
                "redis-server",
                &rest,
            );
        }
        Server::launch(Kind::Shoal, "shoal", env!("CARGO_BIN_EXE_shoal"), args)
    }

    /// A real redis-server: `--port P --bind 127.0.0.1 --save '' --appendonly no`.
    pub fn redis() -> Server {
        Server::redis_with(&[])
    }

    /// A real redis-server with extra arguments (e.g. `--requirepass secret`).
    pub fn redis_with(args: &[&str]) -> Server {
        Server::launch(Kind::Redis, "redis", "redis-server", args)
    }

    /// A redis-server with cluster support enabled (the reference for CLUSTER KEYSLOT).
    pub fn redis_cluster() -> Server {
        Server::launch(
            Kind::Redis,
            "redis (cluster-enabled)",
            "redis-server",
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ],
        )
    }

    fn launch(kind: Kind, label: &str, program: &str, extra: &[&str]) -> Server {
        let mut last_output = String::new();
        for _attempt in 0..5 {
            let port = pick_port();
            let dir = std::env::temp_dir().join(format!(
                "shoal-suite-{}-{}-{}",
                std::process::id(),
                port,
                label.split(' ').next().unwrap_or("x")
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("cannot create a temporary directory");
            let mut args: Vec<String> = vec![
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
            ];
            if kind == Kind::Redis {
                args.extend(["--save", "", "--appendonly", "no", "--dir"].map(String::from));
                args.push(dir.to_string_lossy().into_owned());
            }
            args.extend(extra.iter().map(|s| s.to_string()));
            let cmdline = format!(
                "{program} {}",
                args.iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let mut child = match Command::new(program)
                .args(&args)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
            {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::NotFound && kind == Kind::Redis => panic!(
                    "the test suite requires redis-server (the reference implementation) on PATH \
                     (e.g. apt-get install redis-server): {e}"
                ),
                Err(e) => panic!("cannot start `{cmdline}`: {e}"),
            };
            let output = Arc::new(Mutex::new(Vec::new()));
            for pipe in [
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ]
            .into_iter()
            .flatten()
            {
                let out = output.clone();
                std::thread::spawn(move || drain(pipe, out));
            }
            let server = Server {
                child: Mutex::new(child),
                port,
                kind,
                label: label.to_string(),
                cmdline,
                output,
                dir,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(Retry(out)) => {
                    last_output = out;
                    continue;
                }
            }
        }
        panic!("{label} could not find a free port after 5 attempts; last output:\n{last_output}");
    }

    /// Waits until the server answers PING (any reply, NOAUTH included). Panics with the
    /// server's output if it exits or does not answer in time; asks for a retry on another port
    /// if the port was taken.
    fn wait_ready(&self) -> Result<(), Retry> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                std::thread::sleep(Duration::from_millis(50)); // let the drain threads finish
                let out = self.output();
                if out.contains("in use") || out.contains("EADDRINUSE") {
                    return Err(Retry(out));
                }
                panic!(
                    "{} exited before answering PING ({status}).\ncommand: {}\noutput:\n{out}",
                    self.label, self.cmdline
                );
            }
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = c.set_read_timeout(Some(Duration::from_millis(1000)));
                if c.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok() {
                    let mut buf = [0u8; 64];
                    if matches!(c.read(&mut buf), Ok(n) if n > 0) && self.exit_status().is_none() {
                        // Leave only once the server has dropped this probe, so that a test's
                        // first CLIENT LIST or INFO clients does not count it.
                        if c.write_all(b"*1\r\n$4\r\nQUIT\r\n").is_ok() {
                            while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
                        }
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                let _ = self.child.lock().unwrap().kill();
                std::thread::sleep(Duration::from_millis(50));
                panic!(
                    "{} did not answer PING on 127.0.0.1:{} within {:?}.\ncommand: {}\noutput:\n{}",
                    self.label,
                    self.port,
                    START_TIMEOUT,
                    self.cmdline,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn exit_status(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().unwrap().try_wait().ok().flatten()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// "shoal", "redis", ...: for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What the process wrote to stdout and stderr so far (the last 256 KiB).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Panics (with the server's output) if the process has exited.
    pub fn assert_running(&self) {
        if let Some(status) = self.exit_status() {
            std::thread::sleep(Duration::from_millis(50));
            panic!("{} died ({status}); output:\n{}", self.label, self.output());
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.lock().unwrap().id();
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }

    /// Waits up to `timeout` for the process to exit; its exit code, or None if still running.
    pub fn wait_exit(&self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.lock().unwrap().try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// A `redis` crate connection (10 s timeouts).
    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(format!("redis://{}/", self.addr())).expect("redis url");
        let con = client
            .get_connection_with_timeout(REPLY_TIMEOUT)
            .unwrap_or_else(|e| panic!("cannot connect to {} at {}: {e}", self.label, self.addr()));
        con.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        con.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
        con
    }

    /// A raw RESP connection.
    pub fn conn(&self) -> Conn {
        Conn::connect(self.port, &self.label)
    }

    /// Sends `bytes` on a fresh connection and returns the bytes of the first complete reply
    /// (or whatever came before the server closed the connection or 10 s passed).
    pub fn send_raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut c = self.conn();
        c.send_background(bytes.to_vec());
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            if let Ok(Some(n)) = reply_len(&c.buf) {
                return c.buf[..n].to_vec();
            }
            match c.fill(deadline) {
                Ok(true) => {}
                _ => return std::mem::take(&mut c.buf),
            }
        }
    }

    /// Sends `bytes` on a fresh connection; returns everything the server sent back and
    /// whether it closed the connection. See [`Conn::collect`].
    pub fn exchange(&self, bytes: &[u8], expect_len: usize, expect_close: bool) -> Exchange {
        let mut c = self.conn();
        c.send_background(bytes.to_vec());
        c.collect(expect_len, expect_close)
    }

    /// Runs `redis-cli -p PORT ARGS...`; returns (stdout, stderr, exit code).
    pub fn redis_cli(&self, args: &[&str]) -> (String, String, i32) {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the test suite requires redis-cli on PATH (apt-get install redis-tools)");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    }
}

struct Retry(String);

fn drain(mut pipe: Box<dyn Read + Send>, out: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut o = out.lock().unwrap();
        o.extend_from_slice(&buf[..n]);
        let len = o.len();
        if len > 256 * 1024 {
            o.drain(..len - 256 * 1024);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What came back for some input: the bytes, and whether the server closed the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub reply: Vec<u8>,
    pub closed: bool,
}

impl std::fmt::Display for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({})",
            show(&self.reply),
            if self.closed {
                "then closed"
            } else {
                "still open"
            }
        )
    }
}

/// A raw RESP connection that returns each reply's exact bytes.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    label: String,
    writer: Option<std::thread::JoinHandle<()>>,
    timeout: Duration,
}

impl Conn {
    pub fn connect(port: u16, label: &str) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("cannot connect to {label} on port {port}: {e}"));
        stream.set_nodelay(true).unwrap();
        stream.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
        Conn {
            stream,
            buf: vec![],
            label: label.to_string(),
            writer: None,
            timeout: REPLY_TIMEOUT,
        }
    }

    /// How long a reply may take (default [`REPLY_TIMEOUT`]).
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Writes bytes as they are (panics on error).
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write to {} failed: {e}", self.label));
    }

    /// Writes bytes from another thread, ignoring errors (for inputs the server may refuse or
    /// that are too big to write before reading).
    pub fn send_background(&mut self, bytes: Vec<u8>) {
        let mut s = self.stream.try_clone().unwrap();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        self.writer = Some(std::thread::spawn(move || {
            let _ = s.write_all(&bytes);
        }));
    }

    /// Closes the write half (the server sees EOF).
    pub fn shutdown_write(&mut self) {
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Writes one command (RESP multibulk).
    pub fn send_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.send(&encode(args));
    }

    /// Sends a command, returns its reply's raw bytes (panics naming the command if no
    /// complete reply comes).
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.send_cmd(args);
        match self.read_reply() {
            Ok(r) => r,
            Err(e) => {
                let mut name: Vec<String> = args
                    .iter()
                    .take(3)
                    .map(|a| show(&a.as_ref()[..a.as_ref().len().min(40)]))
                    .collect();
                if args.len() > 3 {
                    name.push(format!("... ({} arguments)", args.len()));
                }
                panic!(
                    "no complete reply from {} to {}: {e}; partial reply: {}",
                    self.label,
                    name.join(" "),
                    show(&self.buf[..self.buf.len().min(300)])
                )
            }
        }
    }

    /// Sends a command, returns its reply as text (lossy) for readable assertions.
    pub fn cmd_text<A: AsRef<[u8]>>(&mut self, args: &[A]) -> String {
        String::from_utf8_lossy(&self.cmd(args)).into_owned()
    }

    /// Reads one complete reply (panics on timeout, close or malformed reply).
    pub fn reply(&mut self) -> Vec<u8> {
        match self.read_reply() {
            Ok(r) => r,
            Err(e) => panic!(
                "no complete reply from {}: {e}; partial: {}",
                self.label,
                show(&self.buf[..self.buf.len().min(300)])
            ),
        }
    }

    /// Reads one complete reply; Err on timeout, close or malformed reply.
    pub fn read_reply(&mut self) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match reply_len(&self.buf) {
                Ok(Some(n)) => return Ok(self.buf.drain(..n).collect()),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if !self.fill(deadline)? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
        }
    }

    /// Reads at least `n` more bytes than are buffered... or until close/timeout; returns
    /// everything buffered (raw, unparsed).
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + self.timeout;
        while self.buf.len() < n {
            match self.fill(deadline) {
                Ok(true) => {}
                _ => break,
            }
        }
        let take = n.min(self.buf.len());
        self.buf.drain(..take).collect()
    }

    /// Reads what the server sends until it closes the connection (an RST counts as closed),
    /// 10 s pass, or, when `expect_close` is false, `expect_len` bytes came and then nothing
    /// more for [`IDLE`]. Returns the bytes and whether the connection was closed.
    pub fn collect(&mut self, expect_len: usize, expect_close: bool) -> Exchange {
        let deadline = Instant::now() + self.timeout;
        let closed = loop {
            let until = if !expect_close && self.buf.len() >= expect_len {
                (Instant::now() + IDLE).min(deadline)
            } else {
                deadline
            };
            match self.fill(until) {
                Ok(true) => continue,
                Ok(false) => break true,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => break false,
                Err(_) => break true, // reset
            }
        };
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        Exchange {
            reply: std::mem::take(&mut self.buf),
            closed,
        }
    }

    /// One read into the buffer. Ok(false) on EOF, Err(TimedOut) when `deadline` passes.
    fn fill(&mut self, deadline: Instant) -> io::Result<bool> {
        let now = Instant::now();
        if now >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        self.stream
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))?;
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// Encodes a command as a RESP multibulk.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Bytes as an escaped, readable string (`\r\n`, `\xff`).
pub fn show(b: &[u8]) -> String {
    const MAX: usize = 2000;
    if b.len() > MAX {
        format!("\"{}\"... ({} bytes)", b[..MAX].escape_ascii(), b.len())
    } else {
        format!("\"{}\"", b.escape_ascii())
    }
}

fn line_end(b: &[u8], from: usize) -> Option<usize> {
    b[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

/// The length of the complete RESP2/RESP3 reply at the start of `b`: Ok(None) when more bytes
/// are needed, Err when the bytes are not RESP.
pub fn reply_len(b: &[u8]) -> Result<Option<usize>, String> {
    fn at(b: &[u8], pos: usize) -> Result<Option<usize>, String> {
        if pos >= b.len() {
            return Ok(None);
        }
        let Some(end) = line_end(b, pos) else {
            return Ok(None);
        };
        let head = &b[pos + 1..end];
        let num = || -> Result<i64, String> {
            std::str::from_utf8(head)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| format!("bad length line {}", show(&b[pos..end])))
        };
        let mut next = end + 2;
        let elements = match b[pos] {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => return Ok(Some(next)),
            b'$' | b'!' | b'=' => {
                let n = num()?;
                if n < 0 {
                    return Ok(Some(next));
                }
                let total = next + n as usize + 2;
                return Ok(if b.len() >= total { Some(total) } else { None });
            }
            b'*' | b'~' | b'>' => num()?,
            b'%' => num()?.saturating_mul(2),
            b'|' => num()?.saturating_mul(2) + 1, // attributes, then the reply they annotate
            other => return Err(format!("not a RESP type byte: {:?}", other as char)),
        };
        for _ in 0..elements.max(0) {
            match at(b, next)? {
                Some(p) => next = p,
                None => return Ok(None),
            }
        }
        Ok(Some(next))
    }
    at(b, 0)
}

/// A parsed reply, for comparisons that are not byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resp {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1` / `*-1` (RESP2) or `_` (RESP3).
    Nil,
    Array(Vec<Resp>),
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Push(Vec<Resp>),
    /// Double, boolean, big number, verbatim string: the line/payload as it was.
    Other(u8, Vec<u8>),
}

/// Parses one complete reply (panics if `b` does not start with one).
pub fn parse(b: &[u8]) -> Resp {
    fn p(b: &[u8], pos: usize) -> (Resp, usize) {
        let end = line_end(b, pos).expect("incomplete reply");
        let head = b[pos + 1..end].to_vec();
        let n = || {
            String::from_utf8_lossy(&head)
                .parse::<i64>()
                .expect("bad number")
        };
        let mut next = end + 2;
        let items = |count: i64, next: &mut usize| {
            let mut v = vec![];
            for _ in 0..count.max(0) {
                let (r, q) = p(b, *next);
                *next = q;
                v.push(r);
            }
            v
        };
        let r = match b[pos] {
            b'+' => Resp::Simple(head),
            b'-' => Resp::Error(head),
            b':' => Resp::Int(n()),
            b'_' => Resp::Nil,
            b'$' | b'!' | b'=' => {
                let len = n();
                if len < 0 {
                    Resp::Nil
                } else {
                    let v = b[next..next + len as usize].to_vec();
                    next += len as usize + 2;
                    if b[pos] == b'$' {
                        Resp::Bulk(v)
                    } else {
                        Resp::Other(b[pos], v)
                    }
                }
            }
            b'*' => {
                let c = n();
                if c < 0 {
                    Resp::Nil
                } else {
                    Resp::Array(items(c, &mut next))
                }
            }
            b'~' => Resp::Set(items(n(), &mut next)),
            b'>' => Resp::Push(items(n(), &mut next)),
            b'%' => {
                let flat = items(n() * 2, &mut next);
                Resp::Map(
                    flat.chunks(2)
                        .map(|c| (c[0].clone(), c[1].clone()))
                        .collect(),
                )
            }
            b'|' => {
                let _attrs = items(n() * 2, &mut next);
                let (r, q) = p(b, next);
                next = q;
                r
            }
            t => Resp::Other(t, head),
        };
        (r, next)
    }
    p(b, 0).0
}

/// The shard of a Shoal started with `shards` shards that owns `key` (slots are split into
/// equal ranges, in order).
pub fn shard_of(key: &str, shards: usize) -> usize {
    key_slot(key.as_bytes()) as usize * shards / 16384
}

/// Sends a command and asserts its exact (first) reply, naming the server and the command.
#[track_caller]
pub fn expect(s: &Server, c: &mut Conn, args: &[&str], want: &[u8]) {
    let got = c.cmd(args);
    assert_eq!(
        show(&got),
        show(want),
        "{}: reply to {}",
        s.label(),
        args.join(" ")
    );
}

/// Redis Cluster hash slot of a key (CRC16/XMODEM of the hash tag, mod 16384).
pub fn key_slot(key: &[u8]) -> u16 {
    let mut k = key;
    if let Some(open) = key.iter().position(|&c| c == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&c| c == b'}') {
            if len > 0 {
                k = &key[open + 1..open + 1 + len];
            }
        }
    }
    let mut crc: u16 = 0;
    for &byte in k {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc & 16383
}
