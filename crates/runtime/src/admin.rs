//! Commands the runtime implements: connection state (HELLO, AUTH, SELECT, CLIENT, RESET),
//! all-shard operations (DBSIZE, FLUSHALL, KEYS, SCAN, RANDOMKEY, SWAPDB), server state (INFO,
//! CONFIG, COMMAND, TIME, SHUTDOWN, MONITOR) and CLUSTER KEYSLOT.

use crate::conn::{Closing, ReplyMode, Step};
use crate::mesh::{ConnId, Msg, StepFn, StepOut};
use crate::pubsub::Kind;
use crate::shard::Shard;
use shoal_commands::{err, Command, CommandSpec, RuntimeCmd};
use shoal_data::numeric::parse_i64;
use shoal_data::value::ValueType;
use shoal_data::{glob, key_slot, SLOTS};
use shoal_protocol::{Args, Protocol, Reply};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The Redis version Shoal answers as (HELLO, INFO), so clients enable the features it serves.
pub const REDIS_VERSION: &str = "7.0.15";

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs the same step on every shard, then `then` with the results in shard order.
pub fn all_shards<T: Send + 'static>(
    sh: &mut Shard,
    id: ConnId,
    f: impl Fn(&mut Shard) -> T + Clone + Send + 'static,
    then: impl FnOnce(&mut Shard, ConnId, Vec<T>) + 'static,
) -> Step {
    let steps: Vec<(usize, StepFn)> = (0..sh.shared.shards())
        .map(|s| {
            let f = f.clone();
            let g: StepFn = Box::new(move |x: &mut Shard| -> StepOut { Box::new(f(x)) });
            (s, g)
        })
        .collect();
    sh.fan_out(
        id,
        steps,
        Box::new(move |sh, id, results| {
            let v: Vec<T> = results
                .into_iter()
                .filter_map(|r| r.downcast::<T>().ok().map(|b| *b))
                .collect();
            then(sh, id, v)
        }),
    );
    if sh.conn_mut(id).is_some_and(|c| c.pending.is_some()) {
        Step::Wait
    } else {
        Step::Done
    }
}

fn parse_db(sh: &Shard, a: &[u8]) -> Result<usize, &'static str> {
    let n = parse_i64(a)
        .filter(|n| i32::try_from(*n).is_ok())
        .ok_or(err::NOT_INTEGER)?;
    if n < 0 || n as usize >= sh.keyspace.databases() {
        return Err(err::DB_RANGE);
    }
    Ok(n as usize)
}

