//! FUNCTION LOAD / DELETE / FLUSH / LIST / STATS and FCALL / FCALL_RO.
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
use shoal_data::numeric::parse_i64;
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
        .create_function(move |_, v: mlua::MultiValue| {
            let mut it = v.into_iter();
            let (name, cb, flags, description) = match (it.next(), it.next()) {
                (Some(LuaValue::String(n)), Some(LuaValue::Function(f))) => {
                    (n.to_string_lossy(), f, vec![], None)
                }
                (Some(LuaValue::Table(t)), None) => {
                    let name: String = t.get("function_name").map_err(|_| {
                        mlua::Error::RuntimeError("function_name argument given to redis.register_function must be a string".into())
                    })?;
                    let cb: Function = t.get("callback").map_err(|_| {
                        mlua::Error::RuntimeError("callback argument given to redis.register_function must be a function".into())
                    })?;
                    let flags: Vec<String> = t
                        .get::<Option<Vec<String>>>("flags")
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    let description: Option<String> = t.get("description").ok().flatten();
                    (name, cb, flags, description)
                }
                _ => {
                    return Err(mlua::Error::RuntimeError(
                        "wrong number of arguments to redis.register_function".into(),
                    ))
                }
            };
            sink.borrow_mut().push((
                FnMeta {
                    name,
                    flags,
                    description,
                },
                cb,
            ));
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
        .map_err(|e| {
            let msg = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            format!("ERR Error registering functions: ERR {}", first_line(&msg))
        });
    let _ = redis.raw_set("register_function", LuaValue::Nil);
    redis.set_metatable(None);
    result?;
    let v = std::mem::take(&mut *got.borrow_mut());
    Ok(v)
}

/// FUNCTION LOAD [REPLACE] code
pub fn load(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (replace, code) = match args.len() {
        3 => (false, args.get(2)),
        4 if args.get(2).eq_ignore_ascii_case(b"replace") => (true, args.get(3)),
        4 => {
            return ctx.reply.error(&format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(args.get(2))
            ))
        }
        _ => {
            return ctx
                .reply
                .error("ERR wrong number of arguments for 'function|load' command")
        }
    };
    let first = code.split(|&c| c == b'\n').next().unwrap_or_default();
    let Some(meta) = first.strip_prefix(b"#!") else {
        return ctx.reply.error("ERR Missing library metadata");
    };
    let meta = String::from_utf8_lossy(meta).into_owned();
    let mut parts = meta.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if !engine.eq_ignore_ascii_case("lua") {
        return ctx.reply.error(&format!("ERR Engine '{engine}' not found"));
    }
    let mut name = None;
    for p in parts {
        match p.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => {
                return ctx
                    .reply
                    .error(&format!("ERR Invalid metadata value given: {p}"))
            }
        }
    }
    let Some(name) = name else {
        return ctx.reply.error("ERR Library name was not given");
    };
    // Run the code in a fresh state to learn what it registers.
    let fresh = match new_engine() {
        Ok(e) => e,
        Err(e) => return ctx.reply.error(&format!("ERR {e}")),
    };
    let registered = match run_library(&fresh.lua, &fresh.redis, code) {
        Ok(r) => r,
        Err(msg) => return ctx.reply.error(&msg),
    };
    if registered.is_empty() {
        return ctx.reply.error("ERR No functions registered");
    }
    let Ok(mut libs) = libraries().write() else {
        return ctx.reply.error("ERR function libraries unavailable");
    };
    if libs.libs.contains_key(&name) && !replace {
        return ctx
            .reply
            .error(&format!("ERR Library '{name}' already exists"));
    }
    for (m, _) in &registered {
        if let Some(other) = libs.owner.get(&m.name) {
            if *other != name {
                return ctx
                    .reply
                    .error(&format!("ERR Function {} already exists", m.name));
            }
        }
    }
    if let Some(old) = libs.libs.remove(&name) {
        for f in old.functions {
            libs.owner.remove(&f.name);
        }
    }
    for (m, _) in &registered {
        libs.owner.insert(m.name.clone(), name.clone());
    }
    libs.libs.insert(
        name.clone(),
        Library {
            code: code.into(),
            functions: registered.into_iter().map(|(m, _)| m).collect(),
        },
    );
    LIB_GENERATION.fetch_add(1, Ordering::AcqRel);
    ctx.reply.bulk(name.as_bytes());
}

/// FUNCTION DELETE library
pub fn delete(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let name = String::from_utf8_lossy(args.get(2)).into_owned();
    let Ok(mut libs) = libraries().write() else {
        return ctx.reply.error("ERR function libraries unavailable");
    };
    match libs.libs.remove(&name) {
        Some(lib) => {
            for f in lib.functions {
                libs.owner.remove(&f.name);
            }
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

/// FCALL function numkeys [key ...] [arg ...]
pub fn fcall(ctx: &mut Ctx<'_>, args: Args<'_>) {
    call(ctx, args, false)
}

/// FCALL_RO: FCALL of a function flagged no-writes.
pub fn fcall_ro(ctx: &mut Ctx<'_>, args: Args<'_>) {
    call(ctx, args, true)
}

fn call(ctx: &mut Ctx<'_>, args: Args<'_>, read_only: bool) {
    let Some(numkeys) = parse_i64(args.get(2)) else {
        return ctx.reply.error("ERR Bad number of keys provided");
    };
    if numkeys < 0 {
        return ctx.reply.error("ERR Number of keys can't be negative");
    }
    if numkeys as u64 > (args.len() - 3) as u64 {
        return ctx
            .reply
            .error("ERR Number of keys can't be greater than number of args");
    }
    let numkeys = numkeys as usize;
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
