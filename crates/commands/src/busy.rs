//! Scripts that run past `busy-reply-threshold` (Redis's lua-time-limit), SCRIPT KILL and
//! FUNCTION KILL.
//!
//! A Lua hook runs every 100,000 instructions. Once a script has run longer than the
//! threshold, its shard marks itself busy in a slot other shards read: commands routed to that
//! shard from other cores get Redis's `-BUSY` reply instead of waiting, and SCRIPT KILL or
//! FUNCTION KILL from any other core sets the slot's kill flag, which the hook turns into the
//! script's error. A script that has written cannot be killed (Redis's UNKILLABLE), except by
//! SHUTDOWN, which stops every busy script before the server exits.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The reply to commands that need a shard busy with EVAL.
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// The reply to commands that need a shard busy with FCALL.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
/// The error a killed script ends with (the script's line is added to it).
pub const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

const IDLE: u8 = 0;
const EVAL: u8 = 1;
const FUNCTION: u8 = 2;
const WROTE: u8 = 4;

const NO_KILL: u8 = 0;
const KILL: u8 = 1;
const FORCE: u8 = 2;

/// One shard's state, read and written by every shard.
#[derive(Default)]
struct Slot {
    state: AtomicU8,
    kill: AtomicU8,
}

static SLOTS: OnceLock<Box<[Slot]>> = OnceLock::new();

/// Sizes the slots: once, before the shards start.
pub fn init(shards: usize) {
    let _ = SLOTS.set((0..shards).map(|_| Slot::default()).collect());
}

fn slot(shard: usize) -> Option<&'static Slot> {
    SLOTS.get().and_then(|s| s.get(shard))
}

/// The script running on this thread.
struct Running {
    start: Instant,
    threshold: Duration,
    function: bool,
    wrote: bool,
    busy: bool,
}

thread_local! {
    static SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    static RUNNING: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// Tells the scripting engine which shard this thread runs.
pub fn register_thread(shard: usize) {
    SHARD.with(|s| s.set(shard));
}

fn my_slot() -> Option<&'static Slot> {
    slot(SHARD.with(|s| s.get()))
}

/// The BUSY reply for a command that needs `shard`, when a script there is past the threshold.
#[inline]
pub fn busy_error(shard: usize) -> Option<&'static str> {
    let state = slot(shard)?.state.load(Ordering::Relaxed);
    match state & !WROTE {
        IDLE => None,
        FUNCTION => Some(BUSY_FUNCTION),
        _ => Some(BUSY_EVAL),
    }
}

/// Whether any shard is busy with a script.
pub fn any_busy() -> bool {
    SLOTS
        .get()
        .is_some_and(|s| s.iter().any(|x| x.state.load(Ordering::Relaxed) != IDLE))
}

/// SCRIPT KILL (`eval`) or FUNCTION KILL: Ok when a busy script of that kind was told to stop,
/// else Redis's error.
pub fn kill(eval: bool) -> Result<(), &'static str> {
    let Some(all) = SLOTS.get() else {
        return Err("NOTBUSY No scripts in execution right now.");
    };
    let mut result = Err("NOTBUSY No scripts in execution right now.");
    for s in all.iter() {
        let state = s.state.load(Ordering::Acquire);
        if state == IDLE {
            continue;
        }
        if state & WROTE != 0 {
            result = Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
            continue;
        }
        let is_eval = state & !WROTE == EVAL;
        if is_eval != eval {
            if result.is_err() {
                result = Err(if is_eval { BUSY_EVAL } else { BUSY_FUNCTION });
            }
            continue;
        }
        s.kill.store(KILL, Ordering::Release);
        result = Ok(());
    }
    result
}

/// SHUTDOWN: stops every busy script, written or not.
pub fn kill_all() {
    if let Some(all) = SLOTS.get() {
        for s in all.iter() {
            if s.state.load(Ordering::Acquire) != IDLE {
                s.kill.store(FORCE, Ordering::Release);
            }
        }
    }
}

/// A script starts on this thread.
pub(crate) fn start(threshold_ms: u64, function: bool) {
    RUNNING.with(|r| {
        *r.borrow_mut() = Some(Running {
            start: Instant::now(),
            threshold: Duration::from_millis(threshold_ms),
            function,
            wrote: false,
            busy: false,
        })
    });
}

/// The script on this thread ended.
pub(crate) fn finish() {
    let was_busy = RUNNING.with(|r| r.borrow_mut().take().is_some_and(|x| x.busy));
    if was_busy {
        if let Some(s) = my_slot() {
            s.state.store(IDLE, Ordering::Release);
            s.kill.store(NO_KILL, Ordering::Release);
        }
        tracing::warn!("slow script finished");
    }
}

/// The running script wrote to the dataset: it can no longer be killed.
pub(crate) fn wrote() {
    RUNNING.with(|r| {
        if let Some(x) = r.borrow_mut().as_mut() {
            if !x.wrote {
                x.wrote = true;
                if x.busy {
                    if let Some(s) = my_slot() {
                        s.state.fetch_or(WROTE, Ordering::AcqRel);
                    }
                }
            }
        }
    });
}

/// The hook's check: marks the shard busy past the threshold; Err(message) once told to stop.
pub(crate) fn check() -> Result<(), &'static str> {
    RUNNING.with(|r| {
        let mut r = r.borrow_mut();
        let Some(x) = r.as_mut() else {
            return Ok(());
        };
        let slot = my_slot();
        if !x.busy {
            if x.start.elapsed() < x.threshold {
                return Ok(());
            }
            x.busy = true;
            let state = if x.function { FUNCTION } else { EVAL } | if x.wrote { WROTE } else { 0 };
            if let Some(s) = slot {
                s.state.store(state, Ordering::Release);
            }
            tracing::warn!(
                threshold_ms = x.threshold.as_millis() as u64,
                "slow script detected: still running after the busy threshold"
            );
        }
        match slot.map_or(NO_KILL, |s| s.kill.load(Ordering::Acquire)) {
            KILL if !x.wrote => Err(KILLED),
            FORCE => Err(KILLED),
            _ => Ok(()),
        }
    })
}
