//! The C ABI: every exported function, and the only place raw pointers are converted and
//! panics are caught.
//!
//! Two layers:
//! - the seed article's four symbols (`add_numbers`, `greet`, `free_string`, `async_greet`),
//!   same names and signatures, without its bugs;
//! - the `greeter_` API, which reports failure through a [`GreeterStatus`] out-parameter.
//!
//! Ownership rule for the whole API: a `char *` returned or delivered by greeter is owned by
//! the caller, who frees it exactly once with `greeter_string_free` (or the seed's
//! `free_string`, the same function); a `GreeterStatus` message is freed by
//! `greeter_status_clear`. `const char *` returns are static and never freed. Input pointers
//! are borrowed only for the duration of the call.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::diagnostics::{locks_taken, spin};
use crate::error::{
    Error, GreeterCode, Result, GREETER_ERR_INVALID_ARGUMENT, GREETER_ERR_NULL_POINTER, GREETER_OK,
};
use crate::greeting::{
    add_or_overflowed, checked_add, greet_many_into, greeting, greeting_into, inject_panics,
    validate_name, GREETER_GREETING_EXTRA_BYTES,
};
use crate::pool::{global, CancelOutcome, CompletionQueue, Target};
use crate::strings::{count_freed, hand_out, live};

/// The error channel of the `greeter_` API.
///
/// The caller provides it (zeroed, or holding a status from an earlier call) and owns it.
/// Every call that takes one sets `code` (`GREETER_OK` on success). On failure `message` is a
/// NUL-terminated UTF-8 string the caller owns; `greeter_status_clear` frees it. A message
/// still held when the status is passed to another call is freed by that call, so reusing a
/// status never leaks. A NULL status is accepted: the call then reports only through its
/// return value.
#[repr(C)]
pub struct GreeterStatus {
    /// `GREETER_OK` or one of the `GREETER_ERR_*` codes.
    pub code: GreeterCode,
    /// NULL on success; otherwise an owned description of the failure.
    pub message: *mut c_char,
}

/// One finished asynchronous task, as written by `greeter_queue_drain`.
///
/// On success `status.code` is `GREETER_OK` and `value` is the owned greeting (`value_len`
/// bytes, NUL-terminated); on failure `value` is NULL and `status` holds the error. Release
/// both with `greeter_completions_release` (or `greeter_string_free` and
/// `greeter_status_clear` one by one).
#[repr(C)]
pub struct GreeterCompletion {
    /// The id `greeter_greet_submit` returned.
    pub task_id: u64,
    /// The greeting, owned by the caller, or NULL.
    pub value: *mut c_char,
    /// The greeting's length in bytes, without the NUL.
    pub value_len: usize,
    /// The task's outcome.
    pub status: GreeterStatus,
}

/// A queue of completed tasks for one consumer (one event loop), with a file descriptor that
/// is readable while completions wait. Created by `greeter_queue_new`, freed by
/// `greeter_queue_free`.
pub struct GreeterCompletionQueue {
    queue: Arc<CompletionQueue>,
}

// ---------------------------------------------------------------------------------------------
// Pointer conversion and panic catching: the unsafe core of the boundary.
// ---------------------------------------------------------------------------------------------

/// What every caller-provided region must be before it is borrowed as a slice: non-NULL, and
/// no longer than a slice may be.
fn check_region(is_null: bool, len: usize, what: &str) -> Result<()> {
    if is_null {
        return Err(Error::new(
            GREETER_ERR_NULL_POINTER,
            format!("{what} is NULL"),
        ));
    }
    if len > isize::MAX as usize {
        return Err(Error::new(
            GREETER_ERR_INVALID_ARGUMENT,
            format!("{what} length {len} exceeds isize::MAX"),
        ));
    }
    Ok(())
}

extern "C" {
    fn pthread_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
    ) -> std::ffi::c_int;
}

/// Registers fork handlers with libc (`pthread_atfork`); false if libc refused (ENOMEM).
pub(crate) fn register_fork_handlers(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) -> bool {
    // SAFETY: pthread_atfork only records the three handlers; they are plain functions of this
    // library, which glibc unregisters if the library is unloaded, and must not unwind (the
    // pool's handlers only lock and unlock a mutex).
    unsafe { pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}

/// Takes back a string made by [`hand_out`] and frees it. NULL is accepted and ignored.
///
/// # Safety
/// `ptr` is NULL or a pointer returned by [`hand_out`] that has not been taken back yet.
pub(crate) unsafe fn take_back(ptr: *mut c_char) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: by this function's contract `ptr` came from `CString::into_raw` in `hand_out`
    // and is reclaimed exactly once.
    drop(unsafe { std::ffi::CString::from_raw(ptr) });
    count_freed();
}

/// Borrows `len` bytes at `ptr`.
///
/// # Safety
/// When `ptr` is not NULL it points to `len` readable bytes that stay valid and unmodified for
/// `'a`.
pub(crate) unsafe fn bytes_arg<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a [u8]> {
    check_region(ptr.is_null(), len, what)?;
    // SAFETY: non-NULL and within isize::MAX, readable for `len` bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// Borrows `len` bytes at `ptr`, where NULL is accepted for an empty input.
///
/// # Safety
/// As for [`bytes_arg`].
unsafe fn bytes_arg_or_empty<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { bytes_arg(ptr, len, what) }
}

/// Borrows the caller's output buffer of `len` bytes at `ptr` for writing; NULL is accepted
/// only when `len` is 0.
///
/// # Safety
/// When `len` is not 0, `ptr` is NULL or writable for `len` bytes, not aliased by anything
/// else read or written during `'a`.
unsafe fn out_buffer<'a>(ptr: *mut c_char, len: usize, what: &str) -> Result<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    check_region(ptr.is_null(), len, what)?;
    // SAFETY: non-NULL, within isize::MAX, writable for `len` bytes and not aliased, by the
    // caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) })
}

/// Borrows a NUL-terminated string (the seed API has no lengths).
///
/// # Safety
/// When `ptr` is not NULL it points to a NUL-terminated string valid for `'a`.
unsafe fn c_str_arg<'a>(ptr: *const c_char) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::new(GREETER_ERR_NULL_POINTER, "name is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    validate_name(bytes)
}

/// Writes `value` to `*out` when `out` is not NULL.
fn store<T>(out: *mut T, value: T) {
    if let Some(slot) = ptr_mut(out) {
        *slot = value;
    }
}

/// The one place a caller's out-pointer becomes a reference.
fn ptr_mut<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: every out-parameter of this API is documented as NULL or valid for writes and not
    // aliased for the duration of the call.
    unsafe { ptr.as_mut() }
}

/// Records `outcome` in `status` (freeing any message it held).
fn report(status: *mut GreeterStatus, outcome: std::result::Result<(), Error>) {
    let Some(status) = ptr_mut(status) else {
        return;
    };
    // SAFETY: a status holds NULL or a message handed out by an earlier call (documented).
    unsafe { take_back(status.message) };
    status.message = std::ptr::null_mut();
    status.code = GREETER_OK;
    if let Err(e) = outcome {
        status.code = e.code;
        status.message = hand_out(e.message.replace('\0', "\\0")).0;
    }
}

