//! The tutorial-compatible API: `add_numbers`, `greet`, `free_string` and `async_greet` with
//! the names and signatures of the usual ctypes tutorial, so its Python code runs unchanged
//! against this library, without the tutorial's bugs.
//!
//! These four keep the tutorial's signatures, which have no error channel: a failure is a NULL
//! string (returned, or passed to the callback). Everything else is the `greeter_` API, whose
//! exports say why they failed. Like every export, these run their bodies in the guard, here
//! with no status to fill.

use std::ffi::{c_char, CStr};

use crate::error::{Error, Result, GREETER_ERR_NULL_POINTER};
use crate::ffi::guard::guard;
use crate::ffi::types::{string_free, string_out};
use crate::greeting::{async_greeting, greeting};
use crate::memory::copy_text;
use crate::pool::{global, Output, Target};
use crate::texts::validate_text;

/// Borrows a NUL-terminated string: the tutorial API passes no lengths.
///
/// # Safety
/// When `ptr` is not NULL it points to a NUL-terminated string valid for `'a`.
unsafe fn c_str_in<'a>(ptr: *const c_char) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::new(GREETER_ERR_NULL_POINTER, "name is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    validate_text(unsafe { CStr::from_ptr(ptr) }.to_bytes(), "name")
}

/// Tutorial-compatible: returns `a + b`, wrapping on i32 overflow (two's complement) as the
/// tutorial's release build did. `greeter_add_numbers` reports overflow instead.
#[no_mangle]
pub extern "C" fn add_numbers(a: i32, b: i32) -> i32 {
    // SAFETY: a NULL status.
    unsafe { guard(std::ptr::null_mut(), || Ok(a.wrapping_add(b))) }
}

/// Tutorial-compatible: returns `Hello, {name}!` as a new string the caller owns and frees with
/// `free_string`.
///
/// `name` is a NUL-terminated UTF-8 string, borrowed for the call. Returns NULL, instead of the
/// tutorial's silent "Unknown", when `name` is NULL or not valid UTF-8, when the greeting does
/// not fit in memory, or if Rust panicked; `greeter_greet` says why.
///
/// # Safety
/// `name` is NULL or a valid NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn greet(name: *const c_char) -> *mut c_char {
    // SAFETY: a NULL status; `name` as this function's contract states.
    unsafe {
        guard(std::ptr::null_mut(), || string_out(greeting(c_str_in(name)?)?, std::ptr::null_mut()))
    }
}

/// Tutorial-compatible: frees a string returned by `greet`, passed to an `async_greet`
/// callback, or returned by any `greeter_` function. NULL is accepted and ignored. The same
/// function as `greeter_string_free`.
///
/// # Safety
/// `ptr` is NULL or a string greeter handed out that has not been freed yet.
#[no_mangle]
pub unsafe extern "C" fn free_string(ptr: *mut c_char) {
    // SAFETY: a NULL status; `ptr` as this function's contract states.
    unsafe {
        guard(std::ptr::null_mut(), || {
            string_free(ptr);
            Ok(())
        })
    }
}

/// Tutorial-compatible: greets `name` on a worker thread and passes `Async Hello, {name}!` to
/// `callback`, which owns the string and frees it with `free_string`.
///
/// `name` is copied before this function returns (the tutorial read the caller's pointer from
/// another thread, after the caller may have freed it), so the caller may free it at once.
///
/// The callback runs exactly once, on one of three threads:
///
/// - a greeter worker thread, once the task has run: with the greeting, or with NULL if
///   making it panicked or it did not fit in memory (the worker goes on serving);
/// - the thread calling `greeter_pool_shutdown`, before that call returns, with NULL, when the
///   pool shuts down before the task started (Python's `greeter.shutdown()` calls it on its
///   caller's thread, and the main Python interpreter's exit on the main thread);
/// - the thread calling `async_greet`, before it returns, with NULL, when `name` is NULL or not
///   valid UTF-8, its copy does not fit in memory, or the pool is shut down or its queue is
///   full.
///
/// In a `fork()` child, tasks submitted before the fork never call back (they belong to the
/// parent's pool). A NULL `callback` makes this a no-op.
///
/// The callback must not unwind, and should not block for long: it runs on one of the pool's
/// workers, which serve every asynchronous call of the process. It may call any greeter
/// function, `greeter_pool_shutdown` included.
///
/// # Safety
/// `name` is NULL or a valid NUL-terminated string; `callback` is NULL or safe to call from any
/// thread until it has been called.
#[no_mangle]
pub unsafe extern "C" fn async_greet(
    name: *const c_char, callback: Option<extern "C" fn(*mut c_char)>,
) {
    // SAFETY: a NULL status; `name` and `callback` as this function's contract states.
    unsafe { guard(std::ptr::null_mut(), || greet_then_call_back(name, callback)) }
}

