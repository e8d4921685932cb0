//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, with an embedded Lua 5.1 as
//! Redis's.
//!
//! A script is an ordinary command over its declared keys: the runtime runs it where they live
//! (in place on their shard, or over copies when they span shards, as any multi-key command),
//! so it is atomic and scripts on disjoint keys run on different cores at once. Each shard
//! thread has its own Lua state and compiled functions; the script bodies are shared (EVALSHA
//! and SCRIPT EXISTS answer the same on every connection). `redis.call` runs a command's
//! handler on the same keyspace and converts its RESP2 reply to Lua values, and the script's
//! result is converted back, with Redis's rules both ways. Globals are read-only, reading an
//! undefined one is an error, and nothing a script leaves behind reaches the next one except
//! through the keyspace.

use crate::ctx::Ctx;
use crate::registry::{table, Cross, Handler, Lookup, RuntimeCmd};
use mlua::{Function, Lua, MultiValue, Table, Value as LuaValue, Variadic};
use shoal_data::key_slot;
use shoal_data::numeric::parse_i64;
use shoal_protocol::reply::format_g17;
use shoal_protocol::{Args, Protocol, Reply};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// Script bodies by SHA1 (lower-case hex), shared by every shard.
fn scripts() -> &'static RwLock<HashMap<String, Arc<[u8]>>> {
    static S: OnceLock<RwLock<HashMap<String, Arc<[u8]>>>> = OnceLock::new();
    S.get_or_init(Default::default)
}

/// Bumped by SCRIPT FLUSH: shards drop their compiled functions when they see a new value.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// A shard thread's Lua state and the functions it compiled.
pub(crate) struct Engine {
    pub(crate) lua: Lua,
    compiled: HashMap<String, Function>,
    generation: u64,
    /// Looked up once: the globals table, `redis`, `xpcall`, the error handler, and the
    /// helper that binds a function's KEYS and ARGV.
    globals: Table,
    pub(crate) redis: Table,
    xpcall: Function,
    handler: Function,
    bind: Function,
    /// FUNCTION libraries loaded here: their functions, and the library generation.
    pub(crate) functions: HashMap<String, Function>,
    pub(crate) fn_generation: u64,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The error of the last failed `redis.call` (it is raised as an opaque value; the error
    /// handler turns it back into its message).
    static LAST_CALL_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Redis's library and sandbox, in Lua: errors keep their table form and get the script line
/// they come from; globals are read-only.
const PRELUDE: &str = r#"
local dbg = debug
__shoal_err_handler = function(err)
  if type(err) == 'userdata' then
    err = {err = __shoal_last_error()}
  elseif type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  local level = 2
  while true do
    local i = dbg.getinfo(level, 'Sl')
    if not i then break end
    if i.source == '@user_script' or i.source == '@user_function' then
      err['source'] = i.source
      err['line'] = i.currentline
      break
    end
    level = level + 1
  end
  return err
end
redis = {}
__shoal_bind = function(f, k, a) return function() return f(k, a) end end
redis.error_reply = function(e)
  if type(e) ~= 'string' then error('wrong number or type of arguments') end
  if string.sub(e, 1, 1) == '-' then e = string.sub(e, 2) end
  if not string.find(e, ' ') then e = 'ERR ' .. e end
  return {err = e}
end
redis.status_reply = function(s)
  if type(s) ~= 'string' then error('wrong number or type of arguments') end
  return {ok = s}
end
redis.sha1hex = function(s) return __shoal_sha1hex(s) end
redis.log = function() end
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
redis.setresp = function() end
loadfile = nil
dofile = nil
print = nil
setmetatable(_G, {
  __newindex = function(t, k, v) error('Attempt to modify a readonly table', 2) end,
  __index = function(t, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
})
"#;

pub(crate) fn new_engine() -> mlua::Result<Engine> {
    // SAFETY: the debug library is the one unsafe part loaded (Redis's scripts have it too);
    // the error handler needs it to say on which line a script failed.
    let lua = unsafe {
        Lua::unsafe_new_with(
            mlua::StdLib::ALL_SAFE | mlua::StdLib::DEBUG,
            mlua::LuaOptions::default(),
        )
    };
    let g = lua.globals();
    g.raw_set(
        "__shoal_sha1hex",
        lua.create_function(|lua, s: mlua::String| lua.create_string(sha1hex(&s.as_bytes())))?,
    )?;
    g.raw_set(
        "__shoal_last_error",
        lua.create_function(|lua, ()| LAST_CALL_ERROR.with(|e| lua.create_string(&*e.borrow())))?,
    )?;
    crate::lualibs::install(&lua)?;
    lua.load(PRELUDE).set_name("=prelude").exec()?;
    // The busy-script check: past busy-reply-threshold the shard says it is busy, and a kill
    // request becomes the script's error (raised again every 100,000 instructions, so a pcall
    // in the script cannot swallow it).
    lua.set_hook(
        mlua::HookTriggers::new().every_nth_instruction(100_000),
        |_, _| match crate::busy::check() {
            Ok(()) => Ok(mlua::VmState::Continue),
            Err(msg) => {
                LAST_CALL_ERROR.with(|l| *l.borrow_mut() = msg.as_bytes().to_vec());
                Err(mlua::Error::RuntimeError(msg.to_string()))
            }
        },
    );
    let redis: Table = g.raw_get("redis")?;
    let xpcall: Function = g.raw_get("xpcall")?;
    let handler: Function = g.raw_get("__shoal_err_handler")?;
    let bind: Function = g.raw_get("__shoal_bind")?;
    Ok(Engine {
        lua,
        compiled: HashMap::new(),
        generation: GENERATION.load(Ordering::Acquire),
        globals: g,
        redis,
        xpcall,
        handler,
        bind,
        functions: HashMap::new(),
        fn_generation: u64::MAX,
    })
}

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("eval", Handler::Shard(eval), Cross::Gather),
    ("evalsha", Handler::Shard(evalsha), Cross::Gather),
    ("eval_ro", Handler::Shard(eval_ro), Cross::Gather),
    ("evalsha_ro", Handler::Shard(evalsha_ro), Cross::Gather),
    ("script|load", Handler::Shard(script_load), Cross::Local),
    ("script|exists", Handler::Shard(script_exists), Cross::Local),
    ("script|flush", Handler::Shard(script_flush), Cross::Local),
    ("script|kill", Handler::Shard(script_kill), Cross::Local),
    ("script|help", Handler::Shard(script_help), Cross::Local),
];

/// Runs `f` with this thread's Lua engine, started (again after SCRIPT FLUSH) when needed.
pub(crate) fn with_engine(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut Engine, &mut Ctx<'_>)) {
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let gen = GENERATION.load(Ordering::Acquire);
        if slot.as_ref().is_none_or(|e| e.generation != gen) {
            match new_engine() {
                Ok(mut e) => {
                    e.generation = gen;
                    *slot = Some(e);
                }
                Err(e) => {
                    return ctx
                        .reply
                        .error(&format!("ERR cannot start the Lua interpreter: {e}"));
                }
            }
        }
        if let Some(engine) = slot.as_mut() {
            f(engine, ctx);
        }
    })
}

