//! `struct`: lua-struct 0.9 as Redis carries it. A format is read as a C string (up to its
//! first NUL) of options: `<` `>` little/big endian (little by default), `!n` alignment,
//! `x` a zero byte, `b` `B` `h` `H` `l` `L` `T` `in` `In` integers of 1, 2, 8, 8 and `n` (4 by
//! default) bytes, `f` `d` floats, `cn` `n` bytes (0: all of the string, or when unpacking the
//! previous number of bytes), `s` a NUL-terminated string, and spaces.

use super::{c_i64, c_u64, function, library, num, Args, Fail, LibResult, Ret, STACK_LIMIT};
use mlua::{Lua, Table, Value};

/// The largest integer size, in bytes.
const MAX_INT_SIZE: i32 = 32;
/// The largest alignment (`!` alone).
const MAX_ALIGN: i32 = 8;

/// The `struct` table.
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let functions = vec![
        ("pack", function(lua, pack)?),
        ("unpack", function(lua, unpack)?),
        ("size", function(lua, size)?),
    ];
    library(lua, 3, functions)
}

/// A format being read, and the byte order and alignment it has set so far.
struct Format {
    fmt: Vec<u8>,
    at: usize,
    big: bool,
    align: usize,
}

impl Format {
    fn new(fmt: Vec<u8>) -> Format {
        Format {
            fmt,
            at: 0,
            big: false,
            align: 1,
        }
    }