fn valid_name(b: &[u8]) -> bool {
    b.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// Runs runtime command `r` for connection `id`.
pub fn run(sh: &mut Shard, id: ConnId, r: RuntimeCmd, args: Args<'_>) -> Step {
    use RuntimeCmd as R;
    let Some(c) = sh.conn_mut(id) else {
        return Step::Done;
    };
    let silent = c.reply_mode != ReplyMode::On;
    let mark = c.out.len();
    let step = run_inner(sh, id, r, args);
    if silent && !matches!(r, R::ClientReply) {
        if let Some(c) = sh.conn_mut(id) {
            c.out.truncate(mark);
        }
    }
    step
}

fn run_inner(sh: &mut Shard, id: ConnId, r: RuntimeCmd, args: Args<'_>) -> Step {
    use RuntimeCmd as R;
    let db = sh.conn_mut(id).map_or(0, |c| c.db);
    let commands = sh.commands;
    let c = sh.conn_mut(id).expect("caller checked");
    match r {
        R::Multi | R::Exec | R::Discard | R::Watch | R::Unwatch => {
            return sh.run_multi_cmd(id, r, args);
        }
        R::Subscribe | R::Psubscribe | R::Ssubscribe => {
            let k = match r {
                R::Subscribe => Kind::Channel,
                R::Psubscribe => Kind::Pattern,
                _ => Kind::Shard,
            };
            sh.subscribe(id, k, args);
        }
        R::Unsubscribe | R::Punsubscribe | R::Sunsubscribe => {
            let k = match r {
                R::Unsubscribe => Kind::Channel,
                R::Punsubscribe => Kind::Pattern,
                _ => Kind::Shard,
            };
            sh.unsubscribe(id, k, args);
        }
        R::Publish | R::Spublish => return sh.publish(id, r == R::Spublish, args),
        R::PubsubChannels
        | R::PubsubNumsub
        | R::PubsubNumpat
        | R::PubsubShardchannels
        | R::PubsubShardnumsub => return sh.pubsub_query(id, args.get(1), args),
        R::PubsubHelp => help(
            c.reply(),
            "PUBSUB",
            &[
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
            ],
        ),
        R::Ping => {
            let subscribed = c.proto == Protocol::Resp2 && c.subs.as_ref().is_some_and(|s| s.active());
            if args.len() > 2 {
                c.reply().error(&err::arity("ping"));
            } else if subscribed {
                // In subscribe mode PING answers as a message would (Redis's RESP2 form).
                let mut r = c.reply();
                r.array(2);
                r.bulk(b"pong");
                r.bulk(if args.len() == 2 { args.get(1) } else { b"" });
            } else if args.len() == 2 {
                c.reply().bulk(args.get(1));
            } else {
                c.reply().simple("PONG");
            }
        }
        R::Echo => c.reply().bulk(args.get(1)),
        R::Quit => {
            c.reply().ok();
            c.closing = Some(Closing::AfterFlush);
        }
        R::Select => {
            let id_arg = args.get(1);
            match parse_db(sh, id_arg) {
                Ok(n) => {
                    let c = sh.conn_mut(id).expect("open");
                    c.db = n;
                    c.reply().ok();
                }
                Err(e) => sh.conn_mut(id).expect("open").reply().error(e),
            }
        }
        R::Auth => auth(sh, id, args),
        R::Hello => hello(sh, id, args),
        R::Reset => {
            let requirepass = sh.config.requirepass.is_some();
            let c = sh.conn_mut(id).expect("open");
            c.db = 0;
            c.proto = Protocol::Resp2;
            c.name = None;
            c.reply_mode = ReplyMode::On;
            c.no_evict = false;
            c.no_touch = false;
            c.authenticated = !requirepass;
            let was_monitor = std::mem::take(&mut c.monitor);
            c.multi = None;
            let subs = c.subs.take();
            c.reply().simple("RESET");
            if let Some(s) = subs {
                sh.drop_subscriptions(id, *s);
            }
            if was_monitor {
                remove_monitor(&sh.shared, sh.id, id);
            }
            sh.unwatch_all(id);
        }
        R::Time => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let mut r = c.reply();
            r.array(2);
            r.bulk_int(now.as_secs() as i64);
            r.bulk_int(now.subsec_micros() as i64);
        }
        R::Lastsave => {
            let t = sh.shared.started_unix as i64;
            sh.conn_mut(id).expect("open").reply().int(t);
        }
        R::Shutdown => {
            for a in args.iter_from(1) {
                let a = a.to_ascii_lowercase();
                if !matches!(
                    a.as_slice(),
                    b"nosave" | b"save" | b"now" | b"force" | b"abort"
                ) {
                    c.reply().error(err::SYNTAX);
                    return Step::Done;
                }
                if a == b"abort" {
                    c.reply().error("ERR No shutdown in progress.");
                    return Step::Done;
                }
            }
            tracing::info!("SHUTDOWN requested by client {}", c.client_id);
            c.closing = Some(Closing::Now);
            // A script busy on another core stops, so that core can shut down too.
            shoal_commands::busy::kill_all();
            sh.shared.request_shutdown();
        }
        R::Monitor => {
            c.monitor = true;
            c.reply().ok();
            let shard = sh.id;
            if let Ok(mut m) = sh.shared.monitors.lock() {
                m.push((shard, id));
            }
            sh.shared.monitor_count.fetch_add(1, Ordering::Relaxed);
        }
        R::ClusterKeyslot => {
            let slot = key_slot(args.get(2));
            c.reply().int(slot as i64);
        }
        R::ObjectHelp => help(
            c.reply(),
            "OBJECT",
            &[
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
            ],
        ),
        R::Dbsize => {
            return all_shards(
                sh,
                id,
                move |x| x.keyspace.db_ref(db).len(),
                |sh, id, v| sh.reply_with(id, |r| r.int(v.iter().sum::<usize>() as i64)),
            )
        }
        R::Flushdb | R::Flushall => {
            if args.len() > 2
                || (args.len() == 2
                    && !args.get(1).eq_ignore_ascii_case(b"async")
                    && !args.get(1).eq_ignore_ascii_case(b"sync"))
            {
                c.reply().error(err::SYNTAX);
                return Step::Done;
            }
            let all = r == R::Flushall;
            return all_shards(
                sh,
                id,
                move |x| {
                    let mut n = 0;
                    for d in 0..x.keyspace.databases() {
                        if all || d == db {
                            x.touch_watched_db(d, None);
                        }
                    }
                    if all {
                        for d in x.keyspace.dbs_mut() {
                            n += d.len();
                            d.clear();
                        }
                    } else {
                        n = x.keyspace.db(db).len();
                        x.keyspace.db(db).clear();
                    }
                    x.counters.dirty += n as u64 + all as u64;
                },
                |sh, id, _| sh.reply_with(id, |r| r.ok()),
            );
        }
        R::Swapdb => {
            let a = parse_i64(args.get(1)).filter(|n| i32::try_from(*n).is_ok());
            let b = parse_i64(args.get(2)).filter(|n| i32::try_from(*n).is_ok());
            let n = sh.keyspace.databases() as i64;
            let c = sh.conn_mut(id).expect("open");
            let Some(a) = a else {
                c.reply().error("ERR invalid first DB index");
                return Step::Done;
            };
            let Some(b) = b else {
                c.reply().error("ERR invalid second DB index");
                return Step::Done;
            };
            if a < 0 || b < 0 || a >= n || b >= n {
                c.reply().error(err::DB_RANGE);
                return Step::Done;
            }
            return all_shards(
                sh,
                id,
                move |x| {
                    let (a, b) = (a as usize, b as usize);
                    x.touch_watched_db(a, Some(b));
                    x.touch_watched_db(b, Some(a));
                    x.keyspace.swap(a, b);
                    x.counters.dirty += 1;
                },
                |sh, id, _| sh.reply_with(id, |r| r.ok()),
            );
        }
        R::Keys => {
            let pattern = args.get(1).to_vec();
            return all_shards(
                sh,
                id,
                move |x| {
                    let now = x.now_ms;
                    let all = pattern == b"*";
                    let mut keys: Vec<Vec<u8>> = vec![];
                    x.keyspace.db_ref(db).for_each(now, |k, _| {
                        if all || glob::matches(&pattern, k) {
                            keys.push(k.to_vec());
                        }
                    });
                    keys
                },
                |sh, id, v| {
                    sh.reply_with(id, |r| {
                        r.array(v.iter().map(Vec::len).sum());
                        for k in v.iter().flatten() {
                            r.bulk(k);
                        }
                    })
                },
            );
        }
        R::Scan => return scan(sh, id, args, db),
        R::Randomkey => {
            return all_shards(
                sh,
                id,
                move |x| {
                    let now = x.now_ms;
                    let mut seed = x.random();
                    let k = x.keyspace.db(db).random_key(now, || {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed
                    });
                    (x.keyspace.db_ref(db).len(), k)
                },
                |sh, id, v| {
                    let total: usize = v.iter().map(|(n, _)| *n).sum();
                    let mut pick = if total > 0 {
                        (sh.random() % total as u64) as usize
                    } else {
                        0
                    };
                    let mut chosen = None;
                    for (n, k) in &v {
                        if pick < *n && k.is_some() {
                            chosen = k.clone();
                            break;
                        }
                        pick = pick.saturating_sub(*n);
                    }
                    if chosen.is_none() {
                        chosen = v.into_iter().find_map(|(_, k)| k);
                    }
                    sh.reply_with(id, |r| match chosen {
                        Some(k) => r.bulk(&k),
                        None => r.null(),
                    })
                },
            );
        }
        R::Info => return crate::admin_info::info(sh, id, args),
        R::ClientId => {
            let n = c.client_id as i64;
            c.reply().int(n);
        }
        R::ClientGetname => match c.name.clone() {
            Some(n) => c.reply().bulk(&n),
            None => c.reply().null(),
        },
        R::ClientSetname => {
            let n = args.get(2);
            if !valid_name(n) {
                c.reply().error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            } else {
                c.name = (!n.is_empty()).then(|| n.to_vec());
                c.reply().ok();
            }
        }
        R::ClientSetinfo => {
            let attr = args.get(2).to_ascii_lowercase();
            let val = args.get(3);
            let field = match attr.as_slice() {
                b"lib-name" => "lib-name",
                b"lib-ver" => "lib-ver",
                _ => {
                    let m = format!("ERR Unrecognized option '{}'", lossy(args.get(2)));
                    c.reply().error(&m);
                    return Step::Done;
                }
            };
            if !valid_name(val) {
                let m =
                    format!("ERR {field} cannot contain spaces, newlines or special characters.");
                c.reply().error(&m);
                return Step::Done;
            }
            let v = (!val.is_empty()).then(|| val.to_vec());
            if field == "lib-name" {
                c.lib_name = v;
            } else {
                c.lib_ver = v;
            }
            c.reply().ok();
        }
        R::ClientReply => {
            let a = args.get(2).to_ascii_lowercase();
            match a.as_slice() {
                b"on" => {
                    c.reply_mode = ReplyMode::On;
                    c.reply().ok();
                }
                b"off" => c.reply_mode = ReplyMode::Off,
                b"skip" => {
                    if c.reply_mode != ReplyMode::Off {
                        c.reply_mode = ReplyMode::Skip;
                    }
                }
                _ => c.reply().error(err::SYNTAX),
            }
        }
        R::ClientNoEvict | R::ClientNoTouch => {
            let a = args.get(2).to_ascii_lowercase();
            let v = match a.as_slice() {
                b"on" => true,
                b"off" => false,
                _ => {
                    c.reply().error(err::SYNTAX);
                    return Step::Done;
                }
            };
            if r == R::ClientNoEvict {
                c.no_evict = v;
            } else {
                c.no_touch = v;
            }
            c.reply().ok();
        }
        R::ClientInfo => {
            let now = sh.now_ms;
            let line = client_line(sh.conn_mut(id).expect("open"), now) + "\n";
            sh.conn_mut(id)
                .expect("open")
                .reply()
                .verbatim(line.as_bytes());
        }
        R::ClientList => return client_list(sh, id, args),
        R::ClientKill => return client_kill(sh, id, args),
        R::ClientUnblock => return client_unblock(sh, id, args),
        R::ClientHelp => help(
            c.reply(),
            "CLIENT",
            &[
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are: ID, TYPE, USER, ADDR, LADDR, SKIPME, MAXAGE.",
                "LIST [options ...]",
                "    Return information about client connections.",
                "NO-EVICT (ON|OFF)",
                "    Protect current client connection from eviction.",
                "NO-TOUCH (ON|OFF)",
                "    Will not touch LRU/LFU stats when this mode is on.",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "SETINFO <option> <value>",
                "    Set client meta attr (LIB-NAME, LIB-VER).",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
            ],
        ),
        R::Command => {
            let all = commands.all();
            let mut r = sh.conn_mut(id).expect("open").reply();
            r.array(all.len());
            for (c, subs) in all {
                command_info(&mut r, c.spec, &subs);
            }
        }
        R::CommandCount => {
            let n = commands.len() as i64;
            c.reply().int(n);
        }
        R::CommandInfo | R::CommandDocs => {
            let all = commands.all();
            let names: Vec<Vec<u8>> = if args.len() > 2 {
                args.iter_from(2).map(|a| a.to_ascii_lowercase()).collect()
            } else {
                all.iter()
                    .map(|(c, _)| c.spec.name.as_bytes().to_vec())
                    .collect()
            };
            let is_info = r == R::CommandInfo;
            let mut r = sh.conn_mut(id).expect("open").reply();
            if is_info {
                r.array(names.len());
                for n in &names {
                    match all
                        .iter()
                        .find(|(c, _)| c.spec.name.as_bytes() == n.as_slice())
                    {
                        Some((c, subs)) => command_info(&mut r, c.spec, subs),
                        None => match commands.get(n) {
                            Some(c) => command_info(&mut r, c.spec, &[]),
                            None => r.null_array(),
                        },
                    }
                }
            } else {
                let found: Vec<_> = names
                    .iter()
                    .filter_map(|n| {
                        all.iter()
                            .find(|(c, _)| c.spec.name.as_bytes() == n.as_slice())
                    })
                    .collect();
                r.map(found.len());
                for (c, subs) in found {
                    r.bulk(c.spec.name.as_bytes());
                    command_docs(&mut r, c.spec, subs);
                }
            }
        }
        R::CommandList => {
            let mut names = vec![];
            for (c, subs) in commands.all() {
                names.push(c.spec.name);
                names.extend(subs.iter().map(|s| s.spec.name));
            }
            let mut filter: Option<Vec<u8>> = None;
            if args.len() > 2 {
                let ok = args.len() == 5 && args.get(2).eq_ignore_ascii_case(b"filterby");
                if !ok {
                    c.reply().error(err::SYNTAX);
                    return Step::Done;
                }
                let kind = args.get(3).to_ascii_lowercase();
                let val = args.get(4).to_vec();
                match kind.as_slice() {
                    b"pattern" => filter = Some(val),
                    b"aclcat" => {
                        let cat = format!("@{}", lossy(&val).to_lowercase());
                        names.retain(|n| {
                            commands
                                .get(n.as_bytes())
                                .is_some_and(|c| c.spec.acl_categories.contains(&cat.as_str()))
                        });
                    }
                    b"module" => names.clear(),
                    _ => {
                        c.reply().error(err::SYNTAX);
                        return Step::Done;
                    }
                }
            }
            if let Some(p) = filter {
                names.retain(|n| glob::matches(&p, n.as_bytes()));
            }
            let mut r = sh.conn_mut(id).expect("open").reply();
            r.array(names.len());
            for n in names {
                r.bulk(n.as_bytes());
            }
        }
        R::CommandGetkeys => {
            let sub = Args::new(args.buf(), &args.ranges()[2..]);
            let mut r = sh.conn_mut(id).expect("open").reply();
            match commands.lookup(&sub) {
                shoal_commands::Lookup::Found(c) => {
                    if !c.arity_ok(sub.len()) {
                        r.error("ERR Invalid number of arguments specified for command");
                    } else {
                        let positions = c.key_positions(&sub);
                        if positions.is_empty() {
                            r.error(if c.movable {
                                "ERR Invalid arguments specified for command"
                            } else {
                                "ERR The command has no key arguments"
                            });
                        } else {
                            let keys: Vec<&[u8]> = positions.iter().map(|&i| sub.get(i)).collect();
                            r.array(keys.len());
                            for k in keys {
                                r.bulk(k);
                            }
                        }
                    }
                }
                _ => r.error("ERR Invalid command specified"),
            }
        }
        R::CommandHelp => help(
            c.reply(),
            "COMMAND",
            &[
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
            ],
        ),
        R::ConfigGet => {
            let config = sh.shared.config.load_full();
            let mut found: Vec<(&str, String)> = vec![];
            for p in args.iter_from(2) {
                let p = lossy(p);
                let aliases = crate::config::ALIASES.iter().map(|(old, _)| old);
                for name in crate::config::NAMES.iter().chain(aliases) {
                    if crate::config::name_matches(&p, name)
                        && !found.iter().any(|(n, _)| n == name)
                    {
                        if let Some(v) = config.get(name) {
                            found.push((name, v));
                        }
                    }
                }
            }
            let mut r = sh.conn_mut(id).expect("open").reply();
            r.map(found.len());
            for (n, v) in found {
                r.bulk(n.as_bytes());
                r.bulk(v.as_bytes());
            }
        }
        R::ConfigSet => {
            if !args.len().is_multiple_of(2) {
                c.reply().error(&err::arity("config|set"));
                return Step::Done;
            }
            let mut config = (*sh.shared.config.load_full()).clone();
            let mut i = 2;
            while i + 1 < args.len() {
                let name = lossy(args.get(i)).to_lowercase();
                let value = lossy(args.get(i + 1));
                if let Err(e) = config.set_runtime(&name, &value) {
                    let msg = if e.0.starts_with("Unknown option") {
                        format!("ERR {e}")
                    } else {
                        format!(
                            "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                        )
                    };
                    sh.conn_mut(id).expect("open").reply().error(&msg);
                    return Step::Done;
                }
                i += 2;
            }
            sh.shared.config.store(Arc::new(config));
            sh.shared.config_epoch.fetch_add(1, Ordering::Release);
            // Every shard applies it before the reply, so the client's next command sees it
            // wherever its keys live.
            return all_shards(sh, id, |x| x.reload_config(), |sh, id, _| {
                sh.reply_with(id, |r| r.ok())
            });
        }
        R::ConfigResetstat => {
            for s in &sh.shared.stats {
                s.total_commands.store(0, Ordering::Relaxed);
                s.total_connections.store(0, Ordering::Relaxed);
                s.rejected_connections.store(0, Ordering::Relaxed);
                s.expired_keys.store(0, Ordering::Relaxed);
                s.net_input_bytes.store(0, Ordering::Relaxed);
                s.net_output_bytes.store(0, Ordering::Relaxed);
            }
            sh.conn_mut(id).expect("open").reply().ok();
        }
        R::ConfigHelp => help(
            c.reply(),
            "CONFIG",
            &[
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
            ],
        ),
    }
    Step::Done
}

fn help(mut r: Reply<'_>, name: &str, lines: &[&str]) {
    shoal_commands::ctx::help_reply(&mut r, name, lines)
}

fn command_info(r: &mut Reply<'_>, s: &CommandSpec, subs: &[&Command]) {
    r.array(10);
    r.bulk(s.name.as_bytes());
    r.int(s.arity as i64);
    r.set(s.flags.len());
    for f in s.flags {
        r.simple(f);
    }
    r.int(s.first_key as i64);
    r.int(s.last_key as i64);
    r.int(s.step as i64);
    r.set(s.acl_categories.len());
    for c in s.acl_categories {
        r.simple(c);
    }
    r.set(s.tips.len());
    for t in s.tips {
        r.bulk(t.as_bytes());
    }
    r.array(0);
    r.array(subs.len());
    for c in subs {
        command_info(r, c.spec, &[]);
    }
}

fn command_docs(r: &mut Reply<'_>, s: &CommandSpec, subs: &[&Command]) {
    let n = 3 + (!s.complexity.is_empty()) as usize + (!subs.is_empty()) as usize;
    r.map(n);
    r.bulk(b"summary");
    r.bulk(s.summary.as_bytes());
    r.bulk(b"since");
    r.bulk(s.since.as_bytes());
    r.bulk(b"group");
    r.bulk(s.group.as_bytes());
    if !s.complexity.is_empty() {
        r.bulk(b"complexity");
        r.bulk(s.complexity.as_bytes());
    }
    if !subs.is_empty() {
        r.bulk(b"subcommands");
        r.map(subs.len());
        for c in subs {
            r.bulk(c.spec.name.as_bytes());
            command_docs(r, c.spec, &[]);
        }
    }
}

fn auth(sh: &mut Shard, id: ConnId, args: Args<'_>) {
    let requirepass = sh.config.requirepass.clone();
    let c = sh.conn_mut(id).expect("open");
    if args.len() > 3 {
        c.reply().error(err::SYNTAX);
        return;
    }
    let (user, pass) = if args.len() == 3 {
        (Some(args.get(1)), args.get(2))
    } else {
        (None, args.get(1))
    };
    match requirepass {
        None if user.is_none() => c.reply().error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"),
        None => {
            if user == Some(b"default".as_slice()) {
                c.authenticated = true;
                c.reply().ok();
            } else {
                c.reply().error("WRONGPASS invalid username-password pair or user is disabled.");
            }
        }
        Some(p) => {
            if user.is_none_or(|u| u == b"default") && pass == p.as_bytes() {
                c.authenticated = true;
                c.reply().ok();
            } else {
                c.reply().error("WRONGPASS invalid username-password pair or user is disabled.");
            }
        }
    }
}

fn hello(sh: &mut Shard, id: ConnId, args: Args<'_>) {
    let requirepass = sh.config.requirepass.clone();
    let c = sh.conn_mut(id).expect("open");
    let mut ver = None;
    let mut j = 1;
    if args.len() >= 2 {
        match parse_i64(args.get(1)) {
            None => {
                c.reply()
                    .error("ERR Protocol version is not an integer or out of range");
                return;
            }
            Some(v) if !(2..=3).contains(&v) => {
                c.reply().error("NOPROTO unsupported protocol version");
                return;
            }
            Some(v) => ver = Some(v),
        }
        j = 2;
    }
    let mut auth: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut name: Option<Vec<u8>> = None;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
            auth = Some((args.get(j + 1).to_vec(), args.get(j + 2).to_vec()));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
            let n = args.get(j + 1);
            if !valid_name(n) {
                c.reply().error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
                return;
            }
            name = Some(n.to_vec());
            j += 2;
        } else {
            let m = format!("ERR Syntax error in HELLO option '{}'", lossy(opt));
            c.reply().error(&m);
            return;
        }
    }
    if let Some((user, pass)) = auth {
        let ok = user == b"default"
            && requirepass
                .as_ref()
                .is_none_or(|p| p.as_bytes() == pass.as_slice());
        if !ok {
            c.reply()
                .error("WRONGPASS invalid username-password pair or user is disabled.");
            return;
        }
        c.authenticated = true;
    }
    if !c.authenticated {
        c.reply().error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if let Some(n) = name {
        c.name = (!n.is_empty()).then_some(n);
    }
    if let Some(v) = ver {
        c.proto = if v == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
    }
    let (cid, proto) = (c.client_id, c.proto);
    let mut r = c.reply();
    r.map(7);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(REDIS_VERSION.as_bytes());
    r.bulk(b"proto");
    r.int(if proto == Protocol::Resp3 { 3 } else { 2 });
    r.bulk(b"id");
    r.int(cid as i64);
    r.bulk(b"mode");
    r.bulk(b"standalone");
    r.bulk(b"role");
    r.bulk(b"master");
    r.bulk(b"modules");
    r.array(0);
}