/// Queues the async greeting of `name` with a job whose completion goes to `callback` (as an
/// owned string, or NULL on failure); when it cannot be queued, calls back NULL at once.
///
/// # Safety
/// As for `async_greet`.
unsafe fn greet_then_call_back(
    name: *const c_char, callback: Option<extern "C" fn(*mut c_char)>,
) -> Result<()> {
    let Some(callback) = callback else {
        return Ok(());
    };
    // SAFETY: forwarded from this function's contract.
    let submitted = unsafe { c_str_in(name) }.and_then(|name| {
        let name = copy_text(name, "the name")?;
        let deliver = Box::new(move |result: Result<Output>| {
            let greeting = result
                .map(|output| String::from_utf8(output.hand_out()).expect("a greeting is UTF-8"));
            // SAFETY: no length wanted (NULL).
            let handed_out = greeting.and_then(|s| unsafe { string_out(s, std::ptr::null_mut()) });
            callback(handed_out.unwrap_or(std::ptr::null_mut()));
        });
        let job = Box::new(move || async_greeting(&name).map(Output::from));
        global::get()?.submit(job, Target::Callback(deliver))
    });
    if submitted.is_err() {
        callback(std::ptr::null_mut());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_serial;

    #[test]
    fn add_wraps_without_panicking() {
        assert_eq!(add_numbers(3, 5), 8);
        assert_eq!(add_numbers(i32::MAX, 1), i32::MIN);
    }

    #[test]
    fn greet_returns_null_instead_of_unknown() {
        let _serial = tests_serial();
        // SAFETY: valid C strings or NULL; the greeting is freed once.
        unsafe {
            let ptr = greet(c"Alice".as_ptr());
            assert_eq!(CStr::from_ptr(ptr).to_str(), Ok("Hello, Alice!"));
            free_string(ptr);
            assert!(greet(std::ptr::null()).is_null());
            assert!(greet(c"\xff".as_ptr()).is_null());
            free_string(std::ptr::null_mut());
        }
    }

    #[test]
    fn async_greet_calls_back_once() {
        use std::sync::mpsc;
        static SENDER: std::sync::Mutex<Option<mpsc::Sender<Option<String>>>> =
            std::sync::Mutex::new(None);
        extern "C" fn on_done(ptr: *mut c_char) {
            let text = (!ptr.is_null()).then(|| {
                // SAFETY: a live string handed to this callback, freed once below.
                let s = unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned();
                // SAFETY: as above.
                unsafe { free_string(ptr) };
                s
            });
            let sender = SENDER.lock().unwrap().clone().unwrap();
            sender.send(text).unwrap();
        }
        let _serial = tests_serial();
        let (tx, rx) = mpsc::channel();
        *SENDER.lock().unwrap() = Some(tx);
        // SAFETY: valid C strings or NULL; the callback is a plain function.
        unsafe {
            async_greet(c"Bo".as_ptr(), Some(on_done));
            let got = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
            assert_eq!(got.as_deref(), Some("Async Hello, Bo!"));
            async_greet(std::ptr::null(), Some(on_done));
            assert_eq!(rx.try_recv().unwrap(), None, "called back at once");
            async_greet(c"x".as_ptr(), None);
        }
    }
}
