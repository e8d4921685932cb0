//! `cmsgpack`: lua-cmsgpack 0.4.0. A table whose keys are exactly 1..n is packed as an array
//! (an empty table too), any other as a map in `next` order; numbers that are integers are
//! packed in the smallest integer format, others as a float when a float holds them exactly,
//! else as a double; tables nested 16 deep, functions and other values are packed as nil.
//! Binary and extension types are not unpacked ("Bad data format in input.").

use super::{
    c_i32, c_i64, function, library, next_pair, raw_index, Args, Fail, LibResult, PairsMaker, Ret,
    Stack, STACK_LIMIT,
};
use mlua::{Lua, Table, Value};

/// Tables nested deeper are packed as nil (as with circular references).
const MAX_NESTING: usize = 16;

/// The `cmsgpack` table.
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let pairs = PairsMaker::new(lua)?;
    let functions = vec![
        ("pack", function(lua, move |lua, a| pack(lua, a, &pairs))?),
        (
            "unpack",
            function(lua, |lua, a| unpack(lua, a, 0, 0, a.count()))?,
        ),
        (
            "unpack_one",
            function(lua, |lua, a| {
                let offset = a.opt_integer(lua, 2, 0)?;
                unpack(lua, a, 1, offset, 1)
            })?,
        ),
        (
            "unpack_limit",
            function(lua, |lua, a| {
                let limit = a.integer(lua, 2)?;
                let offset = a.opt_integer(lua, 3, 0)?;
                unpack(lua, a, limit, offset, 1)
            })?,
        ),
    ];
    let t = library(lua, 0, functions)?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

/// cmsgpack.pack(...): the arguments packed one after the other.
fn pack(lua: &Lua, a: &Args, pairs: &PairsMaker) -> LibResult {
    let n = a.count();
    if n == 0 {
        return Err(Fail::arg(0, "MessagePack pack needs input."));
    }
    if 2 * n > STACK_LIMIT {
        return Err(Fail::arg(0, "Too many arguments for MessagePack pack."));
    }
    let mut p = Packer {
        out: Vec::new(),
        pairs,
    };
    for i in 1..=n {
        // On the C stack: the arguments, the packed strings so far, and this argument.
        p.value(&a.get(i), 0, n + i)?;
    }
    Ok(Ret::one(Value::String(lua.create_string(p.out)?)))
}

struct Packer<'a> {
    out: Vec<u8>,
    pairs: &'a PairsMaker,
}

