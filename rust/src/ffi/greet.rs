//! The greeting domain's exports: sum, greetings one at a time, in a batch, and asynchronously.
//!
//! Each body is one [`guard`] call around the safe core ([`crate::greeting`]), with arguments
//! converted by [`crate::ffi::types`].

use std::ffi::c_char;

use crate::ffi::guard::{guard, GreeterStatus, ThreadStatus};
use crate::ffi::tasks::{submit, GreeterCompletionQueue};
use crate::ffi::types::{buffer_out, bytes_in, map_text, text_in};
use crate::greeting::{
    async_greeting, checked_add, greet_many_into, greeting, greeting_into, greeting_len,
    greetings_len,
};

/// Returns `a + b`. On i32 overflow returns `GREETER_FAILED` and the calling thread's status
/// (`greeter_status_take_thread`) holds `GREETER_ERR_OVERFLOW`.
///
/// Hot path: no status parameter (see `greeter_status_take_thread`).
///
/// Short call: constant work on two integers, no lock, no callback, no I/O.
#[no_mangle]
pub extern "C" fn greeter_add_numbers(a: i32, b: i32) -> i64 {
    // SAFETY: the thread status involves no pointer.
    unsafe { guard(ThreadStatus, || checked_add(a, b).map(i64::from)) }
}

/// Returns `Hello, {name}!` as a new NUL-terminated string the caller owns and frees with
/// `greeter_string_free`, and stores its length in bytes (without the NUL) in `*out_len`
/// when `out_len` is not NULL.
///
/// `name` points to `name_len` bytes of UTF-8 without NUL bytes (no terminator needed),
/// borrowed for the call. On failure returns NULL, and the calling thread's status
/// (`greeter_status_take_thread`) holds `GREETER_ERR_NULL_POINTER`, `GREETER_ERR_INVALID_UTF8`,
/// `GREETER_ERR_INTERIOR_NUL`, `GREETER_ERR_INVALID_ARGUMENT` (length over `PTRDIFF_MAX`),
/// `GREETER_ERR_OUT_OF_MEMORY` (the greeting does not fit in memory) or `GREETER_ERR_PANIC`.
///
/// Hot path: no status parameter (see `greeter_status_take_thread`).
///
/// Short call: reads `name_len` bytes and allocates one string of `name_len +
/// GREETER_GREETING_EXTRA_BYTES + 1` bytes, a bound the caller sets with the name; no lock, no
/// callback, no I/O.
///
/// # Safety
/// `name` is NULL or readable for `name_len` bytes; `out_len` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_greet(
    name: *const c_char, name_len: usize, out_len: *mut usize,
) -> *mut c_char {
    // SAFETY: the pointers are as this function's contract states.
    unsafe { guard(ThreadStatus, || map_text(name, name_len, out_len, greeting)) }
}

/// Writes `Hello, {name}!` into the caller's buffer `out` of `out_len` bytes (no NUL is
/// written) and returns its length in bytes, always `name_len + GREETER_GREETING_EXTRA_BYTES`.
/// When that exceeds `out_len`, the name is not read and nothing is written: call again with a
/// buffer at least that long. Nothing is allocated for the caller.
///
/// `name` is as for `greeter_greet`. On failure returns `GREETER_FAILED`, and the calling
/// thread's status (`greeter_status_take_thread`) holds `GREETER_ERR_NULL_POINTER` (a NULL
/// `out` with room), the `greeter_greet` input errors, or `GREETER_ERR_PANIC`.
///
/// Hot path: no status parameter (see `greeter_status_take_thread`).
///
/// Short call: at most `out_len` bytes are read and written, a bound the caller sets with its
/// buffer (a longer name is not read); no lock, no callback, no I/O.
///
/// # Safety
/// `name` is NULL or readable for `name_len` bytes; `out` is NULL or writable for `out_len`
/// bytes and does not overlap `name`.
#[no_mangle]
pub unsafe extern "C" fn greeter_greet_into(
    name: *const c_char, name_len: usize, out: *mut c_char, out_len: usize,
) -> i64 {
    // SAFETY: the pointers are as this function's contract states.
    unsafe {
        guard(ThreadStatus, || {
            let out = buffer_out(out, out_len, "out")?;
            let needed = greeting_len(name_len)?;
            if needed > out.len() {
                return Ok(needed as i64); // the name is not read: the bound is the buffer
            }
            Ok(greeting_into(text_in(name, name_len, "name")?, out) as i64)
        })
    }
}

