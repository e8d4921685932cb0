//! SORT and SORT_RO over lists, sets and sorted sets, with BY and GET patterns, LIMIT, ALPHA and
//! STORE, as Redis 7.0's sort.c does them.
//!
//! Keys named by BY/GET patterns are read from this shard's keyspace. A pattern key that another
//! core owns cannot be read here: SORT then answers an error naming the rule (give the pattern
//! the sorted key's hash tag), where Redis Cluster refuses such patterns altogether.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use shoal_data::events as ev;
use shoal_data::numeric::parse_i64;
use shoal_data::value::itoa_buf;
use shoal_data::{Elem, List, Value};
use shoal_protocol::Args;
use std::cmp::Ordering;

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("sort", Handler::Shard(sort), Cross::Gather),
    ("sort_ro", Handler::Shard(sort_ro), Cross::Local),
];

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]
pub fn sort(ctx: &mut Ctx<'_>, args: Args<'_>) {
    sort_generic(ctx, args, false)
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
pub fn sort_ro(ctx: &mut Ctx<'_>, args: Args<'_>) {
    sort_generic(ctx, args, true)
}

const FOREIGN: &str =
    "ERR SORT BY/GET pattern keys must live on the sorted key's core: give the pattern the key's hash tag";

/// A pattern lookup that could not be done here.
struct Foreign;

/// Redis's lookupKeyByPattern: `#` is the element itself; otherwise the first `*` is replaced
/// by the element, and `->field` reads a hash field. A missing key, a wrong type or a pattern
/// without `*` gives None.
fn by_pattern(ctx: &mut Ctx<'_>, pattern: &[u8], elem: &[u8]) -> Result<Option<Vec<u8>>, Foreign> {
    if pattern == b"#" {
        return Ok(Some(elem.to_vec()));
    }
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return Ok(None);
    };
    let arrow = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| star + 1 + p)
        .filter(|&p| p + 2 < pattern.len());
    let key_end = arrow.unwrap_or(pattern.len());
    let mut key = Vec::with_capacity(key_end + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let slot = shoal_data::key_slot(&key);
    if !ctx.db().owns(slot) {
        return Err(Foreign);
    }
    let now = ctx.now_ms;
    let Some(e) = ctx.db().get_mut_in(slot, &key, now) else {
        return Ok(None);
    };
    let mut b = itoa_buf::Buffer::new();
    Ok(match (arrow, e.value()) {
        (Some(a), Value::Hash(h)) => h.get(&pattern[a + 2..]).map(<[u8]>::to_vec),
        (None, v) if v.is_string() => Some(e.str_bytes(&mut b).to_vec()),
        _ => None,
    })
}

/// The part of a string C sees (up to the first NUL), for strtod and strcoll.
fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// SORT's numeric reading of a value: strtod over the C string, nothing may follow the number,
/// no overflow/underflow, not NaN (leading space and the empty string are accepted, as in C).
fn sort_score(s: &[u8]) -> Option<f64> {
    let c = c_str(s);
    let (v, used, erange) = shoal_data::zset::c_strtod(c);
    (used == c.len() && !erange && !v.is_nan()).then_some(v)
}

/// Binary comparison (Redis's compareStringObjects).
fn binary(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

/// Redis's LIMIT sanity rules: the (start, end) positions, inclusive; empty when end < start.
fn limit_window(limit_start: i64, limit_count: i64, len: i64) -> (i64, i64) {
    let start = limit_start.max(0);
    let end = if limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(limit_count) - 1
    };
    if start >= len {
        (len - 1, len - 2)
    } else {
        (start, end.min(len - 1))
    }
}

struct Item {
    elem: Elem,
    score: f64,
    by: Option<Vec<u8>>,
}

