//! The guard every export runs its body in, and the status it reports through.
//!
//! The one failure convention of the `greeter_` API: an export that can fail takes a
//! `GreeterStatus *status` as its last parameter (NULL accepted); it returns its result and
//! sets `status->code` to `GREETER_OK`, or returns its return type's failure value
//! ([`FailureValue`]) and fills `status` with the code and message. Hot-path exports keep the
//! same failure values but report into the calling thread's status ([`ThreadStatus`]) instead
//! of a parameter, which cffi would charge for on every call.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, GreeterCode, Result, GREETER_OK};
use crate::ffi::types::{string_free, string_out};

/// The error channel of the `greeter_` API.
///
/// The caller provides it (zeroed, or holding a status from an earlier call) and owns it.
/// Every call that takes one sets `code` (`GREETER_OK` on success). On failure `message` is a
/// NUL-terminated UTF-8 string the caller owns; `greeter_status_clear` frees it. A message
/// still held when the status is passed to another call is freed by that call, so reusing a
/// status never leaks. A NULL status is accepted: the call then reports only through its
/// return value.
///
/// The failure value of an export is the zero of its return type (NULL, 0, `false`, nothing
/// for `void`), except for `int64_t`, whose failure value is `GREETER_FAILED`. Where zero is
/// also a possible result (0 from `greeter_greet_many` for no names, descriptor 0 from
/// `greeter_queue_fd`), `code` tells them apart: a caller reads the status only after a zero.
#[repr(C)]
pub struct GreeterStatus {
    /// `GREETER_OK` or one of the `GREETER_ERR_*` codes.
    pub code: GreeterCode,
    /// NULL on success; otherwise an owned description of the failure.
    pub message: *mut c_char,
}

/// What an `int64_t` export returns on failure (`-INT64_MAX`, spelled as a literal so that
/// cffi's `cdef` reads it): a value none of their results can take. For a hot-path export (no
/// status parameter) the failure's status is then the calling thread's; take it with
/// `greeter_status_take_thread`.
pub const GREETER_FAILED: i64 = -9_223_372_036_854_775_807;

/// The value an export returns when it fails (see `GreeterStatus`).
pub trait FailureValue {
    /// The failure value.
    const FAILED: Self;
}

impl<T> FailureValue for *mut T {
    const FAILED: Self = std::ptr::null_mut();
}
impl<T> FailureValue for *const T {
    const FAILED: Self = std::ptr::null();
}
impl FailureValue for usize {
    const FAILED: Self = 0;
}
impl FailureValue for u64 {
    const FAILED: Self = 0;
}
impl FailureValue for u32 {
    const FAILED: Self = 0;
}
impl FailureValue for i32 {
    const FAILED: Self = 0;
}
impl FailureValue for i64 {
    const FAILED: Self = GREETER_FAILED;
}
impl FailureValue for bool {
    const FAILED: Self = false;
}
impl FailureValue for () {
    const FAILED: Self = ();
}

/// Where a guarded call reports its outcome.
pub trait Report {
    /// Records `outcome`.
    ///
    /// # Safety
    /// As stated by the implementing type.
    unsafe fn report(self, outcome: std::result::Result<(), Error>);
}

/// A caller's status parameter.
impl Report for *mut GreeterStatus {
    /// # Safety
    /// `self` is NULL or points to a status that is zeroed or was filled by a greeter call,
    /// valid for writes and not aliased during the call.
    unsafe fn report(self, outcome: std::result::Result<(), Error>) {
        // SAFETY: NULL or valid for writes, by contract.
        let Some(status) = (unsafe { self.as_mut() }) else {
            return;
        };
        if !status.message.is_null() {
            // SAFETY: a status holds NULL or a message handed out by an earlier call.
            unsafe { string_free(status.message) };
            status.message = std::ptr::null_mut();
        }
        status.code = GREETER_OK;
        if let Err(e) = outcome {
            status.code = e.code;
            // SAFETY: no length wanted (NULL). A message that cannot be allocated leaves
            // NULL: the code alone still names the failure.
            status.message = unsafe { string_out(escape_nul(e.message), std::ptr::null_mut()) }
                .unwrap_or(std::ptr::null_mut());
        }
    }
}

/// The calling thread's status: where hot-path exports report, so that they need no status
/// parameter. Failures not taken yet are kept in order and `greeter_status_take_thread` moves
/// out the latest, so calls that nest on one thread each take their own: a failure made between
/// an earlier failure and its take (by a signal handler, a profiler hook or a finalizer running
/// on that thread) is taken by its own caller first, and the earlier one stays for its caller.
/// At most [`GREETER_THREAD_FAILURES_KEPT`] are kept (the oldest goes first); success leaves them
/// alone (no thread-local access on the fast path).
pub struct ThreadStatus;

/// How many failures not taken yet a thread keeps for `greeter_status_take_thread` (the oldest
/// is dropped first): more than calls can nest in Python. Nested signal handlers are the deep
/// case: on a loaded machine a 0.1 ms timer can interrupt each handler before it ends, and each
/// level holds a failure until its take; Python's default recursion limit (1,000 frames) stops
/// that nesting well below this bound. A caller that never takes its failures holds at most
/// this many messages per thread.
pub const GREETER_THREAD_FAILURES_KEPT: usize = 1024;

thread_local! {
    static THREAD_FAILURES: RefCell<VecDeque<Error>> = const { RefCell::new(VecDeque::new()) };
}