/// Greets `count` names in one call, writing into the caller's buffer: nothing is allocated
/// for the caller and nothing needs freeing.
///
/// `names` points to `names_len` bytes (no terminator needed), borrowed for the call: the
/// `count` names' UTF-8 joined by single NUL bytes, so `count - 1` NULs, an empty name being an
/// empty field (`count` tells one empty name from none). The greetings are written to `out`
/// (`out_len` bytes) joined the same way, without a terminator, and their total length is
/// returned: always `names_len + count * GREETER_GREETING_EXTRA_BYTES`. When that exceeds
/// `out_len`, the names are not read and nothing is written: call again with a buffer at least
/// that long. `count` 0 with no names returns 0 with `GREETER_OK`.
///
/// On failure returns 0 and sets `status`: `GREETER_ERR_INVALID_UTF8`;
/// `GREETER_ERR_INTERIOR_NUL` when the bytes hold a number of names other than `count` (a name
/// contained a NUL byte); `GREETER_ERR_INVALID_ARGUMENT` for `count` 0 with non-empty names or
/// lengths over `PTRDIFF_MAX`; `GREETER_ERR_NULL_POINTER`; `GREETER_ERR_PANIC`. `names` may be
/// NULL only when `names_len` is 0, `out` only when `out_len` is 0.
///
/// Short call: at most `out_len` bytes are read and written, a bound the caller sets with its
/// buffer (names whose greetings do not fit are not read); no lock, no callback, no I/O.
///
/// # Safety
/// `names` is NULL or readable for `names_len` bytes; `out` is NULL or writable for `out_len`
/// bytes and does not overlap `names`; `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_greet_many(
    names: *const c_char, names_len: usize, count: usize, out: *mut c_char, out_len: usize,
    status: *mut GreeterStatus,
) -> usize {
    // SAFETY: the pointers are as this function's contract states.
    unsafe {
        guard(status, || {
            let out = buffer_out(out, out_len, "out")?;
            let needed = greetings_len(names_len, count)?;
            if needed > out.len() {
                return Ok(needed); // the names are not read: the bound is the buffer
            }
            greet_many_into(bytes_in(names, names_len, "names")?, count, out)
        })
    }
}

/// Submits `Async Hello, {name}!` for each of `count` names to the worker pool (starting it if
/// needed), under one lock, to be delivered to `queue`; returns at once. The asynchronous form
/// of a greeting: a completion's result is text, the greeting's UTF-8 bytes.
///
/// The names are packed: `names` holds their bytes back to back, `lens[i]` bytes for the
/// `i`-th (each copied before this returns). Returns how many were accepted, in order: all of
/// them, or fewer when the pool's queue has room for fewer (submit the rest later), and
/// stores their first task id in `*first`; the `i`-th accepted name has id `*first + i`.
/// Every accepted id gets exactly one completion. A name that is not valid UTF-8 or holds a
/// NUL byte, or whose copy cannot be allocated, still takes its id: its error completion is
/// delivered to `queue` at once. A greeting that does not fit in memory completes with
/// `GREETER_ERR_OUT_OF_MEMORY`; the worker goes on serving. On failure returns 0 and sets
/// `status`: `GREETER_ERR_QUEUE_FULL` (none fits: retry after some complete),
/// `GREETER_ERR_SHUT_DOWN`, `GREETER_ERR_NULL_POINTER`, `GREETER_ERR_INVALID_ARGUMENT` (the
/// lengths add up to more than `PTRDIFF_MAX`), `GREETER_ERR_OUT_OF_MEMORY` (no room for the
/// batch's tasks) or `GREETER_ERR_PANIC`. `count` 0 returns 0 with `GREETER_OK`.
///
/// # Safety
/// `names` is readable for the sum of the `lens` bytes (NULL only when that is 0); `lens` is
/// readable for `count` elements (NULL only when `count` is 0); `queue` is NULL or a live queue
/// handle; `first` and `status` are NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_greet_submit(
    names: *const c_char, lens: *const usize, count: usize, queue: *const GreeterCompletionQueue,
    first: *mut u64, status: *mut GreeterStatus,
) -> usize {
    // SAFETY: the pointers are as this function's contract states.
    unsafe { guard(status, || submit(names, lens, count, queue, first, async_greeting)) }
}
