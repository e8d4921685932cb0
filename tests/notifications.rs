//! Keyspace notifications (`notify-keyspace-events`) against Shoal with 4 shards and against a
//! real redis-server (7.0.15): CONFIG SET/GET of the flags (Redis normalises the string), and the
//! exact stream of `__keyspace@<db>__:<key>` / `__keyevent@<db>__:<event>` messages a subscriber
//! gets for a corpus of commands covering every type (strings, keys, lists, hashes, sets, sorted
//! sets, streams, HyperLogLog, geo), MULTI/EXEC, EVAL, blocked clients served by a push, lazy and
//! active expiry, several databases, `new` and `keymiss` events, multi-key commands over keys on
//! different shards, only the enabled classes being delivered, and subscribers on every core.
//!
//! How the streams are made comparable: a subscriber connection PSUBSCRIBEs `__key*@*__:*` and
//! SUBSCRIBEs a marker channel; another connection runs the corpus one step at a time, each step
//! followed by `PUBLISH <marker channel> <n>`, and the subscriber is read up to that marker. Since Redis publishes a
//! command's notifications before it replies, everything a step caused comes before its marker,
//! so each step's messages can be compared on their own (and a difference is reported with the
//! step that caused it). This asks of Shoal the same thing: a command's notifications reach every
//! subscriber before anything the client publishes after it got the reply.
//!
//! Every line of [`CORPUS`] carries, after `=>`, the events Redis 7.0.15 sends for it with
//! `notify-keyspace-events KEAnm` (`event key`, `event key@db` outside db 0, in order; nothing
//! after the command when there are none): each event is one keyspace message (the event as the
//! payload) then one keyevent message (the key as the payload). The Redis side is checked against
//! these annotations (under KEA without the `new`/`keymiss` events), and Shoal against Redis.
//!
//! Redis always runs first, so a failure on Shoal's side means Redis passed the same check.
//! `SHOAL_TEST_AGAINST_REDIS=1 cargo test --release --test notifications` runs the "shoal" side
//! on a redis-server too, which checks the Redis half of every test.

mod suite;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use suite::{expect, parse, shard_of, show, Conn, Resp, Server};

const SHARDS: usize = 4;
/// The pattern every subscriber listens to (both channel kinds, every database).
const PATTERN: &str = "__key*@*__:*";
/// The prefix of the channel the command connection publishes step markers on (one channel per
/// session, so that the subscribers of an earlier session, which the server may not have
/// dropped yet, are not counted by the PUBLISH).
const MARKER: &str = "marker";

