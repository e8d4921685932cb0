//! FUNCTION LOAD / DELETE / FLUSH / LIST / STATS / DUMP / RESTORE and FCALL / FCALL_RO.
//!
//! Libraries are kept once per process (their code and what they registered); each shard
//! thread loads them into its own Lua state when the set changes, and FCALL runs a function as
//! EVAL runs a script: over its declared keys, in place or over copies, atomically.

use crate::ctx::Ctx;
use crate::registry::{Cross, Handler};
use crate::script::{
    execute, first_line, flush_mode_ok, function_kill, new_engine, to_resp, with_engine,
};
use mlua::{Function, Lua, Table, Value as LuaValue};
use shoal_data::glob;
use shoal_data::rdb;
use shoal_protocol::request::sds_split_args;
use shoal_protocol::Args;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("fcall", Handler::Shard(fcall), Cross::Gather),
    ("fcall_ro", Handler::Shard(fcall_ro), Cross::Gather),
    ("function|load", Handler::Shard(load), Cross::Local),
    ("function|dump", Handler::Shard(dump), Cross::Local),
    ("function|restore", Handler::Shard(restore), Cross::Local),
    ("function|help", Handler::Shard(help), Cross::Local),
    ("function|delete", Handler::Shard(delete), Cross::Local),
    ("function|flush", Handler::Shard(flush), Cross::Local),
    ("function|list", Handler::Shard(list), Cross::Local),
    ("function|stats", Handler::Shard(stats), Cross::Local),
    // Nothing runs between commands, as for SCRIPT KILL.
    ("function|kill", Handler::Shard(function_kill), Cross::Local),
];

/// A registered function's metadata.
#[derive(Clone)]
struct FnMeta {
    name: String,
    flags: Vec<String>,
    description: Option<String>,
}

struct Library {
    code: Arc<[u8]>,
    functions: Vec<FnMeta>,
}

#[derive(Default)]
struct Libraries {
    libs: BTreeMap<String, Library>,
    /// Function name -> library name.
    owner: BTreeMap<String, String>,
}

fn libraries() -> &'static RwLock<Libraries> {
    static L: OnceLock<RwLock<Libraries>> = OnceLock::new();
    L.get_or_init(Default::default)
}

/// Bumped whenever the set of libraries changes.
static LIB_GENERATION: AtomicU64 = AtomicU64::new(0);

/// What `redis.register_function` collected while a library's code ran.
type Registered = Rc<RefCell<Vec<(FnMeta, Function)>>>;

/// Redis's text for a library or function name that is not letters, digits and underscores.
const INVALID_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// Redis's `functionsVerifyName`.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The flags a function may declare, in the order FUNCTION LIST shows them.
const FLAG_NAMES: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// Lua's `lua_isstring` then `lua_tolstring`: a string, or a number as Lua prints it.
fn lua_text(lua: &Lua, v: &LuaValue) -> Option<String> {
    match v {
        LuaValue::String(_) | LuaValue::Integer(_) | LuaValue::Number(_) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        _ => None,
    }
}

/// Redis's `luaRegisterFunctionReadPositionalArgs`.
fn read_positional_args(
    lua: &Lua,
    name: &LuaValue,
    cb: &LuaValue,
) -> Result<(FnMeta, Function), &'static str> {
    let Some(name) = lua_text(lua, name) else {
        return Err("first argument to redis.register_function must be a string");
    };
    let LuaValue::Function(cb) = cb else {
        return Err("second argument to redis.register_function must be a function");
    };
    let meta = FnMeta {
        name,
        flags: vec![],
        description: None,
    };
    Ok((meta, cb.clone()))
}

