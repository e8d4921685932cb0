//! Pieces of Redis's RDB format shared by DUMP-style payloads and, later, persistence: the
//! CRC64 Redis checks payloads with, RDB length and string encodings (integer-encoded and
//! LZF-compressed strings included), and the version-and-checksum footer of a DUMP payload.
//!
//! Everything that reads is total: a short or malformed input gives `None`, never a panic, and
//! never allocates more than the input could possibly describe.

/// The RDB version Redis 7.0 writes (and the highest it accepts).
pub const RDB_VERSION: u16 = 10;

/// Opcode before a function library (its code as an RDB string).
pub const OPCODE_FUNCTION2: u8 = 245;
/// Opcode before a function library in the format of Redis 7.0's release candidates (its name,
/// engine, an optional description and its code without the `#!` line), which 7.0 still loads.
pub const OPCODE_FUNCTION_PRE_GA: u8 = 246;

/// First byte of a special string encoding (the low 6 bits say which).
const ENCVAL: u8 = 3;
const ENC_INT8: u64 = 0;
const ENC_INT16: u64 = 1;
const ENC_INT32: u64 = 2;
const ENC_LZF: u64 = 3;
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;

// ---------------------------------------------------------------------------------------------
// CRC64

/// Jones polynomial, bit-reflected (Redis's crc64.c: reflected in and out, no final xor).
const CRC64_POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const CRC64_TABLE: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ CRC64_POLY_REFLECTED
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Redis's `crc64(crc, data, len)`: continue `crc` over `data` (start from 0).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = CRC64_TABLE[((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

// ---------------------------------------------------------------------------------------------
// DUMP payload footer