/// The single-core corpus: every command that names several keys uses keys with one hash tag,
/// so that in Shoal it runs on one core and the order of its events is fully defined.
///
/// One step per line; `;` separates the commands of a step (sent one at a time, each reply read
/// before the next); `"..."` quotes an argument. Two pseudo-commands: `SLEEP ms`, and
/// `BLOCKING cmd ...`, which sends `cmd` on a second connection, waits until the server reports
/// it blocked, and reads its reply at the end of the step (after the commands that serve it).
/// `#` starts a comment line. After `=>`: the events (see the module comment).
const CORPUS: &str = r#"
# Strings.
SET s v => new s, set s
SET s v2 NX
SET s v3 XX => set s
SET s v4 KEEPTTL => set s
SET s v5 GET => set s
SET s:new v GET => keymiss s:new, new s:new, set s:new
SET s v EX 100 => set s, expire s
SET s v PX 100000 => set s, expire s
SET s v EXAT 99999999999 => set s, expire s
SET s v PXAT 99999999999000 => set s, expire s
SET s v KEEPTTL => set s
SET s v => set s
# An expire time in the past: SET still sends set and expire; the next lookup expires the key.
SET sx v PXAT 1 ; EXISTS sx => new sx, set sx, expire sx, expired sx, keymiss sx
SETEX s2 100 v => new s2, set s2, expire s2
PSETEX s2 100000 v => set s2, expire s2
SETNX s3 v => new s3, set s3
SETNX s3 w
GETSET s3 x => set s3
GETSET s4 x => keymiss s4, new s4, set s4
GETDEL s3 => del s3
GETDEL s3 => keymiss s3
GETEX s4
GETEX s4 EX 100 => expire s4
GETEX s4 PX 100000 => expire s4
GETEX s4 EXAT 99999999999 => expire s4
GETEX s4 PERSIST => persist s4
GETEX s4 PERSIST
GETEX s4 PX 0
GETEX s4 EXAT 1 => del s4
GETEX s4 EX 10 => keymiss s4
GET s
GET s:none => keymiss s:none
MGET s s:none s2 => keymiss s:none
STRLEN s:none => keymiss s:none
GETRANGE s:none 0 1 => keymiss s:none
MSET {m}a 1 {m}b 2 {m}a 3 => new {m}a, set {m}a, new {m}b, set {m}b, set {m}a
MSETNX {m}c 1 {m}d 2 => new {m}c, set {m}c, new {m}d, set {m}d
MSETNX {m}c 1 {m}e 2
INCR n => new n, incrby n
INCRBY n 5 => incrby n
DECR n => incrby n
DECRBY n 2 => incrby n
INCRBYFLOAT n 1.5 => incrbyfloat n
INCRBYFLOAT f 0 => new f, incrbyfloat f
INCR s
LPUSH s x
GET n
APPEND ap x => new ap, append ap
APPEND ap y => append ap
APPEND ap "" => append ap
SETRANGE sr 5 x => new sr, setrange sr
SETRANGE sr 0 ""
SETRANGE sr:none 0 ""
SETRANGE sr 0 y => setrange sr
SETBIT sb 7 1 => new sb, setbit sb
SETBIT sb 7 1
SETBIT sb 7 0 => setbit sb
GETBIT sb:none 1 => keymiss sb:none
BITCOUNT sb:none => keymiss sb:none
SET {b}x abc => new {b}x, set {b}x
SET {b}y def => new {b}y, set {b}y
BITOP AND {b}d {b}x {b}y => new {b}d, set {b}d
BITOP OR {b}d {b}nx {b}ny => keymiss {b}nx, keymiss {b}ny, del {b}d
BITOP OR {b}d2 {b}nx {b}ny => keymiss {b}nx, keymiss {b}ny
BITOP NOT {b}d3 {b}x => new {b}d3, set {b}d3
BITOP XOR {b}d {b}x {b}nx => keymiss {b}nx, new {b}d, set {b}d
BITFIELD bf SET u8 0 1 => new bf, setbit bf
BITFIELD bf GET u8 0
BITFIELD bf INCRBY u8 0 1 OVERFLOW FAIL INCRBY u8 0 300 => setbit bf
BITFIELD bf OVERFLOW FAIL INCRBY u8 0 300
BITFIELD bf:none GET u8 0 => keymiss bf:none
BITFIELD_RO bf GET u8 0
LCS {b}x {b}y
LCS {b}x {b}none => keymiss {b}none
# Keys and expiry.
SET {g}1 v => new {g}1, set {g}1
SET {g}2 v => new {g}2, set {g}2
SET {g}3 v => new {g}3, set {g}3
DEL {g}1 {g}2 {g}none => del {g}1, del {g}2
DEL {g}none
UNLINK {g}3 {g}none => del {g}3
EXISTS {g}1 {g}none => keymiss {g}1, keymiss {g}none
SET e v => new e, set e
EXPIRE e 100 => expire e
PEXPIRE e 100000 => expire e
EXPIREAT e 99999999999 => expire e
PEXPIREAT e 99999999999000 => expire e
EXPIRE e 100 NX
EXPIRE e 200 XX => expire e
EXPIRE e 300 GT => expire e
EXPIRE e 50 LT => expire e
EXPIRE e 5 GT
EXPIRE e:none 10
TTL e
PERSIST e => persist e
PERSIST e
PERSIST e:none
EXPIRE e -1 => del e
SET e v => new e, set e
PEXPIREAT e 1 => del e
SET e v => new e, set e
EXPIREAT e 0 => del e
SET e v => new e, set e
EXPIRE e 0 => del e
TTL e => keymiss e
PTTL e => keymiss e
SET {r}1 v => new {r}1, set {r}1
RENAME {r}1 {r}2 => new {r}2, rename_from {r}1, rename_to {r}2
RENAME {r}2 {r}2
RENAMENX {r}2 {r}3 => new {r}3, rename_from {r}2, rename_to {r}3
SET {r}4 v => new {r}4, set {r}4
RENAMENX {r}3 {r}4
RENAME {r}3 {r}4 => new {r}4, rename_from {r}3, rename_to {r}4
RENAME {r}none {r}9
SET {c}a v => new {c}a, set {c}a
COPY {c}a {c}b => new {c}b, copy_to {c}b
COPY {c}a {c}b
COPY {c}a {c}b REPLACE => new {c}b, copy_to {c}b
COPY {c}none {c}b => keymiss {c}none
COPY {c}a {c}a
COPY {c}a {c}x DB 1 => new {c}x@1, copy_to {c}x@1
COPY {c}a {c}x DB 1
RPUSH {o}l 3 1 2 => new {o}l, rpush {o}l
SORT {o}l STORE {o}d => new {o}d, sortstore {o}d
SORT {o}l LIMIT 0 1 STORE {o}d => sortstore {o}d
SORT {o}none STORE {o}d => keymiss {o}none, del {o}d
SORT {o}none STORE {o}d => keymiss {o}none
SORT {o}l
SORT_RO {o}none => keymiss {o}none
TOUCH {o}l {o}none => keymiss {o}none
TYPE {o}l
TYPE {o}none => keymiss {o}none
OBJECT ENCODING {o}none
# Lazy expiry: whichever of the lookup and the active expiry cycle deletes the key, the events
# come in the same order (one key per step: the active cycle expires keys in no fixed order).
SET x1 v PX 1 ; SLEEP 10 ; GET x1 => new x1, set x1, expire x1, expired x1, keymiss x1
SET x2 v PX 1 ; SLEEP 10 ; EXISTS x2 => new x2, set x2, expire x2, expired x2, keymiss x2
SET x3 v PX 1 ; SLEEP 10 ; SET x3 w => new x3, set x3, expire x3, expired x3, new x3, set x3
SET x4 v PX 1 ; SLEEP 10 ; INCR x4 => new x4, set x4, expire x4, expired x4, new x4, incrby x4
SET x5 v PX 1 ; SLEEP 10 ; DEL x5 => new x5, set x5, expire x5, expired x5
HSET x6 f v ; PEXPIRE x6 1 ; SLEEP 10 ; HSET x6 g v => new x6, hset x6, expire x6, expired x6, new x6, hset x6
RPUSH x7 a ; PEXPIRE x7 1 ; SLEEP 10 ; LPUSHX x7 b => new x7, rpush x7, expire x7, expired x7
SET x8 v PX 1 ; SLEEP 10 ; TTL x8 => new x8, set x8, expire x8, expired x8, keymiss x8
# Lists.
LPUSH l a b => new l, lpush l
RPUSH l c => rpush l
LPUSHX l d => lpush l
LPUSHX l:none d
RPUSHX l e => rpush l
RPUSHX l:none e
LINSERT l BEFORE a x => linsert l
LINSERT l AFTER zz x
LINSERT l:none BEFORE a x
LSET l 0 y => lset l
LSET l 99 y
LTRIM l 0 -1 => ltrim l
LTRIM l 1 -1 => ltrim l
LREM l 0 zz
LREM l 1 a => lrem l
LPOP l => lpop l
RPOP l => rpop l
LPOP l 10 => lpop l, del l
LPOP l
RPUSH l a b => new l, rpush l
RPOP l 2 => rpop l, del l
RPUSH l a b => new l, rpush l
LTRIM l 5 10 => ltrim l, del l
LRANGE l:none 0 -1 => keymiss l:none
LLEN l:none => keymiss l:none
LINDEX l:none 0 => keymiss l:none
LPOS l:none a => keymiss l:none
RPUSH {l}a 1 2 3 => new {l}a, rpush {l}a
LMOVE {l}a {l}b LEFT RIGHT => new {l}b, rpush {l}b, lpop {l}a
LMOVE {l}a {l}b RIGHT LEFT => lpush {l}b, rpop {l}a
LMOVE {l}a {l}b LEFT RIGHT => rpush {l}b, lpop {l}a, del {l}a
LMOVE {l}a {l}b LEFT RIGHT
RPOPLPUSH {l}b {l}b => lpush {l}b, rpop {l}b
RPOPLPUSH {l}b {l}c => new {l}c, lpush {l}c, rpop {l}b
LMPOP 2 {l}x {l}c LEFT COUNT 5 => lpop {l}c, del {l}c
LMPOP 2 {l}x {l}b RIGHT => rpop {l}b
LMPOP 2 {l}x {l}b RIGHT COUNT 9 => rpop {l}b, del {l}b
LMPOP 2 {l}x {l}b RIGHT
RPUSH bl a ; BLPOP bl 0 => new bl, rpush bl, lpop bl, del bl
RPUSH bl a b ; BRPOP bl 0 => new bl, rpush bl, rpop bl
RPUSH {bl}1 a ; BLMOVE {bl}1 {bl}2 LEFT LEFT 0 => new {bl}1, rpush {bl}1, new {bl}2, lpush {bl}2, lpop {bl}1, del {bl}1
BRPOPLPUSH {bl}2 {bl}3 0 => new {bl}3, lpush {bl}3, rpop {bl}2, del {bl}2
BLMPOP 0 1 {bl}3 LEFT => lpop {bl}3, del {bl}3
# Blocked clients served by a push: the push's events, then the pop's.
BLOCKING BLPOP q 0 ; RPUSH q a b => new q, rpush q, lpop q
BLOCKING BLMOVE {q}src {q}dst LEFT RIGHT 0 ; RPUSH {q}src a => new {q}src, rpush {q}src, new {q}dst, rpush {q}dst, lpop {q}src, del {q}src
BLOCKING BLMPOP 0 1 qm LEFT COUNT 2 ; RPUSH qm a b c => new qm, rpush qm, lpop qm
BLOCKING BZPOPMIN qz 0 ; ZADD qz 1 a => new qz, zadd qz, zpopmin qz, del qz
XGROUP CREATE qx g $ MKSTREAM ; BLOCKING XREADGROUP GROUP g c1 BLOCK 0 STREAMS qx > ; XADD qx 1-1 f v => new qx, xgroup-create qx, xadd qx, xgroup-createconsumer qx
# Hashes.
HSET h a 1 b 2 => new h, hset h
HSET h a 1 => hset h
HMSET h c 3 => hset h
HSETNX h a 1
HSETNX h d 1 => hset h
HSETNX h2 d 1 => new h2, hset h2
HINCRBY h n 1 => hincrby h
HINCRBY h a x
HINCRBYFLOAT h f 1.5 => hincrbyfloat h
HINCRBYFLOAT h3 f 1.5 => new h3, hincrbyfloat h3
HDEL h zz
HDEL h:none a
HDEL h a b => hdel h
HDEL h c d n f => hdel h, del h
HGET h:none a => keymiss h:none
HGETALL h:none => keymiss h:none
HEXISTS h:none a => keymiss h:none
HLEN h:none => keymiss h:none
HSET h a 1 => new h, hset h
HGET h zz
HGET h a
# Sets.
SADD st a b => new st, sadd st
SADD st a
SREM st zz
SREM st a => srem st
SREM st:none a
SPOP st => spop st, del st
SPOP st
SADD st a b c => new st, sadd st
SPOP st 2 => spop st
SPOP st 5 => spop st, del st
SPOP st 0
SISMEMBER st:none a => keymiss st:none
SMEMBERS st:none => keymiss st:none
SCARD st:none => keymiss st:none
SADD {s}a x y => new {s}a, sadd {s}a
SMOVE {s}a {s}b x => srem {s}a, new {s}b, sadd {s}b
SMOVE {s}a {s}b zz
SMOVE {s}a {s}b y => srem {s}a, del {s}a, sadd {s}b
SMOVE {s}b {s}b y
SADD {s}a x => new {s}a, sadd {s}a
SMOVE {s}a {s}b x => srem {s}a, del {s}a
SMOVE {s}none {s}b x
SADD {s}a 1 2 3 => new {s}a, sadd {s}a
SADD {s}b 2 3 => sadd {s}b
SINTERSTORE {s}d {s}a {s}b => new {s}d, sinterstore {s}d
SUNIONSTORE {s}d {s}a {s}b => sunionstore {s}d
SDIFFSTORE {s}d {s}a {s}b => sdiffstore {s}d
SDIFFSTORE {s}d {s}a {s}a => del {s}d
SDIFFSTORE {s}d {s}a {s}a
SINTERSTORE {s}d {s}a {s}none => keymiss {s}none
SINTERSTORE {s}d {s}x {s}y => keymiss {s}x, keymiss {s}y
SADD {s}d 1 => new {s}d, sadd {s}d
SUNIONSTORE {s}d {s}n1 {s}n2 => keymiss {s}n1, keymiss {s}n2, del {s}d
SINTERCARD 2 {s}a {s}b
SUNION {s}a {s}none => keymiss {s}none
SRANDMEMBER {s}none => keymiss {s}none
# Sorted sets.
ZADD z 1 a 2 b => new z, zadd z
ZADD z 1 a
ZADD z 5 a => zadd z
ZADD z NX 1 a
ZADD z XX 1 c
ZADD z INCR 1 a => zincr z
ZADD z GT 1 a
ZADD z CH 7 a => zadd z
ZINCRBY z 1 a => zincr z
ZINCRBY z2 1 a => new z2, zincr z2
ZREM z zz
ZREM z a => zrem z
ZREM z2 a => zrem z2, del z2
ZREM z:none a
ZADD z 1 a 2 b 3 c 4 d 5 e => zadd z
ZREMRANGEBYSCORE z 1 1 => zremrangebyscore z
ZREMRANGEBYSCORE z 100 200
ZREMRANGEBYRANK z 0 0 => zremrangebyrank z
ZREMRANGEBYRANK z 10 20
ZADD z2 0 a 0 b 0 c => new z2, zadd z2
ZREMRANGEBYLEX z2 [a [b => zremrangebylex z2
ZREMRANGEBYLEX z2 [x [y
ZREMRANGEBYLEX z2 - + => zremrangebylex z2, del z2
ZPOPMIN z => zpopmin z
ZPOPMAX z => zpopmax z
ZPOPMIN z 0
ZPOPMAX z 5 => zpopmax z, del z
ZPOPMIN z
ZADD z 1 a 2 b 3 c => new z, zadd z
ZREMRANGEBYRANK z 0 -1 => zremrangebyrank z, del z
ZSCORE z:none a => keymiss z:none
ZRANGE z:none 0 -1 => keymiss z:none
ZCARD z:none => keymiss z:none
ZADD {z}a 1 a 2 b => new {z}a, zadd {z}a
ZADD {z}b 1 b 2 c => new {z}b, zadd {z}b
ZUNIONSTORE {z}d 2 {z}a {z}b => new {z}d, zunionstore {z}d
ZINTERSTORE {z}d 2 {z}a {z}b => zinterstore {z}d
ZDIFFSTORE {z}d 2 {z}a {z}b => zdiffstore {z}d
ZRANGESTORE {z}d {z}a 0 -1 => zrangestore {z}d
ZINTERSTORE {z}d 2 {z}a {z}none => keymiss {z}none, del {z}d
ZINTERSTORE {z}d 2 {z}a {z}none => keymiss {z}none
ZRANGESTORE {z}d {z}a 5 10
ZADD {z}d 1 x => new {z}d, zadd {z}d
ZRANGESTORE {z}d {z}a 5 10 => del {z}d
ZDIFFSTORE {z}d 1 {z}none => keymiss {z}none
ZADD {z}d 1 x => new {z}d, zadd {z}d
ZUNIONSTORE {z}d 1 {z}none => keymiss {z}none, del {z}d
ZADD {z}d 1 x => new {z}d, zadd {z}d
ZDIFFSTORE {z}d 2 {z}a {z}a => del {z}d
ZMPOP 2 {z}none {z}a MIN => zpopmin {z}a
ZMPOP 2 {z}none {z}a MAX COUNT 5 => zpopmax {z}a, del {z}a
ZMPOP 1 {z}a MIN
ZADD bz 1 a ; BZPOPMIN bz 0 => new bz, zadd bz, zpopmin bz, del bz
ZADD bz 1 a 2 b ; BZPOPMAX bz 0 => new bz, zadd bz, zpopmax bz
BZMPOP 0 1 bz MIN COUNT 3 => zpopmin bz, del bz
ZINTERCARD 2 {z}b {z}none => keymiss {z}none
# Streams.
XADD x 1-1 f v => new x, xadd x
XADD x 2-1 f v => xadd x
XADD x 3-1 f v => xadd x
XADD x NOMKSTREAM 4-1 f v => xadd x
XADD x:none NOMKSTREAM 4-1 f v
XADD x MAXLEN 2 5-1 f v => xadd x, xtrim x
XADD x MAXLEN 10 6-1 f v => xadd x
XADD x 6-1 f v
XTRIM x MAXLEN 2 => xtrim x
XTRIM x MAXLEN 2
XTRIM x:none MAXLEN 1
XDEL x 6-1 => xdel x
XDEL x 6-1
XDEL x:none 1-1
XLEN x:none => keymiss x:none
XRANGE x:none - + => keymiss x:none
XGROUP CREATE x g 0 => xgroup-create x
XGROUP CREATE x g 0
XGROUP CREATE x:none g 0
XGROUP CREATE xs g $ MKSTREAM => new xs, xgroup-create xs
XGROUP CREATECONSUMER x g c1 => xgroup-createconsumer x
XGROUP CREATECONSUMER x g c1
XGROUP SETID x g 0 => xgroup-setid x
XGROUP SETID x g $ ENTRIESREAD 3 => xgroup-setid x
XREADGROUP GROUP g c2 STREAMS x >
XGROUP SETID x g 0 => xgroup-setid x
XREADGROUP GROUP g c3 COUNT 1 STREAMS x > => xgroup-createconsumer x
XREADGROUP GROUP g c3 STREAMS x 0
XREADGROUP GROUP g c3 STREAMS x:none > => keymiss x:none
XCLAIM x g c4 0 5-1 => xgroup-createconsumer x
XCLAIM x g c4 0 5-1 JUSTID
XCLAIM x g c4 0 9-9
XAUTOCLAIM x g c5 0 0 => xgroup-createconsumer x
XAUTOCLAIM x g c5 0 0 JUSTID
XACK x g 5-1
XACK x:none g 5-1 => keymiss x:none
XPENDING x g
XGROUP DELCONSUMER x g c1 => xgroup-delconsumer x
XGROUP DELCONSUMER x g nobody
XGROUP DELCONSUMER x g c5 => xgroup-delconsumer x
XSETID x 100-1 => xsetid x
XSETID x 100-1 => xsetid x
XSETID x:none 100-1
XGROUP DESTROY x g => xgroup-destroy x
XGROUP DESTROY x g
XADD y 1-1 f v => new y, xadd y
XDEL y 1-1 => xdel y
XTRIM y MAXLEN 0
XADD y MAXLEN 0 2-1 f v => xadd y, xtrim y
# HyperLogLog.
PFADD {h}a x y => new {h}a, pfadd {h}a
PFADD {h}a x
PFADD {h}b => new {h}b, pfadd {h}b
PFADD {h}b
PFADD {h}c z => new {h}c, pfadd {h}c
PFMERGE {h}d {h}a {h}c => keymiss {h}d, new {h}d, pfadd {h}d
PFMERGE {h}d {h}a => pfadd {h}d
PFMERGE {h}e {h}none => keymiss {h}e, keymiss {h}none, new {h}e, pfadd {h}e
PFCOUNT {h}a
PFCOUNT {h}none => keymiss {h}none
# Geo.
GEOADD {geo}a 13.361389 38.115556 Palermo 15.087269 37.502669 Catania => new {geo}a, zadd {geo}a
GEOADD {geo}a 13.361389 38.115556 Palermo
GEOADD {geo}a XX 13.361389 38.115556 Nowhere
GEOSEARCHSTORE {geo}d {geo}a FROMLONLAT 15 37 BYRADIUS 200 km ASC => new {geo}d, geosearchstore {geo}d
GEOSEARCHSTORE {geo}d {geo}a FROMLONLAT 15 37 BYRADIUS 200 km ASC STOREDIST => geosearchstore {geo}d
GEOSEARCHSTORE {geo}d {geo}a FROMLONLAT 0 0 BYRADIUS 1 km ASC => del {geo}d
GEOSEARCHSTORE {geo}d {geo}none FROMLONLAT 0 0 BYRADIUS 1 km => keymiss {geo}none
GEORADIUS {geo}a 15 37 200 km STORE {geo}e => new {geo}e, georadiusstore {geo}e
GEOSEARCH {geo}a FROMLONLAT 15 37 BYRADIUS 200 km ASC
GEODIST {geo}a Palermo Catania
GEOPOS {geo}none Palermo => keymiss {geo}none
# Another database: the db number is in the channel.
SELECT 1
SET k1 v => new k1@1, set k1@1
EXPIRE k1 100 => expire k1@1
GET k1:none => keymiss k1:none@1
DEL k1 => del k1@1
SELECT 0
# Transactions: the events of the queued commands, in order, when EXEC runs.
MULTI ; SET {t}a 1 ; INCR {t}a ; LPUSH {t}l x ; DEL {t}a ; GET {t}none ; EXEC => new {t}a, set {t}a, incrby {t}a, new {t}l, lpush {t}l, del {t}a, keymiss {t}none
MULTI ; SET {t}b 1 ; INCR {t}l ; SET {t}c 1 ; EXEC => new {t}b, set {t}b, new {t}c, set {t}c
MULTI ; SET {t}d 1 ; DISCARD
WATCH {t}w ; SET {t}w 1 ; MULTI ; SET {t}e 1 ; EXEC => new {t}w, set {t}w
# Scripts: the events of redis.call, in order, when the script runs.
EVAL "redis.call('set', KEYS[1], 'v'); redis.call('lpush', KEYS[2], 'x'); redis.call('del', KEYS[1]); return 1" 2 {e}a {e}b => new {e}a, set {e}a, new {e}b, lpush {e}b, del {e}a
EVAL "redis.call('set', KEYS[1], 'v'); return redis.call('incr', KEYS[1])" 1 {e}a => new {e}a, set {e}a
EVAL "redis.call('set', KEYS[1], 'w'); return redis.pcall('incr', KEYS[1])" 1 {e}a => set {e}a
EVAL "return redis.call('get', KEYS[1])" 1 {e}none => keymiss {e}none
EVAL "redis.call('rpush', KEYS[1], 'a'); redis.call('pexpire', KEYS[1], 100000); return redis.call('lpop', KEYS[1])" 1 {e}l => new {e}l, rpush {e}l, expire {e}l, lpop {e}l, del {e}l
# Wrong types and errors send nothing.
SET wt v => new wt, set wt
LPUSH wt x
HSET wt f v
RPUSH lwt a => new lwt, rpush lwt
GET lwt
SET lwt x => set lwt
SADD wt x
XADD wt 1-1 f v
INCRBY wt 1
SET wt
# FLUSHDB and FLUSHALL send no events.
FLUSHDB
SET k v => new k, set k
FLUSHALL
GET k => keymiss k
"#;

/// Multi-key commands whose keys are on different shards of a 4-shard Shoal (`a`, `b`, `c`, `d`
/// are on shards 3, 0, 1, 2, `e`, `f`, `g`, `h` too, and `x`, `y`, `z` on 3, 2, 1;
/// `cross_shard_keys_are_spread` checks).
/// Each step's messages are compared as a multiset (sorted), not in order: Redis sends them in
/// the order of the keys, but in Shoal they come from different cores. The annotations are still
/// Redis's order.
const CROSS_SHARD: &str = r#"
MSET a 1 b 2 c 3 d 4 => new a, set a, new b, set b, new c, set c, new d, set d
MGET a b e f g => keymiss e, keymiss f, keymiss g
EXISTS a b e f => keymiss e, keymiss f
MSETNX e 1 f 2 g 3 h 4 => new e, set e, new f, set f, new g, set g, new h, set h
MSETNX e 1 x 2
MSET a 5 e 6 => set a, set e
DEL a b c d x => del a, del b, del c, del d
UNLINK e f g h => del e, del f, del g, del h
SET a v => new a, set a
RENAME a b => new b, rename_from a, rename_to b
SET c v => new c, set c
RENAMENX b c
RENAMENX b d => new d, rename_from b, rename_to d
RENAME d c => new c, rename_from d, rename_to c
COPY c a => new a, copy_to a
COPY c a
COPY c a REPLACE => new a, copy_to a
COPY c e DB 1 => new e@1, copy_to e@1
SADD e 1 2 3 => new e, sadd e
SADD f 2 3 4 => new f, sadd f
SUNIONSTORE g e f => new g, sunionstore g
SINTERSTORE h e f => new h, sinterstore h
SDIFFSTORE d e f => new d, sdiffstore d
SDIFFSTORE d e e => del d
SINTERSTORE b e x => keymiss x
SMOVE e f 1 => srem e, sadd f
SMOVE e h 3 => srem e
ZUNIONSTORE c 2 e f => zunionstore c
ZINTERSTORE d 2 e f => new d, zinterstore d
ZRANGESTORE b d 0 -1 => new b, zrangestore b
SMOVE e z 2 => srem e, del e, new z, sadd z
DEL a b c d e f g h z => del a, del b, del c, del d, del f, del g, del h, del z
RPUSH a 1 2 3 => new a, rpush a
LMOVE a b LEFT RIGHT => new b, rpush b, lpop a
RPOPLPUSH a c => new c, lpush c, rpop a
LMOVE a d RIGHT LEFT => new d, lpush d, rpop a, del a
SORT b STORE e => new e, sortstore e
SET f abc ; SET g abd => new f, set f, new g, set g
BITOP AND h f g => new h, set h
BITOP OR h a x => keymiss a, keymiss x, del h
PFADD a x => new a, pfadd a
PFMERGE y a => keymiss y, new y, pfadd y
PFMERGE y a => pfadd y
MULTI ; SET a 1 ; SET b 2 ; SET c 3 ; DEL d ; EXEC => set a, set b, set c, del d
EVAL "redis.call('set', KEYS[1], '1'); redis.call('set', KEYS[2], '2'); return redis.call('get', KEYS[3])" 3 a b x => set a, set b, keymiss x
FLUSHDB
"#;

/// Single-key steps over keys on every shard, for the many-subscriber test.
const EVERY_CORE: &str = r#"
SET a 1 => new a, set a
SET b 1 => new b, set b
SET c 1 => new c, set c
SET d 1 => new d, set d
INCR a => incrby a
EXPIRE b 100 => expire b
DEL c => del c
PERSIST b => persist b
LPUSH e x y => new e, lpush e
RPOP e => rpop e
RPOP e => rpop e, del e
SADD f x => new f, sadd f
HSET g f v => new g, hset g
ZADD h 1 x => new h, zadd h
XADD e 1-1 f v => new e, xadd e
GET x => keymiss x
APPEND d x => append d
SET a v PX 1 ; SLEEP 10 ; GET a => set a, expire a, expired a, keymiss a
GETDEL b => del b
"#;

// ---------------------------------------------------------------------------------------------
// Corpus parsing.
// ---------------------------------------------------------------------------------------------

/// One step of a corpus.
#[derive(Clone, Debug)]
struct Step {
    /// The line as written (without the annotation).
    line: String,
    cmds: Vec<Vec<String>>,
    /// The annotated events (`event key` or `event key@db`).
    events: Vec<String>,
}

/// Splits a command line into arguments: whitespace separates, `"..."` quotes (no escapes), a
/// bare `;` separates commands.
fn split_commands(line: &str) -> Vec<Vec<String>> {
    let mut cmds: Vec<Vec<String>> = vec![vec![]];
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        if first == '"' {
            chars.next();
            let mut arg = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => arg.push(c),
                    None => panic!("unterminated quote in corpus line {line:?}"),
                }
            }
            cmds.last_mut().unwrap().push(arg);
        } else {
            let mut arg = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                arg.push(c);
                chars.next();
            }
            if arg == ";" {
                cmds.push(vec![]);
            } else {
                cmds.last_mut().unwrap().push(arg);
            }
        }
    }
    cmds.retain(|c| !c.is_empty());
    cmds
}

