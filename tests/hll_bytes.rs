//! HyperLogLog representation, byte for byte: the same PFADDs (10, 1000 and 100000 elements:
//! sparse, promoted to dense, dense) leave identical strings in Shoal and in a real
//! redis-server, PFCOUNT agrees (and caches the same bytes), PFMERGE of sparse and dense HLLs
//! writes the same result, and HLL strings written by Redis, SET into Shoal, count and grow the
//! same way.

mod suite;

use suite::{parse, show, Conn, Resp, Server};

fn bulk(c: &mut Conn, args: &[&[u8]]) -> Vec<u8> {
    match parse(&c.cmd(args)) {
        Resp::Bulk(b) => b,
        r => panic!(
            "expected a bulk reply to {:?}, got {r:?}",
            show(&args.concat())
        ),
    }
}

/// PFADD `n` elements to `key` in batches of 500 on both servers, comparing every reply.
fn pfadd_both(shoal: &mut Conn, redis: &mut Conn, key: &str, prefix: &str, n: usize) {
    let elems: Vec<String> = (0..n).map(|i| format!("{prefix}:{i}")).collect();
    for chunk in elems.chunks(500) {
        let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
        args.extend(chunk.iter().map(|e| e.as_bytes()));
        let (a, b) = (shoal.cmd(&args), redis.cmd(&args));
        assert_eq!(show(&a), show(&b), "PFADD {key} ({prefix}, {n} elements)");
    }
}

fn same(shoal: &mut Conn, redis: &mut Conn, args: &[&str]) -> Vec<u8> {
    let (a, b) = (shoal.cmd(args), redis.cmd(args));
    assert_eq!(show(&a), show(&b), "{args:?}");
    a
}

fn same_bytes(shoal: &mut Conn, redis: &mut Conn, key: &str) -> Vec<u8> {
    let (a, b) = (
        bulk(shoal, &[b"GET", key.as_bytes()]),
        bulk(redis, &[b"GET", key.as_bytes()]),
    );
    assert!(
        a == b,
        "GET {key}: {} bytes from shoal, {} from redis; first difference at byte {:?}",
        a.len(),
        b.len(),
        a.iter().zip(&b).position(|(x, y)| x != y)
    );
    a
}

#[test]
fn hll_bytes_match_redis() {
    let (shoal, redis) = (Server::shoal(1), Server::redis());
    let (mut s, mut r) = (shoal.conn(), redis.conn());
    for (key, n) in [("h10", 10), ("h1000", 1000), ("h100000", 100_000)] {
        pfadd_both(&mut s, &mut r, key, key, n);
        let stale = same_bytes(&mut s, &mut r, key);
        assert_eq!(&stale[..4], b"HYLL");
        same(&mut s, &mut r, &["PFCOUNT", key]);
        // The cardinality is now cached in the header.
        let cached = same_bytes(&mut s, &mut r, key);
        assert_eq!(cached[15] & 0x80, 0, "{key}: cache still marked stale");
        same(&mut s, &mut r, &["PFCOUNT", key]);
        same(&mut s, &mut r, &["OBJECT", "ENCODING", key]);
    }
    // 10 elements stay sparse; 100000 are dense (12304 bytes).
    assert_eq!(bulk(&mut s, &[b"GET", b"h10"])[4], 1);
    assert_eq!(bulk(&mut s, &[b"GET", b"h100000"]).len(), 12304);

    // Re-adding known elements changes nothing; new ones do.
    pfadd_both(&mut s, &mut r, "h1000", "h1000", 1000);
    pfadd_both(&mut s, &mut r, "h1000", "more", 3000);
    same_bytes(&mut s, &mut r, "h1000");

    // Union cardinalities and merges over sparse and dense inputs.
    same(
        &mut s,
        &mut r,
        &["PFCOUNT", "h10", "h1000", "h100000", "none"],
    );
    same(&mut s, &mut r, &["PFMERGE", "m1", "h10", "none"]);
    same_bytes(&mut s, &mut r, "m1");
    same(
        &mut s,
        &mut r,
        &["PFMERGE", "m2", "h10", "h1000", "h100000"],
    );
    same_bytes(&mut s, &mut r, "m2");
    same(&mut s, &mut r, &["PFMERGE", "h10", "h10"]);
    same_bytes(&mut s, &mut r, "h10");
    same(&mut s, &mut r, &["PFCOUNT", "m2"]);
    same(&mut s, &mut r, &["PFADD", "empty"]);
    same_bytes(&mut s, &mut r, "empty");
    same(&mut s, &mut r, &["PFDEBUG", "DECODE", "h10"]);
    same(&mut s, &mut r, &["PFDEBUG", "ENCODING", "h100000"]);
}