/// Redis's `luaRegisterFunctionReadNamedArgs`: a table of function_name, callback, and
/// optionally description and flags (keys in any case).
fn read_named_args(lua: &Lua, t: &LuaValue) -> Result<(FnMeta, Function), &'static str> {
    let LuaValue::Table(t) = t else {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    };
    let (mut name, mut cb, mut description, mut flags) = (None, None, None, vec![]);
    for pair in t.clone().pairs::<LuaValue, LuaValue>() {
        let Ok((k, v)) = pair else {
            return Err("named argument key given to redis.register_function is not a string");
        };
        let Some(key) = lua_text(lua, &k) else {
            return Err("named argument key given to redis.register_function is not a string");
        };
        if key.eq_ignore_ascii_case("function_name") {
            name = Some(lua_text(lua, &v).ok_or(
                "function_name argument given to redis.register_function must be a string",
            )?);
        } else if key.eq_ignore_ascii_case("description") {
            description =
                Some(lua_text(lua, &v).ok_or(
                    "description argument given to redis.register_function must be a string",
                )?);
        } else if key.eq_ignore_ascii_case("callback") {
            let LuaValue::Function(f) = v else {
                return Err(
                    "callback argument given to redis.register_function must be a function",
                );
            };
            cb = Some(f);
        } else if key.eq_ignore_ascii_case("flags") {
            let LuaValue::Table(ft) = v else {
                return Err("flags argument to redis.register_function must be a table representing function flags");
            };
            let mut mask = [false; FLAG_NAMES.len()];
            // Redis reads ft[1], ft[2]... up to the first nil.
            for i in 1.. {
                let f: LuaValue = ft.raw_get(i).map_err(|_| "unknown flag given")?;
                if f == LuaValue::Nil {
                    break;
                }
                let f = lua_text(lua, &f).ok_or("unknown flag given")?;
                let at = FLAG_NAMES
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(&f))
                    .ok_or("unknown flag given")?;
                mask[at] = true;
            }
            flags = FLAG_NAMES
                .iter()
                .zip(mask)
                .filter(|(_, on)| *on)
                .map(|(n, _)| n.to_string())
                .collect();
        } else {
            return Err("unknown argument given to redis.register_function");
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let cb = cb.ok_or("redis.register_function must get a callback argument")?;
    Ok((
        FnMeta {
            name,
            flags,
            description,
        },
        cb,
    ))
}

/// Runs a library's code in `lua` with `redis.register_function` available; returns what it
/// registered, or Redis's error text.
fn run_library(lua: &Lua, redis: &Table, code: &[u8]) -> Result<Vec<(FnMeta, Function)>, String> {
    let body = match code.iter().position(|&c| c == b'\n') {
        Some(i) => &code[i..],
        None => &code[code.len()..],
    };
    let got: Registered = Rc::default();
    let sink = got.clone();
    let register = lua
        .create_function(move |lua, v: mlua::MultiValue| {
            let args: Vec<LuaValue> = v.into_iter().collect();
            let reg = match args.as_slice() {
                [one] => read_named_args(lua, one),
                [name, cb] => read_positional_args(lua, name, cb),
                _ => Err("wrong number of arguments to redis.register_function"),
            }
            .map_err(|e| mlua::Error::RuntimeError(e.into()))?;
            let (meta, cb) = reg;
            let mut sink = sink.borrow_mut();
            // Redis's functionLibCreateFunction (its message says "Library" for both names).
            if !valid_name(meta.name.as_bytes()) {
                return Err(mlua::Error::RuntimeError(INVALID_NAME.into()));
            }
            if sink.iter().any(|(m, _)| m.name == meta.name) {
                return Err(mlua::Error::RuntimeError(
                    "Function already exists in the library".into(),
                ));
            }
            sink.push((meta, cb));
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    redis
        .raw_set("register_function", register)
        .map_err(|e| e.to_string())?;
    // While a library loads, only register_function (and the helpers) exist on `redis`:
    // anything else reads as a missing global, as in Redis.
    let guard: Table = lua
        .load(
            "return {__index = function(t, k) error(\"Script attempted to access nonexistent global variable '\" .. tostring(k) .. \"'\", 2) end}",
        )
        .eval()
        .map_err(|e| e.to_string())?;
    redis.set_metatable(Some(guard));
    let result = lua
        .load(body)
        .set_name("@user_function")
        .exec()
        .map_err(|e| match &e {
            mlua::Error::SyntaxError { message, .. } => {
                format!("ERR Error compiling function: {}", first_line(message))
            }
            other => format!(
                "ERR Error registering functions: ERR {}",
                first_line(&other.to_string())
            ),
        });
    let _ = redis.raw_set("register_function", LuaValue::Nil);
    redis.set_metatable(None);
    result?;
    let v = std::mem::take(&mut *got.borrow_mut());
    Ok(v)
}

/// Redis's `functionExtractLibMetaData` and the checks after it: the library's name from its
/// `#!<engine> name=<name>` line, or Redis's error.
fn library_name(code: &[u8]) -> Result<String, Vec<u8>> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    // The code is a C string to Redis: the line ends at the first newline, before any NUL.
    let Some(end) = code.iter().position(|&c| c == b'\n' || c == 0) else {
        return Err("ERR Invalid library metadata".into());
    };
    if code[end] == 0 {
        return Err("ERR Invalid library metadata".into());
    }
    let parts = match sds_split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default();
    let mut name: Option<&[u8]> = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(&part[5..]);
            continue;
        }
        let mut e = b"ERR Invalid metadata value given: ".to_vec();
        e.extend_from_slice(c_str(part));
        return Err(e);
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if name.is_empty() || !name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_') {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        let mut e = b"ERR Engine '".to_vec();
        e.extend_from_slice(engine);
        e.extend_from_slice(b"' not found");
        return Err(e);
    }
    Ok(String::from_utf8_lossy(name).into_owned())
}