impl Packer<'_> {
    /// Packs `v`, a table nested `level` deep, with `slots` used on the C stack.
    fn value(&mut self, v: &Value, level: usize, slots: usize) -> Result<(), Fail> {
        match v {
            Value::String(s) => self.string(&s.as_bytes()),
            Value::Boolean(b) => self.out.push(if *b { 0xc3 } else { 0xc2 }),
            Value::Integer(n) => self.number(*n as f64),
            Value::Number(n) => self.number(*n),
            Value::Table(t) if level < MAX_NESTING => self.table(t, level, slots)?,
            _ => self.out.push(0xc0),
        }
        Ok(())
    }

    fn string(&mut self, s: &[u8]) {
        let n = s.len();
        if n < 32 {
            self.out.push(0xa0 | n as u8);
        } else if n <= 0xff {
            self.out.extend([0xd9, n as u8]);
        } else if n <= 0xffff {
            self.out.push(0xda);
            self.out.extend((n as u16).to_be_bytes());
        } else {
            self.out.push(0xdb);
            self.out.extend((n as u32).to_be_bytes());
        }
        self.out.extend_from_slice(s);
    }

    fn number(&mut self, n: f64) {
        if !n.is_infinite() && c_i64(n) as f64 == n {
            self.integer(c_i64(n));
        } else if n as f32 as f64 == n {
            self.out.push(0xca);
            self.out.extend((n as f32).to_be_bytes());
        } else {
            self.out.push(0xcb);
            self.out.extend(n.to_be_bytes());
        }
    }

    fn integer(&mut self, n: i64) {
        let out = &mut self.out;
        match n {
            0..=127 => out.push(n as u8),
            128..=0xff => out.extend([0xcc, n as u8]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend((n as u32).to_be_bytes());
            }
            0x1_0000_0000.. => {
                out.push(0xcf);
                out.extend(n.to_be_bytes());
            }
            -32..=-1 => out.push(n as u8),
            -128..=-33 => out.extend([0xd0, n as u8]),
            -32768..=-129 => {
                out.push(0xd1);
                out.extend((n as i16).to_be_bytes());
            }
            -2_147_483_648..=-32769 => {
                out.push(0xd2);
                out.extend((n as i32).to_be_bytes());
            }
            _ => {
                out.push(0xd3);
                out.extend(n.to_be_bytes());
            }
        }
    }

    /// An array or map header: 4 bits in the tag, or 16 or 32 bits after it.
    fn header(&mut self, n: usize, fix: u8, tag16: u8) {
        if n <= 15 {
            self.out.push(fix | n as u8);
        } else if n <= 0xffff {
            self.out.push(tag16);
            self.out.extend((n as u16).to_be_bytes());
        } else {
            self.out.push(tag16 + 1);
            self.out.extend((n as u32).to_be_bytes());
        }
    }

    fn table(&mut self, t: &Table, level: usize, slots: usize) -> Result<(), Fail> {
        if slots + 2 > STACK_LIMIT {
            return Err(Fail::stack("in function table_is_an_array"));
        }
        // An array when the keys are 1..n: all positive integers, the largest their count.
        let (mut count, mut max, mut array) = (0i32, 0i32, true);
        t.for_each(|k: Value, _: Value| {
            match k {
                Value::Integer(_) | Value::Number(_) if array => {
                    let n = match k {
                        Value::Integer(i) => i as f64,
                        Value::Number(n) => n,
                        _ => 0.0,
                    };
                    if n <= 0.0 || n.is_infinite() || c_i32(n) as f64 != n {
                        array = false;
                    } else {
                        max = max.max(c_i32(n));
                        count = count.wrapping_add(1);
                    }
                }
                _ => array = false,
            }
            Ok(())
        })?;
        if array && max == count {
            if slots + 1 > STACK_LIMIT {
                return Err(Fail::stack("in function mp_encode_lua_table_as_array"));
            }
            let len = t.raw_len();
            self.header(len, 0x90, 0xdc);
            for i in 1..=len {
                self.value(&raw_index(t, i as i64)?, level + 1, slots + 1)?;
            }
        } else {
            if slots + 3 > STACK_LIMIT {
                return Err(Fail::stack("in function mp_encode_lua_table_as_map"));
            }
            let mut len = 0usize;
            t.for_each(|_: Value, _: Value| {
                len += 1;
                Ok(())
            })?;
            self.header(len, 0x80, 0xde);
            let it = self.pairs.iter(t)?;
            while let Some((k, v)) = next_pair(&it)? {
                // On the C stack: the key and value from `next`, and a copy of the key.
                self.value(&k, level + 1, slots + 3)?;
                self.value(&v, level + 1, slots + 2)?;
            }
        }
        Ok(())
    }
}

/// Why unpacking stopped.
enum Stop {
    Missing,
    BadFormat,
    Fail(Fail),
}

impl From<Fail> for Stop {
    fn from(f: Fail) -> Stop {
        Stop::Fail(f)
    }
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Stop {
        Stop::Fail(e.into())
    }
}