/// Runs `body` with panics caught; a panic becomes a `GREETER_ERR_PANIC` error.
fn catch<T>(body: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(Error::from_panic(payload.as_ref())))
}

/// Runs `body` with panics caught: its value on success, `fallback` on error or panic, with the
/// outcome reported in `status`.
fn guarded<T>(status: *mut GreeterStatus, fallback: T, body: impl FnOnce() -> Result<T>) -> T {
    match catch(body) {
        Ok(value) => {
            report(status, Ok(()));
            value
        }
        Err(e) => {
            report(status, Err(e));
            fallback
        }
    }
}

/// Like [`guarded`] for functions whose return value is the status code itself, negated on
/// failure (`-GREETER_ERR_*`), or a non-negative result.
fn guarded_code(status: *mut GreeterStatus, body: impl FnOnce() -> Result<i64>) -> i64 {
    let outcome = catch(body);
    let ret = match &outcome {
        Ok(value) => *value,
        Err(e) => -i64::from(e.code),
    };
    report(status, outcome.map(drop));
    ret
}

/// Runs `body` for the seed API, which has no error channel: any error or panic becomes
/// `fallback`.
fn seed_guarded<T>(fallback: T, body: impl FnOnce() -> Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        _ => fallback,
    }
}

// ---------------------------------------------------------------------------------------------
// The seed article's API.
// ---------------------------------------------------------------------------------------------

/// Seed API: returns `a + b`, wrapping on i32 overflow (two's complement), as the seed's
/// release build did; it never panics. Use `greeter_add_numbers` to have overflow reported.
#[no_mangle]
pub extern "C" fn add_numbers(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}

/// Seed API: returns `Hello, {name}!` as a new string the caller owns and frees with
/// `free_string`.
///
/// `name` is a NUL-terminated UTF-8 string, borrowed for the call. Returns NULL, instead of the
/// seed's silent "Unknown", when `name` is NULL or not valid UTF-8 (or if Rust panicked); use
/// `greeter_greet` to learn why.
///
/// # Safety
/// `name` is NULL or a valid NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn greet(name: *const c_char) -> *mut c_char {
    seed_guarded(std::ptr::null_mut(), || {
        // SAFETY: forwarded from this function's contract.
        let name = unsafe { c_str_arg(name) }?;
        Ok(hand_out(greeting(name)).0)
    })
}

/// Seed API: frees a string returned by `greet`, passed to an `async_greet` callback, or
/// returned by any `greeter_` function. NULL is accepted and ignored. The same function as
/// `greeter_string_free`.
///
/// # Safety
/// `ptr` is NULL or a string greeter handed out that has not been freed yet.
#[no_mangle]
pub unsafe extern "C" fn free_string(ptr: *mut c_char) {
    // SAFETY: forwarded from this function's contract.
    unsafe { greeter_string_free(ptr) }
}

/// Seed API: greets `name` on a worker thread and passes `Async Hello, {name}!` to
/// `callback`, which owns the string and frees it with `free_string`.
///
/// `name` is copied before this function returns (the seed read the caller's pointer from
/// another thread, after the caller may have freed it), so the caller may free it at once. The
/// callback runs exactly once, on a greeter worker thread; it runs instead on the calling
/// thread, before this function returns, with NULL, when `name` is NULL or not valid UTF-8,
/// when the pool is shut down or its queue is full. A NULL `callback` makes this a no-op. The
/// callback must not unwind.
///
/// # Safety
/// `name` is NULL or a valid NUL-terminated string; `callback` is NULL or safe to call from any
/// thread until it has been called.
#[no_mangle]
pub unsafe extern "C" fn async_greet(
    name: *const c_char,
    callback: Option<extern "C" fn(*mut c_char)>,
) {
    let Some(callback) = callback else {
        return;
    };
    let submitted = seed_guarded(false, || {
        // SAFETY: forwarded from this function's contract.
        let name = unsafe { c_str_arg(name) }?.to_owned();
        let deliver = Box::new(move |result: Result<String>| {
            let ptr = result.map_or(std::ptr::null_mut(), |s| hand_out(s).0);
            callback(ptr);
        });
        global::get()?.submit(name, Target::Callback(deliver))?;
        Ok(true)
    });
    if !submitted {
        callback(std::ptr::null_mut());
    }
}

// ---------------------------------------------------------------------------------------------
// The greeter_ API: strings, status, version, diagnostics.
// ---------------------------------------------------------------------------------------------

/// Frees a string greeter handed out (the same function as the seed's `free_string`). NULL is
/// accepted and ignored.
///
/// # Safety
/// `ptr` is NULL or a string greeter handed out that has not been freed yet.
#[no_mangle]
pub unsafe extern "C" fn greeter_string_free(ptr: *mut c_char) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back(ptr) }
}

/// Frees the message `status` holds and resets it to `GREETER_OK`. NULL is accepted.
///
/// # Safety
/// `status` is NULL or points to a zeroed status or one filled by a greeter call.
#[no_mangle]
pub unsafe extern "C" fn greeter_status_clear(status: *mut GreeterStatus) {
    report(status, Ok(()));
}

/// The number of strings greeter handed out (greetings and status messages) that have not been
/// freed yet. A caller that frees everything sees it return to its earlier value.
#[no_mangle]
pub extern "C" fn greeter_live_strings() -> i64 {
    live()
}

/// The library's version, for example "0.1.0": a static NUL-terminated string the caller must
/// not free.
#[no_mangle]
pub extern "C" fn greeter_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the crate version contains a NUL"),
        };
    VERSION.as_ptr()
}

/// Diagnostic: makes the next `count` greetings anywhere in the process (sync, async, seed)
/// panic inside Rust, to exercise the panic paths in a release build. Returns the number that
/// was still armed. Not for production use.
#[no_mangle]
pub extern "C" fn greeter_debug_inject_panics(count: u32) -> u32 {
    inject_panics(count)
}

/// Diagnostic: busy-waits on the calling thread for `microseconds`, then returns `GREETER_OK`;
/// more than `GREETER_DEBUG_SPIN_MAX_MICROS` is refused with `GREETER_ERR_INVALID_ARGUMENT`. A
/// deliberately slow call, for tests that watch whether a binding lets its other threads run
/// while a call is in Rust. Not for production use.
///
/// Short call: bounded by that limit, no lock, no callback, no I/O. (The slow member of the
/// set on purpose: it is how a binding's tests see that these calls keep their caller's lock.)
///
/// # Safety
/// `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_debug_spin(
    microseconds: u32,
    status: *mut GreeterStatus,
) -> GreeterCode {
    let outcome = catch(|| spin(microseconds));
    let code = outcome.as_ref().err().map_or(GREETER_OK, |e| e.code);
    report(status, outcome);
    code
}