/// The bytes of `s` up to its first NUL, as C's `%s` prints them.
fn c_str(s: &[u8]) -> &[u8] {
    s.split(|&c| c == 0).next().unwrap_or_default()
}

/// Runs a library's code in a fresh Lua state: what it registers, or Redis's error.
fn compile(code: &[u8]) -> Result<Vec<FnMeta>, Vec<u8>> {
    let fresh = new_engine().map_err(|e| format!("ERR {e}").into_bytes())?;
    let registered = run_library(&fresh.lua, &fresh.redis, code)?;
    if registered.is_empty() {
        return Err("ERR No functions registered".into());
    }
    Ok(registered.into_iter().map(|(m, _)| m).collect())
}

impl Libraries {
    fn unlink(&mut self, name: &str) -> Option<Library> {
        let lib = self.libs.remove(name)?;
        for f in &lib.functions {
            if self.owner.get(&f.name).is_some_and(|o| o == name) {
                self.owner.remove(&f.name);
            }
        }
        Some(lib)
    }

    fn link(&mut self, name: String, lib: Library) {
        for f in &lib.functions {
            self.owner.insert(f.name.clone(), name.clone());
        }
        self.libs.insert(name, lib);
    }

    /// The end of Redis's `functionsCreateWithLibraryCtx`: adds a compiled library, replacing
    /// one of the same name only when `replace`; nothing changes on an error.
    fn add(
        &mut self,
        name: &str,
        code: &[u8],
        functions: Vec<FnMeta>,
        replace: bool,
    ) -> Result<(), Vec<u8>> {
        if self.libs.contains_key(name) && !replace {
            return Err(format!("ERR Library '{name}' already exists").into());
        }
        for f in &functions {
            if matches!(self.owner.get(&f.name), Some(o) if o != name) {
                return Err(format!("ERR Function {} already exists", f.name).into());
            }
        }
        self.unlink(name);
        self.link(
            name.to_string(),
            Library {
                code: code.into(),
                functions,
            },
        );
        Ok(())
    }
}

