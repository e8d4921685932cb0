//! Test harness: starts the real `shoal` binary (or a real redis-server) on a free loopback
//! port, and speaks raw RESP to it so replies can be compared byte for byte.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process killed on drop.
pub struct Server {
    child: Child,
    port: u16,
    pub name: &'static str,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

impl Server {
    /// Shoal with `shards` shards.
    pub fn shoal(shards: usize) -> Server {
        Server::shoal_with(&["--shards", &shards.to_string()])
    }

    /// Shoal with extra flags.
    pub fn shoal_with(args: &[&str]) -> Server {
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(env!("CARGO_BIN_EXE_shoal"))
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("cannot start shoal");
            let mut s = Server {
                child,
                port,
                name: "shoal",
            };
            if s.wait_ready() {
                return s;
            }
        }
        panic!("shoal did not start");
    }

    /// A real redis-server, the reference implementation.
    pub fn redis() -> Server {
        Server::redis_with(&[])
    }

    /// A real redis-server with extra arguments.
    pub fn redis_with(args: &[&str]) -> Server {
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect(
                    "redis-server is required by the test suite (apt-get install redis-server)",
                );
            let mut s = Server {
                child,
                port,
                name: "redis",
            };
            if s.wait_ready() {
                return s;
            }
        }
        panic!("redis-server did not start");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                if c.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok() {
                    let mut buf = [0u8; 64];
                    if let Ok(n) = c.read(&mut buf) {
                        // NOAUTH also proves the server is up.
                        if n > 0 {
                            return true;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A `redis` crate connection.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .and_then(|c| c.get_connection())
            .expect("connect")
    }

    /// A raw RESP connection.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed RESP reply.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
    /// Any RESP3 type, kept as its raw bytes.
    Other(Vec<u8>),
}

impl Resp {
    /// The reply as a bulk string, if it is one.
    pub fn bulk(&self) -> Option<&[u8]> {
        match self {
            Resp::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }
}

/// Encodes a command as a RESP multibulk.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A raw RESP connection that returns each reply's exact bytes.
pub struct Raw {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            stream,
        }
    }

    /// Sends bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command and returns its reply's raw bytes.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&encode(args));
        self.read_raw()
    }

    /// Sends a command and returns its reply, or None if none came (timeout or closed).
    pub fn try_cmd(&mut self, args: &[&[u8]]) -> Option<Vec<u8>> {
        self.send(&encode(args));
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.read_raw())).ok()
    }

    /// Sends a command given as strings.
    pub fn cmd_str(&mut self, args: &[&str]) -> Vec<u8> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd(&a)
    }

    /// Reads one complete reply and returns its raw bytes.
    pub fn read_raw(&mut self) -> Vec<u8> {
        let mut out = vec![];
        self.read_into(&mut out);
        out
    }

    /// Reads one reply, parsed.
    pub fn read(&mut self) -> Resp {
        let raw = self.read_raw();
        parse(&raw).0
    }

    /// Reads until the peer closes or `timeout` passes; returns what came.
    pub fn read_until_close(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let _ = self.stream.set_read_timeout(Some(timeout));
        let mut out = vec![];
        let closed = loop {
            let mut buf = [0u8; 4096];
            match self.reader.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(10)));
        (out, closed)
    }

    fn line(&mut self, out: &mut Vec<u8>) -> Vec<u8> {
        let mut l = vec![];
        self.reader
            .read_until(b'\n', &mut l)
            .expect("read reply line");
        assert!(
            l.ends_with(b"\r\n"),
            "connection closed or bad line: {:?}",
            String::from_utf8_lossy(&l)
        );
        out.extend_from_slice(&l);
        l.truncate(l.len() - 2);
        l
    }

    fn read_into(&mut self, out: &mut Vec<u8>) {
        let l = self.line(out);
        let n = || {
            std::str::from_utf8(&l[1..])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(-1)
        };
        match l[0] {
            b'$' | b'=' | b'!' => {
                let len = n();
                if len >= 0 {
                    let mut buf = vec![0u8; len as usize + 2];
                    self.reader.read_exact(&mut buf).expect("read bulk");
                    out.extend_from_slice(&buf);
                }
            }
            b'*' | b'~' | b'>' => {
                for _ in 0..n().max(0) {
                    self.read_into(out);
                }
            }
            b'%' | b'|' => {
                for _ in 0..n().max(0) * 2 {
                    self.read_into(out);
                }
            }
            _ => {}
        }
    }
}

/// Parses one reply from raw bytes; returns it and the bytes consumed.
pub fn parse(b: &[u8]) -> (Resp, usize) {
    let end = b.windows(2).position(|w| w == b"\r\n").expect("line");
    let line = &b[1..end];
    let s = String::from_utf8_lossy(line).into_owned();
    let n = s.parse::<i64>().unwrap_or(-1);
    let mut pos = end + 2;
    let r = match b[0] {
        b'+' => Resp::Simple(s),
        b'-' => Resp::Error(s),
        b':' => Resp::Int(n),
        b'$' => {
            if n < 0 {
                Resp::Bulk(None)
            } else {
                let v = b[pos..pos + n as usize].to_vec();
                pos += n as usize + 2;
                Resp::Bulk(Some(v))
            }
        }
        b'*' => {
            if n < 0 {
                Resp::Array(None)
            } else {
                let mut v = vec![];
                for _ in 0..n {
                    let (r, used) = parse(&b[pos..]);
                    pos += used;
                    v.push(r);
                }
                Resp::Array(Some(v))
            }
        }
        _ => Resp::Other(b[..].to_vec()),
    };
    (r, pos)
}
