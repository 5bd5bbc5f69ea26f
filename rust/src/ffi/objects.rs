//! Greeter objects' exports: a template parsed once in Rust, shared by reference between the
//! caller, its threads and the worker pool, and freed with its last reference.
//!
//! Each body is one [`guard`] call around the safe core ([`crate::template`]); the handle
//! crosses as an opaque reference-counted [`Handle`].

use std::ffi::c_char;

use crate::ffi::guard::{guard, GreeterStatus, ThreadStatus};
use crate::ffi::tasks::{submit_method, GreeterCompletionQueue};
use crate::ffi::types::{
    buffer_out, bytes_in, drop_handle, handle_in, new_handle, text_in, Handle,
};
use crate::objects::{live, Counted};
use crate::template::Template;

/// A greeter object: a greeting template (`Bonjour, {name} !`) parsed and validated once,
/// immutable, used from any thread.
///
/// Reference-counted. The pointer `greeter_greeter_new` returns is the caller's reference,
/// dropped exactly once with `greeter_greeter_free`; every task submitted with
/// `greeter_greeter_greet_submit` holds its own, so the object lives until the caller has
/// freed its reference and the last of those tasks has ended. The caller's reference must stay
/// alive during every call it is passed to: free it only once calls on other threads have
/// returned. A call with a freed handle is undefined behaviour in C (the Python binding cannot
/// make one: each call holds the Python object that owns the reference).
pub struct GreeterGreeter {
    _opaque: [u8; 0],
}

impl Handle for GreeterGreeter {
    type Inner = Counted<Template>;
    const WHAT: &'static str = "greeter";
}

/// Parses the template `text` (`text_len` bytes of UTF-8, borrowed for the call) and returns
/// the caller's reference to a new greeter object, dropped with `greeter_greeter_free`.
///
/// The template's rules: `{name}` (at least one) is replaced by the name; `{{` and `}}` are
/// literal braces; any other `{` or `}`, a NUL byte, or more than `GREETER_TEMPLATE_MAX_BYTES`
/// bytes is refused. On failure returns NULL and sets `status`: `GREETER_ERR_INVALID_TEMPLATE`
/// (the message names the problem and its character offset), `GREETER_ERR_INVALID_UTF8`,
/// `GREETER_ERR_NULL_POINTER` (NULL `text` with a length), `GREETER_ERR_INVALID_ARGUMENT`
/// (length over `PTRDIFF_MAX`) or `GREETER_ERR_PANIC`.
///
/// # Safety
/// `text` is NULL or readable for `text_len` bytes; `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_greeter_new(
    text: *const c_char, text_len: usize, status: *mut GreeterStatus,
) -> *mut GreeterGreeter {
    // SAFETY: the pointers are as this function's contract states.
    unsafe {
        guard(status, || {
            let template = Template::from_utf8(bytes_in(text, text_len, "template")?)?;
            new_handle(template)
        })
    }
}

/// Drops the caller's reference to a greeter object; the object is freed with its last
/// reference: now, or when the last task submitted with it ends. NULL is accepted.
///
/// # Safety
/// `greeter` is NULL or the caller's live reference, freed once and not used again after this
/// call; no call with it may still be running on another thread.
#[no_mangle]
pub unsafe extern "C" fn greeter_greeter_free(greeter: *mut GreeterGreeter) {
    // SAFETY: a NULL status; `greeter` is as this function's contract states.
    unsafe { guard(std::ptr::null_mut(), || drop_handle(greeter)) }
}