/// FUNCTION LOAD [REPLACE] code
pub fn load(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut replace = false;
    for i in 2..args.len().saturating_sub(1) {
        let a = args.get(i);
        if !a.eq_ignore_ascii_case(b"replace") {
            return ctx.reply.error(&format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(c_str(a))
            ));
        }
        replace = true;
    }
    let code = args.get(args.len() - 1);
    let name = match library_name(code) {
        Ok(n) => n,
        Err(e) => return ctx.reply.error_bytes(&e),
    };
    // As Redis, an existing library is refused before its replacement's code runs; the code
    // runs outside the lock, and the checks run again under it.
    let exists = libraries()
        .read()
        .map(|l| l.libs.contains_key(&name))
        .unwrap_or(false);
    if exists && !replace {
        return ctx
            .reply
            .error(&format!("ERR Library '{name}' already exists"));
    }
    let added = compile(code).and_then(|functions| {
        let mut libs = libraries()
            .write()
            .map_err(|_| b"ERR function libraries unavailable".to_vec())?;
        libs.add(&name, code, functions, replace)
    });
    match added {
        Ok(()) => {
            LIB_GENERATION.fetch_add(1, Ordering::AcqRel);
            ctx.reply.bulk(name.as_bytes());
        }
        Err(e) => ctx.reply.error_bytes(&e),
    }
}

/// FUNCTION DUMP: every library as Redis's RDB writes it (opcode FUNCTION2 and the code as an
/// RDB string, LZF-compressed as Redis would), then the RDB version and the CRC64. Libraries
/// come in name order (Redis's follow its hash table).
pub fn dump(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    let mut payload = vec![];
    if let Ok(libs) = libraries().read() {
        for lib in libs.libs.values() {
            payload.push(rdb::OPCODE_FUNCTION2);
            rdb::write_string(&mut payload, &lib.code, true);
        }
    }
    rdb::append_footer(&mut payload);
    ctx.reply.bulk(&payload);
}

/// How FUNCTION RESTORE treats the libraries already there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RestorePolicy {
    /// Fail if any restored library already exists.
    Append,
    /// Replace the libraries of the same names.
    Replace,
    /// Delete every library first.
    Flush,
}

/// Redis's `functionRestoreCommand` up to the join: the libraries a payload holds, compiled, or
/// Redis's error.
fn restore_payload(data: &[u8]) -> Result<Libraries, Vec<u8>> {
    if rdb::verify_payload(data).is_none() {
        return Err("ERR DUMP payload version or checksum are wrong".into());
    }
    let mut staged = Libraries::default();
    let mut r = rdb::Reader::new(data);
    // Everything up to the 10-byte footer (a string may run into it, as in Redis).
    while r.remaining() > 10 {
        let code = match r.read_u8() {
            Some(rdb::OPCODE_FUNCTION2) => r
                .read_string()
                .ok_or("ERR Failed loading library payload")?,
            Some(rdb::OPCODE_FUNCTION_PRE_GA) => pre_ga_library(&mut r)?,
            Some(_) => return Err("ERR given type is not a function".into()),
            None => return Err("ERR can not read data type".into()),
        };
        let name = library_name(&code)?;
        if staged.libs.contains_key(&name) {
            return Err(format!("ERR Library '{name}' already exists").into());
        }
        let functions = compile(&code)?;
        staged.add(&name, &code, functions, false)?;
    }
    Ok(staged)
}

/// A library in the format of Redis 7.0's release candidates (name, engine, an optional
/// description, then the code without its `#!` line), turned into code with that line as
/// Redis 7.0 does.
fn pre_ga_library(r: &mut rdb::Reader<'_>) -> Result<Vec<u8>, Vec<u8>> {
    let name = r.read_string().ok_or("ERR Failed loading library name")?;
    let engine = r.read_string().ok_or("ERR Failed loading engine name")?;
    // Redis's rdbLoadLen reads the largest length as its error value.
    let has_desc = match r.read_len() {
        Some((n, _)) if n != u64::MAX => n != 0,
        _ => return Err("ERR Failed loading library description indicator".into()),
    };
    if has_desc {
        r.read_string()
            .ok_or("ERR Failed loading library description")?;
    }
    let blob = r.read_string().ok_or("ERR Failed loading library blob")?;
    // Joined with C's %s, so each part ends at its first NUL.
    let mut code = b"#!".to_vec();
    code.extend_from_slice(c_str(&engine));
    code.extend_from_slice(b" name=");
    code.extend_from_slice(c_str(&name));
    code.push(b'\n');
    code.extend_from_slice(c_str(&blob));
    Ok(code)
}