fn scan(sh: &mut Shard, id: ConnId, args: Args<'_>, db: usize) -> Step {
    let c = sh.conn_mut(id).expect("open");
    let cur = args.get(1);
    let cursor = shoal_data::numeric::parse_cursor(cur);
    let Some(cursor) = cursor else {
        c.reply().error("ERR invalid cursor");
        return Step::Done;
    };
    let mut count = 10usize;
    let mut pattern: Option<Vec<u8>> = None;
    let mut type_filter: Option<Option<ValueType>> = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i;
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"count") && more >= 2 {
            match parse_i64(args.get(i + 1)) {
                None => {
                    c.reply().error(err::NOT_INTEGER);
                    return Step::Done;
                }
                Some(n) if n < 1 => {
                    c.reply().error(err::SYNTAX);
                    return Step::Done;
                }
                Some(n) => count = n as usize,
            }
        } else if a.eq_ignore_ascii_case(b"match") && more >= 2 {
            let p = args.get(i + 1);
            pattern = (p != b"*").then(|| p.to_vec());
        } else if a.eq_ignore_ascii_case(b"type") && more >= 2 {
            type_filter = Some(ValueType::from_name(args.get(i + 1)));
        } else {
            c.reply().error(err::SYNTAX);
            return Step::Done;
        }
        i += 2;
    }
    if cursor >= SLOTS as u64 {
        let mut r = c.reply();
        r.array(2);
        r.bulk(b"0");
        r.array(0);
        return Step::Done;
    }
    let filter = ScanFilter {
        db,
        count,
        pattern,
        type_filter,
    };
    scan_from(sh, id, cursor as u16, filter, vec![]);
    if sh.conn_mut(id).is_some_and(|c| c.pending.is_some()) {
        Step::Wait
    } else {
        Step::Done
    }
}