/// Diagnostic: how many times the calling thread has taken a lock of the worker pool or of a
/// completion queue (the locks a worker thread can hold). A test reads it before and after a
/// call to show that the call took none. Not for production use.
#[no_mangle]
pub extern "C" fn greeter_debug_locks_taken() -> u64 {
    locks_taken()
}

// ---------------------------------------------------------------------------------------------
// The greeter_ API: synchronous calls.
// ---------------------------------------------------------------------------------------------

/// Returns `a + b`. On i32 overflow sets `GREETER_ERR_OVERFLOW` in `status` and returns 0.
///
/// # Safety
/// `status` is NULL or valid for writes (see `GreeterStatus`).
#[no_mangle]
pub unsafe extern "C" fn greeter_add_numbers(a: i32, b: i32, status: *mut GreeterStatus) -> i32 {
    guarded(status, 0, || checked_add(a, b))
}

/// Returns `a + b` when it fits in an i32, otherwise `GREETER_ADD_OVERFLOWED` (`INT64_MAX`); it
/// cannot fail otherwise. One comparison tells the caller which, so this is the hot path behind
/// Python's `add_numbers`; `greeter_add_numbers` gives the overflow's message.
///
/// Short call: constant work on two integers, no lock, no callback, no I/O.
#[no_mangle]
pub extern "C" fn greeter_add_numbers_checked(a: i32, b: i32) -> i64 {
    add_or_overflowed(a, b)
}

/// The size in bytes of the buffer `greeter_greet_small` writes into. A name of at most
/// `GREETER_SMALL_BUFFER_LEN - GREETER_GREETING_EXTRA_BYTES` bytes always fits.
pub const GREETER_SMALL_BUFFER_LEN: usize = 256;

/// Returns `Hello, {name}!` as a new NUL-terminated string the caller owns and frees with
/// `greeter_string_free`, and stores its length in bytes (without the NUL) in `*out_len`
/// when `out_len` is not NULL.
///
/// `name` points to `name_len` bytes of UTF-8 without NUL bytes (no terminator needed),
/// borrowed for the call. On failure returns NULL and sets `status`: `GREETER_ERR_NULL_POINTER`,
/// `GREETER_ERR_INVALID_UTF8`, `GREETER_ERR_INTERIOR_NUL`, `GREETER_ERR_INVALID_ARGUMENT`
/// (length over `PTRDIFF_MAX`) or `GREETER_ERR_PANIC`.
///
/// # Safety
/// `name` is NULL or readable for `name_len` bytes; `out_len` and `status` are NULL or valid for
/// writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_greet(
    name: *const c_char,
    name_len: usize,
    out_len: *mut usize,
    status: *mut GreeterStatus,
) -> *mut c_char {
    guarded(status, std::ptr::null_mut(), || {
        // SAFETY: forwarded from this function's contract.
        let name = validate_name(unsafe { bytes_arg(name, name_len, "name") }?)?;
        let (ptr, len) = hand_out(greeting(name));
        store(out_len, len);
        Ok(ptr)
    })
}

/// Writes `Hello, {name}!` into the caller's buffer `buf` of `buf_len` bytes (no NUL is
/// written) and returns its length in bytes. When that length exceeds `buf_len` nothing is
/// written: call again with a buffer at least that long. No allocation is handed out.
///
/// On failure returns the negated error code (`-GREETER_ERR_*`, always < 0) and, when `status`
/// is not NULL, also sets it. `name` is as for `greeter_greet`. `buf` may be NULL only when
/// `buf_len` is 0.
///
/// # Safety
/// `name` is NULL or readable for `name_len` bytes; `buf` is NULL or writable for `buf_len`
/// bytes and does not overlap `name`; `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_greet_into(
    name: *const c_char,
    name_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    status: *mut GreeterStatus,
) -> i64 {
    guarded_code(status, || {
        // SAFETY: forwarded from this function's contract.
        let name = validate_name(unsafe { bytes_arg(name, name_len, "name") }?)?;
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_buffer(buf, buf_len, "buf") }?;
        Ok(greeting_into(name, out) as i64)
    })
}

/// Writes `Hello, {name}!` into the caller's buffer `buf`, which holds
/// `GREETER_SMALL_BUFFER_LEN` bytes (no NUL is written), and returns its length in bytes. The
/// fast path for short names: three arguments, no status, no allocation.
///
/// `name` is as for `greeter_greet`. On failure returns the negated error code (always < 0)
/// and writes the error message into `buf` as a NUL-terminated string (cut to fit): the
/// `greeter_greet` input errors, `GREETER_ERR_PANIC`, and `GREETER_ERR_INVALID_ARGUMENT` when
/// `name_len` exceeds `GREETER_SMALL_BUFFER_LEN - GREETER_GREETING_EXTRA_BYTES`. A NULL `buf`
/// gives `-GREETER_ERR_NULL_POINTER` and no message.
///
/// Short call: a name longer than the buffer allows is refused before it is read, so the work
/// is bounded; no lock, no callback, no I/O.
///
/// # Safety
/// `name` is NULL or readable for `name_len` bytes; `buf` is NULL or writable for
/// `GREETER_SMALL_BUFFER_LEN` bytes and does not overlap `name`.
#[no_mangle]
pub unsafe extern "C" fn greeter_greet_small(
    name: *const c_char,
    name_len: usize,
    buf: *mut c_char,
) -> i64 {
    // SAFETY: forwarded from this function's contract (writable for the full length).
    let out = match unsafe { out_buffer(buf, GREETER_SMALL_BUFFER_LEN, "buf") } {
        Ok(out) => out,
        Err(e) => return -i64::from(e.code),
    };
    let outcome = catch(|| {
        if name_len > GREETER_SMALL_BUFFER_LEN - GREETER_GREETING_EXTRA_BYTES {
            return Err(Error::new(
                GREETER_ERR_INVALID_ARGUMENT,
                format!(
                    "name is {name_len} bytes; greeter_greet_small takes at most {}",
                    GREETER_SMALL_BUFFER_LEN - GREETER_GREETING_EXTRA_BYTES
                ),
            ));
        }
        // SAFETY: forwarded from this function's contract.
        let name = validate_name(unsafe { bytes_arg(name, name_len, "name") }?)?;
        Ok(greeting_into(name, out) as i64)
    });
    match outcome {
        Ok(len) => len,
        Err(e) => {
            e.write_c_message(out);
            -i64::from(e.code)
        }
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
/// `out_len` nothing is written: call again with a buffer at least that long.
///
/// On failure returns the negated error code (always < 0) and sets `status` when it is not
/// NULL: `GREETER_ERR_INVALID_UTF8`; `GREETER_ERR_INTERIOR_NUL` when the bytes hold a number
/// of names other than `count` (a name contained a NUL byte); `GREETER_ERR_INVALID_ARGUMENT`
/// for `count` 0 with non-empty names or lengths over `PTRDIFF_MAX`; `GREETER_ERR_NULL_POINTER`;
/// `GREETER_ERR_PANIC`. `names` may be NULL only when `names_len` is 0, `out` only when
/// `out_len` is 0.
///
/// # Safety
/// `names` is NULL or readable for `names_len` bytes; `out` is NULL or writable for `out_len`
/// bytes and does not overlap `names`; `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_greet_many(
    names: *const c_char,
    names_len: usize,
    count: usize,
    out: *mut c_char,
    out_len: usize,
    status: *mut GreeterStatus,
) -> i64 {
    guarded_code(status, || {
        // SAFETY: forwarded from this function's contract.
        let packed = unsafe { bytes_arg_or_empty(names, names_len, "names") }?;
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_buffer(out, out_len, "out") }?;
        Ok(greet_many_into(packed, count, out)? as i64)
    })
}