/// Writes the greeting of `name` by `greeter`'s template into the caller's buffer `out` of
/// `out_len` bytes (no NUL is written) and returns its length in bytes: the template's literal
/// bytes plus `name_len` per `{name}` (so an empty name with no buffer gives the first, and one
/// byte more of name adds the second). When that exceeds `out_len`, the name is not read and
/// nothing is written: call again with a buffer at least that long.
///
/// `name` is as for `greeter_greet`. On failure returns `GREETER_FAILED`, and the calling
/// thread's status (`greeter_status_take_thread`) holds `GREETER_ERR_NULL_POINTER` (NULL
/// `greeter`, or NULL `out` with room), `GREETER_ERR_INVALID_ARGUMENT` (a greeting longer than
/// `PTRDIFF_MAX`), the `greeter_greet` input errors, or `GREETER_ERR_PANIC`.
///
/// Hot path: the method form of `greeter_greet_into`, with its convention (no status
/// parameter; see `greeter_status_take_thread`).
///
/// Short call: at most `out_len` bytes are read and written, a bound the caller sets with its
/// buffer (a longer name is not read); no lock, no callback, no I/O.
///
/// # Safety
/// `greeter` is NULL or a live greeter handle; `name` is NULL or readable for `name_len` bytes;
/// `out` is NULL or writable for `out_len` bytes and does not overlap `name`.
#[no_mangle]
pub unsafe extern "C" fn greeter_greeter_greet_into(
    greeter: *const GreeterGreeter, name: *const c_char, name_len: usize, out: *mut c_char,
    out_len: usize,
) -> i64 {
    // SAFETY: the pointers are as this function's contract states.
    unsafe {
        guard(ThreadStatus, || {
            let greeter = handle_in(greeter, "greeter")?;
            let out = buffer_out(out, out_len, "out")?;
            let needed = greeter.rendered_len(name_len)?;
            if needed > out.len() {
                return Ok(needed as i64); // the name is not read: the bound is the buffer
            }
            Ok(greeter.render_into(text_in(name, name_len, "name")?, out)? as i64)
        })
    }
}

/// Greets `count` names by `greeter`'s template in one call, writing into the caller's buffer:
/// nothing is allocated for the caller and nothing needs freeing.
///
/// `names`, `names_len` and `count` are as for `greeter_greet_many` (the names' UTF-8 joined by
/// single NUL bytes). The greetings are written to `out` (`out_len` bytes) joined the same way,
/// without a terminator, and their total length is returned: the template's literal bytes per
/// name, plus the names' bytes once per `{name}`, plus `count - 1` separators. When that exceeds
/// `out_len` nothing is written: call again with a buffer at least that long. `count` 0 with no
/// names returns 0 with `GREETER_OK`.
///
/// On failure returns 0 and sets `status`: `GREETER_ERR_NULL_POINTER` (NULL `greeter`, or NULL
/// `names`/`out` with a length), the `greeter_greet_many` input errors, or `GREETER_ERR_PANIC`.
///
/// # Safety
/// `greeter` is NULL or a live greeter handle; `names` is NULL or readable for `names_len`
/// bytes; `out` is NULL or writable for `out_len` bytes and does not overlap `names`; `status`
/// is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_greeter_greet_many(
    greeter: *const GreeterGreeter, names: *const c_char, names_len: usize, count: usize,
    out: *mut c_char, out_len: usize, status: *mut GreeterStatus,
) -> usize {
    // SAFETY: the pointers are as this function's contract states.
    unsafe {
        guard(status, || {
            let greeter = handle_in(greeter, "greeter")?;
            let packed = bytes_in(names, names_len, "names")?;
            greeter.render_many_into(packed, count, buffer_out(out, out_len, "out")?)
        })
    }
}

/// Submits the greeting of each of `count` names by `greeter`'s template to the worker pool,
/// to be delivered to `queue`, exactly as `greeter_greet_submit` does for the default async
/// greeting (same arguments after `greeter`, same ids, completions and failures, plus
/// `GREETER_ERR_NULL_POINTER` for a NULL `greeter`). A greeting too long for memory (many
/// `{name}` times a long name) completes with `GREETER_ERR_OUT_OF_MEMORY`, or with
/// `GREETER_ERR_INVALID_ARGUMENT` when it would exceed `PTRDIFF_MAX` bytes; the worker goes on
/// serving. Each accepted task holds its own
/// reference to the object: the caller may free its reference as soon as this returns.
///
/// # Safety
/// `greeter` is NULL or a live greeter handle; the other arguments are as for
/// `greeter_greet_submit`.
#[no_mangle]
pub unsafe extern "C" fn greeter_greeter_greet_submit(
    greeter: *const GreeterGreeter, names: *const c_char, lens: *const usize, count: usize,
    queue: *const GreeterCompletionQueue, first_id: *mut u64, status: *mut GreeterStatus,
) -> usize {
    // SAFETY: the pointers are as this function's contract states.
    unsafe {
        guard(status, || {
            // Each job holds a reference of its own, dropped when the job ends, before its
            // completion is delivered.
            submit_method(greeter, names, lens, count, queue, first_id, |g, name| g.render(name))
        })
    }
}

