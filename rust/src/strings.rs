//! Strings handed to the caller, and the live-string counter that makes leaks countable.
//!
//! Every string given to C goes out through [`hand_out`] and comes back through
//! `ffi::take_back`, which reports it with [`count_freed`]; the counter is the number given
//! out and not yet returned. Safe code only: reclaiming a raw pointer happens in `ffi`.

use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicI64, Ordering};

static LIVE: AtomicI64 = AtomicI64::new(0);

/// The number of strings handed to the caller and not yet freed.
pub fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// Turns `s` into a C string the caller owns, counting it. Returns the pointer and the length
/// in bytes without the terminating NUL.
///
/// `s` must not contain NUL; every producer validates its input, so a NUL here is a bug and
/// panics (inside the boundary's `catch_unwind`).
pub fn hand_out(s: String) -> (*mut c_char, usize) {
    let len = s.len();
    let c = CString::new(s).expect("greeter never hands out a string containing NUL");
    LIVE.fetch_add(1, Ordering::Relaxed);
    (c.into_raw(), len)
}

/// Counts one string handed out by [`hand_out`] as freed; `ffi::take_back` calls it after
/// reclaiming the allocation, the only raw-pointer step, which lives with the other unsafe code.
pub fn count_freed() {
    LIVE.fetch_sub(1, Ordering::Relaxed);
}