fn sort_generic(ctx: &mut Ctx<'_>, args: Args<'_>, readonly: bool) {
    let (mut desc, mut alpha) = (false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut store: Option<&[u8]> = None;
    let mut sortby: Option<&[u8]> = None;
    let mut dontsort = false;
    let mut gets: Vec<&[u8]> = vec![];
    let mut j = 2;
    while j < args.len() {
        let a = args.get(j);
        let left = args.len() - j - 1;
        if a.eq_ignore_ascii_case(b"asc") {
            desc = false;
        } else if a.eq_ignore_ascii_case(b"desc") {
            desc = true;
        } else if a.eq_ignore_ascii_case(b"alpha") {
            alpha = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            let (Some(s), Some(c)) = (parse_i64(args.get(j + 1)), parse_i64(args.get(j + 2)))
            else {
                return ctx.reply.error(err::NOT_INTEGER);
            };
            (limit_start, limit_count) = (s, c);
            j += 2;
        } else if a.eq_ignore_ascii_case(b"store") && left >= 1 && !readonly {
            store = Some(args.get(j + 1));
            j += 1;
        } else if a.eq_ignore_ascii_case(b"by") && left >= 1 {
            let p = args.get(j + 1);
            // A pattern without '*' means "do not sort" (its keys would all be the same).
            dontsort = !p.contains(&b'*');
            sortby = Some(p);
            j += 1;
        } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
            gets.push(args.get(j + 1));
            j += 1;
        } else {
            return ctx.reply.error(err::SYNTAX);
        }
        j += 1;
    }
    let key = args.get(1);
    let (e, reply) = ctx.lookup_for_reply(key);
    let value = match e.map(|e| e.value_mut()) {
        None => None,
        Some(Value::ZSet(z)) => {
            // Redis converts a sorted set it sorts to a skiplist, in place.
            z.convert_to_skiplist();
            Some(Value::ZSet(z.clone()))
        }
        Some(v @ (Value::List(_) | Value::Set(_))) => Some(v.clone()),
        Some(_) => return reply.error(err::WRONGTYPE),
    };
    // A set read in no particular order is sorted when the result is stored, so that the
    // stored list does not depend on the table's layout.
    if dontsort && store.is_some() && matches!(value, Some(Value::Set(_))) {
        dontsort = false;
        alpha = true;
        sortby = None;
    }
    let mut items: Vec<Item> = vec![];
    let mut windowed = false;
    let item = |m: &[u8]| Item {
        elem: Elem::from_slice(m),
        score: 0.0,
        by: None,
    };
    match &value {
        None => {}
        Some(Value::List(l)) if dontsort => {
            // The list's own order (reversed by DESC), with LIMIT applied directly.
            let len = l.len() as i64;
            let (start, end) = limit_window(limit_start, limit_count, len);
            if start <= end && start >= 0 {
                for i in start..=end {
                    let at = if desc { len - 1 - i } else { i };
                    if let Some(v) = l.get(at as usize) {
                        items.push(item(v));
                    }
                }
            }
            windowed = true;
        }
        Some(Value::List(l)) => items.extend(l.iter().map(item)),
        Some(Value::Set(s)) => items.extend(s.members().map(|e| Item {
            elem: e,
            score: 0.0,
            by: None,
        })),
        Some(Value::ZSet(z)) => {
            if dontsort {
                // The sorted set's own order (reversed by DESC), with LIMIT applied directly.
                let len = z.len() as i64;
                let (start, end) = limit_window(limit_start, limit_count, len);
                if start <= end && start >= 0 {
                    let (a, b) = if desc {
                        (len - 1 - end, len - start)
                    } else {
                        (start, end + 1)
                    };
                    z.for_each_rank(a as usize, b as usize, desc, |m, _| {
                        items.push(Item {
                            elem: Elem::from_slice(m),
                            score: 0.0,
                            by: None,
                        })
                    });
                }
                windowed = true;
            } else {
                items.extend(z.iter().map(|(m, _)| Item {
                    elem: Elem::from_slice(m),
                    score: 0.0,
                    by: None,
                }));
            }
        }
        Some(_) => {}
    }
    // The sort keys.
    if !dontsort {
        let mut bad = false;
        for it in items.iter_mut() {
            let byval = match sortby {
                Some(p) => match by_pattern(ctx, p, &it.elem) {
                    Ok(v) => v,
                    Err(Foreign) => return ctx.reply.error(FOREIGN),
                },
                None => Some(it.elem.to_vec()),
            };
            let Some(byval) = byval else { continue };
            if alpha {
                if sortby.is_some() {
                    it.by = Some(byval);
                }
            } else {
                match sort_score(&byval) {
                    Some(s) => it.score = s,
                    None => bad = true,
                }
            }
        }
        if bad {
            return ctx
                .reply
                .error("ERR One or more scores can't be converted into double");
        }
        let by_pattern_set = sortby.is_some();
        let storing = store.is_some();
        items.sort_by(|a, b| {
            let cmp = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| binary(&a.elem, &b.elem))
            } else if by_pattern_set {
                match (&a.by, &b.by) {
                    (None, None) => Ordering::Equal,
                    (None, _) => Ordering::Less,
                    (_, None) => Ordering::Greater,
                    (Some(x), Some(y)) if storing => binary(x, y),
                    (Some(x), Some(y)) => c_str(x).cmp(c_str(y)),
                }
            } else if storing {
                binary(&a.elem, &b.elem)
            } else {
                c_str(&a.elem).cmp(c_str(&b.elem))
            };
            if desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
    }
    // LIMIT.
    let (start, end) = if windowed {
        (0i64, items.len() as i64 - 1)
    } else {
        limit_window(limit_start, limit_count, items.len() as i64)
    };
    let window: &[Item] = if start >= 0 && start <= end {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    // The output: each element, or each GET pattern's value for it.
    let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(window.len() * gets.len().max(1));
    for it in window {
        if gets.is_empty() {
            out.push(Some(it.elem.to_vec()));
        }
        for g in &gets {
            match by_pattern(ctx, g, &it.elem) {
                Ok(v) => out.push(v),
                Err(Foreign) => return ctx.reply.error(FOREIGN),
            }
        }
    }
    match store {
        None => {
            ctx.reply.array(out.len());
            for v in &out {
                match v {
                    Some(b) => ctx.reply.bulk(b),
                    None => ctx.reply.null(),
                }
            }
        }
        Some(dst) => {
            let now = ctx.now_ms;
            let n = out.len();
            if n == 0 {
                if ctx.db().remove(dst, now).is_some() {
                    ctx.dirty(1);
                    ctx.notify(ev::GENERIC, "del", dst);
                }
            } else {
                let size = ctx.settings.limits.list_max_listpack_size;
                let list =
                    List::from_items(out.iter().map(|v| v.as_deref().unwrap_or_default()), size);
                ctx.db().insert(dst, Value::List(Box::new(list)), 0, now);
                ctx.signal_ready(dst);
                ctx.dirty(n as u64);
                ctx.notify(ev::LIST, "sortstore", dst);
            }
            ctx.reply.int(n as i64);
        }
    }
}
