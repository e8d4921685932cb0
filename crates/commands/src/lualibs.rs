//! The Lua libraries Redis 7.0 gives scripts, written in Rust: `cjson` (lua-cjson 2.1.0),
//! `cmsgpack` (lua-cmsgpack 0.4.0), `bit` (LuaBitOp 1.0.2) and `struct` (lua-struct 0.9), with
//! the outputs and error messages of the C libraries Redis embeds.
//!
//! Each library function is a Rust function called through a small C function ([`shim`]) that
//! scripts see. The shim passes the Rust function its arguments in a table, so that numbers keep
//! their exact value (mlua reads `-0` and numbers below 2^-52 as the integer 0) and any number
//! of arguments is fine, and it raises the Rust function's errors as the C libraries do: a
//! message after the caller's position (`luaL_error`), a bare message, or a bad argument
//! (`luaL_argerror`, which names the function as it was called). Errors are therefore plain
//! strings, as scripts (and `pcall`) expect.
//!
//! Where the C code is bounded by the Lua stack (`lua_checkstack` fails past 8000 slots), the
//! same bound is counted here, so that deeply nested data fails at the same point with the same
//! message. Nested data is walked without recursion, and the tables being built or walked are
//! kept in a Lua table rather than held from Rust (mlua can hold only so many values).

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

use mlua::{ffi, Function, Lua, Table, Value};
use std::os::raw::c_int;

/// Sets the globals `cjson`, `cmsgpack`, `bit` and `struct` (before the sandbox makes globals
/// read-only).
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.raw_set("cjson", cjson::module(lua)?)?;
    g.raw_set("struct", structlib::module(lua)?)?;
    g.raw_set("cmsgpack", cmsgpack::module(lua)?)?;
    g.raw_set("bit", bit::module(lua)?)?;
    Ok(())
}

/// Lua 5.1's `LUAI_MAXCSTACK`: `lua_checkstack` fails when a C function would use more slots.
const STACK_LIMIT: usize = 8000;

/// Why a library function failed; the shim raises it.
pub(crate) enum Fail {
    /// `luaL_error`: the message, after the position of the caller ("user_script:1: ").
    Error(Vec<u8>),
    /// An error raised by Lua itself, with no position (e.g. "table index is nil").
    Raw(Vec<u8>),
    /// `luaL_argerror`: "bad argument #n to 'name' (message)".
    Arg(i32, Vec<u8>),
}

impl Fail {
    /// A `luaL_error`.
    pub(crate) fn error(msg: impl Into<Vec<u8>>) -> Fail {
        Fail::Error(msg.into())
    }

    /// A `luaL_argerror` for argument `n`.
    pub(crate) fn arg(n: usize, msg: impl Into<Vec<u8>>) -> Fail {
        Fail::Arg(n as i32, msg.into())
    }

    /// `luaL_checkstack`'s error.
    pub(crate) fn stack(what: &str) -> Fail {
        Fail::error(format!("stack overflow ({what})"))
    }
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Fail {
        Fail::Raw(e.to_string().into_bytes())
    }
}

/// What a library function returns.
pub(crate) enum Ret {
    /// A few values.
    Values(Vec<Value>),
    /// Many values: `t[1]` to `t[n]` (the shim pushes them; mlua holds none of them).
    Spread(Table, usize),
}

impl Ret {
    /// One value.
    pub(crate) fn one(v: Value) -> Ret {
        Ret::Values(vec![v])
    }
}

/// What a library function gives the shim.
pub(crate) type LibResult = Result<Ret, Fail>;

/// Status codes from the Rust function to the shim (its first result).
const OK: i64 = 0;
const ERROR: i64 = 1;
const RAW: i64 = 2;
const ARG: i64 = 3;
const SPREAD: i64 = 4;

/// The C function a script calls: calls the Rust function (upvalue 1) with the arguments in a
/// table and their count; it returns a status and results, and failures are raised here, from
/// the frame of the function the script called, as the C libraries raise them.
unsafe extern "C-unwind" fn shim(l: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    ffi::lua_createtable(l, n, 0);
    for i in 1..=n {
        ffi::lua_pushvalue(l, i);
        ffi::lua_rawseti_(l, -2, i);
    }
    ffi::lua_insert(l, 1);
    ffi::lua_settop(l, 1);
    ffi::lua_pushinteger(l, n as ffi::lua_Integer);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, 2, ffi::LUA_MULTRET);
    let status = ffi::lua_tointeger(l, 1);
    ffi::lua_remove(l, 1);
    match status {
        OK => ffi::lua_gettop(l),
        SPREAD => {
            let count = ffi::lua_tointeger(l, 2) as c_int;
            ffi::lua_settop(l, 1);
            if ffi::lua_checkstack(l, count) == 0 {
                ffi::lua_pushstring(l, c"stack overflow".as_ptr());
                ffi::lua_error(l);
            }
            for i in 1..=count {
                ffi::lua_rawgeti_(l, 1, i);
            }
            count
        }
        ERROR => {
            ffi::luaL_where(l, 1);
            ffi::lua_insert(l, 1);
            ffi::lua_concat(l, 2);
            ffi::lua_error(l)
        }
        ARG => ffi::luaL_argerror(
            l,
            ffi::lua_tointeger(l, 1) as c_int,
            ffi::lua_tostring(l, 2),
        ),
        _ => ffi::lua_error(l),
    }
}

