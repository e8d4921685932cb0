//! `cjson`: lua-cjson 2.1.0. `cjson.null` is a NULL light userdata; JSON null decodes to it.
//! A table is encoded as an array when its keys are positive integers (holes become `null`,
//! and an excessively sparse one is an error), else as an object (so an empty table is `{}`);
//! numbers are printed with `%.14g` (see `encode_number_precision`). Decoding reads the text
//! as the C library does: as a C string (a NUL ends it), numbers with `strtod` (so hex, `inf`
//! and `nan` are read unless `decode_invalid_numbers(false)`). The settings belong to the
//! table (`cjson.new()` makes another).

use super::{
    c_i32, function, library, next_pair, raw_index, type_name, Args, Fail, LibResult, PairsMaker,
    Ret, Stack, STACK_LIMIT,
};
use mlua::{Function, Lua, Table, Value};
use shoal_protocol::reply::format_g;
use std::cell::Cell;
use std::rc::Rc;

/// The settings of a `cjson` table (lua-cjson's defaults as Redis builds it).
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: i32,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0: an error, 1: written (`nan`, `inf`), 2: written as `null`.
    encode_invalid_numbers: i32,
    encode_number_precision: i32,
    encode_keep_buffer: i32,
    decode_invalid_numbers: i32,
}

const DEFAULTS: Config = Config {
    sparse_convert: 0,
    sparse_ratio: 2,
    sparse_safe: 10,
    encode_max_depth: 1000,
    decode_max_depth: 1000,
    encode_invalid_numbers: 0,
    encode_number_precision: 14,
    encode_keep_buffer: 1,
    decode_invalid_numbers: 1,
};

const ON_OFF: &[&str] = &["off", "on"];

/// The `cjson` table.
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    new_module(lua, &PairsMaker::new(lua)?)
}

fn new_module(lua: &Lua, pairs: &PairsMaker) -> mlua::Result<Table> {
    let cfg = Rc::new(Cell::new(DEFAULTS));
    let (c, p) = (cfg.clone(), pairs.clone());
    let encode = function(lua, move |lua, a| encode(lua, a, c.get(), &p))?;
    let c = cfg.clone();
    let decode = function(lua, move |lua, a| decode(lua, a, c.get()))?;
    let p = pairs.clone();
    let new = function(lua, move |lua, _| {
        Ok(Ret::one(Value::Table(new_module(lua, &p)?)))
    })?;
    let setter = |f| setting(lua, &cfg, f);
    let functions = vec![
        ("encode", encode),
        ("decode", decode),
        (
            "encode_sparse_array",
            setter(Box::new(encode_sparse_array))?,
        ),
        (
            "encode_max_depth",
            setter(integer(|c| &mut c.encode_max_depth, 1, i32::MAX))?,
        ),
        (
            "decode_max_depth",
            setter(integer(|c| &mut c.decode_max_depth, 1, i32::MAX))?,
        ),
        (
            "encode_number_precision",
            setter(integer(|c| &mut c.encode_number_precision, 1, 14))?,
        ),
        (
            "encode_keep_buffer",
            setter(choice(|c| &mut c.encode_keep_buffer, ON_OFF))?,
        ),
        (
            "encode_invalid_numbers",
            setter(choice(
                |c| &mut c.encode_invalid_numbers,
                &["off", "on", "null"],
            ))?,
        ),
        (
            "decode_invalid_numbers",
            setter(choice(|c| &mut c.decode_invalid_numbers, ON_OFF))?,
        ),
        ("new", new),
    ];
    let t = library(lua, 0, functions)?;
    t.raw_set("null", Value::NULL)?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

/// The work of a settings function: it reads the arguments and changes the settings given.
type SettingFn = Box<dyn Fn(&Lua, &Args, &mut Config) -> LibResult>;

/// The settings function doing `f` on the table's settings; what `f` changed stays even when
/// it then fails on an argument, as in the C library.
fn setting(lua: &Lua, cfg: &Rc<Cell<Config>>, f: SettingFn) -> mlua::Result<Function> {
    let cfg = cfg.clone();
    function(lua, move |lua, a| {
        let mut c = cfg.get();
        let r = f(lua, a, &mut c);
        cfg.set(c);
        r
    })
}

/// One of the settings.
type Field = fn(&mut Config) -> &mut i32;

/// A function for an integer setting between `min` and `max`.
fn integer(field: Field, min: i32, max: i32) -> SettingFn {
    Box::new(move |lua, a, c| {
        arity(a, 1)?;
        Ok(Ret::one(integer_option(lua, a, 1, field(c), min, max)?))
    })
}

/// A function for a setting among `options`.
fn choice(field: Field, options: &'static [&'static str]) -> SettingFn {
    Box::new(move |lua, a, c| {
        arity(a, 1)?;
        Ok(Ret::one(enum_option(lua, a, 1, field(c), options)?))
    })
}

