//! Request parsing: RESP multibulk (`*2\r\n$3\r\nGET\r\n$1\r\na\r\n`) and inline commands
//! (`GET a\r\n`), with Redis's limits and its exact protocol error messages.

/// Longest inline request, and longest multibulk/bulk count line, Redis accepts (PROTO_INLINE_MAX_SIZE).
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// Limits that apply while parsing one client's requests.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// Largest bulk string accepted (`proto-max-bulk-len`, 512 MB by default).
    pub max_bulk_len: i64,
    /// Whether the client has authenticated; unauthenticated clients get tight limits as in Redis.
    pub authenticated: bool,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        }
    }
}

/// A protocol violation; the connection replies `-ERR Protocol error: <msg>` and closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    UnauthenticatedMultibulkLength,
    UnauthenticatedBulkLength,
    TooBigMbulkCount,
    TooBigBulkCount,
    TooBigInline,
    UnbalancedQuotes,
    ExpectedDollar(u8),
}

impl ParseError {
    /// The full error line Redis sends, without the trailing CRLF (bytes: it may quote input).
    pub fn message(&self) -> Vec<u8> {
        let what: &[u8] = match self {
            ParseError::InvalidMultibulkLength => b"invalid multibulk length",
            ParseError::InvalidBulkLength => b"invalid bulk length",
            ParseError::UnauthenticatedMultibulkLength => b"unauthenticated multibulk length",
            ParseError::UnauthenticatedBulkLength => b"unauthenticated bulk length",
            ParseError::TooBigMbulkCount => b"too big mbulk count string",
            ParseError::TooBigBulkCount => b"too big bulk count string",
            ParseError::TooBigInline => b"too big inline request",
            ParseError::UnbalancedQuotes => b"unbalanced quotes in request",
            ParseError::ExpectedDollar(c) => {
                let mut m = b"ERR Protocol error: expected '$', got '".to_vec();
                m.push(*c);
                m.push(b'\'');
                return m;
            }
        };
        let mut m = b"ERR Protocol error: ".to_vec();
        m.extend_from_slice(what);
        m
    }
}

/// Outcome of one parse step.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete request of `consumed` bytes; its arguments are in the parser (may be zero
    /// arguments: an empty line or `*0`, which Redis skips silently).
    Request { consumed: usize },
    /// More input is needed; `need` is the total buffer length known to be required (0 = unknown).
    Incomplete { need: usize },
}

/// Parses requests one at a time out of a read buffer; reused for the life of a connection so
/// that the argument list is never reallocated in steady state.
#[derive(Default, Debug)]
pub struct RequestParser {
    ranges: Vec<(u32, u32)>,
    /// Inline arguments are unescaped into this buffer (quotes, `\n`, `\xNN`).
    inline: Vec<u8>,
    inline_mode: bool,
}

/// The arguments of a parsed request, borrowed from the read buffer (or the inline scratch).
#[derive(Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [(u32, u32)],
}

impl<'a> Args<'a> {
    /// Arguments over `buf` at the given ranges (used to re-run requests shipped between shards).
    pub fn new(buf: &'a [u8], ranges: &'a [(u32, u32)]) -> Self {
        Args { buf, ranges }
    }
    /// Number of arguments, command name included.
    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    /// True when there are no arguments.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// Argument `i` (0 is the command name). Panics if out of range: callers check arity first.
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.ranges[i];
        &self.buf[s as usize..e as usize]
    }
    /// Iterates over arguments from `from` on.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.ranges[from.min(self.ranges.len())..]
            .iter()
            .map(move |&(s, e)| &buf[s as usize..e as usize])
    }
    /// The raw ranges, for copying a request into a cross-shard message.
    pub fn ranges(&self) -> &'a [(u32, u32)] {
        self.ranges
    }
    /// The underlying buffer.
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    // Redis looks for '\r' and requires the byte after it to be present.
    let pos = memchr(b'\r', &buf[from..])? + from;
    if pos + 1 < buf.len() {
        Some(pos)
    } else {
        None
    }
}

#[inline]
fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Parses a signed decimal exactly as Redis's string2ll: no spaces, no '+', no leading zeros.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s.len() == 1 && s[0] == b'0' {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