/// Appends a DUMP payload's footer: the RDB version (2 bytes, little-endian) and the CRC64 of
/// everything before it, version included (8 bytes, little-endian).
pub fn append_footer(out: &mut Vec<u8>) {
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Redis's `verifyDumpPayload`: the payload's RDB version when it is at least 10 bytes long,
/// its version is not newer than [`RDB_VERSION`] and its CRC64 matches; `None` otherwise.
pub fn verify_payload(p: &[u8]) -> Option<u16> {
    if p.len() < 10 {
        return None;
    }
    let footer = &p[p.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return None;
    }
    let crc = crc64(0, &p[..p.len() - 8]);
    (crc.to_le_bytes() == footer[2..]).then_some(version)
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Appends `len` in RDB's length encoding (6, 14, 32 or 64 bits, big-endian past 6).
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends `s` as Redis's `rdbSaveRawString` does: a short canonical integer in its integer
/// encoding; with `compress` (Redis's `rdbcompression yes`, the default) a string over 20 bytes
/// LZF-compressed when that saves at least 4 bytes; otherwise its length and its bytes.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(enc) = integer_encoding(s) {
            out.extend_from_slice(&enc);
            return;
        }
    }
    if compress && s.len() > 20 {
        if let Some(c) = lzf_compress(s, s.len() - 4) {
            out.push(ENCVAL << 6 | ENC_LZF as u8);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Redis's `rdbTryIntegerEncoding`: the encoding of a string that is exactly the decimal form
/// of an integer fitting 32 bits.
fn integer_encoding(s: &[u8]) -> Option<Vec<u8>> {
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    if v.to_string().as_bytes() != s {
        return None;
    }
    let tag = |e: u64| ENCVAL << 6 | e as u8;
    if let Ok(x) = i8::try_from(v) {
        Some(vec![tag(ENC_INT8), x as u8])
    } else if let Ok(x) = i16::try_from(v) {
        let mut b = vec![tag(ENC_INT16)];
        b.extend_from_slice(&x.to_le_bytes());
        Some(b)
    } else if let Ok(x) = i32::try_from(v) {
        let mut b = vec![tag(ENC_INT32)];
        b.extend_from_slice(&x.to_le_bytes());
        Some(b)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A cursor over an RDB byte string.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes, if there are that many.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// One byte (Redis's `rdbLoadType`).
    pub fn read_u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// Redis's `rdbLoadLenByRef`: a length, and whether it is instead a special encoding's
    /// number (first two bits 11). `None` when the input ends or the length type is unknown.
    pub fn read_len(&mut self) -> Option<(u64, bool)> {
        let b = self.read_u8()?;
        match b >> 6 {
            0 => Some(((b & 0x3f) as u64, false)),
            1 => {
                let lo = self.read_u8()?;
                Some((((b & 0x3f) as u64) << 8 | lo as u64, false))
            }
            3 => Some(((b & 0x3f) as u64, true)),
            _ if b == LEN_32BIT => {
                let s = self.take(4)?;
                Some((u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as u64, false))
            }
            _ if b == LEN_64BIT => {
                let s = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                Some((u64::from_be_bytes(a), false))
            }
            _ => None,
        }
    }

    /// Redis's `rdbGenericLoadStringObject`: a plain, integer-encoded (as its decimal text) or
    /// LZF-compressed string. `None` when the input ends early, the encoding is unknown or the
    /// compressed data does not decompress to exactly its stated length.
    pub fn read_string(&mut self) -> Option<Vec<u8>> {
        let (len, encoded) = self.read_len()?;
        if !encoded {
            let n = usize::try_from(len).ok()?;
            return self.take(n).map(<[u8]>::to_vec);
        }
        match len {
            ENC_INT8 => {
                let s = self.take(1)?;
                Some((s[0] as i8).to_string().into_bytes())
            }
            ENC_INT16 => {
                let s = self.take(2)?;
                Some(i16::from_le_bytes([s[0], s[1]]).to_string().into_bytes())
            }
            ENC_INT32 => {
                let s = self.take(4)?;
                Some(
                    i32::from_le_bytes([s[0], s[1], s[2], s[3]])
                        .to_string()
                        .into_bytes(),
                )
            }
            ENC_LZF => {
                let (clen, _) = self.read_len()?;
                let (ulen, _) = self.read_len()?;
                let c = self.take(usize::try_from(clen).ok()?)?;
                if ulen == 0 {
                    // lzf_decompress returns 0 for any input here, which is the length asked.
                    return Some(Vec::new());
                }
                let v = lzf_decompress(c, usize::try_from(ulen).ok()?)?;
                (v.len() as u64 == ulen).then_some(v)
            }
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// LZF

const LZF_HLOG: u32 = 16;
const LZF_HSIZE: usize = 1 << LZF_HLOG;
const LZF_MAX_LIT: usize = 1 << 5;
const LZF_MAX_OFF: usize = 1 << 13;
const LZF_MAX_REF: usize = (1 << 8) + (1 << 3);

#[inline]
fn lzf_idx(h: u32) -> usize {
    ((h >> (3 * 8 - LZF_HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (LZF_HSIZE - 1)
}

/// Appends one literal byte to the current run, closing the run (its length byte goes in front
/// of it) when it reaches LZF_MAX_LIT and starting the next.
#[inline]
fn lzf_literal(out: &mut [u8], op: &mut usize, lit: &mut usize, byte: u8) {
    *lit += 1;
    out[*op] = byte;
    *op += 1;
    if *lit == LZF_MAX_LIT {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
}

/// liblzf's `lzf_compress` (3.6, VERY_FAST, a 2^16-slot table starting empty): the compressed
/// form of `input` if it fits in `out_len` bytes, `None` otherwise (or for empty input).
///
/// Compared with the redis-server 7.0.15 this project tests against (linked with liblzf 3.6),
/// the output is the same byte for byte. Redis's bundled copy of lzf also refuses matches in
/// the last 4 input bytes, so a Redis built from its own sources may end a string with a short
/// literal where this writes a back-reference; both decode alike. (lzf's table is left
/// uninitialised in C; stale entries can only ever add valid matches.)
pub fn lzf_compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let n = input.len();
    if n == 0 || out_len == 0 || n > u32::MAX as usize {
        return None;
    }
    // Positions; 0 means "no candidate" (a match at the first byte is never taken).
    let mut htab = vec![0u32; LZF_HSIZE];
    let mut out = vec![0u8; out_len + 1];
    let mut ip = 0usize;
    let mut op = 1usize; // start run
    let mut lit = 0usize;
    let mut hval: u32 = (input[0] as u32) << 8 | input.get(1).copied().unwrap_or(0) as u32;
    while ip + 2 < n {
        hval = hval << 8 | input[ip + 2] as u32;
        let slot = lzf_idx(hval);
        let r = htab[slot] as usize;
        htab[slot] = ip as u32;
        if r > 0 && r < ip && ip - r - 1 < LZF_MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (n - ip - len).min(LZF_MAX_REF);
            if op + 3 + 1 >= out_len && op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= usize::from(lit == 0); // undo run if length is zero
            let mut ended = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        ended = true;
                        break;
                    }
                }
            }
            if !ended {
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2; // octets - 1
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1; // start run
            ip += len + 1;
            if ip + 2 >= n {
                break;
            }
            ip -= 2;
            hval = (input[ip] as u32) << 8 | input[ip + 1] as u32;
            hval = hval << 8 | input[ip + 2] as u32;
            htab[lzf_idx(hval)] = ip as u32;
            ip += 1;
            hval = hval << 8 | input[ip + 2] as u32;
            htab[lzf_idx(hval)] = ip as u32;
            ip += 1;
        } else {
            if op >= out_len {
                return None;
            }
            lzf_literal(&mut out, &mut op, &mut lit, input[ip]);
            ip += 1;
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < n {
        lzf_literal(&mut out, &mut op, &mut lit, input[ip]);
        ip += 1;
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// liblzf's `lzf_decompress` with its input checks: the decompressed bytes (at most `out_len`),
/// or `None` where it fails (output too small, input cut short, reference before the start).
/// Redis accepts a compressed string only when this gives exactly its stated length.
pub fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out: Vec<u8> = Vec::with_capacity(out_len.min(n.saturating_mul(4)).min(1 << 24));
    let mut ip = 0usize;
    while ip < n {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 1 << 5 {
            let run = ctrl + 1;
            if out.len() + run > out_len || ip + run > n {
                return None;
            }
            out.extend_from_slice(&input[ip..ip + run]);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            let mut back = ((ctrl & 0x1f) << 8) + 1;
            if ip >= n {
                return None;
            }
            if len == 7 {
                len += input[ip] as usize;
                ip += 1;
                if ip >= n {
                    return None;
                }
            }
            back += input[ip] as usize;
            ip += 1;
            if out.len() + len + 2 > out_len || back > out.len() {
                return None;
            }
            // Byte by byte: the source may overlap what is being written.
            let start = out.len() - back;
            for from in start..start + len + 2 {
                let b = out[from];
                out.push(b);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for the randomized checks.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn bytes(&mut self, n: usize, alphabet: &[u8]) -> Vec<u8> {
            (0..n)
                .map(|_| alphabet[self.next() as usize % alphabet.len()])
                .collect()
        }
    }

    #[test]
    fn crc64_check_value() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
        assert_eq!(crc64(0, b""), 0);
        // Continuing a CRC is the same as one pass.
        assert_eq!(crc64(crc64(0, b"1234"), b"56789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn empty_function_dump_matches_redis() {
        // FUNCTION DUMP of an empty server, from redis-server 7.0.15.
        let mut p = vec![];
        append_footer(&mut p);
        assert_eq!(p, b"\n\x00]\x9b\\@\x0f\x7f\xa2\xda");
        assert_eq!(verify_payload(&p), Some(10));
    }

    #[test]
    fn verify_payload_rejects() {
        let mut p = vec![OPCODE_FUNCTION2, 1, b'x'];
        append_footer(&mut p);
        assert_eq!(verify_payload(&p), Some(10));
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i] ^= 1;
            assert_eq!(verify_payload(&q), None, "flipped byte {i}");
        }
        assert_eq!(verify_payload(&p[..p.len() - 1]), None);
        assert_eq!(verify_payload(&p[1..]), None);
        assert_eq!(verify_payload(b"short"), None);
        assert_eq!(verify_payload(b""), None);
        // A newer version is refused even with a good checksum; an older one is accepted.
        for (v, ok) in [(11u16, false), (9, true)] {
            let mut q = vec![OPCODE_FUNCTION2, 0];
            q.extend_from_slice(&v.to_le_bytes());
            let crc = crc64(0, &q);
            q.extend_from_slice(&crc.to_le_bytes());
            assert_eq!(verify_payload(&q), ok.then_some(v));
        }
    }

    #[test]
    fn lengths_round_trip() {
        for len in [
            0u64,
            1,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut b = vec![];
            write_len(&mut b, len);
            let mut r = Reader::new(&b);
            assert_eq!(r.read_len(), Some((len, false)), "{len}");
            assert_eq!(r.remaining(), 0);
        }
        let mut b = vec![];
        write_len(&mut b, 300);
        assert_eq!(b, [0x41, 0x2c]);
        assert_eq!(Reader::new(&[0x82]).read_len(), None);
        assert_eq!(Reader::new(&[0x80, 0, 0]).read_len(), None);
        assert_eq!(Reader::new(&[0x41]).read_len(), None);
        assert_eq!(Reader::new(&[]).read_len(), None);
        assert_eq!(Reader::new(&[0xc3]).read_len(), Some((3, true)));
    }

    #[test]
    fn strings_round_trip() {
        let mut rng = Rng(7);
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"0".to_vec(),
            b"-128".to_vec(),
            b"127".to_vec(),
            b"128".to_vec(),
            b"-32768".to_vec(),
            b"65535".to_vec(),
            b"2147483647".to_vec(),
            b"-2147483648".to_vec(),
            b"2147483648".to_vec(),
            b"007".to_vec(),
            b"+5".to_vec(),
            b"-0".to_vec(),
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            vec![b'z'; 100_000],
        ];
        for n in [1, 5, 21, 22, 40, 300, 5000, 20000] {
            cases.push(rng.bytes(n, b"ab"));
            cases.push(rng.bytes(n, b"abcdefghijklmnopqrstuvwxyz0123456789 ()'\n"));
            cases.push((0..n).map(|_| rng.next() as u8).collect());
        }
        for s in &cases {
            for compress in [false, true] {
                let mut b = vec![];
                write_string(&mut b, s, compress);
                let mut r = Reader::new(&b);
                assert_eq!(r.read_string().as_deref(), Some(&s[..]), "{compress}");
                assert_eq!(r.remaining(), 0);
            }
        }
        // Encodings Redis would pick.
        let enc = |s: &[u8]| {
            let mut b = vec![];
            write_string(&mut b, s, true);
            b
        };
        assert_eq!(enc(b"12"), [0xc0, 12]);
        assert_eq!(enc(b"-2"), [0xc0, 0xfe]);
        assert_eq!(enc(b"1000"), [0xc1, 0xe8, 0x03]);
        assert_eq!(enc(b"100000"), [0xc2, 0xa0, 0x86, 0x01, 0x00]);
        assert_eq!(enc(b"007"), [3, b'0', b'0', b'7']);
        assert_eq!(enc(b"aaaaaaaaaaaaaaaaaaaaa")[0], 0xc3);
        assert_eq!(enc(b"abcdefghijklmnopqrstu")[0], 21);
    }

    #[test]
    fn compression_matches_redis() {
        // From FUNCTION DUMP of redis-server 7.0.15 with a library of five functions.
        let code: String = std::iter::once("#!lua name=rep".to_string())
            .chain(
                (0..5)
                    .map(|i| format!("redis.register_function('f{i}', function() return {i} end)")),
            )
            .collect::<Vec<_>>()
            .join("\n");
        let mut b = vec![];
        write_string(&mut b, code.as_bytes(), true);
        let want: &[u8] = b"\xc3@oA!\x1f#!lua name=rep\nredis.register_fu\x0cnction('f0', \xe0\x00\x0e\x0e) return 0 end)\xe0\x126\x001\xe0\x0c6\x001\xe0\x176\x002\xe0\x0c6\x002\xe0\x176\x003\xe0\x0c6\x003\xe0\x176\x004\xe0\x0c6\x004 6\x01d)";
        assert_eq!(b, want);
    }

    #[test]
    fn compress_round_trips_and_respects_the_bound() {
        let mut rng = Rng(99);
        for round in 0..400 {
            let n = 1 + rng.next() as usize % 3000;
            let s = match round % 4 {
                0 => rng.bytes(n, b"ab"),
                1 => rng.bytes(n, b"abc(){}' \n"),
                2 => (0..n).map(|_| rng.next() as u8).collect(),
                _ => rng.bytes(n, b"x"),
            };
            for out_len in [1, 2, 3, 4, n / 2, n.saturating_sub(4).max(1), n, n + 40] {
                if let Some(c) = lzf_compress(&s, out_len) {
                    assert!(c.len() <= out_len);
                    assert_eq!(lzf_decompress(&c, n).as_deref(), Some(&s[..]));
                    // One byte short of room fails.
                    assert_eq!(lzf_decompress(&c, n - 1), None);
                }
            }
        }
    }

    #[test]
    fn bad_strings_do_not_panic() {
        let mut rng = Rng(5);
        let mut good = vec![];
        write_string(&mut good, &rng.bytes(500, b"ab c"), true);
        assert_eq!(good[0], 0xc3);
        for cut in 0..good.len() {
            assert_eq!(Reader::new(&good[..cut]).read_string(), None, "cut {cut}");
        }
        for _ in 0..5000 {
            let mut b = good.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = rng.next() as usize % b.len();
                b[i] = rng.next() as u8;
            }
            let _ = Reader::new(&b).read_string();
            let n = rng.next() as usize % 64;
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            let _ = Reader::new(&junk).read_string();
            let _ = lzf_decompress(&junk, rng.next() as usize % 1000);
        }
        // Huge stated lengths fail without allocating them.
        assert_eq!(
            Reader::new(&[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).read_string(),
            None
        );
        assert_eq!(
            Reader::new(&[
                0xc3, 0x01, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, b'a'
            ])
            .read_string(),
            None
        );
        // A stated length of 0 loads as empty whatever the data (as in Redis).
        assert_eq!(
            Reader::new(&[0xc3, 0x01, 0x00, 0xff]).read_string(),
            Some(vec![])
        );
        assert_eq!(Reader::new(&[0xc4]).read_string(), None);
        // Back-reference before the start.
        assert_eq!(lzf_decompress(&[0x20, 0x00], 10), None);
        // Literal run longer than the input.
        assert_eq!(lzf_decompress(&[0x05, b'a'], 10), None);
    }
}
