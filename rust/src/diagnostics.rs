//! Diagnostics for the tests of a binding: injected panics, a deliberately slow call, and a
//! per-thread count of the worker pool's lock acquisitions. Safe Rust; `ffi` exports them as
//! `greeter_debug_*`.
//!
//! A binding that calls some exports without releasing its interpreter's lock (Python's GIL)
//! must show two things: that those calls really keep it (a slow call in the same module
//! stops every other Python thread: [`spin`]) and that they never wait on a lock a worker
//! thread can hold ([`locks_taken`] does not move across them).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result, GREETER_ERR_INVALID_ARGUMENT};

/// The longest `greeter_debug_spin` busy-waits, in microseconds (one second).
pub const GREETER_DEBUG_SPIN_MAX_MICROS: u32 = 1_000_000;

/// Panics still to inject; see [`inject_panics`].
static INJECTED_PANICS: AtomicU32 = AtomicU32::new(0);

/// Makes the next `count` calls of [`maybe_injected_panic`] panic, so the panic paths can be
/// exercised end to end in a release build. Returns the previous count. Every function that
/// makes a result (each greeting: sync, async or tutorial-compatible) calls it first.
pub fn inject_panics(count: u32) -> u32 {
    INJECTED_PANICS.swap(count, Ordering::SeqCst)
}

/// Panics when [`inject_panics`] armed it: the injection point a function that makes a result
/// calls first.
pub fn maybe_injected_panic() {
    // One relaxed load on the hot path; the decrement only happens while panics are armed.
    if INJECTED_PANICS.load(Ordering::Relaxed) == 0 {
        return;
    }
    let armed = INJECTED_PANICS
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if armed {
        panic!("injected panic (greeter_debug_inject_panics)");
    }
}

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

/// The bytes of `text` in reverse order: a result that is bytes, not text.
pub fn reversed(text: &str) -> Result<Vec<u8>> {
    let mut out = crate::memory::vec(text.len(), "the bytes")?;
    out.extend(text.bytes().rev()); // fits: room made above
    Ok(out)
}

/// The length of `text` in bytes, negated: a result that is a signed integer.
pub fn negated_len(text: &str) -> Result<i64> {
    // A str is at most isize::MAX bytes, so its length fits in i64.
    Ok(-(text.len() as i64))
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
    fn injected_panics_fire_the_requested_number_of_times() {
        let _serial = crate::tests_serial();
        inject_panics(2);
        for _ in 0..2 {
            let caught = std::panic::catch_unwind(maybe_injected_panic).unwrap_err();
            let e = crate::error::Error::from_panic(caught.as_ref());
            assert_eq!(e.message, "Rust panicked: injected panic (greeter_debug_inject_panics)");
        }
        maybe_injected_panic();
        assert_eq!(inject_panics(0), 0);
    }

    #[test]
    fn results_of_other_shapes() {
        assert_eq!(reversed("abé").unwrap(), b"\xa9\xc3ba");
        assert_eq!(negated_len("abé"), Ok(-4));
        assert_eq!(negated_len(""), Ok(0));
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