/// The settings functions take at most `max` arguments.
fn arity(a: &Args, max: usize) -> Result<(), Fail> {
    if a.count() > max {
        return Err(Fail::arg(max + 1, "found too many arguments"));
    }
    Ok(())
}

/// An integer setting: set from argument `i` unless it is nil; returns the setting.
fn integer_option(
    lua: &Lua,
    a: &Args,
    i: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> Result<Value, Fail> {
    if !a.is_nil(i) {
        let value = a.integer(lua, i)? as i32;
        if value < min || value > max {
            // (lua-cjson names the first argument whichever it checks.)
            return Err(Fail::arg(
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = value;
    }
    Ok(Value::Integer((*setting).into()))
}

/// A setting among `options` (the first two are also false and true), set from argument
/// `i` unless it is nil; returns the setting, as a boolean when it is one of the first two.
fn enum_option(
    lua: &Lua,
    a: &Args,
    i: usize,
    setting: &mut i32,
    options: &[&str],
) -> Result<Value, Fail> {
    match a.get(i) {
        Value::Nil => {}
        Value::Boolean(b) => *setting = b as i32,
        _ => {
            let name = a.c_string(lua, i)?;
            let Some(k) = options.iter().position(|o| o.as_bytes() == name) else {
                let mut msg = b"invalid option '".to_vec();
                msg.extend_from_slice(&name);
                msg.push(b'\'');
                return Err(Fail::Arg(i as i32, msg));
            };
            *setting = k as i32;
        }
    }
    Ok(match *setting {
        0 | 1 => Value::Boolean(*setting == 1),
        k => Value::String(lua.create_string(options.get(k as usize).unwrap_or(&""))?),
    })
}

/// cjson.encode_sparse_array([convert [, ratio [, safe]]])
fn encode_sparse_array(lua: &Lua, a: &Args, c: &mut Config) -> LibResult {
    arity(a, 3)?;
    let convert = enum_option(lua, a, 1, &mut c.sparse_convert, ON_OFF)?;
    let ratio = integer_option(lua, a, 2, &mut c.sparse_ratio, 0, i32::MAX)?;
    let safe = integer_option(lua, a, 3, &mut c.sparse_safe, 0, i32::MAX)?;
    Ok(Ret::Values(vec![convert, ratio, safe]))
}

/// cjson.encode(value)
fn encode(lua: &Lua, a: &Args, cfg: Config, pairs: &PairsMaker) -> LibResult {
    if a.count() != 1 {
        return Err(Fail::arg(1, "expected 1 argument"));
    }
    let mut e = Encoder {
        cfg,
        out: Vec::new(),
    };
    e.run(lua, a.get(1), pairs)?;
    Ok(Ret::one(Value::String(lua.create_string(e.out)?)))
}

struct Encoder {
    cfg: Config,
    out: Vec<u8>,
}

/// A table being encoded; its table (array) or pairs iterator (object) is on a [`Stack`].
enum Open {
    Array { len: i64, next: i64 },
    Object { first: bool },
}

impl Encoder {
    /// Encodes `v`: tables are walked depth first with a stack of the open ones.
    fn run(&mut self, lua: &Lua, mut v: Value, pairs: &PairsMaker) -> Result<(), Fail> {
        let mut opens: Vec<Open> = Vec::new();
        let mut handles = Stack::new(lua)?;
        // Slots used on the C stack: the argument, and for each open table the element
        // (array) or the key and value (object).
        let mut slots = 1;
        loop {
            if let Value::Table(t) = &v {
                let depth = opens.len() + 1;
                if depth > self.cfg.encode_max_depth as usize || slots + 3 > STACK_LIMIT {
                    return Err(Fail::error(format!(
                        "Cannot serialise, excessive nesting ({depth})"
                    )));
                }
                let len = self.array_length(t)?;
                if len > 0 {
                    self.out.push(b'[');
                    opens.push(Open::Array { len, next: 1 });
                    handles.push(v.clone())?;
                    slots += 1;
                } else {
                    self.out.push(b'{');
                    opens.push(Open::Object { first: true });
                    handles.push(Value::Function(pairs.iter(t)?))?;
                    slots += 2;
                }
            } else {
                self.scalar(&v)?;
            }
            // The next value to encode, closing the tables that are done.
            loop {
                let Some(open) = opens.last_mut() else {
                    return Ok(());
                };
                match (open, handles.top()) {
                    (Open::Array { len, next }, Value::Table(t)) if *next <= *len => {
                        if *next > 1 {
                            self.out.push(b',');
                        }
                        v = raw_index(t, *next)?;
                        *next += 1;
                        break;
                    }
                    (Open::Array { .. }, _) => {
                        self.out.push(b']');
                        slots -= 1;
                    }
                    (Open::Object { first }, Value::Function(it)) => match next_pair(it)? {
                        Some((k, value)) => {
                            if !*first {
                                self.out.push(b',');
                            }
                            *first = false;
                            self.key(&k)?;
                            v = value;
                            break;
                        }
                        None => {
                            self.out.push(b'}');
                            slots -= 2;
                        }
                    },
                    (Open::Object { .. }, _) => return Err(Fail::error("cjson: bad iterator")),
                }
                opens.pop();
                handles.pop()?;
            }
        }
    }

    /// The length of `t` if it is an array (its largest key), else -1 or 0.
    fn array_length(&self, t: &Table) -> Result<i64, Fail> {
        let (mut max, mut items, mut array) = (0i32, 0i32, true);
        t.for_each(|k: Value, _: Value| {
            let k = match k {
                Value::Integer(n) => n as f64,
                Value::Number(n) => n,
                _ => 0.0,
            };
            if k != 0.0 && k.floor() == k && k >= 1.0 {
                if k > max as f64 {
                    max = c_i32(k);
                }
                items = items.wrapping_add(1);
            } else {
                array = false;
            }
            Ok(())
        })?;
        if !array {
            return Ok(-1);
        }
        let c = &self.cfg;
        if c.sparse_ratio > 0 && max > items.wrapping_mul(c.sparse_ratio) && max > c.sparse_safe {
            if c.sparse_convert == 0 {
                return Err(Fail::error(
                    "Cannot serialise table: excessively sparse array",
                ));
            }
            return Ok(-1);
        }
        Ok(max.into())
    }

    fn key(&mut self, k: &Value) -> Result<(), Fail> {
        match k {
            Value::Integer(_) | Value::Number(_) => {
                self.out.push(b'"');
                self.scalar(k)?;
                self.out.extend_from_slice(b"\":");
            }
            Value::String(s) => {
                self.string(&s.as_bytes());
                self.out.push(b':');
            }
            _ => {
                return Err(Fail::error(format!(
                    "Cannot serialise {}: table key must be a number or string",
                    type_name(k)
                )))
            }
        }
        Ok(())
    }

    fn scalar(&mut self, v: &Value) -> Result<(), Fail> {
        match v {
            Value::String(s) => self.string(&s.as_bytes()),
            Value::Integer(n) => self.number(*n as f64)?,
            Value::Number(n) => self.number(*n)?,
            Value::Boolean(true) => self.out.extend_from_slice(b"true"),
            Value::Boolean(false) => self.out.extend_from_slice(b"false"),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            _ => {
                return Err(Fail::error(format!(
                    "Cannot serialise {}: type not supported",
                    type_name(v)
                )))
            }
        }
        Ok(())
    }

    fn number(&mut self, n: f64) -> Result<(), Fail> {
        let invalid = n.is_nan() || n.is_infinite();
        match self.cfg.encode_invalid_numbers {
            0 if invalid => {
                return Err(Fail::error(
                    "Cannot serialise number: must not be NaN or Inf",
                ))
            }
            1 if n.is_nan() => {
                self.out.extend_from_slice(b"nan");
                return Ok(());
            }
            2 if invalid => {
                self.out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
        let precision = self.cfg.encode_number_precision as usize;
        self.out
            .extend_from_slice(format_g(n, precision).as_bytes());
        Ok(())
    }

    fn string(&mut self, s: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let out = &mut self.out;
        out.push(b'"');
        for &c in s {
            match c {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'/' => out.extend_from_slice(b"\\/"),
                b'\x08' => out.extend_from_slice(b"\\b"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\x0c' => out.extend_from_slice(b"\\f"),
                b'\r' => out.extend_from_slice(b"\\r"),
                0..=0x1f | 0x7f => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(c >> 4) as usize]);
                    out.push(HEX[(c & 15) as usize]);
                }
                _ => out.push(c),
            }
        }
        out.push(b'"');
    }
}

/// cjson.decode(text)
fn decode(lua: &Lua, a: &Args, cfg: Config) -> LibResult {
    if a.count() != 1 {
        return Err(Fail::arg(1, "expected 1 argument"));
    }
    let text = a.bytes(lua, 1)?;
    // Only the first character is sure to be ASCII; enough to tell UTF-16 and UTF-32.
    if text.len() >= 2 && (text[0] == 0 || text[1] == 0) {
        return Err(Fail::error("JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut p = Parser {
        text: &text,
        at: 0,
        cfg,
    };
    Ok(Ret::one(p.document(lua)?))
}

enum Kind {
    ObjectBegin,
    ObjectEnd,
    ArrayBegin,
    ArrayEnd,
    String(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

/// A token and where it is (for an error, where the error is).
struct Token {
    kind: Kind,
    at: usize,
}

impl Token {
    /// The token as errors name it.
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::ObjectBegin => "T_OBJ_BEGIN",
            Kind::ObjectEnd => "T_OBJ_END",
            Kind::ArrayBegin => "T_ARR_BEGIN",
            Kind::ArrayEnd => "T_ARR_END",
            Kind::String(_) => "T_STRING",
            Kind::Number(_) => "T_NUMBER",
            Kind::Boolean(_) => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error(e) => e,
        }
    }

    fn expected(&self, what: &str) -> Fail {
        Fail::error(format!(
            "Expected {what} but found {} at character {}",
            self.name(),
            self.at + 1
        ))
    }
}

/// An array or object being decoded; its table is on a [`Stack`].
enum Building {
    Array { next: i64 },
    Object { key: Vec<u8> },
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    cfg: Config,
}

impl Parser<'_> {
    /// The byte at `i`; 0 past the end, as in a C string.
    fn byte(&self, i: usize) -> u8 {
        self.text.get(i).copied().unwrap_or(0)
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.text
            .get(self.at..)
            .is_some_and(|rest| rest.starts_with(s))
    }

    /// The text is one value: arrays and objects are built with a stack of the open ones.
    fn document(&mut self, lua: &Lua) -> Result<Value, Fail> {
        let mut opens: Vec<Building> = Vec::new();
        let mut tables = Stack::new(lua)?;
        // Slots used on the C stack: the argument, and for each open array its table, for
        // each open object its table and the key.
        let mut slots = 1;
        let mut token = self.token();
        loop {
            let mut v = match token.kind {
                Kind::String(s) => Value::String(lua.create_string(s)?),
                Kind::Number(n) => Value::Number(n),
                Kind::Boolean(b) => Value::Boolean(b),
                Kind::Null => Value::NULL,
                Kind::ObjectBegin | Kind::ArrayBegin => {
                    let object = matches!(token.kind, Kind::ObjectBegin);
                    let depth = opens.len() + 1;
                    let needs = if object { 3 } else { 2 };
                    if depth > self.cfg.decode_max_depth as usize || slots + needs > STACK_LIMIT {
                        return Err(Fail::error(format!(
                            "Found too many nested data structures ({depth}) at character {}",
                            self.at
                        )));
                    }
                    let t = lua.create_table()?;
                    token = self.token();
                    match token.kind {
                        Kind::ObjectEnd if object => Value::Table(t),
                        Kind::ArrayEnd if !object => Value::Table(t),
                        _ if object => {
                            let key = self.key(token)?;
                            tables.push(Value::Table(t))?;
                            opens.push(Building::Object { key });
                            slots += 2;
                            token = self.token();
                            continue;
                        }
                        _ => {
                            tables.push(Value::Table(t))?;
                            opens.push(Building::Array { next: 1 });
                            slots += 1;
                            continue;
                        }
                    }
                }
                _ => return Err(token.expected("value")),
            };
            // Store the value in the arrays and objects it completes.
            loop {
                let Some(open) = opens.last_mut() else {
                    let end = self.token();
                    if !matches!(end.kind, Kind::End) {
                        return Err(end.expected("the end"));
                    }
                    return Ok(v);
                };
                let Value::Table(t) = tables.top() else {
                    return Err(Fail::error("cjson: bad stack"));
                };
                match open {
                    Building::Array { next } => {
                        t.raw_set(*next, v)?;
                        *next += 1;
                        token = self.token();
                        match token.kind {
                            Kind::ArrayEnd => slots -= 1,
                            Kind::Comma => {
                                token = self.token();
                                break;
                            }
                            _ => return Err(token.expected("comma or array end")),
                        }
                    }
                    Building::Object { key } => {
                        t.raw_set(lua.create_string(&key)?, v)?;
                        token = self.token();
                        match token.kind {
                            Kind::ObjectEnd => slots -= 2,
                            Kind::Comma => {
                                let next = self.token();
                                *key = self.key(next)?;
                                token = self.token();
                                break;
                            }
                            _ => return Err(token.expected("comma or object end")),
                        }
                    }
                }
                opens.pop();
                v = tables.pop()?;
            }
        }
    }

    /// An object's key (`token`) and the colon after it.
    fn key(&mut self, token: Token) -> Result<Vec<u8>, Fail> {
        let Kind::String(key) = token.kind else {
            return Err(token.expected("object key string"));
        };
        let colon = self.token();
        if !matches!(colon.kind, Kind::Colon) {
            return Err(colon.expected("colon"));
        }
        Ok(key)
    }

    fn token(&mut self) -> Token {
        while matches!(self.byte(self.at), b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
        let at = self.at;
        let single = |kind| Token { kind, at };
        let kind = match self.byte(at) {
            b'{' => Kind::ObjectBegin,
            b'}' => Kind::ObjectEnd,
            b'[' => Kind::ArrayBegin,
            b']' => Kind::ArrayEnd,
            b',' => Kind::Comma,
            b':' => Kind::Colon,
            0 => return single(Kind::End),
            b'"' => return self.string(),
            b'-' | b'0'..=b'9' => {
                if self.cfg.decode_invalid_numbers == 0 && self.invalid_number() {
                    return single(Kind::Error("invalid number"));
                }
                return self.number();
            }
            b't' | b'f' | b'n' | b'i' | b'I' | b'N' | b'+' => {
                for (word, kind) in [
                    (&b"true"[..], Kind::Boolean(true)),
                    (b"false", Kind::Boolean(false)),
                    (b"null", Kind::Null),
                ] {
                    if self.starts_with(word) {
                        self.at += word.len();
                        return single(kind);
                    }
                }
                if self.cfg.decode_invalid_numbers != 0 && self.invalid_number() {
                    return self.number();
                }
                return single(Kind::Error("invalid token"));
            }
            _ => return single(Kind::Error("invalid token")),
        };
        self.at += 1;
        single(kind)
    }

    /// Whether the number here is one JSON does not allow (but `strtod` reads): with a `+`,
    /// hex, leading zeros, infinity or NaN.
    fn invalid_number(&self) -> bool {
        let mut p = self.at;
        match self.byte(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.byte(p);
        if c == b'0' {
            let c2 = self.byte(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        // (C compares a signed char: bytes from 0x80 are below '9'.)
        if c <= b'9' || c >= 0x80 {
            return false;
        }
        let word: Vec<u8> = (p..p + 3)
            .map(|i| self.byte(i).to_ascii_lowercase())
            .collect();
        word == b"inf" || word == b"nan"
    }

    fn number(&mut self) -> Token {
        let at = self.at;
        let (n, len) = strtod(self.text.get(at..).unwrap_or_default());
        if len == 0 {
            return Token {
                kind: Kind::Error("invalid number"),
                at,
            };
        }
        self.at += len;
        Token {
            kind: Kind::Number(n),
            at,
        }
    }

    fn string(&mut self) -> Token {
        let start = self.at;
        let mut s = Vec::new();
        self.at += 1;
        loop {
            let c = self.byte(self.at);
            let error = |at, e| Token {
                kind: Kind::Error(e),
                at,
            };
            match c {
                b'"' => break,
                0 => return error(self.at, "unexpected end of string"),
                b'\\' => {
                    let c = match self.byte(self.at + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => b'\x08',
                        b'f' => b'\x0c',
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => match self.unicode_escape() {
                            Some((len, cp)) => {
                                push_utf8(&mut s, cp);
                                self.at += len;
                                continue;
                            }
                            None => return error(self.at, "invalid unicode escape code"),
                        },
                        _ => return error(self.at, "invalid escape code"),
                    };
                    s.push(c);
                    self.at += 2;
                }
                _ => {
                    s.push(c);
                    self.at += 1;
                }
            }
        }
        self.at += 1;
        Token {
            kind: Kind::String(s),
            at: start,
        }
    }

    /// The `\uXXXX` escape here (a surrogate pair takes two): its length and code point.
    fn unicode_escape(&self) -> Option<(usize, u32)> {
        let hex4 = |p: usize| {
            (p..p + 4).try_fold(0u32, |n, i| {
                let d = (self.byte(i) as char).to_digit(16)?;
                Some(n << 4 | d)
            })
        };
        let cp = hex4(self.at + 2)?;
        if cp & 0xf800 != 0xd800 {
            return Some((6, cp));
        }
        // A surrogate: it must be a high one, followed by a low one.
        if cp & 0x400 != 0 || self.byte(self.at + 6) != b'\\' || self.byte(self.at + 7) != b'u' {
            return None;
        }
        let low = hex4(self.at + 8)?;
        if low & 0xfc00 != 0xdc00 {
            return None;
        }
        Some((12, (((cp & 0x3ff) << 10) | (low & 0x3ff)) + 0x10000))
    }
}

fn push_utf8(s: &mut Vec<u8>, cp: u32) {
    match cp {
        0..=0x7f => s.push(cp as u8),
        0x80..=0x7ff => s.extend([0xc0 | (cp >> 6) as u8, 0x80 | (cp & 0x3f) as u8]),
        0x800..=0xffff => s.extend([
            0xe0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3f) as u8,
            0x80 | (cp & 0x3f) as u8,
        ]),
        _ => s.extend([
            0xf0 | (cp >> 18) as u8,
            0x80 | ((cp >> 12) & 0x3f) as u8,
            0x80 | ((cp >> 6) & 0x3f) as u8,
            0x80 | (cp & 0x3f) as u8,
        ]),
    }
}

/// C's `strtod` (glibc's) at the start of `s`: the number and how many bytes it took (0 for
/// none). Reads decimal and hexadecimal numbers, `inf`, `infinity` and `nan`, with a sign.
fn strtod(s: &[u8]) -> (f64, usize) {
    let (neg, sign) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let rest = &s[sign..];
    let signed = |n: f64| if neg { -n } else { n };
    let word = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
    if word(b"infinity") {
        return (signed(f64::INFINITY), sign + 8);
    }
    if word(b"inf") {
        return (signed(f64::INFINITY), sign + 3);
    }
    if word(b"nan") {
        // "nan(chars)" takes the parenthesis too.
        let mut len = 3;
        if rest.get(3) == Some(&b'(') {
            let chars = rest[4..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            if rest.get(4 + chars) == Some(&b')') {
                len = 5 + chars;
            }
        }
        return (signed(f64::NAN), sign + len);
    }
    let digits = |from: usize, hex: bool| {
        rest[from.min(rest.len())..]
            .iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count()
    };
    let hex = rest.len() > 2
        && rest[0] == b'0'
        && rest[1] | 0x20 == b'x'
        && (digits(2, true) > 0 || (rest[2] == b'.' && digits(3, true) > 0));
    if hex {
        let (n, len) = hex_float(&rest[2..]);
        return (signed(n), sign + 2 + len);
    }
    // Digits, maybe a point and more digits (at least one digit), maybe an exponent.
    let int = digits(0, false);
    let mut len = int;
    let mut frac = 0;
    if rest.get(len) == Some(&b'.') {
        frac = digits(len + 1, false);
        len += 1 + frac;
    }
    if int + frac == 0 {
        return (0.0, 0);
    }
    if matches!(rest.get(len), Some(b'e' | b'E')) {
        let mut e = len + 1;
        if matches!(rest.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let exp = digits(e, false);
        if exp > 0 {
            len = e + exp;
        }
    }
    let n = std::str::from_utf8(&rest[..len])
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(0.0);
    (signed(n), sign + len)
}

/// A hexadecimal number after "0x": hex digits with maybe a point, then maybe a binary
/// exponent (`p`); the value correctly rounded and how many bytes it took.
fn hex_float(s: &[u8]) -> (f64, usize) {
    let (mut m, mut exp, mut sticky) = (0u64, 0i64, false);
    let (mut i, mut point) = (0, false);
    while let Some(&c) = s.get(i) {
        if let Some(d) = (c as char).to_digit(16) {
            if m >> 60 == 0 {
                m = m << 4 | d as u64;
                if point {
                    exp -= 4;
                }
            } else {
                sticky |= d != 0;
                if !point {
                    exp += 4;
                }
            }
        } else if c == b'.' && !point {
            point = true;
        } else {
            break;
        }
        i += 1;
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let neg = s.get(j) == Some(&b'-');
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let n = s[j.min(s.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n > 0 {
            let e = s[j..j + n]
                .iter()
                .fold(0i64, |e, &c| (e * 10 + (c - b'0') as i64).min(1 << 40));
            exp += if neg { -e } else { e };
            i = j + n;
        }
    }
    (compose(m, sticky, exp), i)
}

/// `m * 2^exp` (with more nonzero bits below `m` when `sticky`), rounded to nearest even.
fn compose(m: u64, sticky: bool, exp: i64) -> f64 {
    if m == 0 {
        return 0.0;
    }
    let lz = m.leading_zeros();
    let m = (m << lz) as u128;
    // The value is m * 2^(top - 63), m with its top bit set.
    let top = exp - lz as i64 + 63;
    if top > 1023 {
        return f64::INFINITY;
    }
    let keep = if top >= -1022 { 53 } else { 53 - (-1022 - top) };
    if keep < 0 {
        return 0.0;
    }
    let shift = (64 - keep) as u32;
    let half = 1u128 << (shift - 1);
    let (kept, rest) = (m >> shift, m & ((1u128 << shift) - 1));
    let up = rest > half || (rest == half && (sticky || kept & 1 == 1));
    ldexp((kept + up as u128) as f64, top - keep + 1)
}

/// `x * 2^e`, exact when the result is representable.
fn ldexp(mut x: f64, mut e: i64) -> f64 {
    let pow2 = |e: i64| f64::from_bits(((1023 + e) as u64) << 52);
    while e > 1000 {
        x *= pow2(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= pow2(-1000);
        e += 1000;
    }
    x * pow2(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_reads_what_glibc_reads() {
        assert_eq!(strtod(b"12.5e3x"), (12500.0, 6));
        assert_eq!(strtod(b"-0"), (-0.0, 2));
        assert!(strtod(b"-0").0.is_sign_negative());
        assert_eq!(strtod(b"1e"), (1.0, 1));
        assert_eq!(strtod(b"1.e+"), (1.0, 2));
        assert_eq!(strtod(b".5"), (0.5, 2));
        assert_eq!(strtod(b"-"), (0.0, 0));
        assert_eq!(strtod(b"0x1A"), (26.0, 4));
        assert_eq!(strtod(b"0x"), (0.0, 1));
        assert_eq!(strtod(b"0x.8p1"), (1.0, 6));
        assert_eq!(strtod(b"0x1p-1074"), (f64::from_bits(1), 9));
        assert_eq!(strtod(b"0x1.fffffffffffff8p0").0, 2.0);
        assert_eq!(strtod(b"0x1p2000").0, f64::INFINITY);
        // Rounding to nearest even, subnormals included (values from glibc).
        let bits = |s: &[u8]| strtod(s).0.to_bits();
        assert_eq!(bits(b"0x1.00000000000008p0"), 0x3ff0000000000000);
        assert_eq!(bits(b"0x1.000000000000081p0"), 0x3ff0000000000001);
        assert_eq!(bits(b"0x1.fffffffffffff8p1023"), 0x7ff0000000000000);
        assert_eq!(bits(b"0x3p-1076"), 1);
        assert_eq!(bits(b"0x1p-1075"), 0);
        assert_eq!(bits(b"0x1.0000000000001p-1075"), 1);
        assert_eq!(bits(b"0x123456789abcdef0123p-4"), 0x44323456789abcdf);
        assert_eq!(strtod(b"Infinity"), (f64::INFINITY, 8));
        assert_eq!(strtod(b"-inFx"), (f64::NEG_INFINITY, 4));
        assert_eq!(strtod(b"nan(12)x").1, 7);
        assert_eq!(strtod(b"nan(12").1, 3);
        assert!(strtod(b"-nan").0.is_sign_negative());
    }
}
