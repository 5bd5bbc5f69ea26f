//! Exports every domain relies on: freeing what greeter hands out, statuses, the version.

use std::ffi::{c_char, CStr};

use crate::ffi::guard::{guard, GreeterStatus, ThreadStatus};
use crate::ffi::types::string_free;
use crate::strings::live;

/// Frees a string greeter handed out (the same function as the tutorial-compatible
/// `free_string`). NULL is accepted and ignored.
///
/// Short call: reads the string to its NUL and frees it: no more work than copying it, which
/// a caller holding the string has done or could do; no lock, no callback, no I/O.
///
/// # Safety
/// `ptr` is NULL or a string greeter handed out that has not been freed yet.
#[no_mangle]
pub unsafe extern "C" fn greeter_string_free(ptr: *mut c_char) {
    // SAFETY: a NULL status; `ptr` as this function's contract states.
    unsafe {
        guard(std::ptr::null_mut(), || {
            string_free(ptr);
            Ok(())
        })
    }
}

/// Frees the message `status` holds and resets it to `GREETER_OK`. NULL is accepted.
///
/// # Safety
/// `status` is NULL or points to a zeroed status or one filled by a greeter call.
#[no_mangle]
pub unsafe extern "C" fn greeter_status_clear(status: *mut GreeterStatus) {
    // SAFETY: `status` as this function's contract states; the guard clears it on success.
    unsafe { guard(status, || Ok(())) }
}

/// Moves the calling thread's status into `status`: the failure of the latest hot-path export
/// (those without a status parameter) that returned its failure value (`GREETER_FAILED`, or
/// NULL for `greeter_greet`) on this thread and whose failure was not taken yet, or `GREETER_OK` when there is none. Call it
/// right after the failed call. Calls that nest on one thread (a signal handler's, say, between
/// a failure and its take) each take their own failure if each takes it right after failing:
/// the thread keeps failures not taken yet, the latest first (at most
/// `GREETER_THREAD_FAILURES_KEPT`).
///
/// # Safety
/// `status` is NULL or points to a zeroed status or one filled by a greeter call.
#[no_mangle]
pub unsafe extern "C" fn greeter_status_take_thread(status: *mut GreeterStatus) {
    // SAFETY: `status` as this function's contract states; it receives the thread's failure.
    unsafe { guard(status, || ThreadStatus::take().map_or(Ok(()), Err)) }
}

/// The number of strings greeter handed out (greetings and status messages) that have not been
/// freed yet. A caller that frees everything sees it return to its earlier value.
#[no_mangle]
pub extern "C" fn greeter_live_strings() -> i64 {
    // SAFETY: a NULL status.
    unsafe { guard(std::ptr::null_mut(), || Ok(live())) }
}

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the crate version contains a NUL"),
    };

/// The library's version, for example "0.1.0": a static NUL-terminated string the caller must
/// not free.
#[no_mangle]
pub extern "C" fn greeter_version() -> *const c_char {
    // SAFETY: a NULL status.
    unsafe { guard(std::ptr::null_mut(), || Ok(VERSION.as_ptr())) }
}
