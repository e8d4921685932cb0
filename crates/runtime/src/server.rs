//! Start-up and shutdown: listeners, the shared state, one pinned thread per shard, signals.

use crate::config::Config;
use crate::mesh::Mailbox;
use crate::shard::{Shard, ShardStats, Shared};
use arc_swap::ArcSwap;
use shoal_data::SLOTS;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Errors with the context of what was being set up.
fn ctx_err(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn cvt(rc: libc::c_int, what: &str) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(ctx_err(what, io::Error::last_os_error()))
    } else {
        Ok(rc)
    }
}

/// A listening socket with SO_REUSEPORT, so every shard can bind the same address.
fn listen(addr: SocketAddr) -> io::Result<RawFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket syscalls on a descriptor we create and own; sockaddr structs are
    // fully initialised before use.
    unsafe {
        let fd = cvt(
            libc::socket(
                family,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            ),
            "socket",
        )?;
        let one: libc::c_int = 1;
        for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
            cvt(
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    &one as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as u32,
                ),
                "setsockopt",
            )?;
        }
        let rc = match addr {
            SocketAddr::V4(a) => {
                let mut sa: libc::sockaddr_in = std::mem::zeroed();
                sa.sin_family = libc::AF_INET as u16;
                sa.sin_port = a.port().to_be();
                sa.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                libc::bind(
                    fd,
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of_val(&sa) as u32,
                )
            }
            SocketAddr::V6(a) => {
                let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
                sa.sin6_family = libc::AF_INET6 as u16;
                sa.sin6_port = a.port().to_be();
                sa.sin6_addr.s6_addr = a.ip().octets();
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    &one as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as u32,
                );
                libc::bind(
                    fd,
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of_val(&sa) as u32,
                )
            }
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(ctx_err(&format!("bind {addr}"), e));
        }
        cvt(libc::listen(fd, 511), "listen")?;
        Ok(fd)
    }
}

fn pin_to_core(core: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity on the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!(
                "could not pin shard to core {core}: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// The cores this process may run on.
fn allowed_cores() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a zeroed cpu_set_t.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let v: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect();
            if !v.is_empty() {
                return v;
            }
        }
    }
    (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
}

fn block_signals() -> libc::sigset_t {
    // SAFETY: building a signal set and masking it for this thread (inherited by new threads).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        set
    }
}

fn random_run_id() -> String {
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ ((std::process::id() as u64) << 32);
    (0..40)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            char::from_digit((seed % 16) as u32, 16).unwrap_or('0')
        })
        .collect()
}

/// Runs the server until SIGINT/SIGTERM or SHUTDOWN.
pub fn run(config: Config) -> io::Result<()> {
    let cores = allowed_cores();
    let shards = if config.shards == 0 {
        cores.len()
    } else {
        config.shards
    };
    if shards == 0 || shards > SLOTS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "shards must be between 1 and 16384",
        ));
    }
    let sigset = block_signals();
    let mut addrs = vec![];
    for b in &config.bind {
        let b = b.trim_start_matches('-');
        let ip: IpAddr = if b == "*" {
            IpAddr::from([0, 0, 0, 0])
        } else {
            b.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid bind address '{b}'"),
                )
            })?
        };
        addrs.push(SocketAddr::new(ip, config.port));
    }
    // Every listening shard binds every address itself (SO_REUSEPORT spreads connections
    // over them).
    let listening = match config.listen_shards {
        0 => shards,
        n => n.min(shards),
    };
    let mut listeners: Vec<Vec<RawFd>> = vec![];
    for s in 0..shards {
        let mut v = vec![];
        if s < listening {
            for a in &addrs {
                v.push(listen(*a)?);
            }
        }
        listeners.push(v);
    }
    let mut slot_owner = vec![0u16; SLOTS];
    let mut slot_ranges = vec![];
    for s in 0..shards {
        let first = s * SLOTS / shards;
        let end = (s + 1) * SLOTS / shards;
        for o in slot_owner.iter_mut().take(end).skip(first) {
            *o = s as u16;
        }
        slot_ranges.push((first as u16, (end - first) as u16));
    }
    let mut mailboxes = vec![];
    for _ in 0..shards {
        // SAFETY: creating an eventfd we own for the shard's wake-ups.
        let efd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) }, "eventfd")?;
        mailboxes.push(Mailbox::new(efd));
    }
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let port = config.port;
    let shared = Arc::new(Shared {
        config: ArcSwap::from_pointee(config),
        config_epoch: AtomicU64::new(0),
        mailboxes,
        slot_owner,
        slot_ranges,
        commands: shoal_commands::registry::table(),
        next_client_id: AtomicU64::new(1),
        next_tx: AtomicU64::new(1),
        shutdown: AtomicBool::new(false),
        started: Instant::now(),
        started_unix,
        stats: (0..shards).map(|_| ShardStats::default()).collect(),
        clients: AtomicUsize::new(0),
        monitors: Mutex::new(vec![]),
        monitor_count: AtomicUsize::new(0),
        port,
        run_id: random_run_id(),
    });
    shoal_commands::busy::init(shards);
    let mut threads = vec![];
    for (i, ls) in listeners.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let core = cores[i % cores.len()];
        let t = std::thread::Builder::new()
            .name(format!("shard-{i}"))
            .spawn(move || -> io::Result<()> {
                pin_to_core(core);
                crate::slab::enable();
                shoal_commands::busy::register_thread(i);
                let mut shard =
                    Shard::new(i, shared, ls).map_err(|e| ctx_err("io_uring setup", e))?;
                shard.run();
                Ok(())
            })?;
        threads.push(t);
    }
    {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: waiting on the signals this process blocked.
                if unsafe { libc::sigwait(&sigset, &mut sig) } == 0 {
                    tracing::info!("received signal {sig}, shutting down");
                    shared.request_shutdown();
                }
            })?;
    }
    tracing::info!(
        "Shoal {} ready to accept connections on {} with {} shards",
        env!("CARGO_PKG_VERSION"),
        addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        shards
    );
    let mut result = Ok(());
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!("shard failed: {e}");
                shared.request_shutdown();
                result = Err(e);
            }
            Err(_) => {
                shared.request_shutdown();
                result = Err(io::Error::other("a shard thread panicked"));
            }
        }
    }
    tracing::info!("Shoal is now ready to exit, bye bye...");
    result
}