/// What a SCAN call looks for.
#[derive(Clone)]
struct ScanFilter {
    db: usize,
    /// Entries still to visit in this call (Redis's COUNT: an amount of work).
    count: usize,
    pattern: Option<Vec<u8>>,
    /// None: any type; Some(None): an unknown type name (matches nothing).
    type_filter: Option<Option<ValueType>>,
}

/// Scans whole slots from `slot` on the shard owning it; while COUNT is not used up, goes on
/// to the next shard within the same call (so small keyspaces finish in one call, as in Redis).
fn scan_from(sh: &mut Shard, id: ConnId, slot: u16, filter: ScanFilter, mut found: Vec<Vec<u8>>) {
    let owner = sh.shared.slot_owner[slot as usize] as usize;
    let (first, n) = sh.shared.slot_ranges[owner];
    let end = first as usize + n as usize;
    let f2 = filter.clone();
    let f: StepFn = Box::new(move |x: &mut Shard| -> StepOut {
        let now = x.now_ms;
        let d = x.keyspace.db_ref(f2.db);
        let mut keys: Vec<Vec<u8>> = vec![];
        let mut visited = 0;
        let mut s = slot as usize;
        while s < end && visited < f2.count {
            d.for_each_in_slot(s as u16, now, |k, e| {
                visited += 1;
                let type_ok = match f2.type_filter {
                    None => true,
                    Some(None) => false,
                    Some(Some(t)) => e.value_type() == t,
                };
                if type_ok && f2.pattern.as_ref().is_none_or(|p| glob::matches(p, k)) {
                    keys.push(k.to_vec());
                }
            });
            // Empty slots cost only a length check and do not count: a sparse or empty
            // keyspace finishes in one call, as in Redis.
            s += 1;
        }
        Box::new((s, visited, keys))
    });
    sh.fan_out(
        id,
        vec![(owner, f)],
        Box::new(move |sh, id, mut results| {
            let (next, visited, keys) = results[0]
                .downcast_mut::<(usize, usize, Vec<Vec<u8>>)>()
                .map(std::mem::take)
                .unwrap_or_default();
            found.extend(keys);
            if next < SLOTS && visited < filter.count {
                let rest = ScanFilter {
                    count: filter.count - visited,
                    ..filter
                };
                scan_from(sh, id, next as u16, rest, found);
                return;
            }
            let cursor = if next >= SLOTS { 0 } else { next };
            sh.reply_with(id, |r| {
                r.array(2);
                r.bulk(cursor.to_string().as_bytes());
                r.array(found.len());
                for k in &found {
                    r.bulk(k);
                }
            })
        }),
    );
}