/// unpack, unpack_one and unpack_limit: the values from `offset` on, at most `limit` of them.
/// Unless both are 0 (as for unpack), the offset to go on from comes first (-1 at the end of
/// the input). `base` is how many slots the arguments take on the C stack.
fn unpack(lua: &Lua, a: &Args, limit: i64, offset: i64, base: usize) -> LibResult {
    let s = a.bytes(lua, 1)?;
    let len = s.len();
    if offset < 0 || limit < 0 {
        // (The C library prints the input length as the limit.)
        return Err(Fail::error(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    let Some(input) = s.get(offset as usize..) else {
        return Err(Fail::error(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    };
    let all = limit == 0 && offset == 0;
    let limit = if all { i32::MAX as i64 } else { limit };
    let first = if all { 1 } else { 2 };
    let out = lua.create_table()?;
    let mut u = Unpacker { lua, input, at: 0 };
    let mut count: usize = 0;
    while u.at < input.len() && (count as i64) < limit {
        let v = match u.value(base + count) {
            Ok(v) => v,
            Err(Stop::Missing) => return Err(Fail::error("Missing bytes in input.")),
            Err(Stop::BadFormat) => return Err(Fail::error("Bad data format in input.")),
            Err(Stop::Fail(f)) => return Err(f),
        };
        out.raw_set(first + count, v)?;
        count += 1;
    }
    if all {
        return Ok(Ret::Spread(out, count));
    }
    if base + count + 1 > STACK_LIMIT {
        return Err(Fail::stack("in function mp_unpack_full"));
    }
    let next = if u.at == input.len() {
        -1
    } else {
        (offset as usize + u.at) as i64
    };
    out.raw_set(1, next)?;
    Ok(Ret::Spread(out, count + 1))
}

/// An array or map being unpacked: its table is on the [`Stack`] (with a map's key above it
/// while its value is unpacked).
enum Open {
    Array { left: u64, index: i64 },
    Map { left: u64, has_key: bool },
}

impl Open {
    /// Slots on the C stack while an element is unpacked: the table, and the index or key.
    fn slots(&self) -> usize {
        match self {
            Open::Array { .. } => 2,
            Open::Map { has_key, .. } => 1 + *has_key as usize,
        }
    }
}

struct Unpacker<'a> {
    lua: &'a Lua,
    input: &'a [u8],
    at: usize,
}

impl Unpacker<'_> {
    fn need(&self, n: usize) -> Result<&[u8], Stop> {
        self.input
            .get(self.at..)
            .filter(|rest| rest.len() >= n)
            .map(|rest| &rest[..n])
            .ok_or(Stop::Missing)
    }

    /// A big-endian number of `N` bytes after the tag; consumes the tag and the number.
    fn uint<const N: usize>(&mut self) -> Result<u64, Stop> {
        let b = self.need(1 + N)?;
        let n = b[1..].iter().fold(0u64, |n, &x| (n << 8) | x as u64);
        self.at += 1 + N;
        Ok(n)
    }

    /// A string of `n` bytes at the cursor.
    fn bytes(&mut self, n: usize) -> Result<Value, Stop> {
        let s = self.lua.create_string(self.need(n)?)?;
        self.at += n;
        Ok(Value::String(s))
    }

    /// One value (with whatever it nests), `base` slots used on the C stack before it.
    fn value(&mut self, base: usize) -> Result<Value, Stop> {
        let mut opens: Vec<Open> = Vec::new();
        let mut stack = Stack::new(self.lua)?;
        loop {
            let slots = base + opens.iter().map(Open::slots).sum::<usize>();
            let tag = self.need(1)?[0];
            if slots + 1 > STACK_LIMIT {
                return Err(Fail::stack(
                    "too many return values at once; use unpack_one or unpack_limit instead.",
                )
                .into());
            }
            let (mut v, open) = match tag {
                0xc0 | 0xc2 | 0xc3 => {
                    self.at += 1;
                    let v = match tag {
                        0xc2 => Value::Boolean(false),
                        0xc3 => Value::Boolean(true),
                        _ => Value::Nil,
                    };
                    (v, None)
                }
                0xcc => (int(self.uint::<1>()? as i64), None),
                0xcd => (int(self.uint::<2>()? as i64), None),
                0xce => (int(self.uint::<4>()? as i64), None),
                0xcf => (int(self.uint::<8>()? as i64), None),
                0xd0 => (int(self.uint::<1>()? as u8 as i8 as i64), None),
                0xd1 => (int(self.uint::<2>()? as u16 as i16 as i64), None),
                0xd2 => (int(self.uint::<4>()? as u32 as i32 as i64), None),
                0xd3 => (Value::Number(self.uint::<8>()? as i64 as f64), None),
                0xca => (
                    Value::Number(f32::from_bits(self.uint::<4>()? as u32) as f64),
                    None,
                ),
                0xcb => (Value::Number(f64::from_bits(self.uint::<8>()?)), None),
                0xd9 => {
                    let n = self.need(2)?[1] as usize;
                    self.need(2 + n)?;
                    self.at += 2;
                    (self.bytes(n)?, None)
                }
                0xda => {
                    let n = self.need(3)?;
                    let n = u16::from_be_bytes([n[1], n[2]]) as usize;
                    self.need(3 + n)?;
                    self.at += 3;
                    (self.bytes(n)?, None)
                }
                0xdb => {
                    let n = self.uint::<4>()? as usize;
                    (self.bytes(n)?, None)
                }
                0xdc => (Value::Nil, Some(array(self.uint::<2>()?))),
                0xdd => (Value::Nil, Some(array(self.uint::<4>()?))),
                0xde => (Value::Nil, Some(map(self.uint::<2>()?))),
                0xdf => (Value::Nil, Some(map(self.uint::<4>()?))),
                _ if tag & 0x80 == 0 => {
                    self.at += 1;
                    (int(tag as i64), None)
                }
                _ if tag & 0xe0 == 0xe0 => {
                    self.at += 1;
                    (int(tag as i8 as i64), None)
                }
                _ if tag & 0xe0 == 0xa0 => {
                    let n = (tag & 0x1f) as usize;
                    self.need(1 + n)?;
                    self.at += 1;
                    (self.bytes(n)?, None)
                }
                _ if tag & 0xf0 == 0x90 => {
                    self.at += 1;
                    (Value::Nil, Some(array((tag & 0x0f) as u64)))
                }
                _ if tag & 0xf0 == 0x80 => {
                    self.at += 1;
                    (Value::Nil, Some(map((tag & 0x0f) as u64)))
                }
                _ => return Err(Stop::BadFormat),
            };
            if let Some(open) = open {
                let t = self.lua.create_table()?;
                if let Open::Array { .. } = open {
                    if slots + 2 > STACK_LIMIT {
                        return Err(Fail::stack("in function mp_decode_to_lua_array").into());
                    }
                }
                let empty = matches!(
                    open,
                    Open::Array { left: 0, .. } | Open::Map { left: 0, .. }
                );
                if empty {
                    v = Value::Table(t);
                } else {
                    stack.push(Value::Table(t))?;
                    opens.push(open);
                    continue;
                }
            }
            // Hand the value to the arrays and maps it completes.
            loop {
                let Some(open) = opens.last_mut() else {
                    return Ok(v);
                };
                match open {
                    Open::Array { left, index } => {
                        table(stack.top())?.raw_set(*index, v)?;
                        *index += 1;
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                    }
                    Open::Map { has_key, .. } if !*has_key => {
                        stack.push(v)?;
                        *has_key = true;
                        break;
                    }
                    Open::Map { left, has_key } => {
                        let key = stack.pop()?;
                        if key.is_nil() {
                            return Err(Fail::Raw(b"table index is nil".to_vec()).into());
                        }
                        if matches!(key, Value::Number(n) if n.is_nan()) {
                            return Err(Fail::Raw(b"table index is NaN".to_vec()).into());
                        }
                        table(stack.top())?.raw_set(key, v)?;
                        *has_key = false;
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                    }
                }
                opens.pop();
                v = stack.pop()?;
            }
        }
    }
}

fn int(n: i64) -> Value {
    Value::Integer(n)
}

fn array(left: u64) -> Open {
    Open::Array { left, index: 1 }
}

fn map(left: u64) -> Open {
    Open::Map {
        left,
        has_key: false,
    }
}

/// The table on top of the stack.
fn table(v: &Value) -> Result<&Table, Stop> {
    match v {
        Value::Table(t) => Ok(t),
        _ => Err(Fail::Raw(b"cmsgpack: table expected".to_vec()).into()),
    }
}