/// Redis's `libraryJoin`: adds `staged` to `libs`; a library of the same name fails unless
/// `replace`, a function of the same name in a library that stays always fails. Nothing
/// changes on an error.
fn join(libs: &mut Libraries, staged: Libraries, replace: bool) -> Result<(), Vec<u8>> {
    for name in staged.libs.keys() {
        if libs.libs.contains_key(name) && !replace {
            return Err(format!("ERR Library {name} already exists").into());
        }
    }
    for f in staged.owner.keys() {
        // Libraries named in the payload are replaced, so only the others' functions clash.
        if matches!(libs.owner.get(f), Some(o) if !staged.libs.contains_key(o)) {
            return Err(format!("ERR Function {f} already exists").into());
        }
    }
    // Every replaced library goes before any new one comes (a function may move between them).
    for name in staged.libs.keys() {
        libs.unlink(name);
    }
    for (name, lib) in staged.libs {
        libs.link(name, lib);
    }
    Ok(())
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]
pub fn restore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() > 4 {
        let sub = c_str(args.get(1));
        let mut m = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
        m.extend_from_slice(&sub[..sub.len().min(128)]);
        m.extend_from_slice(b"'. Try ");
        m.extend_from_slice(&c_str(args.get(0)).to_ascii_uppercase());
        m.extend_from_slice(b" HELP.");
        return ctx.reply.error_bytes(&m);
    }
    let policy = if args.len() == 4 {
        let p = args.get(3);
        if p.eq_ignore_ascii_case(b"append") {
            RestorePolicy::Append
        } else if p.eq_ignore_ascii_case(b"replace") {
            RestorePolicy::Replace
        } else if p.eq_ignore_ascii_case(b"flush") {
            RestorePolicy::Flush
        } else {
            return ctx.reply.error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
        }
    } else {
        RestorePolicy::Append
    };
    let staged = match restore_payload(args.get(2)) {
        Ok(s) => s,
        Err(e) => return ctx.reply.error_bytes(&e),
    };
    let Ok(mut libs) = libraries().write() else {
        return ctx.reply.error("ERR function libraries unavailable");
    };
    if policy == RestorePolicy::Flush {
        *libs = staged;
    } else if let Err(e) = join(&mut libs, staged, policy == RestorePolicy::Replace) {
        return ctx.reply.error_bytes(&e);
    }
    LIB_GENERATION.fetch_add(1, Ordering::AcqRel);
    ctx.reply.ok();
}

/// FUNCTION DELETE library
pub fn delete(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let name = String::from_utf8_lossy(args.get(2)).into_owned();
    let Ok(mut libs) = libraries().write() else {
        return ctx.reply.error("ERR function libraries unavailable");
    };
    match libs.unlink(&name) {
        Some(_) => {
            LIB_GENERATION.fetch_add(1, Ordering::AcqRel);
            ctx.reply.ok();
        }
        None => ctx.reply.error("ERR Library not found"),
    }
}

/// FUNCTION FLUSH [ASYNC|SYNC]
pub fn flush(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if !flush_mode_ok(&args) {
        return ctx
            .reply
            .error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    if let Ok(mut libs) = libraries().write() {
        *libs = Libraries::default();
    }
    LIB_GENERATION.fetch_add(1, Ordering::AcqRel);
    ctx.reply.ok();
}

/// FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]
pub fn list(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut with_code = false;
    let mut pattern: Option<Vec<u8>> = None;
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if a.eq_ignore_ascii_case(b"libraryname") && i + 1 < args.len() {
            pattern = Some(args.get(i + 1).to_vec());
            i += 1;
        } else {
            return ctx.reply.error(&format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(a)
            ));
        }
        i += 1;
    }
    let Ok(libs) = libraries().read() else {
        return ctx.reply.error("ERR function libraries unavailable");
    };
    let chosen: Vec<(&String, &Library)> = libs
        .libs
        .iter()
        .filter(|(n, _)| {
            pattern
                .as_ref()
                .is_none_or(|p| glob::matches(p, n.as_bytes()))
        })
        .collect();
    let r = &mut ctx.reply;
    r.array(chosen.len());
    for (name, lib) in chosen {
        r.map(if with_code { 4 } else { 3 });
        r.bulk(b"library_name");
        r.bulk(name.as_bytes());
        r.bulk(b"engine");
        r.bulk(b"LUA");
        r.bulk(b"functions");
        r.array(lib.functions.len());
        for f in &lib.functions {
            r.map(3);
            r.bulk(b"name");
            r.bulk(f.name.as_bytes());
            r.bulk(b"description");
            match &f.description {
                Some(d) => r.bulk(d.as_bytes()),
                None => r.null(),
            }
            r.bulk(b"flags");
            r.set(f.flags.len());
            for fl in &f.flags {
                r.simple(fl);
            }
        }
        if with_code {
            r.bulk(b"library_code");
            r.bulk(&lib.code);
        }
    }
}

