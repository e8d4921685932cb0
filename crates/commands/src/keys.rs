//! Key positions of commands whose keys move with their arguments (the `movablekeys` flag):
//! a key count argument (ZUNIONSTORE, LMPOP, SINTERCARD...), an option naming a destination
//! (SORT ... STORE, GEORADIUS ... STORE), or a STREAMS list (XREAD). The same rules as Redis's
//! getkeys procedures; a malformed request yields the keys that are certain (or none) and the
//! command's handler replies the error before it touches any other argument.

use crate::spec::CommandSpec;
use shoal_data::numeric::parse_i64;
use shoal_protocol::Args;
use smallvec::SmallVec;

/// Argument positions of a request's keys.
pub type KeyPositions = SmallVec<[usize; 8]>;

/// `count` keys starting at `from`, the count read at `at`; empty when it is not a valid count.
fn counted(args: &Args<'_>, at: usize, out: &mut KeyPositions) {
    if at >= args.len() {
        return;
    }
    let Some(n) = parse_i64(args.get(at)) else {
        return;
    };
    if n <= 0 || n as u64 > (args.len() - at - 1) as u64 {
        return;
    }
    out.extend(at + 1..at + 1 + n as usize);
}

/// The keys of a movable-keys command.
pub fn movable(spec: &CommandSpec, args: &Args<'_>) -> KeyPositions {
    let mut out = KeyPositions::new();
    match spec.name {
        "zunionstore" | "zinterstore" | "zdiffstore" => {
            out.push(1);
            counted(args, 2, &mut out);
        }
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            counted(args, 1, &mut out)
        }
        "blmpop" | "bzmpop" => counted(args, 2, &mut out),
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => {
            counted(args, 2, &mut out)
        }
        "sort" | "sort_ro" => {
            out.push(1);
            if spec.name == "sort" {
                // The last STORE wins, as in Redis's sortGetKeys; options with arguments are
                // skipped so a pattern named "store" is not taken for the option.
                let mut i = 2;
                let mut store = None;
                while i < args.len() {
                    let a = args.get(i);
                    let skip = if a.eq_ignore_ascii_case(b"limit") {
                        2
                    } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
                        1
                    } else if a.eq_ignore_ascii_case(b"store") {
                        store = (i + 1 < args.len()).then_some(i + 1);
                        1
                    } else {
                        0
                    };
                    i += 1 + skip;
                }
                out.extend(store);
            }
        }
        "georadius" | "georadiusbymember" => {
            out.push(1);
            let from = if spec.name == "georadius" { 6 } else { 5 };
            let mut store = None;
            let mut i = from;
            while i + 1 < args.len() {
                let a = args.get(i);
                if a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist") {
                    store = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            out.extend(store);
        }
        "xread" | "xreadgroup" => {
            let from = if spec.name == "xread" { 1 } else { 4 };
            if let Some(s) =
                (from..args.len()).find(|&i| args.get(i).eq_ignore_ascii_case(b"streams"))
            {
                let rest = args.len() - s - 1;
                if rest > 0 && rest.is_multiple_of(2) {
                    out.extend(s + 1..s + 1 + rest / 2);
                }
            }
        }
        _ => {
            let (first, last, step) = (spec.first_key, spec.last_key, spec.step);
            if first > 0 && (first as usize) < args.len() {
                let last = if last < 0 {
                    args.len() as i64 + last as i64
                } else {
                    (last as i64).min(args.len() as i64 - 1)
                };
                let mut i = first as i64;
                while i <= last {
                    out.push(i as usize);
                    i += step.max(1) as i64;
                }
            }
        }
    }
    out
}