/// SHA1 of `body`, lower-case hex.
pub fn sha1hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// EVAL script numkeys [key ...] [arg ...]
pub fn eval(ctx: &mut Ctx<'_>, args: Args<'_>) {
    run(ctx, args, false, false)
}

/// EVALSHA sha1 numkeys [key ...] [arg ...]
pub fn evalsha(ctx: &mut Ctx<'_>, args: Args<'_>) {
    run(ctx, args, true, false)
}

/// EVAL_RO: EVAL whose script may not write.
pub fn eval_ro(ctx: &mut Ctx<'_>, args: Args<'_>) {
    run(ctx, args, false, true)
}

/// EVALSHA_RO
pub fn evalsha_ro(ctx: &mut Ctx<'_>, args: Args<'_>) {
    run(ctx, args, true, true)
}

/// EVAL's and FCALL's `numkeys` (argument 2), checked against the arguments that follow;
/// None when an error was replied (`not_int` when it is not a number).
pub(crate) fn parse_numkeys(ctx: &mut Ctx<'_>, args: &Args<'_>, not_int: &str) -> Option<usize> {
    let Some(numkeys) = parse_i64(args.get(2)) else {
        ctx.reply.error(not_int);
        return None;
    };
    if numkeys < 0 {
        ctx.reply.error("ERR Number of keys can't be negative");
        return None;
    }
    if numkeys as u64 > (args.len() - 3) as u64 {
        ctx.reply
            .error("ERR Number of keys can't be greater than number of args");
        return None;
    }
    Some(numkeys as usize)
}