impl RequestParser {
    /// A parser with an empty argument list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The arguments of the request last returned by [`RequestParser::parse`].
    #[inline]
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        if self.inline_mode {
            Args {
                buf: &self.inline,
                ranges: &self.ranges,
            }
        } else {
            Args {
                buf,
                ranges: &self.ranges,
            }
        }
    }

    /// Parses one request at the start of `buf`.
    pub fn parse(&mut self, buf: &[u8], limits: &ParseLimits) -> Result<Parsed, ParseError> {
        self.ranges.clear();
        self.inline_mode = false;
        if buf.is_empty() {
            return Ok(Parsed::Incomplete { need: 0 });
        }
        if buf[0] == b'*' {
            self.parse_multibulk(buf, limits)
        } else {
            self.parse_inline(buf)
        }
    }

    fn parse_multibulk(&mut self, buf: &[u8], limits: &ParseLimits) -> Result<Parsed, ParseError> {
        let Some(nl) = find_crlf(buf, 1) else {
            if buf.len() > PROTO_INLINE_MAX_SIZE {
                return Err(ParseError::TooBigMbulkCount);
            }
            return Ok(Parsed::Incomplete { need: 0 });
        };
        let count = parse_i64(&buf[1..nl]).ok_or(ParseError::InvalidMultibulkLength)?;
        if count > i32::MAX as i64 {
            return Err(ParseError::InvalidMultibulkLength);
        }
        if !limits.authenticated && count > 10 {
            return Err(ParseError::UnauthenticatedMultibulkLength);
        }
        let mut pos = nl + 2;
        if count <= 0 {
            return Ok(Parsed::Request { consumed: pos });
        }
        // Reserve lazily: a huge declared count must not allocate before the data arrives.
        self.ranges.reserve(
            (count as usize)
                .min(1024)
                .saturating_sub(self.ranges.capacity()),
        );
        for _ in 0..count {
            if pos >= buf.len() {
                return Ok(Parsed::Incomplete { need: 0 });
            }
            let Some(nl) = find_crlf(buf, pos) else {
                if buf.len() - pos > PROTO_INLINE_MAX_SIZE {
                    return Err(ParseError::TooBigBulkCount);
                }
                return Ok(Parsed::Incomplete { need: 0 });
            };
            if buf[pos] != b'$' {
                return Err(ParseError::ExpectedDollar(buf[pos]));
            }
            let len = parse_i64(&buf[pos + 1..nl]).ok_or(ParseError::InvalidBulkLength)?;
            if len < 0 || len > limits.max_bulk_len {
                return Err(ParseError::InvalidBulkLength);
            }
            if !limits.authenticated && len > 16384 {
                return Err(ParseError::UnauthenticatedBulkLength);
            }
            let start = nl + 2;
            let end = start + len as usize;
            if end + 2 > buf.len() {
                return Ok(Parsed::Incomplete { need: end + 2 });
            }
            if end > u32::MAX as usize {
                return Err(ParseError::InvalidBulkLength);
            }
            self.ranges.push((start as u32, end as u32));
            pos = end + 2;
        }
        Ok(Parsed::Request { consumed: pos })
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ParseError> {
        let Some(nl) = memchr(b'\n', buf) else {
            if buf.len() > PROTO_INLINE_MAX_SIZE {
                return Err(ParseError::TooBigInline);
            }
            return Ok(Parsed::Incomplete { need: 0 });
        };
        let mut line = &buf[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        self.inline_mode = true;
        self.inline.clear();
        split_args(line, &mut self.inline, &mut self.ranges)?;
        Ok(Parsed::Request { consumed: nl + 1 })
    }
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Redis's `sdssplitargs`: the words of `line` (quotes and escapes as in inline commands), or
/// `None` for unbalanced quotes.
pub fn sds_split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = vec![];
    let mut ranges = vec![];
    split_args(line, &mut out, &mut ranges).ok()?;
    Some(
        ranges
            .iter()
            .map(|&(a, b)| out.get(a as usize..b as usize).unwrap_or_default().to_vec())
            .collect(),
    )
}

/// Splits an inline line into arguments exactly as Redis's sdssplitargs does.
fn split_args(
    line: &[u8],
    out: &mut Vec<u8>,
    ranges: &mut Vec<(u32, u32)>,
) -> Result<(), ParseError> {
    let mut p = 0;
    let n = line.len();
    let is_space = |c: u8| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c);
    loop {
        while p < n && is_space(line[p]) {
            p += 1;
        }
        if p >= n {
            return Ok(());
        }
        let start = out.len();
        let mut inq = false;
        let mut insq = false;
        loop {
            if inq {
                if p >= n {
                    return Err(ParseError::UnbalancedQuotes);
                }
                let c = line[p];
                if c == b'\\'
                    && p + 3 < n
                    && line[p + 1] == b'x'
                    && is_hex(line[p + 2])
                    && is_hex(line[p + 3])
                {
                    out.push(hex_val(line[p + 2]) * 16 + hex_val(line[p + 3]));
                    p += 3;
                } else if c == b'\\' && p + 1 < n {
                    p += 1;
                    out.push(match line[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if p + 1 < n && !is_space(line[p + 1]) {
                        return Err(ParseError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else if insq {
                if p >= n {
                    return Err(ParseError::UnbalancedQuotes);
                }
                let c = line[p];
                if c == b'\\' && p + 1 < n && line[p + 1] == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if p + 1 < n && !is_space(line[p + 1]) {
                        return Err(ParseError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else {
                if p >= n {
                    break;
                }
                match line[p] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => out.push(c),
                }
            }
            p += 1;
        }
        ranges.push((start as u32, out.len() as u32));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ParseError> {
        let mut p = RequestParser::new();
        let mut pos = 0;
        let mut out = vec![];
        let limits = ParseLimits::default();
        loop {
            match p.parse(&input[pos..], &limits)? {
                Parsed::Request { consumed } => {
                    let args = p.args(&input[pos..]);
                    out.push(args.iter_from(0).map(|a| a.to_vec()).collect());
                    pos += consumed;
                }
                Parsed::Incomplete { .. } => return Ok(out),
            }
        }
    }

    #[test]
    fn multibulk_pipeline() {
        let r = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3").unwrap();
        assert_eq!(
            r,
            vec![vec![b"GET".to_vec(), b"a".to_vec()], vec![b"PING".to_vec()]]
        );
    }

    #[test]
    fn inline_quotes() {
        let r = parse_all(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n").unwrap();
        assert_eq!(
            r,
            vec![vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c'd".to_vec(),
                b"A\n".to_vec()
            ]]
        );
        assert_eq!(parse_all(b"set \"a\r\n"), Err(ParseError::UnbalancedQuotes));
        assert_eq!(
            parse_all(b"set \"a\"b\r\n"),
            Err(ParseError::UnbalancedQuotes)
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_all(b"*abc\r\n"),
            Err(ParseError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\nfoo\r\n"),
            Err(ParseError::ExpectedDollar(b'f'))
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n"),
            Err(ParseError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$600000000\r\n"),
            Err(ParseError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*3000000000\r\n"),
            Err(ParseError::InvalidMultibulkLength)
        );
        assert_eq!(parse_all(b"*-1\r\n").unwrap(), vec![Vec::<Vec<u8>>::new()]);
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"007"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
    }
}
