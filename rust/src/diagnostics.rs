//! Diagnostics for the tests of a binding: a deliberately slow call, and a per-thread count of
//! the worker pool's lock acquisitions. Safe Rust; `ffi` exports both as `greeter_debug_*`.
//!
//! A binding that calls some exports without releasing its interpreter's lock (Python's GIL)
//! must show two things: that those calls really keep it (a slow call in the same module
//! stops every other Python thread: [`spin`]) and that they never wait on a lock a worker
//! thread can hold ([`locks_taken`] does not move across them).

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, GREETER_ERR_INVALID_ARGUMENT};

/// The longest `greeter_debug_spin` busy-waits, in microseconds (one second).
pub const GREETER_DEBUG_SPIN_MAX_MICROS: u32 = 1_000_000;

thread_local! {
    static LOCKS_TAKEN: Cell<u64> = const { Cell::new(0) };
}

/// Counts one acquisition of a pool or queue lock by the calling thread. The pool's one lock
/// helper calls it; a thread-local add, nothing shared.
pub(crate) fn note_lock_taken() {
    LOCKS_TAKEN.with(|n| n.set(n.get().wrapping_add(1)));
}

/// How many times the calling thread has taken a worker-pool or completion-queue lock.
pub fn locks_taken() -> u64 {
    LOCKS_TAKEN.with(Cell::get)
}

/// Busy-waits on the calling thread for `micros` microseconds, touching nothing shared: no
/// lock, no allocation, no system call beyond reading the monotonic clock. Refuses more than
/// [`GREETER_DEBUG_SPIN_MAX_MICROS`].
pub fn spin(micros: u32) -> Result<()> {
    if micros > GREETER_DEBUG_SPIN_MAX_MICROS {
        return Err(Error::new(
            GREETER_ERR_INVALID_ARGUMENT,
            format!("spin of {micros} us; at most {GREETER_DEBUG_SPIN_MAX_MICROS} us"),
        ));
    }
    let deadline = Instant::now() + Duration::from_micros(u64::from(micros));
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_waits_at_least_as_long_as_asked() {
        let start = Instant::now();
        spin(20_000).unwrap();
        assert!(start.elapsed() >= Duration::from_micros(20_000));
        spin(0).unwrap();
    }

    #[test]
    fn spin_refuses_more_than_its_bound() {
        let e = spin(GREETER_DEBUG_SPIN_MAX_MICROS + 1).unwrap_err();
        assert_eq!(e.code, GREETER_ERR_INVALID_ARGUMENT);
        assert!(spin(u32::MAX).is_err());
    }

    #[test]
    fn lock_count_is_per_thread() {
        let before = locks_taken();
        note_lock_taken();
        note_lock_taken();
        assert_eq!(locks_taken(), before + 2);
        let other = std::thread::spawn(|| {
            note_lock_taken();
            locks_taken()
        })
        .join()
        .unwrap();
        assert_eq!(other, 1);
        assert_eq!(locks_taken(), before + 2);
    }
}