#[test]
fn redis_written_hlls_work_in_shoal() {
    let (shoal, redis) = (Server::shoal(1), Server::redis());
    let (mut s, mut r) = (shoal.conn(), redis.conn());
    for (i, n) in [0usize, 3, 10, 300, 1000, 5000, 100_000]
        .into_iter()
        .enumerate()
    {
        let key = format!("r{i}");
        let elems: Vec<String> = (0..n).map(|j| format!("x{i}:{j}")).collect();
        let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
        for chunk in elems.chunks(1000) {
            args.truncate(2);
            args.extend(chunk.iter().map(|e| e.as_bytes()));
            r.cmd(&args);
        }
        if n == 0 {
            r.cmd(&[b"PFADD" as &[u8], key.as_bytes()]);
        }
        // Stale and then cached headers both travel.
        for _ in 0..2 {
            let bytes = bulk(&mut r, &[b"GET", key.as_bytes()]);
            let reply = s.cmd(&[b"SET" as &[u8], key.as_bytes(), &bytes]);
            assert_eq!(reply, b"+OK\r\n");
            let (a, b) = (
                s.cmd(&[b"PFCOUNT" as &[u8], key.as_bytes()]),
                r.cmd(&[b"PFCOUNT" as &[u8], key.as_bytes()]),
            );
            assert_eq!(
                show(&a),
                show(&b),
                "PFCOUNT of Redis's {key} ({n} elements)"
            );
            same_bytes(&mut s, &mut r, &key);
        }
        // And keep growing identically from Redis's bytes.
        pfadd_both(&mut s, &mut r, &key, "grow", 700);
        same_bytes(&mut s, &mut r, &key);
        same(&mut s, &mut r, &["PFCOUNT", &key]);
    }
    // Strings that are not HLLs.
    for bad in [
        &b"garbage"[..],
        b"HYLL",
        b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f",
    ] {
        s.cmd(&[b"SET" as &[u8], b"bad", bad]);
        r.cmd(&[b"SET" as &[u8], b"bad", bad]);
        same(&mut s, &mut r, &["PFCOUNT", "bad"]);
        same(&mut s, &mut r, &["PFADD", "bad", "a"]);
        same(&mut s, &mut r, &["PFMERGE", "dst", "bad"]);
    }
}

/// Corrupt sparse HLLs (runs past the last register, too few registers, a half XZERO opcode at
/// the end) answer and change exactly as in Redis within one command.
#[test]
fn corrupt_sparse_hlls_match_redis() {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let (shoal, redis) = (Server::shoal(1), Server::redis());
    let (mut s, mut r) = (shoal.conn(), redis.conn());
    let elems: Vec<String> = (0..300).map(|i| format!("s{i}")).collect();
    let mut args: Vec<&str> = vec!["PFADD", "src"];
    args.extend(elems.iter().map(|e| e.as_str()));
    same(&mut s, &mut r, &args);
    let mut rng = SmallRng::seed_from_u64(7);
    for _ in 0..1500 {
        let mut v = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
        for _ in 0..rng.gen_range(0..12) {
            match rng.gen_range(0..10) {
                0..=4 => v.push(rng.gen_range(0..0x40)),
                5..=6 => v.extend([rng.gen_range(0x40..0x80), rng.gen()]),
                _ => v.push(rng.gen_range(0x80..=0xff)),
            }
        }
        if rng.gen_bool(0.5) {
            v.push(rng.gen_range(0x40..0x80));
        }
        let cmd: Vec<String> = match rng.gen_range(0..4) {
            0 => vec!["PFMERGE".into(), "x".into(), "src".into()],
            1 => vec!["PFCOUNT".into(), "x".into(), "src".into()],
            2 => vec!["PFDEBUG".into(), "TODENSE".into(), "x".into()],
            _ => {
                let mut c = vec!["PFADD".to_string(), "x".into()];
                c.extend((0..rng.gen_range(1..40)).map(|_| format!("e{}", rng.gen::<u32>())));
                c
            }
        };
        for c in [&mut s, &mut r] {
            c.cmd(&[b"SET" as &[u8], b"x", &v]);
        }
        let (a, b) = (s.cmd(&cmd), r.cmd(&cmd));
        assert_eq!(show(&a), show(&b), "{cmd:?} over {}", show(&v));
        same_bytes(&mut s, &mut r, "x");
    }
}
