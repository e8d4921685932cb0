//! Reply encoding into a caller-owned buffer, in RESP2 or RESP3 as the client negotiated.
//!
//! Commands write replies straight into the connection's output buffer (or a cross-shard batch's
//! reply buffer), so building a reply allocates nothing once the buffer has grown.

/// The protocol a client speaks: RESP2 by default, RESP3 after `HELLO 3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// A reply builder over an output buffer.
pub struct Reply<'a> {
    out: &'a mut Vec<u8>,
    proto: Protocol,
}

impl<'a> Reply<'a> {
    /// A builder appending to `out`.
    #[inline]
    pub fn new(out: &'a mut Vec<u8>, proto: Protocol) -> Self {
        Reply { out, proto }
    }
    /// The protocol replies are encoded in.
    #[inline]
    pub fn protocol(&self) -> Protocol {
        self.proto
    }
    /// The bytes written so far (all of the buffer, not only this reply).
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        self.out
    }
    /// Current buffer length: a mark to truncate back to.
    #[inline]
    pub fn mark(&self) -> usize {
        self.out.len()
    }
    /// Discards what was written after `mark`.
    #[inline]
    pub fn truncate(&mut self, mark: usize) {
        self.out.truncate(mark);
    }

    #[inline]
    fn header(&mut self, prefix: u8, n: i64) {
        self.out.push(prefix);
        let mut b = itoa::Buffer::new();
        self.out.extend_from_slice(b.format(n).as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// `+OK`.
    #[inline]
    pub fn ok(&mut self) {
        self.out.extend_from_slice(b"+OK\r\n");
    }
    /// A simple string (`+...`); must not contain CR or LF.
    #[inline]
    pub fn simple(&mut self, s: &str) {
        self.out.push(b'+');
        self.out.extend_from_slice(s.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }
    /// An error reply; `msg` starts with its code (`ERR ...`, `WRONGTYPE ...`). CR/LF become spaces.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }
    /// An error reply from raw bytes (messages that quote client input byte for byte).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.out.push(b'-');
        for &c in msg {
            self.out
                .push(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.out.extend_from_slice(b"\r\n");
    }
    /// An integer reply.
    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }
    /// A bulk string.
    #[inline]
    pub fn bulk(&mut self, s: &[u8]) {
        self.header(b'$', s.len() as i64);
        self.out.extend_from_slice(s);
        self.out.extend_from_slice(b"\r\n");
    }
    /// A bulk string holding an integer's decimal form.
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }
    /// The null reply: `$-1` in RESP2, `_` in RESP3.
    #[inline]
    pub fn null(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.out.extend_from_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.out.extend_from_slice(b"_\r\n"),
        }
    }
    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.out.extend_from_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.out.extend_from_slice(b"_\r\n"),
        }
    }
    /// An array header for `n` elements.
    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }
    /// A map header for `n` pairs (a flat array of 2n in RESP2).
    pub fn map(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', 2 * n as i64),
            Protocol::Resp3 => self.header(b'%', n as i64),
        }
    }
    /// A set header (an array in RESP2).
    pub fn set(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n as i64),
            Protocol::Resp3 => self.header(b'~', n as i64),
        }
    }
    /// A push header (RESP3 out-of-band data; an array in RESP2).
    pub fn push(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n as i64),
            Protocol::Resp3 => self.header(b'>', n as i64),
        }
    }
    /// A double: `,` in RESP3, a bulk string in RESP2 (formatted as Redis's %.17g).
    pub fn double(&mut self, d: f64) {
        let s = format_double(d);
        match self.proto {
            Protocol::Resp2 => self.bulk(s.as_bytes()),
            Protocol::Resp3 => {
                self.out.push(b',');
                self.out.extend_from_slice(s.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
        }
    }
    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        match self.proto {
            Protocol::Resp2 => self.int(b as i64),
            Protocol::Resp3 => self
                .out
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" }),
        }
    }
    /// Verbatim text (`=` with the `txt:` format in RESP3, a bulk string in RESP2).
    pub fn verbatim(&mut self, s: &[u8]) {
        match self.proto {
            Protocol::Resp2 => self.bulk(s),
            Protocol::Resp3 => {
                self.header(b'=', s.len() as i64 + 4);
                self.out.extend_from_slice(b"txt:");
                self.out.extend_from_slice(s);
                self.out.extend_from_slice(b"\r\n");
            }
        }
    }
    /// Appends already-encoded reply bytes (from another shard).
    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
}

/// Formats a double as Redis does for replies (`%.17g`, with `inf`/`-inf`/`nan`).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    format_g17(d)
}

/// C's `%.17g`.
pub fn format_g17(d: f64) -> String {
    format_g(d, 17)
}

/// C's `%.<precision>g` as glibc prints it (`nan`, `-nan`, `inf`, `-inf` included).
pub fn format_g(d: f64, precision: usize) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    let p = precision.max(1);
    // The exponent %e would print (after rounding to `p` digits) picks the style.
    let e = format!("{:.*e}", p - 1, d);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", trim_zeros(mant), sign, exp.abs())
    } else {
        trim_zeros(&format!("{:.*}", (p as i32 - 1 - exp) as usize, d))
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0');
        t.trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17() {
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(123456.0), "123456");
        assert_eq!(format_g17(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_g17(-0.0), "-0");
        assert_eq!(format_g17(0.0), "0");
    }

    #[test]
    fn g_precision() {
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e300, 14), "1e+300");
        assert_eq!(format_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(format_g(12345678901234.0, 14), "12345678901234");
        assert_eq!(format_g(0.0001, 14), "0.0001");
        assert_eq!(format_g(0.00001, 14), "1e-05");
        assert_eq!(format_g(9.99999, 3), "10");
        assert_eq!(format_g(99999.5, 5), "1e+05");
        assert_eq!(format_g(-2.5, 1), "-2");
        assert_eq!(format_g(f64::NAN, 14), "nan");
        assert_eq!(format_g(-f64::NAN, 14), "-nan");
        assert_eq!(format_g(f64::NEG_INFINITY, 14), "-inf");
    }

    #[test]
    fn resp3_null() {
        let mut v = vec![];
        Reply::new(&mut v, Protocol::Resp3).null();
        Reply::new(&mut v, Protocol::Resp2).null();
        assert_eq!(v, b"_\r\n$-1\r\n");
    }
}