fn corpus(text: &str) -> Vec<Step> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (line, events) = match l.split_once(" => ") {
                Some((line, ev)) => (
                    line.trim(),
                    ev.split(", ").map(|e| e.trim().to_string()).collect(),
                ),
                None => (l, vec![]),
            };
            Step {
                line: line.to_string(),
                cmds: split_commands(line),
                events,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Frames.
// ---------------------------------------------------------------------------------------------

fn bulk(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

/// `*3 message channel payload`.
fn msg(channel: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = b"*3\r\n".to_vec();
    for p in [&b"message"[..], channel, payload] {
        out.extend(bulk(p));
    }
    out
}

/// `*4 pmessage pattern channel payload`.
fn pmsg(pattern: &[u8], channel: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = b"*4\r\n".to_vec();
    for p in [&b"pmessage"[..], pattern, channel, payload] {
        out.extend(bulk(p));
    }
    out
}

/// `*3 kind channel count` (subscribe/psubscribe confirmations).
fn conf(kind: &str, channel: &str, count: i64) -> Vec<u8> {
    let mut out = b"*3\r\n".to_vec();
    out.extend(bulk(kind.as_bytes()));
    out.extend(bulk(channel.as_bytes()));
    out.extend(format!(":{count}\r\n").into_bytes());
    out
}

fn keyspace(db: &str, key: &str) -> String {
    format!("__keyspace@{db}__:{key}")
}

fn keyevent(db: &str, event: &str) -> String {
    format!("__keyevent@{db}__:{event}")
}

/// The two frames a subscriber to [`PATTERN`] gets for an annotated event (`event key` or
/// `event key@db`) under `K` and `E`.
fn frames_for(event: &str) -> Vec<Vec<u8>> {
    let (ev, rest) = event
        .split_once(' ')
        .unwrap_or_else(|| panic!("bad annotation {event:?}"));
    let (key, db) = match rest.rsplit_once('@') {
        Some((k, d)) if d.parse::<u32>().is_ok() => (k, d),
        _ => (rest, "0"),
    };
    let p = PATTERN.as_bytes();
    vec![
        pmsg(p, keyspace(db, key).as_bytes(), ev.as_bytes()),
        pmsg(p, keyevent(db, ev).as_bytes(), key.as_bytes()),
    ]
}

/// A frame as one readable line: `pmessage __key*@*__:* __keyspace@0__:k set`.
fn render(frame: &[u8]) -> String {
    match parse(frame) {
        Resp::Array(items) => items
            .iter()
            .map(|i| match i {
                Resp::Bulk(b) => b.escape_ascii().to_string(),
                Resp::Int(n) => format!(":{n}"),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => show(frame),
    }
}

fn render_all(frames: &[Vec<u8>]) -> String {
    if frames.is_empty() {
        return "      (nothing)".into();
    }
    frames
        .iter()
        .map(|f| format!("      {}", render(f)))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Running a corpus.
// ---------------------------------------------------------------------------------------------

/// What one step produced on one server.
struct Outcome {
    replies: Vec<Vec<u8>>,
    /// Per subscriber, the frames before the step's marker.
    frames: Vec<Vec<Vec<u8>>>,
}

/// A command connection, a connection for blocking commands, and subscribers.
struct Session<'a> {
    s: &'a Server,
    c: Conn,
    blocker: Conn,
    subs: Vec<Conn>,
    channel: String,
    marker: u64,
}

impl<'a> Session<'a> {
    /// Flushes everything, sets the flags (the reply must be +OK) and opens `subscribers`
    /// connections that PSUBSCRIBE [`PATTERN`] and SUBSCRIBE to this session's marker channel.
    fn open(s: &'a Server, flags: &str, subscribers: usize) -> Session<'a> {
        static SESSIONS: AtomicUsize = AtomicUsize::new(0);
        let channel = format!("{MARKER}:{}", SESSIONS.fetch_add(1, Ordering::Relaxed));
        let mut c = s.conn();
        expect(s, &mut c, &["FLUSHALL"], b"+OK\r\n");
        expect(
            s,
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", flags],
            b"+OK\r\n",
        );
        let subs = (0..subscribers)
            .map(|_| {
                let mut sub = s.conn();
                sub.send_cmd(&["PSUBSCRIBE", PATTERN]);
                assert_eq!(
                    show(&sub.reply()),
                    show(&conf("psubscribe", PATTERN, 1)),
                    "{}",
                    s.label()
                );
                sub.send_cmd(&["SUBSCRIBE", &channel]);
                assert_eq!(
                    show(&sub.reply()),
                    show(&conf("subscribe", &channel, 2)),
                    "{}",
                    s.label()
                );
                sub
            })
            .collect();
        Session {
            s,
            c,
            blocker: s.conn(),
            subs,
            channel,
            marker: 0,
        }
    }

    /// Waits until the server reports `n` blocked clients.
    fn wait_blocked(&mut self, n: usize) {
        let want = format!("blocked_clients:{n}\r\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.c.cmd_text(&["INFO", "clients"]).contains(&want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no blocked client after 5 s",
                self.s.label()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Publishes the next marker and reads every subscriber up to it.
    fn sync(&mut self) -> Vec<Vec<Vec<u8>>> {
        self.marker += 1;
        let n = self.marker.to_string();
        let reply = self.c.cmd(&["PUBLISH", &self.channel, &n]);
        assert_eq!(
            show(&reply),
            show(format!(":{}\r\n", self.subs.len()).as_bytes()),
            "{}: PUBLISH {} {n}",
            self.s.label(),
            self.channel
        );
        let want = msg(self.channel.as_bytes(), n.as_bytes());
        let stray = format!("message {} ", self.channel);
        let label = self.s.label().to_string();
        self.subs
            .iter_mut()
            .enumerate()
            .map(|(k, sub)| {
                let mut frames = vec![];
                loop {
                    let f = sub.read_reply().unwrap_or_else(|e| {
                        panic!(
                            "{label}: subscriber {k} did not get marker {n} ({e}); it got:\n{}",
                            render_all(&frames)
                        )
                    });
                    if f == want {
                        break;
                    }
                    assert!(
                        !render(&f).starts_with(&stray),
                        "{label}: subscriber {k} got {} while waiting for marker {n}",
                        render(&f)
                    );
                    frames.push(f);
                }
                frames
            })
            .collect()
    }

    fn run(&mut self, step: &Step) -> Outcome {
        let mut replies = vec![];
        let mut blocked = false;
        for cmd in &step.cmds {
            match cmd[0].as_str() {
                "SLEEP" => {
                    std::thread::sleep(Duration::from_millis(cmd[1].parse().unwrap()));
                }
                "BLOCKING" => {
                    self.blocker.send_cmd(&cmd[1..]);
                    self.wait_blocked(1);
                    blocked = true;
                }
                _ => replies.push(self.c.cmd(cmd)),
            }
        }
        if blocked {
            replies.push(self.blocker.reply());
        }
        Outcome {
            replies,
            frames: self.sync(),
        }
    }
}

/// Runs `steps` on `s` with `flags`.
fn run_corpus(s: &Server, flags: &str, steps: &[Step], subscribers: usize) -> Vec<Outcome> {
    let mut session = Session::open(s, flags, subscribers);
    steps.iter().map(|st| session.run(st)).collect()
}

/// The report for a step whose frames differ.
fn mismatch(
    flags: &str,
    steps: &[Step],
    i: usize,
    what: &str,
    want: (&str, &[Vec<u8>], &[Vec<u8>]),
    got: (&str, &[Vec<u8>], &[Vec<u8>]),
) -> String {
    let replies = |r: &[Vec<u8>]| r.iter().map(|r| show(r)).collect::<Vec<_>>().join(" ");
    format!(
        "notify-keyspace-events {flags:?}: {what}, step #{i} `{}`{}\n  {}:\n{}\n  {}:\n{}\n  \
         replies from {}: {}\n  replies from {}: {}",
        steps[i].line,
        if i > 0 {
            format!(" (after `{}`)", steps[i - 1].line)
        } else {
            String::new()
        },
        want.0,
        render_all(want.1),
        got.0,
        render_all(got.1),
        want.0,
        replies(want.2),
        got.0,
        replies(got.2),
    )
}

/// Checks a Redis run against the corpus annotations: under `K` and `E` with every class, each
/// annotated event is a keyspace then a keyevent message; without `n`/`m` the `new`/`keymiss`
/// events are left out.
fn check_annotations(redis: &Server, flags: &str, steps: &[Step], runs: &[Outcome], sorted: bool) {
    let with_nm = flags.contains('n') && flags.contains('m');
    for (i, (st, out)) in steps.iter().zip(runs).enumerate() {
        let mut want: Vec<Vec<u8>> = st
            .events
            .iter()
            .filter(|e| with_nm || !(e.starts_with("new ") || e.starts_with("keymiss ")))
            .flat_map(|e| frames_for(e))
            .collect();
        for (k, frames) in out.frames.iter().enumerate() {
            let mut got = frames.clone();
            if sorted {
                got.sort();
                want.sort();
            }
            if got != want {
                panic!(
                    "{}\n(the reference redis-server disagrees with the corpus annotation: a suite \
                     bug, or another Redis version; subscriber {k})",
                    mismatch(
                        flags,
                        steps,
                        i,
                        "annotation vs redis",
                        ("the annotation", &want, &[]),
                        (redis.label(), &got, &out.replies),
                    )
                );
            }
        }
    }
}

/// Runs `steps` with `flags` on Redis then on Shoal and asserts that every subscriber got the
/// same messages for every step (as a multiset when `sorted`). With `annotated`, the Redis run
/// is also checked against the annotations.
fn differential(
    shoal: &Server,
    redis: &Server,
    flags: &str,
    text: &str,
    subscribers: usize,
    sorted: bool,
    annotated: bool,
) {
    let steps = corpus(text);
    let want = run_corpus(redis, flags, &steps, subscribers);
    if annotated {
        check_annotations(redis, flags, &steps, &want, sorted);
    }
    let got = run_corpus(shoal, flags, &steps, subscribers);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let reference = &w.frames[0];
        for (k, frames) in w.frames.iter().enumerate() {
            let (mut a, mut b) = (reference.clone(), frames.clone());
            if sorted {
                a.sort();
                b.sort();
            }
            assert!(
                a == b,
                "{}",
                mismatch(
                    flags,
                    &steps,
                    i,
                    &format!("redis subscriber 0 vs redis subscriber {k}"),
                    ("redis subscriber 0", reference, &w.replies),
                    (&format!("redis subscriber {k}"), frames, &w.replies),
                )
            );
        }
        for (k, frames) in g.frames.iter().enumerate() {
            let (mut a, mut b) = (reference.clone(), frames.clone());
            if sorted {
                a.sort();
                b.sort();
            }
            if a != b {
                panic!(
                    "{}",
                    mismatch(
                        flags,
                        &steps,
                        i,
                        &format!(
                            "shoal vs redis{}, subscriber {k} of {subscribers}",
                            if sorted {
                                " (compared as sorted lists)"
                            } else {
                                ""
                            }
                        ),
                        (redis.label(), reference, &w.replies),
                        (shoal.label(), frames, &g.replies),
                    )
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn corpus_annotations_parse() {
    for text in [CORPUS, CROSS_SHARD, EVERY_CORE] {
        for st in corpus(text) {
            assert!(!st.cmds.is_empty(), "{:?}", st.line);
            for e in &st.events {
                assert_eq!(frames_for(e).len(), 2, "{e:?} in {:?}", st.line);
            }
        }
    }
    assert_eq!(
        split_commands(r#"EVAL "return 1; x" 0 ; APPEND k "" ; GET  k"#),
        vec![
            vec!["EVAL", "return 1; x", "0"],
            vec!["APPEND", "k", ""],
            vec!["GET", "k"]
        ]
    );
}

#[test]
fn cross_shard_keys_are_spread() {
    let shards = |ks: [&str; 4]| ks.map(|k| shard_of(k, SHARDS));
    assert_eq!(shards(["a", "b", "c", "d"]), [3, 0, 1, 2]);
    assert_eq!(shards(["e", "f", "g", "h"]), [3, 0, 1, 2]);
    assert_eq!(["x", "y", "z"].map(|k| shard_of(k, SHARDS)), [3, 2, 1]);
}

/// CONFIG SET notify-keyspace-events, then CONFIG GET: Redis keeps the flags, not the string.
/// `A` is `g$lshzxetd`; the string is rebuilt as `A` (or the classes in the order
/// `g$lshzxetdn`), then `K`, `E`, `m`; `n` is dropped when `A` is shown (but still set).
#[test]
fn config_set_and_get_normalise_the_flags() {
    let cases: &[(&str, &str)] = &[
        ("", ""),
        ("K", "K"),
        ("E", "E"),
        ("KA", "AK"),
        ("EA", "AE"),
        ("KEA", "AKE"),
        ("Kgx", "gxK"),
        ("gK", "gK"),
        ("Kg$", "g$K"),
        ("AKEnm", "AKEm"),
        ("KEAnm", "AKEm"),
        ("An", "A"),
        ("A", "A"),
        ("g$lshzxetd", "A"),
        ("KEg$lshzxetdnm", "AKEm"),
        ("Ex$lshzxetdm", "$lshzxetdEm"),
        ("nm", "nm"),
        ("gn", "gn"),
        ("KEd", "dKE"),
        ("t", "t"),
        ("xe", "xe"),
        ("EEKKxx", "xKE"),
    ];
    for s in [Server::redis(), Server::shoal(SHARDS)] {
        let mut c = s.conn();
        for (set, get) in cases {
            expect(
                &s,
                &mut c,
                &["CONFIG", "SET", "notify-keyspace-events", set],
                b"+OK\r\n",
            );
            let mut want = b"*2\r\n".to_vec();
            want.extend(bulk(b"notify-keyspace-events"));
            want.extend(bulk(get.as_bytes()));
            expect(
                &s,
                &mut c,
                &["CONFIG", "GET", "notify-keyspace-events"],
                &want,
            );
            expect(&s, &mut c, &["CONFIG", "GET", "notify-keyspace-*"], &want);
        }
        // An unknown class character: an error, and the flags stay as they were.
        expect(
            &s,
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", "Kq"],
            b"-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - \
              Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n",
        );
        expect(
            &s,
            &mut c,
            &["CONFIG", "GET", "notify-keyspace-events"],
            b"*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nxKE\r\n",
        );
        expect(
            &s,
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", ""],
            b"+OK\r\n",
        );
        expect(
            &s,
            &mut c,
            &["CONFIG", "GET", "notify-keyspace-events"],
            b"*2\r\n$22\r\nnotify-keyspace-events\r\n$0\r\n\r\n",
        );
    }
}

/// The whole corpus with every class on both channels, compared step by step with Redis.
#[test]
fn keyspace_and_keyevent_streams_match_redis() {
    let (shoal, redis) = (Server::shoal(SHARDS), Server::redis());
    differential(&shoal, &redis, "KEA", CORPUS, 1, false, true);
}

/// The whole corpus with `new` and `keymiss` events too.
#[test]
fn new_and_keymiss_events_match_redis() {
    let (shoal, redis) = (Server::shoal(SHARDS), Server::redis());
    differential(&shoal, &redis, "KEAnm", CORPUS, 1, false, true);
}

/// Only the enabled classes are delivered, on only the enabled channel kinds: the whole corpus
/// under flag sets that each leave most events out.
#[test]
fn only_enabled_classes_are_delivered() {
    let (shoal, redis) = (Server::shoal(SHARDS), Server::redis());
    for flags in [
        "Kl", "Eg", "E$", "Khs", "Kzt", "Ex", "Enm", "Km", "Kd", "K", "E", "A",
    ] {
        differential(&shoal, &redis, flags, CORPUS, 1, false, false);
    }
}

/// Multi-key commands over keys on different shards: each step's messages as a multiset.
#[test]
fn cross_shard_commands_match_redis_as_multisets() {
    let (shoal, redis) = (Server::shoal(SHARDS), Server::redis());
    differential(&shoal, &redis, "KEAnm", CROSS_SHARD, 1, true, true);
    differential(&shoal, &redis, "Kg$", CROSS_SHARD, 1, true, false);
}

/// Several subscriber connections (over every core of a 4-shard Shoal, with the kernel's
/// SO_REUSEPORT hashing) each get the same stream as Redis's subscribers, in order.
#[test]
fn every_subscriber_on_every_core_gets_the_same_stream() {
    let (shoal, redis) = (Server::shoal(SHARDS), Server::redis());
    differential(&shoal, &redis, "KEAnm", EVERY_CORE, 8, false, true);
}

/// The channel formats, exactly: `__keyspace@<db>__:<key>` carries the event,
/// `__keyevent@<db>__:<event>` carries the key; plain SUBSCRIBE to one channel gets `message`
/// frames; binary keys pass through; the db number is the connection's selected db.
#[test]
fn channel_formats_and_database_numbers() {
    for s in [Server::redis(), Server::shoal(SHARDS)] {
        let mut c = s.conn();
        expect(
            &s,
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
            b"+OK\r\n",
        );
        let mut pat = s.conn();
        pat.send_cmd(&["PSUBSCRIBE", PATTERN]);
        assert_eq!(show(&pat.reply()), show(&conf("psubscribe", PATTERN, 1)));
        let mut one = s.conn();
        for (i, ch) in [
            "__keyspace@0__:k",
            "__keyevent@0__:set",
            "__keyevent@1__:set",
            "__keyspace@10__:k",
            "__keyevent@0__:del",
        ]
        .iter()
        .enumerate()
        {
            one.send_cmd(&["SUBSCRIBE", ch]);
            assert_eq!(
                show(&one.reply()),
                show(&conf("subscribe", ch, i as i64 + 1))
            );
        }
        let p = PATTERN.as_bytes();
        let check = |sub: &mut Conn, want: Vec<u8>, what: &str| {
            assert_eq!(show(&sub.reply()), show(&want), "{}: {what}", s.label());
        };
        expect(&s, &mut c, &["SET", "k", "v"], b"+OK\r\n");
        check(
            &mut pat,
            pmsg(p, b"__keyspace@0__:k", b"set"),
            "keyspace of SET",
        );
        check(
            &mut pat,
            pmsg(p, b"__keyevent@0__:set", b"k"),
            "keyevent of SET",
        );
        check(
            &mut one,
            msg(b"__keyspace@0__:k", b"set"),
            "keyspace of SET",
        );
        check(
            &mut one,
            msg(b"__keyevent@0__:set", b"k"),
            "keyevent of SET",
        );
        expect(&s, &mut c, &["SELECT", "1"], b"+OK\r\n");
        expect(&s, &mut c, &["SET", "k", "v"], b"+OK\r\n");
        check(&mut pat, pmsg(p, b"__keyspace@1__:k", b"set"), "db 1");
        check(&mut pat, pmsg(p, b"__keyevent@1__:set", b"k"), "db 1");
        check(&mut one, msg(b"__keyevent@1__:set", b"k"), "db 1");
        expect(&s, &mut c, &["SELECT", "10"], b"+OK\r\n");
        expect(&s, &mut c, &["LPUSH", "k", "v"], b":1\r\n");
        check(&mut pat, pmsg(p, b"__keyspace@10__:k", b"lpush"), "db 10");
        check(&mut pat, pmsg(p, b"__keyevent@10__:lpush", b"k"), "db 10");
        check(&mut one, msg(b"__keyspace@10__:k", b"lpush"), "db 10");
        expect(&s, &mut c, &["SELECT", "0"], b"+OK\r\n");
        // A key with spaces, CR LF and non-UTF-8 bytes.
        let key: &[u8] = b"a b\r\n\x00\xff";
        assert_eq!(c.cmd(&[&b"DEL"[..], b"k", key]), b":1\r\n");
        check(&mut pat, pmsg(p, b"__keyspace@0__:k", b"del"), "DEL k");
        check(&mut pat, pmsg(p, b"__keyevent@0__:del", b"k"), "DEL k");
        check(&mut one, msg(b"__keyspace@0__:k", b"del"), "DEL k");
        check(&mut one, msg(b"__keyevent@0__:del", b"k"), "DEL k");
        assert_eq!(c.cmd(&[&b"SET"[..], key, b"v"]), b"+OK\r\n");
        assert_eq!(c.cmd(&[&b"DEL"[..], key]), b":1\r\n");
        let mut space = b"__keyspace@0__:".to_vec();
        space.extend_from_slice(key);
        check(&mut pat, pmsg(p, &space, b"set"), "SET binary key");
        check(
            &mut pat,
            pmsg(p, b"__keyevent@0__:set", key),
            "SET binary key",
        );
        check(&mut pat, pmsg(p, &space, b"del"), "DEL binary key");
        check(
            &mut pat,
            pmsg(p, b"__keyevent@0__:del", key),
            "DEL binary key",
        );
        check(&mut one, msg(b"__keyevent@0__:set", key), "SET binary key");
        check(&mut one, msg(b"__keyevent@0__:del", key), "DEL binary key");
        // Keyspace only, then keyevent only.
        expect(
            &s,
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", "K$"],
            b"+OK\r\n",
        );
        expect(&s, &mut c, &["SET", "k", "w"], b"+OK\r\n");
        expect(
            &s,
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", "E$"],
            b"+OK\r\n",
        );
        expect(&s, &mut c, &["SET", "k", "x"], b"+OK\r\n");
        check(&mut pat, pmsg(p, b"__keyspace@0__:k", b"set"), "K$ only");
        check(&mut pat, pmsg(p, b"__keyevent@0__:set", b"k"), "E$ only");
        check(&mut one, msg(b"__keyspace@0__:k", b"set"), "K$ only");
        check(&mut one, msg(b"__keyevent@0__:set", b"k"), "E$ only");
        // Off: nothing more (the PUBLISH comes next on both).
        expect(
            &s,
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", ""],
            b"+OK\r\n",
        );
        expect(&s, &mut c, &["SET", "k", "y"], b"+OK\r\n");
        expect(&s, &mut c, &["DEL", "k"], b":1\r\n");
        expect(
            &s,
            &mut c,
            &["PUBLISH", "__keyevent@0__:del", "end"],
            b":2\r\n",
        );
        check(
            &mut pat,
            pmsg(p, b"__keyevent@0__:del", b"end"),
            "after off",
        );
        check(&mut one, msg(b"__keyevent@0__:del", b"end"), "after off");
    }
}

/// Only list events on the keyspace channel with `Kl`, only generic events on the keyevent
/// channel with `Eg`, exactly.
#[test]
fn class_filters_exactly() {
    for s in [Server::redis(), Server::shoal(SHARDS)] {
        let mut c = s.conn();
        let mut sub = s.conn();
        sub.send_cmd(&["PSUBSCRIBE", PATTERN]);
        assert_eq!(show(&sub.reply()), show(&conf("psubscribe", PATTERN, 1)));
        let p = PATTERN.as_bytes();
        let workload = |c: &mut Conn| {
            for cmd in [
                &["SET", "s", "v", "EX", "100"][..],
                &["LPUSH", "l", "a", "b"],
                &["SADD", "st", "a"],
                &["HSET", "h", "f", "v"],
                &["ZADD", "z", "1", "a"],
                &["XADD", "x", "1-1", "f", "v"],
                &["EXPIRE", "l", "100"],
                &["RPOP", "l"],
                // One DEL per key: these keys live on different cores, and a multi-key
                // command's events come from each core in turn (the cross-shard test compares
                // those as multisets).
                &["DEL", "s"],
                &["DEL", "st"],
                &["DEL", "h"],
                &["DEL", "z"],
                &["DEL", "x"],
                &["LPOP", "l"],
                &["PUBLISH", "__keyevent@0__:end", "."],
            ] {
                c.cmd(cmd);
            }
        };
        for (flags, want) in [
            (
                "Kl",
                vec![
                    pmsg(p, b"__keyspace@0__:l", b"lpush"),
                    pmsg(p, b"__keyspace@0__:l", b"rpop"),
                    pmsg(p, b"__keyspace@0__:l", b"lpop"),
                ],
            ),
            (
                "Eg",
                vec![
                    pmsg(p, b"__keyevent@0__:expire", b"s"),
                    pmsg(p, b"__keyevent@0__:expire", b"l"),
                    pmsg(p, b"__keyevent@0__:del", b"s"),
                    pmsg(p, b"__keyevent@0__:del", b"st"),
                    pmsg(p, b"__keyevent@0__:del", b"h"),
                    pmsg(p, b"__keyevent@0__:del", b"z"),
                    pmsg(p, b"__keyevent@0__:del", b"x"),
                    pmsg(p, b"__keyevent@0__:del", b"l"),
                ],
            ),
        ] {
            expect(
                &s,
                &mut c,
                &["CONFIG", "SET", "notify-keyspace-events", flags],
                b"+OK\r\n",
            );
            workload(&mut c);
            let mut got = vec![];
            loop {
                let f = sub.reply();
                if f == pmsg(p, b"__keyevent@0__:end", b".") {
                    break;
                }
                got.push(f);
            }
            assert_eq!(
                render_all(&got),
                render_all(&want),
                "{}: notify-keyspace-events {flags}",
                s.label()
            );
        }
    }
}

/// Expired events from the active expiry cycle: 20 keys (over every shard) with PX 50 under
/// `Ex`; within 2 s there are exactly 20 `expired` events on the keyevent channel, one per key
/// (in no particular order), and nothing else (the SETs' `set`/`expire` are not enabled).
#[test]
fn active_expiry_sends_expired_events() {
    const N: usize = 20;
    for s in [Server::redis(), Server::shoal(SHARDS)] {
        let mut c = s.conn();
        expect(
            &s,
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", "Ex"],
            b"+OK\r\n",
        );
        let mut sub = s.conn();
        sub.send_cmd(&["PSUBSCRIBE", PATTERN]);
        assert_eq!(show(&sub.reply()), show(&conf("psubscribe", PATTERN, 1)));
        let keys: Vec<String> = (0..N).map(|i| format!("ttl:{i}")).collect();
        let shards: BTreeSet<usize> = keys.iter().map(|k| shard_of(k, SHARDS)).collect();
        assert_eq!(shards.len(), SHARDS, "the keys are not on every shard");
        for k in &keys {
            expect(&s, &mut c, &["SET", k, "v", "PX", "50"], b"+OK\r\n");
        }
        sub.set_reply_timeout(Duration::from_secs(2));
        let start = Instant::now();
        let mut got = BTreeSet::new();
        let p = PATTERN.as_bytes();
        while got.len() < N {
            let f = sub.read_reply().unwrap_or_else(|e| {
                panic!(
                    "{}: {} expired events after {:?} ({e}); got {got:?}",
                    s.label(),
                    got.len(),
                    start.elapsed()
                )
            });
            let key = keys
                .iter()
                .find(|k| f == pmsg(p, b"__keyevent@0__:expired", k.as_bytes()))
                .unwrap_or_else(|| panic!("{}: unexpected frame {}", s.label(), render(&f)));
            assert!(
                got.insert(key.clone()),
                "{}: {key} expired twice",
                s.label()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{}: the keys took {:?} to expire",
            s.label(),
            start.elapsed()
        );
        expect(&s, &mut c, &["DBSIZE"], b":0\r\n");
        // Nothing else was sent.
        expect(
            &s,
            &mut c,
            &["PUBLISH", "__keyevent@0__:end", "."],
            b":1\r\n",
        );
        assert_eq!(
            render(&sub.reply()),
            render(&pmsg(p, b"__keyevent@0__:end", b".")),
            "{}: a frame after the 20 expired events",
            s.label()
        );
    }
}

/// MOVE (between databases) and SWAPDB.
const DATABASES: &str = r#"
SET mv v => new mv, set mv
MOVE mv 1 => new mv@1, move_from mv, move_to mv@1
MOVE mv 1
SET mv v => new mv, set mv
MOVE mv 1
MOVE mv:none 1
SELECT 1
DEL mv => del mv@1
SELECT 0
SET w0 v => new w0, set w0
SWAPDB 0 1
DEL w0
SELECT 1
DEL w0 => del w0@1
SELECT 0
"#;

/// MOVE and SWAPDB, step by step.
#[test]
fn move_and_swapdb_match_redis() {
    let (shoal, redis) = (Server::shoal(SHARDS), Server::redis());
    differential(&shoal, &redis, "KEAnm", DATABASES, 1, false, true);
}