// ---------------------------------------------------------------------------------------------
// The greeter_ API: the worker pool and completion queues.
// ---------------------------------------------------------------------------------------------

/// Sets the worker pool's size for its next start: `threads` workers (0 = one per CPU) and room
/// for `queue_capacity` queued tasks (0 = 65536); beyond that, submits fail with
/// `GREETER_ERR_QUEUE_FULL`. Also re-opens a pool closed by `greeter_pool_shutdown`. Fails
/// with `GREETER_ERR_INVALID_ARGUMENT` while the pool is running or when `threads` exceeds
/// `GREETER_MAX_POOL_THREADS`. Returns the status code.
///
/// # Safety
/// `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_pool_configure(
    threads: usize,
    queue_capacity: usize,
    status: *mut GreeterStatus,
) -> GreeterCode {
    let outcome = catch(|| global::configure(threads, queue_capacity));
    let code = outcome.as_ref().err().map_or(GREETER_OK, |e| e.code);
    report(status, outcome);
    code
}

/// Shuts the worker pool down: queued tasks complete with `GREETER_ERR_SHUT_DOWN`, running ones
/// finish, the workers are joined. Later submits fail with `GREETER_ERR_SHUT_DOWN` until
/// `greeter_pool_configure` is called. Idempotent; returns once the workers have exited.
#[no_mangle]
pub extern "C" fn greeter_pool_shutdown() {
    seed_guarded((), || {
        global::shutdown();
        Ok(())
    });
}

/// The number of worker threads of the running pool, or of the next one.
#[no_mangle]
pub extern "C" fn greeter_pool_threads() -> usize {
    seed_guarded(0, || Ok(global::size().0))
}

/// The queue capacity of the running pool, or of the next one.
#[no_mangle]
pub extern "C" fn greeter_pool_queue_capacity() -> usize {
    seed_guarded(0, || Ok(global::size().1))
}

/// True while the worker pool is running (it starts on the first submit).
#[no_mangle]
pub extern "C" fn greeter_pool_is_running() -> bool {
    seed_guarded(false, || Ok(global::current().is_some()))
}

/// Creates a completion queue, owned by the caller and freed with `greeter_queue_free`. Returns
/// NULL with `status` set if the wake-up descriptor cannot be created.
///
/// # Safety
/// `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_queue_new(
    status: *mut GreeterStatus,
) -> *mut GreeterCompletionQueue {
    guarded(status, std::ptr::null_mut(), || {
        let queue = CompletionQueue::new().map_err(|e| {
            Error::new(
                GREETER_ERR_INVALID_ARGUMENT,
                format!("cannot create the completion queue's descriptor: {e}"),
            )
        })?;
        Ok(Box::into_raw(Box::new(GreeterCompletionQueue {
            queue: Arc::new(queue),
        })))
    })
}

/// The queue's file descriptor, owned by the queue: it is readable while completions wait, and
/// `greeter_queue_drain` consumes its readiness. Watch it for reading; never read or close it.
/// Returns -1 for NULL.
///
/// # Safety
/// `queue` is NULL or a live queue from `greeter_queue_new`.
#[no_mangle]
pub unsafe extern "C" fn greeter_queue_fd(queue: *const GreeterCompletionQueue) -> i32 {
    // SAFETY: NULL or a live queue, by contract.
    match unsafe { queue.as_ref() } {
        Some(q) => q.queue.fd(),
        None => -1,
    }
}

/// Moves up to `capacity` completions into `out` and returns how many. Each one's `value` and
/// status message now belong to the caller (see `GreeterCompletion`).
///
/// # Safety
/// `queue` is NULL (returns 0) or a live queue; `out` is writable for `capacity` completions
/// (it may be uninitialised).
#[no_mangle]
pub unsafe extern "C" fn greeter_queue_drain(
    queue: *const GreeterCompletionQueue,
    out: *mut GreeterCompletion,
    capacity: usize,
) -> usize {
    // SAFETY: NULL or a live queue, by contract.
    let Some(queue) = (unsafe { queue.as_ref() }) else {
        return 0;
    };
    if out.is_null() || capacity == 0 {
        return 0;
    }
    seed_guarded(0, || {
        let mut batch = Vec::with_capacity(capacity.min(1024));
        queue.queue.drain_into(&mut batch, capacity);
        let n = batch.len();
        for (i, completion) in batch.into_iter().enumerate() {
            let (value, value_len, status) = match completion.result {
                Ok(s) => {
                    let (ptr, len) = hand_out(s);
                    (
                        ptr,
                        len,
                        GreeterStatus {
                            code: GREETER_OK,
                            message: std::ptr::null_mut(),
                        },
                    )
                }
                Err(e) => {
                    let message = hand_out(e.message.replace('\0', "\\0")).0;
                    (
                        std::ptr::null_mut(),
                        0,
                        GreeterStatus {
                            code: e.code,
                            message,
                        },
                    )
                }
            };
            let item = GreeterCompletion {
                task_id: completion.task_id,
                value,
                value_len,
                status,
            };
            // SAFETY: `i < n <= capacity` and `out` is writable for `capacity` completions;
            // `write` does not read or drop the possibly uninitialised old contents.
            unsafe { out.add(i).write(item) };
        }
        Ok(n)
    })
}

