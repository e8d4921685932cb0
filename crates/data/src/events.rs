//! Keyspace events (notify-keyspace-events): Redis's event classes, the configuration string
//! both ways, and the events a write leaves for the runtime to publish.

use crate::keyspace::Key;

/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key expired.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key was evicted.
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: a read found no key (not part of `A`).
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module key types.
pub const MODULE: u32 = 1 << 13;
/// `n`: a key was created (not part of `A`).
pub const NEW: u32 = 1 << 14;
/// `A`: `g$lshzxetd`.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// One event waiting to be published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    /// The database the key is in.
    pub db: u32,
    /// The event name (`set`, `del`, `expired`, ...).
    pub name: &'static str,
    /// The key.
    pub key: Key,
}

/// The flags of a notify-keyspace-events string; None for a character that is not a class.
pub fn parse_flags(s: &[u8]) -> Option<u32> {
    let mut flags = 0;
    for c in s {
        flags |= match c {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// The flags as CONFIG GET shows them (Redis's keyspaceEventsFlagsToString: `A` stands for the
/// whole of `g$lshzxetd`, and then hides `n`).
pub fn flags_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (f, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & f != 0 {
                s.push(c);
            }
        }
    }
    for (f, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & f != 0 {
            s.push(c);
        }
    }
    s
}

/// The classes that produce events: none unless K or E says where to publish them.
pub fn active(flags: u32) -> u32 {
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        0
    } else {
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_as_redis_shows_them() {
        for (set, shown) in [
            ("", ""),
            ("KA", "AK"),
            ("KEA", "AKE"),
            ("AKEnm", "AKEm"),
            ("Ex$lshzxetdm", "$lshzxetdEm"),
            ("g$lshzxetd", "A"),
            ("KEgn", "gnKE"),
            ("Kd", "dK"),
        ] {
            assert_eq!(
                flags_string(parse_flags(set.as_bytes()).unwrap()),
                shown,
                "{set}"
            );
        }
        assert_eq!(parse_flags(b"Kq"), None);
        assert_eq!(active(ALL), 0);
        assert_eq!(active(ALL | KEYEVENT), ALL | KEYEVENT);
    }
}