/// One CLIENT LIST line (without the trailing newline).
pub fn client_line(c: &crate::conn::Conn, now_ms: i64) -> String {
    let (addr, laddr) = peer_addrs(c.fd);
    let mut flags = String::new();
    if c.monitor {
        flags.push('O');
    }
    if c.subs.as_ref().is_some_and(|s| s.active()) {
        flags.push('P');
    }
    if c.multi.is_some() {
        flags.push('x');
    }
    if c.no_evict {
        flags.push('e');
    }
    if c.no_touch {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
        c.client_id,
        addr,
        laddr,
        c.fd,
        c.name.as_deref().map(lossy).unwrap_or_default(),
        (now_ms - c.created_ms).max(0) / 1000,
        (now_ms - c.last_interaction_ms).max(0) / 1000,
        flags,
        c.db,
        c.subs.as_ref().map_or(0, |s| s.channels.len()),
        c.subs.as_ref().map_or(0, |s| s.patterns.len()),
        c.subs.as_ref().map_or(0, |s| s.shard.len()),
        c.multi.as_ref().map_or(-1, |m| m.queue.len() as i64),
        c.inbuf.len() - c.rpos,
        c.inbuf.capacity() - c.inbuf.len(),
        c.inbuf.capacity(),
        c.out.len(),
        c.inbuf.capacity() + c.out.capacity() + c.sending.capacity(),
        c.last_cmd,
        if c.proto == Protocol::Resp3 { 3 } else { 2 },
        c.lib_name.as_deref().map(lossy).unwrap_or_default(),
        c.lib_ver.as_deref().map(lossy).unwrap_or_default(),
    )
}