fn run(ctx: &mut Ctx<'_>, args: Args<'_>, by_sha: bool, read_only: bool) {
    let Some(numkeys) = parse_numkeys(ctx, &args, "ERR value is not an integer or out of range")
    else {
        return;
    };
    let (sha, body) = if by_sha {
        let sha = String::from_utf8_lossy(args.get(1)).to_ascii_lowercase();
        let found = scripts().read().ok().and_then(|m| m.get(&sha).cloned());
        match found {
            Some(b) => (sha, b),
            None => {
                return ctx
                    .reply
                    .error("NOSCRIPT No matching script. Please use EVAL.")
            }
        }
    } else {
        let body: Arc<[u8]> = args.get(1).into();
        let sha = sha1hex(&body);
        (sha, body)
    };
    with_engine(ctx, |engine, ctx| {
        let f = match engine.compiled.get(&sha) {
            Some(f) => f.clone(),
            None => {
                let f = match compile(&engine.lua, &body) {
                    Ok(f) => f,
                    Err(msg) => return ctx.reply.error(&msg),
                };
                if !by_sha {
                    if let Ok(mut m) = scripts().write() {
                        m.entry(sha.clone()).or_insert_with(|| body.clone());
                    }
                }
                engine.compiled.insert(sha.clone(), f.clone());
                f
            }
        };
        let keys: Vec<&[u8]> = (3..3 + numkeys).map(|i| args.get(i)).collect();
        let argv: Vec<&[u8]> = (3 + numkeys..args.len()).map(|i| args.get(i)).collect();
        match execute(engine, ctx, &f, false, &keys, &argv, read_only) {
            Ok(v) => to_resp(&mut ctx.reply, &v, &sha),
            Err(e) => ctx
                .reply
                .error(&format!("ERR {}", first_line(&e.to_string()))),
        }
    });
}

/// Compiles a script body, or gives Redis's error reply for it.
fn compile(lua: &Lua, body: &[u8]) -> Result<Function, String> {
    lua.load(body)
        .set_name("@user_script")
        .into_function()
        .map_err(|e| {
            let msg = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            format!(
                "ERR Error compiling script (new function): {}",
                first_line(&msg)
            )
        })
}

/// The first line of a Lua error message (mlua appends a traceback).
pub(crate) fn first_line(s: &str) -> &str {
    let s = s.strip_prefix("runtime error: ").unwrap_or(s);
    let s = s.strip_prefix("syntax error: ").unwrap_or(s);
    s.lines().next().unwrap_or("")
}

/// What a finished script left: its value, or the error table it raised.
pub(crate) enum Outcome {
    Value(Owned),
    Error(Owned),
}

/// A Lua value copied out of the state, so that the reply can be written after the scope.
pub(crate) enum Owned {
    Nil,
    Bool(bool),
    Int(i64),
    Str(Vec<u8>),
    Array(Vec<Owned>),
    Status(Vec<u8>),
    Err(Vec<u8>),
    /// An error raised by the script, with where it was raised.
    Raised {
        err: Vec<u8>,
        source: Vec<u8>,
        line: i64,
    },
}

/// Runs `f` (a script, or with `pass_args` a FUNCTION called with KEYS and ARGV).
pub(crate) fn execute(
    engine: &Engine,
    ctx: &mut Ctx<'_>,
    f: &Function,
    pass_args: bool,
    keys: &[&[u8]],
    argv: &[&[u8]],
    read_only: bool,
) -> mlua::Result<Outcome> {
    let lua = &engine.lua;
    let g = &engine.globals;
    let kt = lua.create_table_with_capacity(keys.len(), 0)?;
    for (i, k) in keys.iter().enumerate() {
        kt.raw_set(i + 1, lua.create_string(k)?)?;
    }
    let at = lua.create_table_with_capacity(argv.len(), 0)?;
    for (i, a) in argv.iter().enumerate() {
        at.raw_set(i + 1, lua.create_string(a)?)?;
    }
    let f = if pass_args {
        engine
            .bind
            .call::<Function>((f.clone(), kt.clone(), at.clone()))?
    } else {
        f.clone()
    };
    g.raw_set("KEYS", kt)?;
    g.raw_set("ARGV", at)?;
    crate::busy::start(ctx.settings.busy_threshold_ms, pass_args);
    // Ends the busy state however the script ends.
    struct Finish;
    impl Drop for Finish {
        fn drop(&mut self) {
            crate::busy::finish();
        }
    }
    let _finish = Finish;
    let cell = RefCell::new(ctx);
    let result = lua.scope(|scope| {
        // redis.call raises a failure (from Rust, so that the script's frame stays on the
        // stack for the error handler, as with Redis's C function); redis.pcall returns it.
        let call = scope.create_function(|lua, va: Variadic<LuaValue>| {
            let mut ctx = cell.borrow_mut();
            match redis_call(lua, &mut ctx, va, keys, read_only) {
                (true, v) => Ok(v),
                (false, e) => {
                    let msg = match &e {
                        LuaValue::Table(t) => match t.raw_get::<LuaValue>("err") {
                            Ok(LuaValue::String(s)) => s.as_bytes().to_vec(),
                            _ => b"ERR unknown error".to_vec(),
                        },
                        _ => b"ERR unknown error".to_vec(),
                    };
                    let text = String::from_utf8_lossy(&msg).into_owned();
                    LAST_CALL_ERROR.with(|l| *l.borrow_mut() = msg);
                    Err(mlua::Error::RuntimeError(text))
                }
            }
        })?;
        let pcall = scope.create_function(|lua, va: Variadic<LuaValue>| {
            let mut ctx = cell.borrow_mut();
            Ok(redis_call(lua, &mut ctx, va, keys, read_only).1)
        })?;
        let redis = &engine.redis;
        redis.raw_set("call", call)?;
        redis.raw_set("pcall", pcall)?;
        let outcome = run_protected(engine, f);
        // The callbacks die with the scope; leave no stale ones behind.
        redis.raw_set("call", LuaValue::Nil)?;
        redis.raw_set("pcall", LuaValue::Nil)?;
        outcome
    });
    result
}