    fn next_option(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// The number after an option, or `default` (`getnum`).
    fn number(&mut self, default: i32) -> Result<i32, Fail> {
        let mut digits = self.fmt[self.at..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .peekable();
        if digits.peek().is_none() {
            return Ok(default);
        }
        let mut a: i32 = 0;
        for &c in digits {
            let d = (c - b'0') as i32;
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err(Fail::error("integral size overflow"));
            }
            a = a * 10 + d;
            self.at += 1;
        }
        Ok(a)
    }

    /// The size of option `opt` (reading its number), 0 for the options with no size.
    fn size(&mut self, opt: u8) -> Result<usize, Fail> {
        Ok(match opt {
            b'b' | b'B' | b'x' => 1,
            b'h' | b'H' => 2,
            b'f' => 4,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'c' => self.number(1)? as usize,
            b'i' | b'I' => {
                let size = self.number(4)?;
                if size > MAX_INT_SIZE {
                    return Err(Fail::error(format!(
                        "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                size as usize
            }
            _ => 0,
        })
    }

    /// Padding before an item of `size` bytes at offset `len`.
    fn padding(&self, len: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        size.wrapping_sub(len & (size - 1)) & (size - 1)
    }

    /// The options that set byte order or alignment (and spaces); any other is an error.
    fn control(&mut self, opt: u8) -> Result<(), Fail> {
        match opt {
            b' ' => {}
            b'>' => self.big = true,
            b'<' => self.big = false,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if a <= 0 || a & (a - 1) != 0 {
                    return Err(Fail::error(format!("alignment {a} is not a power of 2")));
                }
                self.align = a as usize;
            }
            _ => {
                let mut msg = b"invalid format option '".to_vec();
                msg.extend_from_slice(&[opt, b'\'']);
                return Err(Fail::Arg(1, msg));
            }
        }
        Ok(())
    }
}

fn is_integer(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

/// Orders `bytes` (little-endian) as the format asks.
fn ordered(mut bytes: Vec<u8>, big: bool) -> Vec<u8> {
    if big {
        bytes.reverse();
    }
    bytes
}

/// struct.pack(format, ...)
fn pack(lua: &Lua, a: &Args) -> LibResult {
    let mut f = Format::new(a.c_string(lua, 1)?);
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    while let Some(opt) = f.next_option() {
        let mut size = f.size(opt)?;
        let pad = f.padding(out.len(), opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            _ if is_integer(opt) => {
                let n = number(lua, a, arg)?;
                arg += 1;
                let mut value = if n < 0.0 { c_i64(n) as u64 } else { c_u64(n) };
                let mut bytes = vec![0u8; size];
                for b in bytes.iter_mut() {
                    *b = value as u8;
                    value >>= 8;
                }
                out.extend(ordered(bytes, f.big));
            }
            b'x' => out.push(0),
            b'f' => {
                let n = number(lua, a, arg)? as f32;
                arg += 1;
                out.extend(ordered(n.to_le_bytes().to_vec(), f.big));
            }
            b'd' => {
                let n = number(lua, a, arg)?;
                arg += 1;
                out.extend(ordered(n.to_le_bytes().to_vec(), f.big));
            }
            b'c' | b's' => {
                missing(a, arg, "string")?;
                let s = a.bytes(lua, arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                let Some(part) = s.get(..size) else {
                    return Err(Fail::arg(arg, "string too short"));
                };
                out.extend_from_slice(part);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt)?,
        }
    }
    Ok(Ret::one(Value::String(lua.create_string(out)?)))
}

/// struct.pack's C code pushes a nil after its arguments: a missing argument reads as nil.
fn missing(a: &Args, arg: usize, expected: &str) -> Result<(), Fail> {
    if arg > a.count() {
        return Err(Fail::arg(arg, format!("{expected} expected, got nil")));
    }
    Ok(())
}

/// A number to pack.
fn number(lua: &Lua, a: &Args, arg: usize) -> Result<f64, Fail> {
    missing(a, arg, "number")?;
    a.number(lua, arg)
}

/// An integer of `bytes.len()` bytes.
fn integer(bytes: &[u8], big: bool, signed: bool) -> f64 {
    let fold = |l: u64, &b: &u8| (l << 8) | b as u64;
    let mut l = if big {
        bytes.iter().fold(0, fold)
    } else {
        bytes.iter().rev().fold(0, fold)
    };
    if !signed {
        return l as f64;
    }
    // As the C code computes it, shift counts taken modulo 64.
    let mask = u64::MAX.wrapping_shl((bytes.len() as u32).wrapping_mul(8).wrapping_sub(1));
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// struct.unpack(format, data [, init]): the values, then the position after them.
fn unpack(lua: &Lua, a: &Args) -> LibResult {
    let mut f = Format::new(a.c_string(lua, 1)?);
    let data = a.bytes(lua, 2)?;
    let len = data.len();
    let mut pos = a.opt_integer(lua, 3, 1)? as usize;
    if pos == 0 {
        return Err(Fail::arg(3, "offset must be 1 or greater"));
    }
    pos -= 1;
    let out = lua.create_table()?;
    let mut n = 0;
    let too_short = || Fail::arg(2, "data string too short");
    while let Some(opt) = f.next_option() {
        let mut size = f.size(opt)?;
        pos = pos.wrapping_add(f.padding(pos, opt, size));
        if size > len || pos > len - size {
            return Err(too_short());
        }
        if a.count() + n + 2 > STACK_LIMIT {
            return Err(Fail::stack("too many results"));
        }
        let item = &data[pos..pos + size];
        let value = match opt {
            _ if is_integer(opt) => Some(num(integer(item, f.big, opt.is_ascii_lowercase()))),
            b'f' => {
                let b: [u8; 4] = ordered(item.to_vec(), f.big).try_into().unwrap_or([0; 4]);
                Some(num(f32::from_le_bytes(b) as f64))
            }
            b'd' => {
                let b: [u8; 8] = ordered(item.to_vec(), f.big).try_into().unwrap_or([0; 8]);
                Some(num(f64::from_le_bytes(b)))
            }
            b'c' => {
                if size == 0 {
                    let prev = if n == 0 { Value::Nil } else { out.raw_get(n)? };
                    let Some(count) = super::to_number(lua, prev) else {
                        return Err(Fail::error("format 'c0' needs a previous size"));
                    };
                    size = c_u64(count) as usize;
                    out.raw_set(n, Value::Nil)?;
                    n -= 1;
                    if size > len || pos > len - size {
                        return Err(too_short());
                    }
                }
                Some(Value::String(lua.create_string(&data[pos..pos + size])?))
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&c| c == 0) else {
                    return Err(Fail::error("unfinished string in data"));
                };
                size = end + 1;
                Some(Value::String(lua.create_string(&data[pos..pos + end])?))
            }
            b'x' => None,
            _ => {
                f.control(opt)?;
                None
            }
        };
        if let Some(v) = value {
            n += 1;
            out.raw_set(n, v)?;
        }
        pos = pos.wrapping_add(size);
    }
    n += 1;
    out.raw_set(n, pos.wrapping_add(1) as i64)?;
    Ok(Ret::Spread(out, n))
}

/// struct.size(format): the size of what the format packs.
fn size(lua: &Lua, a: &Args) -> LibResult {
    let mut f = Format::new(a.c_string(lua, 1)?);
    let mut pos: usize = 0;
    while let Some(opt) = f.next_option() {
        let size = f.size(opt)?;
        pos = pos.wrapping_add(f.padding(pos, opt, size));
        if opt == b's' {
            return Err(Fail::arg(1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(Fail::arg(1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(Ret::one(Value::Integer(pos as i64)))
}