fn sockaddr_string(storage: &libc::sockaddr_storage) -> String {
    // SAFETY: the kernel filled `storage` with a sockaddr of the family it names.
    unsafe {
        match storage.ss_family as i32 {
            libc::AF_INET => {
                let a = &*(storage as *const _ as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                format!("{}:{}", ip, u16::from_be(a.sin_port))
            }
            libc::AF_INET6 => {
                let a = &*(storage as *const _ as *const libc::sockaddr_in6);
                let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                format!("{}:{}", ip, u16::from_be(a.sin6_port))
            }
            _ => String::new(),
        }
    }
}

/// The peer and local addresses of a socket, as `ip:port`.
pub fn peer_addrs(fd: i32) -> (String, String) {
    let mut out = [String::new(), String::new()];
    for (i, o) in out.iter_mut().enumerate() {
        // SAFETY: zeroed sockaddr_storage is valid; the kernel writes at most `len` bytes.
        unsafe {
            let mut st: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            let p = &mut st as *mut _ as *mut libc::sockaddr;
            let rc = if i == 0 {
                libc::getpeername(fd, p, &mut len)
            } else {
                libc::getsockname(fd, p, &mut len)
            };
            if rc == 0 {
                *o = sockaddr_string(&st);
            }
        }
    }
    let [a, b] = out;
    (a, b)
}

fn client_list(sh: &mut Shard, id: ConnId, args: Args<'_>) -> Step {
    let mut ids: Option<Vec<u64>> = None;
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"type") && i + 1 < args.len() {
            let t = args.get(i + 1).to_ascii_lowercase();
            if !matches!(
                t.as_slice(),
                b"normal" | b"master" | b"replica" | b"slave" | b"pubsub"
            ) {
                let m = format!("ERR Unknown client type '{}'", lossy(args.get(i + 1)));
                sh.reply_with(id, |r| r.error(&m));
                return Step::Done;
            }
            if t != b"normal" {
                ids = Some(vec![]);
            }
            i += 2;
        } else if a.eq_ignore_ascii_case(b"id") && i + 1 < args.len() {
            let mut v = vec![];
            for x in args.iter_from(i + 1) {
                match parse_i64(x).filter(|n| *n > 0) {
                    Some(n) => v.push(n as u64),
                    None => {
                        sh.reply_with(id, |r| r.error("ERR Invalid client ID"));
                        return Step::Done;
                    }
                }
            }
            ids = Some(v);
            break;
        } else {
            sh.reply_with(id, |r| r.error(err::SYNTAX));
            return Step::Done;
        }
    }
    let me = sh.conn_mut(id).map_or(0, |c| c.client_id);
    all_shards(
        sh,
        id,
        move |x| {
            let now = x.now_ms;
            // A connection on its way out (QUIT answered, killed, peer gone) is no longer
            // listed: Redis frees such a client before it serves anyone else.
            x.conns
                .iter()
                .flatten()
                .filter(|c| c.closing.is_none() || c.client_id == me)
                .filter(|c| ids.as_ref().is_none_or(|v| v.contains(&c.client_id)))
                .map(|c| (c.client_id, client_line(c, now)))
                .collect::<Vec<_>>()
        },
        |sh, id, v| {
            let mut lines: Vec<(u64, String)> = v.into_iter().flatten().collect();
            lines.sort();
            let mut s = String::new();
            for (_, l) in lines {
                s.push_str(&l);
                s.push('\n');
            }
            sh.reply_with(id, |r| r.verbatim(s.as_bytes()));
        },
    )
}