/// Runs `f` under xpcall with the error handler.
fn run_protected(engine: &Engine, f: Function) -> mlua::Result<Outcome> {
    let mut rets: MultiValue = engine.xpcall.call((f, engine.handler.clone()))?;
    let ok = matches!(rets.pop_front(), Some(LuaValue::Boolean(true)));
    let v = rets.pop_front().unwrap_or(LuaValue::Nil);
    Ok(if ok {
        Outcome::Value(owned(&v, 0))
    } else {
        Outcome::Error(raised(&v))
    })
}

/// The error table the error handler built, as an [`Owned::Raised`].
fn raised(v: &LuaValue) -> Owned {
    let LuaValue::Table(t) = v else {
        return Owned::Raised {
            err: b"ERR unknown error".to_vec(),
            source: vec![],
            line: 0,
        };
    };
    let err = match t.raw_get::<LuaValue>("err") {
        Ok(LuaValue::String(s)) => s.as_bytes().to_vec(),
        _ => b"ERR unknown error".to_vec(),
    };
    let source = match t.raw_get::<LuaValue>("source") {
        Ok(LuaValue::String(s)) => s.as_bytes().to_vec(),
        _ => vec![],
    };
    let line = match t.raw_get::<LuaValue>("line") {
        Ok(LuaValue::Integer(n)) => n,
        Ok(LuaValue::Number(n)) => n as i64,
        _ => 0,
    };
    Owned::Raised { err, source, line }
}

/// Copies a script's return value (Redis's Lua-to-RESP rules, applied later).
fn owned(v: &LuaValue, depth: usize) -> Owned {
    match v {
        LuaValue::Nil => Owned::Nil,
        LuaValue::Boolean(b) => Owned::Bool(*b),
        LuaValue::Integer(n) => Owned::Int(*n),
        // As C converts it (NaN and out of range numbers give the smallest integer).
        LuaValue::Number(n) => Owned::Int(crate::lualibs::c_i64(*n)),
        LuaValue::String(s) => Owned::Str(s.as_bytes().to_vec()),
        LuaValue::Table(t) => {
            if let Ok(LuaValue::String(e)) = t.raw_get::<LuaValue>("err") {
                return Owned::Err(e.as_bytes().to_vec());
            }
            if let Ok(LuaValue::String(s)) = t.raw_get::<LuaValue>("ok") {
                return Owned::Status(s.as_bytes().to_vec());
            }
            if depth > 64 {
                return Owned::Nil;
            }
            let mut items = vec![];
            let mut i = 1;
            loop {
                match t.raw_get::<LuaValue>(i) {
                    Ok(LuaValue::Nil) | Err(_) => break,
                    Ok(x) => items.push(owned(&x, depth + 1)),
                }
                i += 1;
            }
            Owned::Array(items)
        }
        _ => Owned::Nil,
    }
}