/// Moves completions into flat caller-owned arrays, so that a caller reads a batch with a
/// few bulk copies instead of one field access per completion. Nothing is allocated for the
/// caller and nothing needs releasing.
///
/// For the `i`-th completion moved (`i` < the return value, at most `capacity`): `ids[i]` is
/// its task id and `codes[i]` its status code (`GREETER_OK` or a `GREETER_ERR_*`). Its text,
/// the greeting on success or the error message (NUL bytes escaped as `\0`) on failure, is
/// written to `text`: the texts of the completions moved, joined by single NUL bytes, no
/// terminator, `*text_used` bytes in all. A completion whose text does not fit in what is left
/// of `text_len` stays queued, and so do those after it; when not even the first fits, 0 is
/// returned and `*text_used` is the room it needs. `*remaining` is set to the number of
/// completions still waiting. Returns 0 for a NULL `queue`.
///
/// # Safety
/// `queue` is NULL or a live queue; `ids` and `codes` are writable for `capacity` elements;
/// `text` is writable for `text_len` bytes (NULL only when `text_len` is 0); `text_used` and
/// `remaining` are valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_queue_drain_packed(
    queue: *const GreeterCompletionQueue,
    ids: *mut u64,
    codes: *mut GreeterCode,
    capacity: usize,
    text: *mut c_char,
    text_len: usize,
    text_used: *mut usize,
    remaining: *mut usize,
) -> usize {
    // SAFETY: NULL or a live queue, by contract.
    let Some(queue) = (unsafe { queue.as_ref() }) else {
        return 0;
    };
    if ids.is_null() || codes.is_null() || capacity == 0 {
        return 0;
    }
    seed_guarded(0, || {
        // SAFETY: writable for `text_len` bytes, by contract.
        let text_out = unsafe { out_buffer(text, text_len, "text") }?;
        // SAFETY: `ids` and `codes` are non-NULL and writable for `capacity` elements, by
        // contract, and distinct from each other and from `text`.
        let ids = unsafe { std::slice::from_raw_parts_mut(ids, capacity) };
        // SAFETY: as above.
        let codes = unsafe { std::slice::from_raw_parts_mut(codes, capacity) };
        let mut batch = Vec::with_capacity(capacity.min(1024));
        let mut used = 0usize;
        let mut first_needs = 0usize;
        let left = queue.queue.drain_while(&mut batch, capacity, |c| {
            let sep = usize::from(used > 0);
            let len = completion_text_len(c) + sep;
            if used + len <= text_out.len() {
                used += len;
                true
            } else {
                if used == 0 {
                    first_needs = len;
                }
                false
            }
        });
        let mut at = 0;
        for (i, completion) in batch.iter().enumerate() {
            if i > 0 {
                text_out[at] = 0;
                at += 1;
            }
            ids[i] = completion.task_id;
            let piece = match &completion.result {
                Ok(s) => {
                    codes[i] = GREETER_OK;
                    std::borrow::Cow::Borrowed(s.as_str())
                }
                Err(e) => {
                    codes[i] = e.code;
                    std::borrow::Cow::Owned(e.message.replace('\0', "\\0"))
                }
            };
            text_out[at..at + piece.len()].copy_from_slice(piece.as_bytes());
            at += piece.len();
        }
        store(text_used, if batch.is_empty() { first_needs } else { at });
        store(remaining, left);
        Ok(batch.len())
    })
}

/// The length of a completion's text in `greeter_queue_drain_packed`.
fn completion_text_len(c: &crate::pool::Completion) -> usize {
    match &c.result {
        Ok(s) => s.len(),
        Err(e) => e.message.len() + e.message.bytes().filter(|&b| b == 0).count(),
    }
}

/// Frees the `value` and status message of `count` completions written by
/// `greeter_queue_drain`, and sets them to NULL. NULL `completions` is accepted.
///
/// # Safety
/// `completions` is NULL or points to `count` completions filled by `greeter_queue_drain` whose
/// strings have not been freed otherwise.
#[no_mangle]
pub unsafe extern "C" fn greeter_completions_release(
    completions: *mut GreeterCompletion,
    count: usize,
) {
    if completions.is_null() {
        return;
    }
    for i in 0..count {
        // SAFETY: `i < count` and the array holds `count` completions, by contract.
        let item = unsafe { &mut *completions.add(i) };
        // SAFETY: the value is NULL or handed out by greeter_queue_drain, freed once here.
        unsafe { take_back(item.value) };
        item.value = std::ptr::null_mut();
        report(&mut item.status, Ok(()));
    }
}

/// Closes and frees a completion queue. Completions waiting in it, and those of tasks still in
/// flight for it, are dropped (freed by greeter, never handed out). Stop watching its
/// descriptor first. NULL is accepted.
///
/// # Safety
/// `queue` is NULL or a live queue from `greeter_queue_new`, not used again after this call.
#[no_mangle]
pub unsafe extern "C" fn greeter_queue_free(queue: *mut GreeterCompletionQueue) {
    if queue.is_null() {
        return;
    }
    // SAFETY: made by Box::into_raw in greeter_queue_new and freed once, by contract.
    let queue = unsafe { Box::from_raw(queue) };
    queue.queue.close();
}

/// Submits `Async Hello, {name}!` to the worker pool (starting it if needed) and returns the
/// task's id (never 0) at once; the name is copied first. The completion, carrying that id, is
/// delivered to `queue`. On failure returns 0 and sets `status`: the `greeter_greet` input
/// errors, `GREETER_ERR_SHUT_DOWN`, or `GREETER_ERR_QUEUE_FULL` (backpressure: retry later).
///
/// # Safety
/// `name` is NULL or readable for `name_len` bytes; `queue` is NULL or a live queue; `status`
/// is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_greet_submit(
    name: *const c_char,
    name_len: usize,
    queue: *const GreeterCompletionQueue,
    status: *mut GreeterStatus,
) -> u64 {
    guarded(status, 0, || {
        // SAFETY: NULL or a live queue, by contract.
        let queue = unsafe { queue.as_ref() }
            .ok_or_else(|| Error::new(GREETER_ERR_NULL_POINTER, "queue is NULL"))?;
        // SAFETY: forwarded from this function's contract.
        let name = validate_name(unsafe { bytes_arg(name, name_len, "name") }?)?;
        global::get()?.submit(name.to_owned(), Target::Queue(Arc::clone(&queue.queue)))
    })
}

/// Submits `count` greetings at once (`Async Hello, {name}!`), under one lock of the pool,
/// to be delivered to `queue`: the batched form of `greeter_greet_submit`, for an event loop
/// that collects the submits of one iteration.
///
/// The names are packed: `names` holds their bytes back to back, `lens[i]` bytes for the
/// `i`-th (each copied before this returns). Returns how many were accepted, in order: all of
/// them, or fewer when the pool's queue has room for fewer (submit the rest later), and
/// stores their first task id in `*first_id`; the `i`-th accepted name has id
/// `*first_id + i`. Every accepted id gets exactly one completion. A name that is not valid
/// UTF-8 or holds a NUL byte still takes its id: its error completion is delivered to `queue`
/// at once. Returns 0 and sets `status` when none is accepted: `GREETER_ERR_QUEUE_FULL`,
/// `GREETER_ERR_SHUT_DOWN`, `GREETER_ERR_NULL_POINTER`, `GREETER_ERR_INVALID_ARGUMENT` (the
/// lengths add up to more than `PTRDIFF_MAX`) or `GREETER_ERR_PANIC`. `count` 0 returns 0
/// with `GREETER_OK`.
///
/// # Safety
/// `names` is readable for the sum of the `lens` bytes (NULL only when that is 0); `lens` is
/// readable for `count` elements (NULL only when `count` is 0); `queue` is NULL or a live
/// queue; `first_id` and `status` are NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_greet_submit_many(
    names: *const c_char,
    lens: *const usize,
    count: usize,
    queue: *const GreeterCompletionQueue,
    first_id: *mut u64,
    status: *mut GreeterStatus,
) -> usize {
    guarded(status, 0, || {
        // SAFETY: NULL or a live queue, by contract.
        let queue = unsafe { queue.as_ref() }
            .ok_or_else(|| Error::new(GREETER_ERR_NULL_POINTER, "queue is NULL"))?;
        if count == 0 {
            return Ok(0);
        }
        if lens.is_null() {
            return Err(Error::new(GREETER_ERR_NULL_POINTER, "lens is NULL"));
        }
        if count > isize::MAX as usize / std::mem::size_of::<usize>() {
            return Err(Error::new(
                GREETER_ERR_INVALID_ARGUMENT,
                "count is too large",
            ));
        }
        // SAFETY: non-NULL, readable for `count` elements by contract, size checked above.
        let lens = unsafe { std::slice::from_raw_parts(lens, count) };
        let total = lens
            .iter()
            .try_fold(0usize, |acc, &n| acc.checked_add(n))
            .ok_or_else(|| Error::new(GREETER_ERR_INVALID_ARGUMENT, "the lengths overflow"))?;
        // SAFETY: forwarded from this function's contract (`total` bytes readable).
        let packed = unsafe { bytes_arg_or_empty(names, total, "names") }?;
        let mut at = 0;
        let parsed = lens
            .iter()
            .map(|&n| {
                let name = &packed[at..at + n];
                at += n;
                validate_name(name).map(str::to_owned)
            })
            .collect();
        let (first, accepted) = global::get()?.submit_many(parsed, &queue.queue)?;
        store(first_id, first);
        Ok(accepted)
    })
}

