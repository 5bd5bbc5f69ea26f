//! Diagnostics for the tests of a binding: injected panics and allocation failures, a
//! deliberately slow call, and a count of the worker pool's lock acquisitions. Not for
//! production use.

use crate::diagnostics::{inject_panics, locks_taken, spin};
use crate::ffi::guard::{guard, GreeterStatus};
use crate::memory::inject_failures;

/// Diagnostic: makes the next `count` greetings anywhere in the process (sync, async,
/// tutorial-compatible) panic inside Rust, to exercise the panic paths in a release build.
/// Returns the number that was still armed. Not for production use.
#[no_mangle]
pub extern "C" fn greeter_debug_inject_panics(count: u32) -> u32 {
    // SAFETY: a NULL status.
    unsafe { guard(std::ptr::null_mut(), || Ok(inject_panics(count))) }
}

/// Diagnostic: makes the next `count` results anywhere in the process (the text a function
/// returns, sync, async or tutorial-compatible) fail to allocate as if the system were out of
/// memory: the call fails with `GREETER_ERR_OUT_OF_MEMORY` (an asynchronous call's
/// completion carries it; a tutorial-compatible call returns or calls back NULL), exactly as
/// for an input whose result is too large for memory. Returns the number that was still
/// armed. Not for production use.
#[no_mangle]
pub extern "C" fn greeter_debug_inject_out_of_memory(count: u32) -> u32 {
    // SAFETY: a NULL status.
    unsafe { guard(std::ptr::null_mut(), || Ok(inject_failures(count))) }
}

/// Diagnostic: busy-waits on the calling thread for `microseconds`; more than
/// `GREETER_DEBUG_SPIN_MAX_MICROS` is refused with `GREETER_ERR_INVALID_ARGUMENT`. A
/// deliberately slow call, for tests that watch whether a binding lets its other threads run
/// while a call is in Rust. Not for production use.
///
/// Short call: bounded by that limit, no lock, no callback, no I/O. (The slow member of the
/// set on purpose: it is how a binding's tests see that these calls keep their caller's lock.)
///
/// # Safety
/// `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_debug_spin(microseconds: u32, status: *mut GreeterStatus) {
    // SAFETY: `status` is as this function's contract states.
    unsafe { guard(status, || spin(microseconds)) }
}

/// Diagnostic: how many times the calling thread has taken a lock of the worker pool or of a
/// completion queue (the locks a worker thread can hold). A test reads it before and after a
/// call to show that the call took none. Not for production use.
#[no_mangle]
pub extern "C" fn greeter_debug_locks_taken() -> u64 {
    // SAFETY: a NULL status.
    unsafe { guard(std::ptr::null_mut(), || Ok(locks_taken())) }
}
