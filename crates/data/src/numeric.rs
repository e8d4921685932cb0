//! Number parsing and formatting with Redis's exact rules (string2ll, string2ld, ld2string).

pub use shoal_protocol::request::parse_i64;

extern "C" {
    fn shoal_incrbyfloat(
        cur: *const u8,
        curlen: usize,
        incr: *const u8,
        incrlen: usize,
        out: *mut u8,
        outcap: usize,
        outlen: *mut usize,
    ) -> i32;
    fn shoal_is_long_double(s: *const u8, slen: usize) -> i32;
}

/// Why an INCRBYFLOAT could not be applied.
#[derive(Debug, PartialEq, Eq)]
pub enum FloatIncrError {
    /// The current value or the increment is not a valid float.
    NotAFloat,
    /// The result would be NaN or infinite.
    NanOrInfinity,
}

/// Adds `incr` to `cur` (None = 0) in long double precision and formats the result as Redis does.
pub fn incr_by_float(cur: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, FloatIncrError> {
    let mut out = vec![0u8; 5 * 1024 + 64];
    let mut len = 0usize;
    let (cp, cl) = match cur {
        Some(c) => (c.as_ptr(), c.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: all pointers are valid for the given lengths; the C side writes at most outcap bytes.
    let rc = unsafe {
        shoal_incrbyfloat(
            cp,
            cl,
            incr.as_ptr(),
            incr.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut len,
        )
    };
    match rc {
        1 => {
            out.truncate(len);
            Ok(out)
        }
        0 | 2 => Err(FloatIncrError::NotAFloat),
        _ => Err(FloatIncrError::NanOrInfinity),
    }
}

/// A SCAN cursor as Redis's parseScanCursorOrReply reads it: strtoul in base 10 (a sign is
/// accepted and a negative value wraps, the empty string is 0, the string ends at a NUL byte),
/// with no leading space and nothing after the digits.
pub fn parse_cursor(s: &[u8]) -> Option<u64> {
    if s.first().is_some_and(|c| b" \t\n\r\x0b\x0c".contains(c)) {
        return None;
    }
    let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
    if s.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v = 0u64;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Whether `s` parses as a long double under Redis's rules.
pub fn is_long_double(s: &[u8]) -> bool {
    // SAFETY: pointer and length describe a valid slice.
    unsafe { shoal_is_long_double(s.as_ptr(), s.len()) == 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incrbyfloat_matches_redis() {
        assert_eq!(incr_by_float(Some(b"10.5"), b"0.1").unwrap(), b"10.6");
        assert_eq!(incr_by_float(None, b"5.0e3").unwrap(), b"5000");
        assert_eq!(incr_by_float(Some(b"3"), b"-3").unwrap(), b"0");
        assert_eq!(
            incr_by_float(Some(b"abc"), b"1"),
            Err(FloatIncrError::NotAFloat)
        );
        assert_eq!(
            incr_by_float(Some(b"1"), b" 1"),
            Err(FloatIncrError::NotAFloat)
        );
        assert_eq!(
            incr_by_float(None, b"inf"),
            Err(FloatIncrError::NanOrInfinity)
        );
    }

    #[test]
    fn cursors_parse_as_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"5\0junk"), Some(5));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1 "), None);
        assert_eq!(parse_cursor(b"+"), None);
        assert_eq!(parse_cursor(b"abc"), None);
    }
}