pub(crate) fn to_resp(r: &mut Reply<'_>, o: &Outcome, sha: &str) {
    match o {
        Outcome::Value(v) => write_owned(r, v),
        Outcome::Error(Owned::Raised { err, source, line }) => {
            let mut msg = err.clone();
            msg.extend_from_slice(format!(" script: {sha}, on ").as_bytes());
            msg.extend_from_slice(source);
            msg.extend_from_slice(format!(":{line}.").as_bytes());
            r.error_bytes(&msg);
        }
        Outcome::Error(other) => write_owned(r, other),
    }
}

fn write_owned(r: &mut Reply<'_>, v: &Owned) {
    match v {
        Owned::Nil | Owned::Bool(false) => r.null(),
        Owned::Bool(true) => r.int(1),
        Owned::Int(n) => r.int(*n),
        Owned::Str(s) => r.bulk(s),
        Owned::Status(s) => r.simple(&String::from_utf8_lossy(s)),
        Owned::Err(e) | Owned::Raised { err: e, .. } => r.error_bytes(e),
        Owned::Array(items) => {
            r.array(items.len());
            for x in items {
                write_owned(r, x);
            }
        }
    }
}

/// `redis.call` / `redis.pcall`: (true, value) or (false, error table).
fn redis_call(
    lua: &Lua,
    ctx: &mut Ctx<'_>,
    va: Variadic<LuaValue>,
    declared: &[&[u8]],
    read_only: bool,
) -> (bool, LuaValue) {
    // Errors about the arguments themselves; later ones (the command's included) are
    // marked, as in Redis 7, with `ignore_error_stats_update = true`.
    let bad_args = |msg: &str| -> (bool, LuaValue) {
        let t = lua.create_table().and_then(|t| {
            t.raw_set("err", msg)?;
            Ok(t)
        });
        (false, t.map(LuaValue::Table).unwrap_or(LuaValue::Nil))
    };
    let mark = |(ok, v): (bool, LuaValue)| -> (bool, LuaValue) {
        if let (false, LuaValue::Table(t)) = (ok, &v) {
            let _ = t.raw_set("ignore_error_stats_update", true);
        }
        (ok, v)
    };
    let fail = |msg: &str| mark(bad_args(msg));
    if va.is_empty() {
        return bad_args("ERR Please specify at least one argument for this redis lib call");
    }
    let mut buf: Vec<u8> = vec![];
    let mut ranges: Vec<(u32, u32)> = vec![];
    for v in va.iter() {
        let s = buf.len() as u32;
        match v {
            LuaValue::String(x) => buf.extend_from_slice(&x.as_bytes()),
            // Redis 7 formats a number argument with "%.17g".
            LuaValue::Integer(n) => buf.extend_from_slice(format_g17(*n as f64).as_bytes()),
            LuaValue::Number(n) => buf.extend_from_slice(format_g17(*n).as_bytes()),
            _ => {
                return bad_args("ERR Lua redis lib command arguments must be strings or integers")
            }
        }
        ranges.push((s, buf.len() as u32));
    }
    let args = Args::new(&buf, &ranges);
    let cmd = match table().lookup(&args) {
        Lookup::Found(c) => c,
        _ => return fail("ERR Unknown Redis command called from script"),
    };
    if !cmd.arity_ok(args.len()) {
        return fail("ERR Wrong number of args calling Redis command from script");
    }
    if cmd.spec.flags.contains(&"noscript") {
        return fail("ERR This Redis command is not allowed from script");
    }
    if read_only && cmd.write {
        return fail("ERR Write commands are not allowed from read-only scripts.");
    }
    let mut out = Vec::new();
    match cmd.handler {
        Handler::Shard(f) => {
            for i in cmd.key_positions(&args) {
                let k = args.get(i);
                if !declared.contains(&k) && !ctx.keyspace.db(ctx.db).owns(key_slot(k)) {
                    return fail(
                        "ERR Script attempted to access a non local key in a cluster node",
                    );
                }
            }
            let mut inner = Ctx {
                keyspace: &mut *ctx.keyspace,
                db: ctx.db,
                now_ms: ctx.now_ms,
                reply: Reply::new(&mut out, Protocol::Resp2),
                settings: ctx.settings,
                no_touch: false,
                counters: &mut *ctx.counters,
                key_hint: None,
                notes: &mut *ctx.notes,
                rng: &mut *ctx.rng,
                may_block: false,
            };
            let dirty = inner.counters.dirty;
            f(&mut inner, args);
            if inner.counters.dirty != dirty {
                crate::busy::wrote();
            }
        }
        Handler::Runtime(RuntimeCmd::Ping) => {
            let mut r = Reply::new(&mut out, Protocol::Resp2);
            if args.len() > 1 {
                r.bulk(args.get(1));
            } else {
                r.simple("PONG");
            }
        }
        Handler::Runtime(RuntimeCmd::Echo) => {
            Reply::new(&mut out, Protocol::Resp2).bulk(args.get(1))
        }
        Handler::Runtime(_) => return fail("ERR This Redis command is not allowed from script"),
    }
    let mut pos = 0;
    match resp_to_lua(lua, &out, &mut pos) {
        Ok(r) => mark(r),
        Err(_) => fail("ERR reply conversion failed"),
    }
}

