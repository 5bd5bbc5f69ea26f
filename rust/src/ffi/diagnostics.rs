//! Diagnostics for the tests of a binding: injected panics and allocation failures, a
//! deliberately slow call, and a count of the worker pool's lock acquisitions. Not for
//! production use.

use std::ffi::c_char;
use std::sync::Arc;

use crate::diagnostics::{inject_panics, locks_taken, negated_len, reversed, spin};
use crate::error::{Error, Result, GREETER_ERR_INVALID_ARGUMENT};
use crate::ffi::guard::{guard, GreeterStatus};
use crate::ffi::objects::GreeterGreeter;
use crate::ffi::tasks::{submit, GreeterCompletionQueue};
use crate::ffi::types::handle_result;
use crate::memory::inject_failures;
use crate::objects::Counted;
use crate::template::Template;

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

/// `greeter_debug_shapes_submit`: each result is the text's UTF-8 bytes in reverse order
/// (bytes, not text in general).
pub const GREETER_DEBUG_SHAPE_BYTES: u32 = 1;
/// `greeter_debug_shapes_submit`: each result is the text's length in bytes, negated, as an
/// `int64_t`.
pub const GREETER_DEBUG_SHAPE_INTEGER: u32 = 2;
/// `greeter_debug_shapes_submit`: each result is a new greeter object whose template is the
/// text (a refused template is the task's error); the caller owns the handle a drain hands
/// out and drops it with `greeter_greeter_free`.
pub const GREETER_DEBUG_SHAPE_GREETER: u32 = 3;

/// Diagnostic: submits a task for each of `count` packed texts, as `greeter_greet_submit` does
/// (same arguments after `shape`, same ids, completions and failures), whose result has the
/// shape `shape` names: `GREETER_DEBUG_SHAPE_BYTES`, `GREETER_DEBUG_SHAPE_INTEGER` or
/// `GREETER_DEBUG_SHAPE_GREETER` (another value fails with `GREETER_ERR_INVALID_ARGUMENT`). For
/// a binding's tests of asynchronous results that are not text: how it reads each shape back,
/// and that cancellation, closing and exiting release what a result owns. Not for production
/// use.
///
/// # Safety
/// As for `greeter_greet_submit`.
#[no_mangle]
pub unsafe extern "C" fn greeter_debug_shapes_submit(
    shape: u32, names: *const c_char, lens: *const usize, count: usize,
    queue: *const GreeterCompletionQueue, first: *mut u64, status: *mut GreeterStatus,
) -> usize {
    // SAFETY: the pointers are as this function's contract states.
    unsafe { guard(status, || submit_shape(shape, names, lens, count, queue, first)) }
}

/// The body of `greeter_debug_shapes_submit`.
///
/// # Safety
/// As for `greeter_greet_submit`.
unsafe fn submit_shape(
    shape: u32, names: *const c_char, lens: *const usize, count: usize,
    queue: *const GreeterCompletionQueue, first: *mut u64,
) -> Result<usize> {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match shape {
            GREETER_DEBUG_SHAPE_BYTES => submit(names, lens, count, queue, first, reversed),
            GREETER_DEBUG_SHAPE_INTEGER => submit(names, lens, count, queue, first, negated_len),
            GREETER_DEBUG_SHAPE_GREETER => submit(names, lens, count, queue, first, |text| {
                let template = Arc::new(Counted::new(Template::parse(text)?));
                Ok(handle_result::<GreeterGreeter>(template))
            }),
            _ => Err(Error::new(GREETER_ERR_INVALID_ARGUMENT, format!("no result shape {shape}"))),
        }
    }
}
