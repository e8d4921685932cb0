//! `bit`: LuaBitOp 1.0.2. Numbers are taken modulo 2^32 (rounded as the library rounds them,
//! by adding 2^52 + 2^51 and keeping the low 32 bits of the double) and results are signed
//! 32-bit numbers.

use super::{function, library, Args, Fail, LibResult, Ret};
use mlua::{Lua, Table, Value};

/// The `bit` table.
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let unary = |op: fn(u32) -> u32| move |lua: &Lua, a: &Args| ret(op(arg(lua, a, 1)?));
    let fold = |op: fn(u32, u32) -> u32| {
        move |lua: &Lua, a: &Args| {
            let mut b = arg(lua, a, 1)?;
            // The C library reads the arguments from the last one down.
            for i in (2..=a.count()).rev() {
                b = op(b, arg(lua, a, i)?);
            }
            ret(b)
        }
    };
    let shift = |op: fn(u32, u32) -> u32| {
        move |lua: &Lua, a: &Args| {
            let b = arg(lua, a, 1)?;
            ret(op(b, arg(lua, a, 2)? & 31))
        }
    };
    let functions = vec![
        ("tobit", function(lua, unary(|b| b))?),
        ("bnot", function(lua, unary(|b| !b))?),
        ("band", function(lua, fold(|a, b| a & b))?),
        ("bor", function(lua, fold(|a, b| a | b))?),
        ("bxor", function(lua, fold(|a, b| a ^ b))?),
        ("lshift", function(lua, shift(|b, n| b << n))?),
        ("rshift", function(lua, shift(|b, n| b >> n))?),
        (
            "arshift",
            function(lua, shift(|b, n| ((b as i32) >> n) as u32))?,
        ),
        ("rol", function(lua, shift(u32::rotate_left))?),
        ("ror", function(lua, shift(u32::rotate_right))?),
        ("bswap", function(lua, unary(u32::swap_bytes))?),
        ("tohex", function(lua, tohex)?),
    ];
    library(lua, 12, functions)
}

/// Argument `i` as 32 bits (LuaBitOp's `barg`).
fn arg(lua: &Lua, a: &Args, i: usize) -> Result<u32, Fail> {
    let n = a.to_number(lua, i);
    let b = (n.unwrap_or(0.0) + 6_755_399_441_055_744.0).to_bits() as u32;
    if b == 0 && n.is_none() {
        return Err(a.type_error(i, "number"));
    }
    Ok(b)
}

/// A result: the bits as a signed 32-bit number.
fn ret(b: u32) -> LibResult {
    Ok(Ret::one(Value::Integer((b as i32).into())))
}

/// bit.tohex(x [, n]): `n` hex digits (8 by default; upper case when negative).
fn tohex(lua: &Lua, a: &Args) -> LibResult {
    let mut b = arg(lua, a, 1)?;
    let n = if a.count() < 2 {
        8
    } else {
        arg(lua, a, 2)? as i32
    };
    let digits: &[u8; 16] = if n < 0 {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.unsigned_abs().min(8) as usize;
    let mut out = vec![0u8; n];
    for c in out.iter_mut().rev() {
        *c = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(Ret::one(Value::String(lua.create_string(out)?)))
}