#[derive(Clone, Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    skip: Option<u64>,
    maxage: Option<i64>,
    no_match: bool,
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends the wait of a blocked client on any shard.
fn client_unblock(sh: &mut Shard, id: ConnId, args: Args<'_>) -> Step {
    let Some(target) = parse_i64(args.get(2)) else {
        sh.reply_with(id, |r| r.error(err::NOT_INTEGER));
        return Step::Done;
    };
    let error = match args.len() {
        3 => false,
        4 if args.get(3).eq_ignore_ascii_case(b"timeout") => false,
        4 if args.get(3).eq_ignore_ascii_case(b"error") => true,
        _ => {
            sh.reply_with(id, |r| {
                r.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
            });
            return Step::Done;
        }
    };
    all_shards(
        sh,
        id,
        move |x| {
            let found = x
                .conns
                .iter()
                .flatten()
                .find(|c| c.client_id as i64 == target)
                .map(|c| c.id);
            match found {
                Some(v) if x.unblock(v, error) => 1usize,
                _ => 0,
            }
        },
        move |sh, id, v| {
            let n: usize = v.iter().sum();
            sh.reply_with(id, |r| r.int(n as i64));
        },
    )
}

fn client_kill(sh: &mut Shard, id: ConnId, args: Args<'_>) -> Step {
    let me = sh.conn_mut(id).map_or(0, |c| c.client_id);
    let mut f = KillFilter {
        skip: Some(me),
        ..Default::default()
    };
    let old_style = args.len() == 3;
    if old_style {
        f.addr = Some(lossy(args.get(2)));
        f.skip = None;
    } else {
        let mut i = 2;
        while i < args.len() {
            if i + 1 >= args.len() {
                sh.reply_with(id, |r| r.error(err::SYNTAX));
                return Step::Done;
            }
            let (k, v) = (args.get(i).to_ascii_lowercase(), args.get(i + 1));
            match k.as_slice() {
                b"id" => match parse_i64(v).filter(|n| *n > 0) {
                    Some(n) => f.id = Some(n as u64),
                    None => {
                        sh.reply_with(id, |r| r.error("ERR client-id should be greater than 0"));
                        return Step::Done;
                    }
                },
                b"addr" => f.addr = Some(lossy(v)),
                b"laddr" => f.laddr = Some(lossy(v)),
                b"type" => {
                    let t = v.to_ascii_lowercase();
                    match t.as_slice() {
                        b"normal" => {}
                        b"master" | b"replica" | b"slave" | b"pubsub" => f.no_match = true,
                        _ => {
                            let m = format!("ERR Unknown client type '{}'", lossy(v));
                            sh.reply_with(id, |r| r.error(&m));
                            return Step::Done;
                        }
                    }
                }
                b"user" => {
                    if v != b"default" {
                        let m = format!("ERR No such user '{}'", lossy(v));
                        sh.reply_with(id, |r| r.error(&m));
                        return Step::Done;
                    }
                }
                b"skipme" => match v.to_ascii_lowercase().as_slice() {
                    b"yes" => f.skip = Some(me),
                    b"no" => f.skip = None,
                    _ => {
                        sh.reply_with(id, |r| r.error(err::SYNTAX));
                        return Step::Done;
                    }
                },
                b"maxage" => match parse_i64(v) {
                    Some(n) => f.maxage = Some(n),
                    None => {
                        sh.reply_with(id, |r| r.error(err::NOT_INTEGER));
                        return Step::Done;
                    }
                },
                _ => {
                    sh.reply_with(id, |r| r.error(err::SYNTAX));
                    return Step::Done;
                }
            }
            i += 2;
        }
    }
    all_shards(
        sh,
        id,
        move |x| {
            if f.no_match {
                return 0usize;
            }
            let now = x.now_ms;
            let victims: Vec<ConnId> = x
                .conns
                .iter()
                .flatten()
                .filter(|c| {
                    if f.skip == Some(c.client_id) || f.id.is_some_and(|i| i != c.client_id) {
                        return false;
                    }
                    if f.maxage.is_some_and(|m| (now - c.created_ms) / 1000 < m) {
                        return false;
                    }
                    if f.addr.is_some() || f.laddr.is_some() {
                        let (a, l) = peer_addrs(c.fd);
                        if f.addr.as_ref().is_some_and(|x| *x != a)
                            || f.laddr.as_ref().is_some_and(|x| *x != l)
                        {
                            return false;
                        }
                    }
                    true
                })
                .map(|c| c.id)
                .collect();
            for v in &victims {
                if let Some(c) = x.conn_mut(*v) {
                    c.closing = Some(Closing::AfterFlush);
                }
                x.close_if_idle(*v);
            }
            victims.len()
        },
        move |sh, id, v| {
            let n: usize = v.iter().sum();
            if old_style {
                if n == 0 {
                    sh.reply_with(id, |r| r.error("ERR No such client"));
                } else {
                    sh.reply_with(id, |r| r.ok());
                }
            } else {
                sh.reply_with(id, |r| r.int(n as i64));
            }
        },
    )
}