/// A library function: `f` run through the [`shim`].
pub(crate) fn function(
    lua: &Lua,
    f: impl Fn(&Lua, &Args) -> LibResult + 'static,
) -> mlua::Result<Function> {
    let inner = lua.create_function(move |lua, (t, n): (Table, usize)| {
        let out = match f(lua, &Args { t, n }) {
            Ok(Ret::Values(mut v)) => {
                v.insert(0, Value::Integer(OK));
                v
            }
            Ok(Ret::Spread(t, n)) => vec![
                Value::Integer(SPREAD),
                Value::Table(t),
                Value::Integer(n as i64),
            ],
            Err(Fail::Error(m)) => {
                vec![Value::Integer(ERROR), Value::String(lua.create_string(m)?)]
            }
            Err(Fail::Raw(m)) => vec![Value::Integer(RAW), Value::String(lua.create_string(m)?)],
            Err(Fail::Arg(narg, m)) => vec![
                Value::Integer(ARG),
                Value::Integer(narg.into()),
                Value::String(lua.create_string(m)?),
            ],
        };
        Ok(mlua::MultiValue::from_vec(out))
    })?;
    // SAFETY: `shim` is a C function over the Lua C API; it is pushed as a closure with one
    // upvalue, the function given on the stack.
    unsafe { lua.exec_raw(inner, |l| ffi::lua_pushcclosure(l, shim, 1)) }
}

/// A table of library functions and fields, built as the C libraries build theirs (in the same
/// order, with the same size hint, so that `pairs` lists them in the same order).
pub(crate) fn library(
    lua: &Lua,
    size_hint: usize,
    functions: Vec<(&str, Function)>,
) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, size_hint)?;
    for (name, f) in functions {
        t.raw_set(name, f)?;
    }
    Ok(t)
}

/// A library function's arguments (1-based), read with the rules of the Lua C API.
pub(crate) struct Args {
    t: Table,
    n: usize,
}

impl Args {
    /// How many arguments there are (`lua_gettop`).
    pub(crate) fn count(&self) -> usize {
        self.n
    }

    /// Argument `i`, nil when absent.
    pub(crate) fn get(&self, i: usize) -> Value {
        if i == 0 || i > self.n {
            return Value::Nil;
        }
        raw_index(&self.t, i as i64).unwrap_or(Value::Nil)
    }

    /// `lua_isnoneornil`.
    pub(crate) fn is_nil(&self, i: usize) -> bool {
        matches!(self.get(i), Value::Nil)
    }

    /// `luaL_typename`: the type of argument `i`, "no value" when absent.
    pub(crate) fn type_name(&self, i: usize) -> &'static str {
        if i == 0 || i > self.n {
            "no value"
        } else {
            type_name(&self.get(i))
        }
    }

    /// `lua_tonumber` with `lua_isnumber`: strings convert as Lua converts them.
    pub(crate) fn to_number(&self, lua: &Lua, i: usize) -> Option<f64> {
        to_number(lua, self.get(i))
    }

    /// `luaL_checknumber`.
    pub(crate) fn number(&self, lua: &Lua, i: usize) -> Result<f64, Fail> {
        self.to_number(lua, i)
            .ok_or_else(|| self.type_error(i, "number"))
    }

    /// `luaL_checkinteger`.
    pub(crate) fn integer(&self, lua: &Lua, i: usize) -> Result<i64, Fail> {
        self.number(lua, i).map(c_i64)
    }

    /// `luaL_optinteger`.
    pub(crate) fn opt_integer(&self, lua: &Lua, i: usize, default: i64) -> Result<i64, Fail> {
        if self.is_nil(i) {
            Ok(default)
        } else {
            self.integer(lua, i)
        }
    }

    /// `luaL_checklstring`: numbers convert to strings as Lua converts them.
    pub(crate) fn bytes(&self, lua: &Lua, i: usize) -> Result<Vec<u8>, Fail> {
        match self.get(i) {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            v @ (Value::Integer(_) | Value::Number(_)) => match lua.coerce_string(v)? {
                Some(s) => Ok(s.as_bytes().to_vec()),
                None => Err(self.type_error(i, "string")),
            },
            _ => Err(self.type_error(i, "string")),
        }
    }

    /// `luaL_checkstring`: the string up to its first NUL, as C reads it.
    pub(crate) fn c_string(&self, lua: &Lua, i: usize) -> Result<Vec<u8>, Fail> {
        let mut s = self.bytes(lua, i)?;
        if let Some(end) = s.iter().position(|&c| c == 0) {
            s.truncate(end);
        }
        Ok(s)
    }

    /// `luaL_typerror`.
    pub(crate) fn type_error(&self, i: usize, expected: &str) -> Fail {
        Fail::arg(i, format!("{expected} expected, got {}", self.type_name(i)))
    }
}