/// Cancels task `task_id`. Returns 1 if it was still queued (it will never run and no
/// completion will be delivered), 2 if it is running (its result will be dropped, no completion
/// delivered), 0 if it is unknown or already finished (its completion is delivered or on its
/// way, and must still be drained and released).
#[no_mangle]
pub extern "C" fn greeter_task_cancel(task_id: u64) -> i32 {
    seed_guarded(CancelOutcome::NotFound, || {
        Ok(global::current().map_or(CancelOutcome::NotFound, |p| p.cancel(task_id)))
    }) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::*;
    use crate::greeting::tests_serial;

    fn new_status() -> GreeterStatus {
        GreeterStatus {
            code: -1,
            message: std::ptr::null_mut(),
        }
    }

    fn message(status: &GreeterStatus) -> String {
        // SAFETY: a non-NULL message is a NUL-terminated string from `report`.
        unsafe { CStr::from_ptr(status.message) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    fn take_string(ptr: *mut c_char) -> String {
        assert!(!ptr.is_null());
        // SAFETY: a live string handed out by greeter.
        let s = unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned();
        // SAFETY: freed once.
        unsafe { free_string(ptr) };
        s
    }

    #[test]
    fn hand_out_and_take_back_balance() {
        let (ptr, len) = hand_out("héllo".to_owned());
        assert_eq!(len, 6);
        // SAFETY: `ptr` was just handed out and is valid for `len + 1` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len + 1) };
        assert_eq!(bytes, "héllo\0".as_bytes());
        // SAFETY: handed out above, taken back once.
        unsafe { take_back(ptr) };
        // SAFETY: NULL is accepted.
        unsafe { take_back(std::ptr::null_mut()) };
    }

    #[test]
    fn seed_add_wraps_without_panicking() {
        assert_eq!(add_numbers(3, 5), 8);
        assert_eq!(add_numbers(i32::MAX, 1), i32::MIN);
    }

    #[test]
    fn seed_greet_returns_null_instead_of_unknown() {
        let _serial = tests_serial();
        // SAFETY: valid C strings or NULL.
        unsafe {
            assert_eq!(take_string(greet(c"Alice".as_ptr())), "Hello, Alice!");
            assert!(greet(std::ptr::null()).is_null());
            assert!(greet(c"\xff".as_ptr()).is_null());
            free_string(std::ptr::null_mut());
        }
    }

    #[test]
    fn greet_with_status() {
        let _serial = tests_serial();
        let mut status = new_status();
        let mut len = 0usize;
        let name = "Zoë";
        // SAFETY: valid pointers for the stated lengths.
        let ptr = unsafe { greeter_greet(name.as_ptr().cast(), name.len(), &mut len, &mut status) };
        assert_eq!(status.code, GREETER_OK);
        assert!(status.message.is_null());
        assert_eq!(len, "Hello, Zoë!".len());
        assert_eq!(take_string(ptr), "Hello, Zoë!");

        // SAFETY: as above.
        let ptr = unsafe { greeter_greet(b"a\0b".as_ptr().cast(), 3, &mut len, &mut status) };
        assert!(ptr.is_null());
        assert_eq!(status.code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(message(&status), "name contains a NUL byte at offset 1");

        // Reusing the status frees the old message.
        // SAFETY: NULL name is accepted and reported.
        let ptr = unsafe { greeter_greet(std::ptr::null(), 0, &mut len, &mut status) };
        assert!(ptr.is_null());
        assert_eq!(status.code, GREETER_ERR_NULL_POINTER);
        assert_eq!(message(&status), "name is NULL");

        // SAFETY: as above.
        let ptr = unsafe { greeter_greet(b"\xc3".as_ptr().cast(), 1, &mut len, &mut status) };
        assert!(ptr.is_null());
        assert_eq!(status.code, GREETER_ERR_INVALID_UTF8);

        // SAFETY: the length is refused before any read.
        let ptr = unsafe { greeter_greet(b"x".as_ptr().cast(), usize::MAX, &mut len, &mut status) };
        assert!(ptr.is_null());
        assert_eq!(status.code, GREETER_ERR_INVALID_ARGUMENT);

        // SAFETY: status filled above.
        unsafe { greeter_status_clear(&mut status) };
        assert_eq!(status.code, GREETER_OK);
        assert!(status.message.is_null());
        // SAFETY: NULL accepted.
        unsafe { greeter_status_clear(std::ptr::null_mut()) };
    }

    #[test]
    fn greet_into_writes_or_asks_for_room() {
        let _serial = tests_serial();
        let mut buf = [0u8; 16];
        // SAFETY: valid pointers for the stated lengths.
        let n = unsafe {
            greeter_greet_into(
                b"Bob".as_ptr().cast(),
                3,
                buf.as_mut_ptr().cast(),
                16,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(&buf[..n as usize], b"Hello, Bob!");
        // SAFETY: zero-length buffer may be NULL.
        let n = unsafe {
            greeter_greet_into(
                b"Bob".as_ptr().cast(),
                3,
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(n, 11);
        let mut status = new_status();
        // SAFETY: valid pointers.
        let n = unsafe {
            greeter_greet_into(
                b"\xff".as_ptr().cast(),
                1,
                buf.as_mut_ptr().cast(),
                16,
                &mut status,
            )
        };
        assert_eq!(n, -i64::from(GREETER_ERR_INVALID_UTF8));
        assert_eq!(status.code, GREETER_ERR_INVALID_UTF8);
        // SAFETY: status filled above.
        unsafe { greeter_status_clear(&mut status) };
    }

    #[test]
    fn add_reports_overflow() {
        let mut status = new_status();
        // SAFETY: valid status.
        unsafe {
            assert_eq!(greeter_add_numbers(3, 5, &mut status), 8);
            assert_eq!(status.code, GREETER_OK);
            assert_eq!(greeter_add_numbers(i32::MAX, 1, &mut status), 0);
            assert_eq!(status.code, GREETER_ERR_OVERFLOW);
            assert_eq!(message(&status), "2147483647 + 1 overflows i32");
            greeter_status_clear(&mut status);
            assert_eq!(greeter_add_numbers(1, 2, std::ptr::null_mut()), 3);
        }
        assert_eq!(
            greeter_add_numbers_checked(i32::MAX, 0),
            i64::from(i32::MAX)
        );
        assert_eq!(
            greeter_add_numbers_checked(i32::MAX, 1),
            crate::greeting::GREETER_ADD_OVERFLOWED
        );
        assert_eq!(
            greeter_add_numbers_checked(i32::MIN, i32::MIN),
            crate::greeting::GREETER_ADD_OVERFLOWED
        );
    }

    #[test]
    fn add_checked_flags_overflow_with_one_value() {
        assert_eq!(greeter_add_numbers_checked(3, 5), 8);
        assert_eq!(greeter_add_numbers_checked(-7, 2), -5);
        assert_eq!(greeter_add_numbers_checked(i32::MAX, 1), i64::MAX);
        assert_eq!(greeter_add_numbers_checked(i32::MIN, -1), i64::MAX);
    }

    #[test]
    fn greet_small_writes_into_the_fixed_buffer() {
        let _serial = tests_serial();
        let mut buf = [0u8; GREETER_SMALL_BUFFER_LEN];
        let name = "Zoë";
        // SAFETY: the buffer holds GREETER_SMALL_BUFFER_LEN bytes.
        let n = unsafe {
            greeter_greet_small(name.as_ptr().cast(), name.len(), buf.as_mut_ptr().cast())
        };
        assert_eq!(&buf[..n as usize], "Hello, Zoë!".as_bytes());
        let longest = "x".repeat(GREETER_SMALL_BUFFER_LEN - GREETER_GREETING_EXTRA_BYTES);
        // SAFETY: as above.
        let n =
            unsafe { greeter_greet_small(longest.as_ptr().cast(), 248, buf.as_mut_ptr().cast()) };
        assert_eq!(n as usize, GREETER_SMALL_BUFFER_LEN);
        assert_eq!(&buf[..], format!("Hello, {longest}!").as_bytes());
        // SAFETY: too long is refused before anything is read or written.
        let n =
            unsafe { greeter_greet_small(longest.as_ptr().cast(), 249, buf.as_mut_ptr().cast()) };
        assert_eq!(n, -i64::from(GREETER_ERR_INVALID_ARGUMENT));
        let text = |buf: &[u8]| {
            CStr::from_bytes_until_nul(buf)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            text(&buf),
            "name is 249 bytes; greeter_greet_small takes at most 248"
        );
        // SAFETY: valid pointers.
        let n = unsafe { greeter_greet_small(b"a\0".as_ptr().cast(), 2, buf.as_mut_ptr().cast()) };
        assert_eq!(n, -i64::from(GREETER_ERR_INTERIOR_NUL));
        assert_eq!(text(&buf), "name contains a NUL byte at offset 1");
        inject_panics(1);
        // SAFETY: valid pointers.
        let n = unsafe { greeter_greet_small(b"a".as_ptr().cast(), 1, buf.as_mut_ptr().cast()) };
        assert_eq!(n, -i64::from(GREETER_ERR_PANIC));
        assert_eq!(
            text(&buf),
            "Rust panicked: injected panic (greeter_debug_inject_panics)"
        );
        // SAFETY: NULL buffer is refused.
        let n = unsafe { greeter_greet_small(b"a".as_ptr().cast(), 1, std::ptr::null_mut()) };
        assert_eq!(n, -i64::from(GREETER_ERR_NULL_POINTER));
    }

    #[test]
    fn greet_many_fills_the_callers_buffer() {
        let _serial = tests_serial();
        let mut status = new_status();
        let packed = b"Ann\0\0Bo";
        let mut out = [0u8; 64];
        // SAFETY: valid pointers for the stated lengths.
        let n = unsafe {
            greeter_greet_many(
                packed.as_ptr().cast(),
                packed.len(),
                3,
                out.as_mut_ptr().cast(),
                out.len(),
                &mut status,
            )
        };
        assert_eq!(status.code, GREETER_OK);
        assert_eq!(&out[..n as usize], b"Hello, Ann!\0Hello, !\0Hello, Bo!");
        // SAFETY: a zero-length output may be NULL: the needed length comes back.
        let n = unsafe {
            greeter_greet_many(
                packed.as_ptr().cast(),
                packed.len(),
                3,
                std::ptr::null_mut(),
                0,
                &mut status,
            )
        };
        assert_eq!(n, 31);
        // SAFETY: empty input may be NULL.
        let n = unsafe {
            greeter_greet_many(std::ptr::null(), 0, 0, std::ptr::null_mut(), 0, &mut status)
        };
        assert_eq!(n, 0);
        // SAFETY: valid pointers.
        let n = unsafe {
            greeter_greet_many(
                packed.as_ptr().cast(),
                packed.len(),
                2,
                out.as_mut_ptr().cast(),
                out.len(),
                &mut status,
            )
        };
        assert_eq!(n, -i64::from(GREETER_ERR_INTERIOR_NUL));
        assert_eq!(status.code, GREETER_ERR_INTERIOR_NUL);
        // SAFETY: NULL names with a length is refused.
        let n = unsafe {
            greeter_greet_many(
                std::ptr::null(),
                3,
                1,
                out.as_mut_ptr().cast(),
                64,
                &mut status,
            )
        };
        assert_eq!(n, -i64::from(GREETER_ERR_NULL_POINTER));
        assert_eq!(message(&status), "names is NULL");
        // SAFETY: status filled above.
        unsafe { greeter_status_clear(&mut status) };
    }

    #[test]
    fn the_packed_drain_fills_flat_arrays() {
        let _serial = tests_serial();
        let mut status = new_status();
        // SAFETY: valid pointers throughout; the queue is freed at the end.
        unsafe {
            let q = greeter_queue_new(&mut status);
            let a = greeter_greet_submit(b"Ann".as_ptr().cast(), 3, q, &mut status);
            let b = greeter_greet_submit(b"Bo".as_ptr().cast(), 2, q, &mut status);
            let mut ids = [0u64; 4];
            let mut codes = [-1i32; 4];
            let mut text = [0u8; 64];
            let (mut used, mut left) = (0usize, 0usize);
            let mut got: Vec<(u64, i32, Vec<u8>)> = Vec::new();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while got.len() < 2 {
                assert!(std::time::Instant::now() < deadline);
                // A 17-byte buffer holds one greeting: they come one per call.
                let n = greeter_queue_drain_packed(
                    q,
                    ids.as_mut_ptr(),
                    codes.as_mut_ptr(),
                    4,
                    text.as_mut_ptr().cast(),
                    17,
                    &mut used,
                    &mut left,
                );
                assert!(n <= 1);
                if n == 1 {
                    got.push((ids[0], codes[0], text[..used].to_vec()));
                }
            }
            got.sort();
            assert_eq!(got[0], (a, GREETER_OK, b"Async Hello, Ann!".to_vec()));
            assert_eq!(got[1], (b, GREETER_OK, b"Async Hello, Bo!".to_vec()));
            assert_eq!(left, 0);
            // Too small for the first: nothing moves, the room needed comes back.
            let c = greeter_greet_submit(b"Cyd".as_ptr().cast(), 3, q, &mut status);
            let mut n = 0;
            while n == 0 {
                assert!(std::time::Instant::now() < deadline);
                n = greeter_queue_drain_packed(
                    q,
                    ids.as_mut_ptr(),
                    codes.as_mut_ptr(),
                    4,
                    text.as_mut_ptr().cast(),
                    4,
                    &mut used,
                    &mut left,
                );
                if n == 0 && used == 17 {
                    break;
                }
            }
            assert_eq!((n, used, left), (0, 17, 1));
            let n = greeter_queue_drain_packed(
                q,
                ids.as_mut_ptr(),
                codes.as_mut_ptr(),
                4,
                text.as_mut_ptr().cast(),
                64,
                &mut used,
                &mut left,
            );
            assert_eq!(
                (n, ids[0], &text[..used], left),
                (1, c, &b"Async Hello, Cyd!"[..], 0)
            );
            greeter_status_clear(&mut status);
            greeter_queue_free(q);
        }
    }

    #[test]
    fn submit_many_round_trips_through_the_packed_drain() {
        let _serial = tests_serial();
        let mut status = new_status();
        // SAFETY: valid pointers throughout; the queue is freed at the end.
        unsafe {
            let q = greeter_queue_new(&mut status);
            let names = b"AnnB\0dCyd";
            let lens = [3usize, 3, 3];
            let mut first = 0u64;
            let n = greeter_greet_submit_many(
                names.as_ptr().cast(),
                lens.as_ptr(),
                3,
                q,
                &mut first,
                &mut status,
            );
            assert_eq!((n, status.code), (3, GREETER_OK));
            let mut got: Vec<(u64, i32, String)> = Vec::new();
            let mut ids = [0u64; 8];
            let mut codes = [0i32; 8];
            let mut text = [0u8; 256];
            let (mut used, mut left) = (0usize, 0usize);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while got.len() < 3 {
                assert!(std::time::Instant::now() < deadline);
                let k = greeter_queue_drain_packed(
                    q,
                    ids.as_mut_ptr(),
                    codes.as_mut_ptr(),
                    8,
                    text.as_mut_ptr().cast(),
                    256,
                    &mut used,
                    &mut left,
                );
                let texts: Vec<&[u8]> = text[..used].split(|&b| b == 0).collect();
                for i in 0..k {
                    let t = String::from_utf8(texts[i].to_vec()).unwrap();
                    got.push((ids[i], codes[i], t));
                }
            }
            got.sort();
            assert_eq!(got[0], (first, GREETER_OK, "Async Hello, Ann!".into()));
            assert_eq!(got[1].0, first + 1);
            assert_eq!(got[1].1, GREETER_ERR_INTERIOR_NUL);
            assert_eq!(got[1].2, "name contains a NUL byte at offset 1");
            assert_eq!(got[2], (first + 2, GREETER_OK, "Async Hello, Cyd!".into()));
            let n = greeter_greet_submit_many(
                std::ptr::null(),
                std::ptr::null(),
                0,
                q,
                &mut first,
                &mut status,
            );
            assert_eq!((n, status.code), (0, GREETER_OK));
            let n = greeter_greet_submit_many(
                names.as_ptr().cast(),
                std::ptr::null(),
                1,
                q,
                &mut first,
                &mut status,
            );
            assert_eq!((n, status.code), (0, GREETER_ERR_NULL_POINTER));
            greeter_status_clear(&mut status);
            greeter_queue_free(q);
        }
    }

    #[test]
    fn panics_are_caught_and_reported_per_call() {
        let _serial = tests_serial();
        let mut status = new_status();
        let mut len = 0;
        inject_panics(1);
        // SAFETY: valid pointers.
        let ptr = unsafe { greeter_greet(b"x".as_ptr().cast(), 1, &mut len, &mut status) };
        assert!(ptr.is_null());
        assert_eq!(status.code, GREETER_ERR_PANIC);
        assert_eq!(
            message(&status),
            "Rust panicked: injected panic (greeter_debug_inject_panics)"
        );
        inject_panics(1);
        let mut buf = [0u8; 8];
        // SAFETY: valid pointers.
        let n = unsafe {
            greeter_greet_into(
                b"x".as_ptr().cast(),
                1,
                buf.as_mut_ptr().cast(),
                8,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(n, -i64::from(GREETER_ERR_PANIC));
        inject_panics(1);
        // SAFETY: valid C string.
        assert!(unsafe { greet(c"x".as_ptr()) }.is_null());
        // SAFETY: status filled above.
        unsafe { greeter_status_clear(&mut status) };
    }

    #[test]
    fn version_matches_the_crate() {
        // SAFETY: a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(greeter_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn the_queue_api_round_trips() {
        let _serial = tests_serial();
        let mut status = new_status();
        // SAFETY: valid status; the queue is used and freed below.
        unsafe {
            let q = greeter_queue_new(&mut status);
            assert!(!q.is_null());
            assert!(greeter_queue_fd(q) >= 0);
            let id = greeter_greet_submit(b"Ann".as_ptr().cast(), 3, q, &mut status);
            assert_ne!(id, 0, "{}", status.code);
            let mut out: Vec<GreeterCompletion> = Vec::with_capacity(4);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut n = 0;
            while n == 0 {
                assert!(std::time::Instant::now() < deadline);
                n = greeter_queue_drain(q, out.as_mut_ptr(), 4);
            }
            out.set_len(n);
            assert_eq!(n, 1);
            assert_eq!(out[0].task_id, id);
            assert_eq!(out[0].status.code, GREETER_OK);
            let value = std::slice::from_raw_parts(out[0].value.cast::<u8>(), out[0].value_len);
            assert_eq!(value, b"Async Hello, Ann!");
            greeter_completions_release(out.as_mut_ptr(), n);
            assert!(out[0].value.is_null());
            assert_eq!(greeter_task_cancel(id), 0);

            let id = greeter_greet_submit(b"\xff".as_ptr().cast(), 1, q, &mut status);
            assert_eq!(id, 0);
            assert_eq!(status.code, GREETER_ERR_INVALID_UTF8);
            let id = greeter_greet_submit(b"a".as_ptr().cast(), 1, std::ptr::null(), &mut status);
            assert_eq!(id, 0);
            assert_eq!(status.code, GREETER_ERR_NULL_POINTER);
            greeter_status_clear(&mut status);
            greeter_queue_free(q);
            greeter_queue_free(std::ptr::null_mut());
            assert_eq!(greeter_queue_fd(std::ptr::null()), -1);
        }
    }
}