/// Sends a MONITOR line for a command to every monitoring connection.
pub fn feed_monitors(sh: &mut Shard, id: ConnId, args: &Args<'_>) {
    let Some(c) = sh.conn_mut(id) else { return };
    if c.monitor {
        return;
    }
    let (addr, _) = peer_addrs(c.fd);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        c.db,
        addr
    );
    for a in args.iter_from(0) {
        line.push_str(" \"");
        for &b in a {
            match b {
                b'\\' => line.push_str("\\\\"),
                b'"' => line.push_str("\\\""),
                b'\n' => line.push_str("\\n"),
                b'\r' => line.push_str("\\r"),
                b'\t' => line.push_str("\\t"),
                0x07 => line.push_str("\\a"),
                0x08 => line.push_str("\\b"),
                32..=126 => line.push(b as char),
                _ => line.push_str(&format!("\\x{b:02x}")),
            }
        }
        line.push('"');
    }
    line.push_str("\r\n");
    let targets: Vec<(usize, ConnId)> = sh
        .shared
        .monitors
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    for (shard, conn) in targets {
        let l = line.clone();
        let f = move |x: &mut Shard| {
            if let Some(c) = x.conn_mut(conn) {
                c.out.extend_from_slice(l.as_bytes());
                x.queue_flush(conn);
            }
        };
        if shard == sh.id {
            f(sh);
        } else {
            sh.send(shard, Msg::Call(Box::new(f)));
        }
    }
}

/// Forgets a monitoring connection.
pub fn remove_monitor(shared: &crate::shard::Shared, shard: usize, id: ConnId) {
    if let Ok(mut m) = shared.monitors.lock() {
        let before = m.len();
        m.retain(|&(s, c)| !(s == shard && c == id));
        if m.len() < before {
            shared.monitor_count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