/// `lua_typename` of a value.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// `lua_tonumber` with `lua_isnumber`.
pub(crate) fn to_number(lua: &Lua, v: Value) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(n as f64),
        Value::Number(n) => Some(n),
        v @ Value::String(_) => lua.coerce_number(v).ok().flatten(),
        _ => None,
    }
}

/// A number as a Lua value (mlua pushes `Number` with `lua_pushnumber`, exactly).
pub(crate) fn num(n: f64) -> Value {
    Value::Number(n)
}

/// C's conversion of a double to a 64-bit integer on x86-64 (`cvttsd2si`): truncation, and
/// the "integer indefinite" value for NaN and out-of-range numbers.
pub(crate) fn c_i64(n: f64) -> i64 {
    if n > -9_223_372_036_854_775_809.0 && n < 9_223_372_036_854_775_808.0 {
        n as i64
    } else {
        i64::MIN
    }
}

/// The same to a 32-bit `int`.
pub(crate) fn c_i32(n: f64) -> i32 {
    if n > -2_147_483_649.0 && n < 2_147_483_648.0 {
        n as i32
    } else {
        i32::MIN
    }
}

/// C's conversion of a double to an unsigned 64-bit integer on x86-64, as compilers emit it:
/// below 2^63 it is the signed conversion, above it subtracts 2^63 first.
pub(crate) fn c_u64(n: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if n >= TWO63 {
        (c_i64(n - TWO63) as u64) ^ (1 << 63)
    } else {
        c_i64(n) as u64
    }
}

/// Walks tables in `next` order with exact keys and values: mlua reads `-0` and numbers
/// below 2^-52 as the integer 0, so the iterator also gives such numbers as "%.17g" text.
const PAIRS: &str = r#"
local next, type, format = next, type, string.format
local function exact(x)
  if type(x) == 'number' and x > -1 and x < 1 then return format('%.17g', x) end
end
return function(t)
  local k
  return function()
    local v
    k, v = next(t, k)
    return k, v, exact(k), exact(v)
  end
end
"#;

/// Makes iterators over tables' pairs (see [`PAIRS`] and [`next_pair`]).
#[derive(Clone)]
pub(crate) struct PairsMaker(Function);

impl PairsMaker {
    /// Compiles the iterator factory into `lua`.
    pub(crate) fn new(lua: &Lua) -> mlua::Result<PairsMaker> {
        Ok(PairsMaker(lua.load(PAIRS).set_name("=pairs").eval()?))
    }

    /// An iterator over `t`'s pairs.
    pub(crate) fn iter(&self, t: &Table) -> mlua::Result<Function> {
        self.0.call(t)
    }
}

/// The next pair from an iterator made by [`PairsMaker::iter`], numbers exact.
pub(crate) fn next_pair(iter: &Function) -> mlua::Result<Option<(Value, Value)>> {
    let (k, v, kx, vx): (Value, Value, Option<mlua::String>, Option<mlua::String>) =
        iter.call(())?;
    if k.is_nil() {
        return Ok(None);
    }
    Ok(Some((exact(k, kx), exact(v, vx))))
}

fn exact(v: Value, text: Option<mlua::String>) -> Value {
    match text.and_then(|s| s.to_str().ok()?.parse::<f64>().ok()) {
        Some(n) => Value::Number(n),
        None => v,
    }
}

/// Values being worked on, innermost last, kept in a Lua table: walking or building deeply
/// nested data holds only the innermost one from Rust.
pub(crate) struct Stack {
    store: Table,
    len: usize,
    top: Value,
}

impl Stack {
    /// An empty stack.
    pub(crate) fn new(lua: &Lua) -> mlua::Result<Stack> {
        Ok(Stack {
            store: lua.create_table()?,
            len: 0,
            top: Value::Nil,
        })
    }

    /// Puts `v` on top.
    pub(crate) fn push(&mut self, v: Value) -> mlua::Result<()> {
        self.len += 1;
        self.store.raw_set(self.len, &v)?;
        self.top = v;
        Ok(())
    }

    /// Takes the top value off (nil when empty).
    pub(crate) fn pop(&mut self) -> mlua::Result<Value> {
        let v = std::mem::replace(&mut self.top, Value::Nil);
        if self.len > 0 {
            self.store.raw_set(self.len, Value::Nil)?;
            self.len -= 1;
        }
        if self.len > 0 {
            self.top = raw_index(&self.store, self.len as i64)?;
        }
        Ok(v)
    }

    /// The top value (nil when empty).
    pub(crate) fn top(&self) -> &Value {
        &self.top
    }
}

/// Table `t`'s value at integer key `i`, numbers exact (mlua reads `-0` and numbers below
/// 2^-52 as the integer 0; such a value is read again as a float).
pub(crate) fn raw_index(t: &Table, i: i64) -> mlua::Result<Value> {
    match t.raw_get::<Value>(i)? {
        Value::Integer(0) => Ok(Value::Number(t.raw_get::<f64>(i)?)),
        v => Ok(v),
    }
}