/// FUNCTION STATS
pub fn stats(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    let (nlibs, nfuncs) = libraries()
        .read()
        .map(|l| (l.libs.len(), l.owner.len()))
        .unwrap_or_default();
    let r = &mut ctx.reply;
    r.map(2);
    r.bulk(b"running_script");
    r.null();
    r.bulk(b"engines");
    r.map(1);
    r.bulk(b"LUA");
    r.map(2);
    r.bulk(b"libraries_count");
    r.int(nlibs as i64);
    r.bulk(b"functions_count");
    r.int(nfuncs as i64);
}

/// FUNCTION HELP
pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    crate::ctx::help_reply(
        &mut ctx.reply,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
}

/// FCALL function numkeys [key ...] [arg ...]
pub fn fcall(ctx: &mut Ctx<'_>, args: Args<'_>) {
    call(ctx, args, false)
}

/// FCALL_RO: FCALL of a function flagged no-writes.
pub fn fcall_ro(ctx: &mut Ctx<'_>, args: Args<'_>) {
    call(ctx, args, true)
}

fn call(ctx: &mut Ctx<'_>, args: Args<'_>, read_only: bool) {
    let Some(numkeys) = crate::script::parse_numkeys(ctx, &args, "ERR Bad number of keys provided")
    else {
        return;
    };
    let name = String::from_utf8_lossy(args.get(1)).into_owned();
    let (no_writes, generation, codes) = {
        let Ok(libs) = libraries().read() else {
            return ctx.reply.error("ERR function libraries unavailable");
        };
        let Some(lib) = libs.owner.get(&name).and_then(|l| libs.libs.get(l)) else {
            return ctx.reply.error("ERR Function not found");
        };
        let no_writes = lib
            .functions
            .iter()
            .any(|f| f.name == name && f.flags.iter().any(|x| x == "no-writes"));
        let generation = LIB_GENERATION.load(Ordering::Acquire);
        let codes: Vec<Arc<[u8]>> = libs.libs.values().map(|l| l.code.clone()).collect();
        (no_writes, generation, codes)
    };
    if read_only && !no_writes {
        return ctx
            .reply
            .error("ERR Can not execute a script with write flag using *_ro command.");
    }
    with_engine(ctx, |engine, ctx| {
        if engine.fn_generation != generation {
            engine.functions.clear();
            for code in &codes {
                if let Ok(fs) = run_library(&engine.lua, &engine.redis, code) {
                    for (m, f) in fs {
                        engine.functions.insert(m.name, f);
                    }
                }
            }
            engine.fn_generation = generation;
        }
        let Some(f) = engine.functions.get(&name).cloned() else {
            return ctx.reply.error("ERR Function not found");
        };
        let keys: Vec<&[u8]> = (3..3 + numkeys).map(|i| args.get(i)).collect();
        let argv: Vec<&[u8]> = (3 + numkeys..args.len()).map(|i| args.get(i)).collect();
        match execute(engine, ctx, &f, true, &keys, &argv, read_only || no_writes) {
            Ok(v) => to_resp(&mut ctx.reply, &v, &name),
            Err(e) => ctx
                .reply
                .error(&format!("ERR {}", first_line(&e.to_string()))),
        }
    });
}