impl Report for ThreadStatus {
    /// # Safety
    /// Always safe: no pointer involved (`unsafe` only to share the trait).
    unsafe fn report(self, outcome: std::result::Result<(), Error>) {
        if let Err(e) = outcome {
            // `try_with`: during thread teardown the slot may be gone; the failure value
            // still tells the caller that the call failed.
            let _ = THREAD_FAILURES.try_with(|failures| {
                let mut failures = failures.borrow_mut();
                if failures.len() == GREETER_THREAD_FAILURES_KEPT {
                    failures.pop_front();
                }
                failures.push_back(e);
            });
        }
    }
}

impl ThreadStatus {
    /// Moves the calling thread's latest failure not taken yet out, if any.
    pub fn take() -> Option<Error> {
        THREAD_FAILURES
            .try_with(|failures| failures.borrow_mut().pop_back())
            .ok()
            .flatten()
    }
}

/// Messages become C strings: a NUL byte in one (from a panic payload, say) is escaped.
fn escape_nul(message: String) -> String {
    if message.contains('\0') {
        message.replace('\0', "\\0")
    } else {
        message
    }
}

/// Runs an export's body: a panic is caught and becomes `GREETER_ERR_PANIC`, the outcome is
/// reported to `status`, and the result or the return type's failure value is returned.
/// Every export's body is one call of this function.
///
/// # Safety
/// `status` is as its [`Report`] implementation requires.
pub unsafe fn guard<T: FailureValue, R: Report>(status: R, body: impl FnOnce() -> Result<T>) -> T {
    let body = || {
        #[cfg(test)]
        if PANIC_IN_NEXT_GUARD.with(|armed| armed.replace(false)) {
            panic!("injected in the guard");
        }
        body()
    };
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => {
            // SAFETY: forwarded from this function's contract.
            unsafe { status.report(Ok(())) };
            value
        }
        Ok(Err(e)) => {
            // SAFETY: forwarded from this function's contract.
            unsafe { status.report(Err(e)) };
            T::FAILED
        }
        Err(payload) => {
            let e = Error::from_panic(payload.as_ref());
            // SAFETY: forwarded from this function's contract.
            unsafe { status.report(Err(e)) };
            T::FAILED
        }
    }
}

#[cfg(test)]
thread_local! {
    static PANIC_IN_NEXT_GUARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Test-only: the next guard on this thread panics before running its body, so a test can
/// show that every export turns a panic into its failure value.
#[cfg(test)]
pub(crate) fn panic_in_next_guard() {
    PANIC_IN_NEXT_GUARD.with(|armed| armed.set(true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{GREETER_ERR_OVERFLOW, GREETER_ERR_PANIC};

    #[test]
    fn the_guard_returns_the_failure_value_and_fills_the_status() {
        let mut status = GreeterStatus {
            code: -1,
            message: std::ptr::null_mut(),
        };
        // SAFETY: `status` is a live, writable status.
        unsafe {
            assert_eq!(guard(&mut status as *mut _, || Ok(7u32)), 7);
            assert_eq!((status.code, status.message.is_null()), (GREETER_OK, true));
            let e = || Err(Error::new(GREETER_ERR_OVERFLOW, "a\0b"));
            assert_eq!(guard::<i32, _>(&mut status as *mut _, e), 0);
            assert_eq!(status.code, GREETER_ERR_OVERFLOW);
            let text = std::ffi::CStr::from_ptr(status.message).to_str().unwrap();
            assert_eq!(text, "a\\0b");
            let p: *mut u8 = guard(&mut status as *mut _, || panic!("boom"));
            assert!(p.is_null());
            assert_eq!(status.code, GREETER_ERR_PANIC);
            let text = std::ffi::CStr::from_ptr(status.message).to_str().unwrap();
            assert_eq!(text, "Rust panicked: boom");
            guard(&mut status as *mut _, || Ok(()));
            assert!(status.message.is_null(), "a reused status frees its old message");
            assert_eq!(guard(std::ptr::null_mut(), || Ok(3usize)), 3);
        }
    }

    #[test]
    fn hot_paths_report_to_the_thread() {
        // SAFETY: the thread status involves no pointer.
        unsafe {
            assert_eq!(guard(ThreadStatus, || Ok(5i64)), 5);
            assert!(ThreadStatus::take().is_none());
            let e = || Err(Error::new(GREETER_ERR_OVERFLOW, "no"));
            assert_eq!(guard::<i64, _>(ThreadStatus, e), GREETER_FAILED);
            assert_eq!(guard(ThreadStatus, || Ok(6i64)), 6, "success leaves it");
            assert_eq!(ThreadStatus::take().unwrap().code, GREETER_ERR_OVERFLOW);
            assert!(ThreadStatus::take().is_none(), "taken once");
            // Nested failures: each caller takes its own, the latest first.
            let outer = || Err(Error::new(GREETER_ERR_OVERFLOW, "outer"));
            let inner = || Err(Error::new(GREETER_ERR_OVERFLOW, "inner"));
            assert_eq!(guard::<i64, _>(ThreadStatus, outer), GREETER_FAILED);
            assert_eq!(guard::<i64, _>(ThreadStatus, inner), GREETER_FAILED);
            assert_eq!(ThreadStatus::take().unwrap().message, "inner");
            assert_eq!(ThreadStatus::take().unwrap().message, "outer");
            assert!(ThreadStatus::take().is_none());
            // Bounded: failures never taken do not pile up.
            for i in 0..GREETER_THREAD_FAILURES_KEPT + 5 {
                let e = || Err(Error::new(GREETER_ERR_OVERFLOW, format!("{i}")));
                assert_eq!(guard::<i64, _>(ThreadStatus, e), GREETER_FAILED);
            }
            let kept = std::iter::from_fn(ThreadStatus::take).count();
            assert_eq!(kept, GREETER_THREAD_FAILURES_KEPT);
            let other = std::thread::spawn(|| ThreadStatus::take().is_none());
            assert!(other.join().unwrap());
        }
    }
}