/// Converts one RESP2 reply at `pos` to a Lua value (Redis's rules); false in the first place
/// for an error reply (then the value is the error table).
fn resp_to_lua(lua: &Lua, b: &[u8], pos: &mut usize) -> mlua::Result<(bool, LuaValue)> {
    let line_end = b[*pos..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| *pos + p)
        .ok_or_else(|| mlua::Error::RuntimeError("truncated reply".into()))?;
    let kind = b[*pos];
    let line = &b[*pos + 1..line_end];
    *pos = line_end + 2;
    let num = || parse_i64(line).unwrap_or(0);
    Ok(match kind {
        b'+' => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(line)?)?;
            (true, LuaValue::Table(t))
        }
        b'-' => {
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(line)?)?;
            (false, LuaValue::Table(t))
        }
        b':' => (true, LuaValue::Integer(num() as _)),
        b'$' => {
            let n = num();
            if n < 0 {
                (true, LuaValue::Boolean(false))
            } else {
                let s = lua.create_string(&b[*pos..*pos + n as usize])?;
                *pos += n as usize + 2;
                (true, LuaValue::String(s))
            }
        }
        b'*' => {
            let n = num();
            if n < 0 {
                (true, LuaValue::Boolean(false))
            } else {
                let t: Table = lua.create_table_with_capacity(n as usize, 0)?;
                for i in 0..n as usize {
                    let (_, v) = resp_to_lua(lua, b, pos)?;
                    t.raw_set(i + 1, v)?;
                }
                (true, LuaValue::Table(t))
            }
        }
        _ => (true, LuaValue::Boolean(false)),
    })
}

/// SCRIPT LOAD body
pub fn script_load(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let body = args.get(2);
    // Compile first, so that a script that does not compile is not stored.
    if let Err(msg) = compile(&Lua::new(), body) {
        return ctx.reply.error(&msg);
    }
    let sha = sha1hex(body);
    if let Ok(mut m) = scripts().write() {
        m.entry(sha.clone()).or_insert_with(|| body.into());
    }
    ctx.reply.bulk(sha.as_bytes());
}

/// SCRIPT EXISTS sha1 [sha1 ...]
pub fn script_exists(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let m = scripts().read().ok();
    ctx.reply.array(args.len() - 2);
    for i in 2..args.len() {
        let sha = String::from_utf8_lossy(args.get(i)).to_ascii_lowercase();
        let known = m.as_ref().is_some_and(|m| m.contains_key(&sha));
        ctx.reply.int(known as i64);
    }
}

/// Whether SCRIPT/FUNCTION FLUSH's optional mode is absent, ASYNC or SYNC.
pub(crate) fn flush_mode_ok(args: &Args<'_>) -> bool {
    args.len() == 2
        || (args.len() == 3
            && (args.get(2).eq_ignore_ascii_case(b"async")
                || args.get(2).eq_ignore_ascii_case(b"sync")))
}

/// SCRIPT FLUSH [ASYNC|SYNC]
pub fn script_flush(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if !flush_mode_ok(&args) {
        return ctx
            .reply
            .error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
    }
    if let Ok(mut m) = scripts().write() {
        m.clear();
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
    ctx.reply.ok();
}

/// SCRIPT KILL: stops a script another core runs past busy-reply-threshold.
pub fn script_kill(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    match crate::busy::kill(true) {
        Ok(()) => ctx.reply.ok(),
        Err(e) => ctx.reply.error(e),
    }
}

/// FUNCTION KILL: stops a function another core runs past busy-reply-threshold.
pub fn function_kill(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    match crate::busy::kill(false) {
        Ok(()) => ctx.reply.ok(),
        Err(e) => ctx.reply.error(e),
    }
}

/// SCRIPT HELP
pub fn script_help(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    crate::ctx::help_reply(
        &mut ctx.reply,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
}