/// The number of greeter objects alive: created and not yet freed by their last reference
/// (the caller's, or a task's). A caller that frees everything, once its tasks have
/// completed, sees it return to its earlier value.
#[no_mangle]
pub extern "C" fn greeter_live_objects() -> i64 {
    // SAFETY: a NULL status.
    unsafe { guard(std::ptr::null_mut(), || Ok(live())) }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};

    use std::sync::Arc;

    use super::*;
    use crate::error::{
        GREETER_ERR_INTERIOR_NUL, GREETER_ERR_INVALID_TEMPLATE, GREETER_ERR_NULL_POINTER,
        GREETER_OK,
    };
    use crate::ffi::guard::GREETER_FAILED;
    use crate::pool::Output;
    use crate::tests_serial;

    fn status() -> GreeterStatus {
        GreeterStatus {
            code: -1,
            message: null_mut(),
        }
    }

    fn new(text: &str, status: &mut GreeterStatus) -> *mut GreeterGreeter {
        // SAFETY: `text` is readable for its length; `status` is writable.
        unsafe { greeter_greeter_new(text.as_ptr().cast(), text.len(), status) }
    }

    fn greet(g: *const GreeterGreeter, name: &str) -> String {
        let mut out = vec![0u8; 64];
        // SAFETY: a live handle; `name` and `out` are valid for their lengths.
        let n = unsafe {
            greeter_greeter_greet_into(
                g,
                name.as_ptr().cast(),
                name.len(),
                out.as_mut_ptr().cast(),
                64,
            )
        };
        String::from_utf8(out[..usize::try_from(n).unwrap()].to_vec()).unwrap()
    }

    #[test]
    fn a_greeter_greets_by_its_template_until_its_last_reference_goes() {
        let _serial = tests_serial();
        let before = greeter_live_objects();
        let mut s = status();
        let g = new("<{name}|{name}>", &mut s);
        assert_eq!(s.code, GREETER_OK);
        assert!(!g.is_null());
        assert_eq!(greet(g, "é"), "<é|é>");
        // SAFETY: a live handle; an empty name with no buffer asks only for the length.
        unsafe {
            assert_eq!(greeter_greeter_greet_into(g, b"".as_ptr().cast(), 0, null_mut(), 0), 3);
            assert_eq!(greeter_greeter_greet_into(g, b"ab".as_ptr().cast(), 2, null_mut(), 0), 7);
        }
        let mut out = [0u8; 32];
        let mut s = status();
        // SAFETY: a live handle; the packed names and `out` are valid for their lengths.
        let n = unsafe {
            greeter_greeter_greet_many(
                g,
                b"a\0\0bc".as_ptr().cast(),
                5,
                3,
                out.as_mut_ptr().cast(),
                32,
                &mut s,
            )
        };
        assert_eq!((n, s.code), (17, GREETER_OK));
        assert_eq!(&out[..n], b"<a|a>\0<|>\0<bc|bc>");
        assert_eq!(greeter_live_objects(), before + 1);
        // SAFETY: the caller's reference, dropped once; NULL is accepted.
        unsafe {
            greeter_greeter_free(g);
            greeter_greeter_free(null_mut());
        }
        assert_eq!(greeter_live_objects(), before);
    }

    #[test]
    fn refusals_fill_the_status() {
        let _serial = tests_serial();
        let before = greeter_live_objects();
        let mut s = status();
        assert!(new("no placeholder", &mut s).is_null());
        assert_eq!(greeter_live_objects(), before, "a refused template creates nothing");
        assert_eq!(s.code, GREETER_ERR_INVALID_TEMPLATE);
        // SAFETY: a message handed out by the failed call.
        let text = unsafe { CStr::from_ptr(s.message) }.to_str().unwrap();
        assert_eq!(
            text,
            "invalid template at character offset 14: no {name} placeholder before the end"
        );
        // SAFETY: a NULL template with a length is refused before any read; the status is live.
        unsafe {
            assert!(greeter_greeter_new(null(), 3, &mut s).is_null());
            assert_eq!(s.code, GREETER_ERR_NULL_POINTER);
            crate::ffi::common::greeter_status_clear(&mut s);
        }
        let g = new("{name}", &mut s);
        // SAFETY: NULL handles and a NUL in a name are refused; the thread status is taken.
        unsafe {
            assert_eq!(
                greeter_greeter_greet_into(null(), b"a".as_ptr().cast(), 1, null_mut(), 0),
                GREETER_FAILED
            );
            assert_eq!(ThreadStatus::take().unwrap().code, GREETER_ERR_NULL_POINTER);
            let mut out = [0u8; 8];
            // Too long for the buffer: not read, its length comes back.
            let huge = isize::MAX as usize - 1;
            assert_eq!(
                greeter_greeter_greet_into(g, b"a\0".as_ptr().cast(), huge, null_mut(), 0),
                huge as i64
            );
            assert_eq!(
                greeter_greeter_greet_into(
                    g,
                    b"a\0".as_ptr().cast(),
                    2,
                    out.as_mut_ptr().cast(),
                    8
                ),
                GREETER_FAILED
            );
            assert_eq!(ThreadStatus::take().unwrap().code, GREETER_ERR_INTERIOR_NUL);
            assert_eq!(
                greeter_greeter_greet_many(
                    g,
                    b"a\0b".as_ptr().cast(),
                    3,
                    1,
                    out.as_mut_ptr().cast(),
                    8,
                    &mut s
                ),
                0
            );
            assert_eq!(s.code, GREETER_ERR_INTERIOR_NUL);
            assert_eq!(greeter_greeter_greet_many(null(), null(), 0, 0, null_mut(), 0, &mut s), 0);
            assert_eq!(s.code, GREETER_ERR_NULL_POINTER);
            crate::ffi::common::greeter_status_clear(&mut s);
            greeter_greeter_free(g);
        }
    }

    #[test]
    fn each_task_holds_its_own_reference() {
        use crate::ffi::tasks::{greeter_queue_free, greeter_queue_new};

        let _serial = tests_serial();
        let before = greeter_live_objects();
        let template = Arc::new(Counted::new(Template::parse("«{name}»").unwrap()));
        let alive = Arc::downgrade(&template);
        let g = crate::ffi::types::handle_out::<GreeterGreeter>(template);
        let mut s = status();
        let names = ["a", "b\0", "世界"];
        let packed: String = names.concat();
        let lens: Vec<usize> = names.iter().map(|n| n.len()).collect();
        let mut first = 0u64;
        // SAFETY: live handles; the packed names, lengths and out-pointers are valid.
        let (queue, accepted) = unsafe {
            let queue = greeter_queue_new(&mut s);
            let n = greeter_greeter_greet_submit(
                g,
                packed.as_ptr().cast(),
                lens.as_ptr(),
                3,
                queue,
                &mut first,
                &mut s,
            );
            // The caller's reference goes at once: the tasks keep the object alive.
            greeter_greeter_free(g);
            (queue, n)
        };
        assert_eq!((accepted, s.code), (3, GREETER_OK));
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while got.len() < 3 {
            assert!(std::time::Instant::now() < deadline, "completions lost");
            // SAFETY: the queue handle is live until freed below.
            unsafe { handle_in(queue, "queue") }
                .unwrap()
                .drain_into(&mut got, usize::MAX)
                .unwrap();
            std::thread::yield_now();
        }
        got.sort_by_key(|c| c.task_id);
        assert_eq!(got[0].task_id, first);
        assert_eq!(got[0].result.as_ref().map(Output::as_bytes), Ok("«a»".as_bytes()));
        assert_eq!(got[1].result.as_ref().unwrap_err().code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(got[2].result.as_ref().map(Output::as_bytes), Ok("«世界»".as_bytes()));
        // A job drops its reference before its completion is delivered.
        assert!(alive.upgrade().is_none(), "the object outlived its tasks");
        assert_eq!(greeter_live_objects(), before);
        // SAFETY: the caller's queue reference, freed once.
        unsafe { greeter_queue_free(queue) };
    }
}
