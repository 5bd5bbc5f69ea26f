//! Tests of the boundary as a whole: every export is one guard call, every export survives a
//! panic with its failure value, and the exports round-trip through their own conversions.

use std::collections::BTreeSet;
use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

use crate::diagnostics::inject_panics;
use crate::error::*;
use crate::ffi::common::*;
use crate::ffi::compat::*;
use crate::ffi::diagnostics::*;
use crate::ffi::greet::*;
use crate::ffi::guard::{panic_in_next_guard, GreeterStatus, ThreadStatus, GREETER_FAILED};
use crate::ffi::objects::*;
use crate::ffi::tasks::*;
use crate::tests_serial;

/// The functions declared in the generated public header.
fn header_exports() -> BTreeSet<String> {
    let header = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../include/greeter.h"));
    header
        .lines()
        .filter(|line| !line.starts_with("//") && !line.starts_with('#'))
        .filter_map(|line| {
            let open = line.find('(')?;
            let name = line[..open].split([' ', '*']).next_back()?;
            let is_fn = !line.starts_with(' ') && !line.starts_with("typedef") && !name.is_empty();
            is_fn.then(|| name.to_owned())
        })
        .collect()
}

/// Every `extern "C" fn` in the boundary's sources, with its body.
fn export_bodies() -> Vec<(String, String)> {
    let sources = [
        include_str!("common.rs"),
        include_str!("compat.rs"),
        include_str!("diagnostics.rs"),
        include_str!("greet.rs"),
        include_str!("objects.rs"),
        include_str!("tasks.rs"),
    ];
    let mut found = Vec::new();
    for source in sources {
        // An export is `#[no_mangle]`; test modules may hold other `extern "C" fn`s.
        let mut rest = source.split("#[cfg(test)]\nmod tests").next().unwrap();
        while let Some(at) = rest.find("#[no_mangle]") {
            let after = &rest[at..];
            let sig = after.find("extern \"C\" fn ").expect("an extern \"C\" fn");
            let after = &after[sig + "extern \"C\" fn ".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // The body: from the signature's opening brace to the brace closing it.
            let open = after.find('{').expect("a body");
            let mut depth = 0;
            let mut end = open;
            for (i, c) in after[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            found.push((name, after[open + 1..end].to_owned()));
            rest = &after[end..];
        }
    }
    found
}

/// Whether an export's body is exactly one call of the guard, optionally in an `unsafe`
/// block: nothing before it, nothing after it (comments aside).
fn is_one_guard_call(body: &str) -> bool {
    let code: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .collect();
    let code = code.join(" ");
    let (code, closing) = match code.strip_prefix("unsafe {") {
        Some(inner) => (inner.trim(), "}"),
        None => (code.as_str(), ""),
    };
    let Some(args) = code.strip_prefix("guard(") else {
        return false;
    };
    let mut depth = 1;
    for (i, c) in args.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            let rest: String = args[i + 1..]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            return rest.replace(';', "") == closing;
        }
    }
    false
}

#[test]
fn every_export_body_is_one_guard_call() {
    let bodies = export_bodies();
    for (name, body) in &bodies {
        assert!(
            is_one_guard_call(body),
            "{name}: its body must be one call of guard(), not:{body}"
        );
    }
    let names: BTreeSet<String> = bodies.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, header_exports(), "the boundary's exports and the header differ");
}

#[test]
fn the_source_check_refuses_work_outside_the_guard() {
    assert!(is_one_guard_call("\n    unsafe { guard(status, || Ok(f(x))) }\n"));
    assert!(is_one_guard_call(" // SAFETY: why\n unsafe {\n guard(s, || {\n Ok(1)\n })\n }"));
    assert!(is_one_guard_call(" unsafe { guard(s, || Ok(())) };"));
    assert!(!is_one_guard_call(" let x = 1; unsafe { guard(status, || Ok(x)) } "));
    assert!(!is_one_guard_call(" unsafe { guard(status, || Ok(1)) }; free(p) "));
    assert!(!is_one_guard_call(" unsafe { guard(status, || Ok(1)); free(p) } "));
    assert!(!is_one_guard_call(" unsafe { free(p) } "));
    assert!(!is_one_guard_call(" a.wrapping_add(b) "));
}

fn new_status() -> GreeterStatus {
    GreeterStatus {
        code: -1,
        message: null_mut(),
    }
}

/// How an export reports a failure, for the panic test.
enum Reports {
    /// Through its status parameter.
    Status,
    /// Through the calling thread's status (hot paths).
    Thread,
    /// Only through its failure value (tutorial-compatible API, frees, counters).
    ValueOnly,
}

type Call = Box<dyn Fn(*mut GreeterStatus) -> bool>;

/// Every export, called with arguments its body never reads (the guard panics first), and
/// whether it returned its failure value.
fn every_export() -> Vec<(&'static str, Reports, Call)> {
    use Reports::*;
    // SAFETY: the closures only run with a panic armed in the guard, which fires before an
    // export's body reads any argument; every pointer passed is NULL or a valid status.
    unsafe {
        vec![
            ("add_numbers", ValueOnly, Box::new(|_| add_numbers(1, 2) == 0)),
            ("greet", ValueOnly, Box::new(|_| greet(null()).is_null())),
            (
                "free_string",
                ValueOnly,
                Box::new(|_| {
                    free_string(null_mut());
                    true
                }),
            ),
            (
                "async_greet",
                ValueOnly,
                Box::new(|_| {
                    async_greet(null(), None);
                    true
                }),
            ),
            (
                "greeter_string_free",
                ValueOnly,
                Box::new(|_| {
                    greeter_string_free(null_mut());
                    true
                }),
            ),
            (
                "greeter_status_clear",
                Status,
                Box::new(|s| {
                    greeter_status_clear(s);
                    true
                }),
            ),
            (
                "greeter_status_take_thread",
                Status,
                Box::new(|s| {
                    greeter_status_take_thread(s);
                    true
                }),
            ),
            (
                "greeter_live_strings",
                ValueOnly,
                Box::new(|_| greeter_live_strings() == GREETER_FAILED),
            ),
            ("greeter_version", ValueOnly, Box::new(|_| greeter_version().is_null())),
            (
                "greeter_debug_inject_panics",
                ValueOnly,
                Box::new(|_| greeter_debug_inject_panics(0) == 0),
            ),
            (
                "greeter_debug_inject_out_of_memory",
                ValueOnly,
                Box::new(|_| greeter_debug_inject_out_of_memory(0) == 0),
            ),
            (
                "greeter_debug_shapes_submit",
                Status,
                Box::new(|s| {
                    greeter_debug_shapes_submit(
                        GREETER_DEBUG_SHAPE_BYTES,
                        null(),
                        null(),
                        0,
                        null(),
                        null_mut(),
                        s,
                    ) == 0
                }),
            ),
            (
                "greeter_debug_spin",
                Status,
                Box::new(|s| {
                    greeter_debug_spin(0, s);
                    true
                }),
            ),
            (
                "greeter_debug_locks_taken",
                ValueOnly,
                Box::new(|_| greeter_debug_locks_taken() == 0),
            ),
            (
                "greeter_add_numbers",
                Thread,
                Box::new(|_| greeter_add_numbers(1, 2) == GREETER_FAILED),
            ),
            ("greeter_greet", Thread, Box::new(|_| greeter_greet(null(), 0, null_mut()).is_null())),
            (
                "greeter_greet_into",
                Thread,
                Box::new(|_| greeter_greet_into(null(), 0, null_mut(), 0) == GREETER_FAILED),
            ),
            (
                "greeter_greet_many",
                Status,
                Box::new(|s| greeter_greet_many(null(), 0, 0, null_mut(), 0, s) == 0),
            ),
            (
                "greeter_greet_submit",
                Status,
                Box::new(|s| greeter_greet_submit(null(), null(), 0, null(), null_mut(), s) == 0),
            ),
            (
                "greeter_greeter_new",
                Status,
                Box::new(|s| greeter_greeter_new(null(), 0, s).is_null()),
            ),
            (
                "greeter_greeter_free",
                ValueOnly,
                Box::new(|_| {
                    greeter_greeter_free(null_mut());
                    true
                }),
            ),
            (
                "greeter_greeter_greet_into",
                Thread,
                Box::new(|_| {
                    greeter_greeter_greet_into(null(), null(), 0, null_mut(), 0) == GREETER_FAILED
                }),
            ),
            (
                "greeter_greeter_greet_many",
                Status,
                Box::new(|s| {
                    greeter_greeter_greet_many(null(), null(), 0, 0, null_mut(), 0, s) == 0
                }),
            ),
            (
                "greeter_greeter_greet_submit",
                Status,
                Box::new(|s| {
                    let (first, queue) = (null_mut(), null());
                    greeter_greeter_greet_submit(null(), null(), null(), 0, queue, first, s) == 0
                }),
            ),
            (
                "greeter_live_objects",
                ValueOnly,
                Box::new(|_| greeter_live_objects() == GREETER_FAILED),
            ),
            (
                "greeter_pool_configure",
                Status,
                Box::new(|s| {
                    greeter_pool_configure(0, 0, s);
                    true
                }),
            ),
            (
                "greeter_pool_shutdown",
                Status,
                Box::new(|s| {
                    greeter_pool_shutdown(s);
                    true
                }),
            ),
            (
                "greeter_pool_size",
                Status,
                Box::new(|s| {
                    greeter_pool_size(null_mut(), null_mut(), s);
                    true
                }),
            ),
            ("greeter_task_cancel", Status, Box::new(|s| greeter_task_cancel(1, s) == 0)),
            ("greeter_queue_new", Status, Box::new(|s| greeter_queue_new(s).is_null())),
            ("greeter_queue_fd", Status, Box::new(|s| greeter_queue_fd(null(), s) == 0)),
            (
                "greeter_queue_drain",
                Status,
                Box::new(|s| {
                    let (n, z, l) = (null_mut(), null_mut(), null_mut());
                    let (d, u, r) = (null_mut(), null_mut(), null_mut());
                    greeter_queue_drain(null(), n, z, l, 0, d, 0, u, r, s) == 0
                }),
            ),
            (
                "greeter_queue_free",
                ValueOnly,
                Box::new(|_| {
                    greeter_queue_free(null_mut());
                    true
                }),
            ),
        ]
    }
}

#[test]
fn every_export_turns_a_panic_into_its_failure_value() {
    let exports = every_export();
    let names: BTreeSet<String> = exports.iter().map(|(n, _, _)| (*n).to_owned()).collect();
    assert_eq!(names, header_exports(), "every export in the header has a case here");
    let mut status = new_status();
    for (name, reports, call) in exports {
        panic_in_next_guard();
        assert!(call(&mut status), "{name}: not its failure value after a panic");
        match reports {
            Reports::Status => assert_eq!(status.code, GREETER_ERR_PANIC, "{name}"),
            Reports::Thread => {
                let e = ThreadStatus::take().expect(name);
                assert_eq!(e.code, GREETER_ERR_PANIC, "{name}");
            }
            Reports::ValueOnly => {}
        }
        // SAFETY: a status filled by the call above.
        unsafe { greeter_status_clear(&mut status) };
    }
}

fn message(status: &GreeterStatus) -> String {
    // SAFETY: a non-NULL message is a NUL-terminated string handed out by the guard.
    unsafe { CStr::from_ptr(status.message) }
        .to_str()
        .unwrap()
        .to_owned()
}

fn take_string(ptr: *mut c_char) -> String {
    assert!(!ptr.is_null());
    // SAFETY: a live string handed out by greeter, freed once.
    unsafe {
        let s = CStr::from_ptr(ptr).to_str().unwrap().to_owned();
        greeter_string_free(ptr);
        s
    }
}

#[test]
fn greet_reports_through_the_thread_status() {
    let _serial = tests_serial();
    let mut status = new_status();
    let mut len = 0usize;
    let name = "Zoë";
    // SAFETY: valid pointers for the stated lengths throughout.
    unsafe {
        let ptr = greeter_greet(name.as_ptr().cast(), name.len(), &mut len);
        assert_eq!(len, "Hello, Zoë!".len());
        assert_eq!(take_string(ptr), "Hello, Zoë!");
        greeter_status_take_thread(&mut status);
        assert_eq!((status.code, status.message.is_null()), (GREETER_OK, true), "success");

        let ptr = greeter_greet(b"a\0b".as_ptr().cast(), 3, &mut len);
        assert!(ptr.is_null());
        greeter_status_take_thread(&mut status);
        assert_eq!(status.code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(message(&status), "name contains a NUL byte at offset 1");

        // Taking into a status that holds a message frees the old message.
        let ptr = greeter_greet(null(), 0, null_mut());
        assert!(ptr.is_null());
        greeter_status_take_thread(&mut status);
        assert_eq!(
            (status.code, message(&status).as_str()),
            (GREETER_ERR_NULL_POINTER, "name is NULL")
        );
        inject_panics(1);
        assert!(greeter_greet(b"x".as_ptr().cast(), 1, &mut len).is_null());
        greeter_status_take_thread(&mut status);
        assert_eq!(message(&status), "Rust panicked: injected panic (greeter_debug_inject_panics)");
        greeter_status_clear(&mut status);
        assert_eq!((status.code, status.message.is_null()), (GREETER_OK, true));
        greeter_status_clear(null_mut());
    }
}

#[test]
fn hot_paths_report_through_the_thread_status() {
    let _serial = tests_serial();
    let mut status = new_status();
    // SAFETY: valid pointers for the stated lengths throughout.
    unsafe {
        assert_eq!(greeter_add_numbers(3, 5), 8);
        assert_eq!(greeter_add_numbers(i32::MIN, 0), i64::from(i32::MIN));
        assert_eq!(greeter_add_numbers(i32::MAX, 1), GREETER_FAILED);
        greeter_status_take_thread(&mut status);
        assert_eq!(status.code, GREETER_ERR_OVERFLOW);
        assert_eq!(message(&status), "2147483647 + 1 overflows i32");
        greeter_status_take_thread(&mut status);
        assert_eq!(status.code, GREETER_OK, "taken once");

        let mut buf = [0u8; 16];
        let n = greeter_greet_into(b"Bob".as_ptr().cast(), 3, buf.as_mut_ptr().cast(), 16);
        assert_eq!(&buf[..n as usize], b"Hello, Bob!");
        assert_eq!(greeter_greet_into(b"Bob".as_ptr().cast(), 3, null_mut(), 0), 11);
        let n = greeter_greet_into(b"\xff".as_ptr().cast(), 1, buf.as_mut_ptr().cast(), 16);
        assert_eq!(n, GREETER_FAILED);
        greeter_status_take_thread(&mut status);
        assert_eq!(status.code, GREETER_ERR_INVALID_UTF8);
        let n = greeter_greet_into(b"x".as_ptr().cast(), 1, null_mut(), 4);
        assert_eq!(n, GREETER_FAILED);
        greeter_status_take_thread(&mut status);
        assert_eq!(message(&status), "out is NULL");
        // Too long for the buffer: not read (here, not even there), its length comes back.
        assert_eq!(greeter_greet_into(null(), 1 << 40, buf.as_mut_ptr().cast(), 16), (1 << 40) + 8);
        assert_eq!(greeter_greet_into(null(), usize::MAX, null_mut(), 0), GREETER_FAILED);
        greeter_status_take_thread(&mut status);
        assert_eq!(status.code, GREETER_ERR_INVALID_ARGUMENT);
        greeter_status_clear(&mut status);
    }
}

#[test]
fn greet_many_fills_the_callers_buffer() {
    let _serial = tests_serial();
    let mut status = new_status();
    let packed = b"Ann\0\0Bo";
    let mut out = [0u8; 64];
    // SAFETY: valid pointers for the stated lengths throughout.
    unsafe {
        let n = greeter_greet_many(
            packed.as_ptr().cast(),
            7,
            3,
            out.as_mut_ptr().cast(),
            64,
            &mut status,
        );
        assert_eq!(status.code, GREETER_OK);
        assert_eq!(&out[..n], b"Hello, Ann!\0Hello, !\0Hello, Bo!");
        let n = greeter_greet_many(packed.as_ptr().cast(), 7, 3, null_mut(), 0, &mut status);
        assert_eq!(n, 31, "a zero-length output may be NULL: the needed length comes back");
        let n = greeter_greet_many(null(), 0, 0, null_mut(), 0, &mut status);
        assert_eq!((n, status.code), (0, GREETER_OK));
        let n = greeter_greet_many(
            packed.as_ptr().cast(),
            7,
            2,
            out.as_mut_ptr().cast(),
            64,
            &mut status,
        );
        assert_eq!((n, status.code), (0, GREETER_ERR_INTERIOR_NUL));
        let n = greeter_greet_many(null(), 3, 1, out.as_mut_ptr().cast(), 64, &mut status);
        assert_eq!((n, message(&status).as_str()), (0, "names is NULL"));
        greeter_status_clear(&mut status);
        // Greetings that cannot fit: the names are not read (a short call's bound is `out_len`),
        // whatever their length claims to be.
        let n = greeter_greet_many(null(), 1 << 40, 2, out.as_mut_ptr().cast(), 64, &mut status);
        assert_eq!((n, status.code), ((1 << 40) + 16, GREETER_OK));
    }
}

/// Drains `queue` until `count` completions came, `text_len` bytes of text per call.
///
/// # Safety
/// `queue` is a live queue handle.
unsafe fn drain(
    queue: *const GreeterCompletionQueue, count: usize, text_len: usize,
) -> Vec<(u64, i32, String)> {
    let mut status = new_status();
    let mut ids = [0u64; 8];
    let mut codes = [-1i32; 8];
    let mut lens = [0usize; 8];
    let mut text = vec![0u8; text_len];
    let (mut used, mut left) = (0usize, 0usize);
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while got.len() < count {
        assert!(std::time::Instant::now() < deadline, "completions did not arrive");
        // SAFETY: valid arrays for the stated lengths; `queue` by contract.
        let k = unsafe {
            greeter_queue_drain(
                queue,
                ids.as_mut_ptr(),
                codes.as_mut_ptr(),
                lens.as_mut_ptr(),
                8,
                text.as_mut_ptr().cast(),
                text_len,
                &mut used,
                &mut left,
                &mut status,
            )
        };
        assert_eq!(status.code, GREETER_OK);
        let mut at = 0;
        for i in 0..k {
            let t = String::from_utf8(text[at..at + lens[i]].to_vec()).unwrap();
            at += lens[i];
            got.push((ids[i], codes[i], t));
        }
        assert_eq!(at, used, "the lengths add up to the bytes used");
    }
    got.sort();
    got
}

#[test]
fn submit_bytes_takes_any_bytes() {
    let _serial = tests_serial();
    let mut status = new_status();
    let mut first = 0u64;
    let sizes = |data: &[u8]| Ok(format!("{} bytes {data:?}", data.len()));
    // SAFETY: valid pointers throughout; the queue is freed at the end.
    unsafe {
        let q = greeter_queue_new(&mut status);
        let lens = [2usize, 0, 3];
        let n = submit_bytes(b"\0\xffabc".as_ptr().cast(), lens.as_ptr(), 3, q, &mut first, sizes);
        assert_eq!(n, Ok(3));
        let got = drain(q, 3, 256);
        assert_eq!(got[0], (first, GREETER_OK, "2 bytes [0, 255]".into()));
        assert_eq!(got[1], (first + 1, GREETER_OK, "0 bytes []".into()));
        assert_eq!(got[2], (first + 2, GREETER_OK, "3 bytes [97, 98, 99]".into()));
        assert_eq!(submit_bytes(null(), null(), 0, q, &mut first, sizes), Ok(0));
        let e = submit_bytes(b"x".as_ptr().cast(), null(), 1, q, &mut first, sizes).unwrap_err();
        assert_eq!(e.code, GREETER_ERR_NULL_POINTER);
        let e = submit_bytes(null(), [1usize].as_ptr(), 1, q, &mut first, sizes).unwrap_err();
        assert_eq!(e.code, GREETER_ERR_NULL_POINTER);
        greeter_queue_free(q);
    }
}

#[test]
fn submit_round_trips_through_the_drain() {
    let _serial = tests_serial();
    let mut status = new_status();
    let mut first = 0u64;
    // SAFETY: valid pointers throughout; the queue is freed at the end.
    unsafe {
        let q = greeter_queue_new(&mut status);
        assert!(greeter_queue_fd(q, &mut status) >= 0);
        let lens = [3usize, 3, 3];
        let n = greeter_greet_submit(
            b"AnnB\0dCyd".as_ptr().cast(),
            lens.as_ptr(),
            3,
            q,
            &mut first,
            &mut status,
        );
        assert_eq!((n, status.code), (3, GREETER_OK));
        let got = drain(q, 3, 256);
        assert_eq!(got[0], (first, GREETER_OK, "Async Hello, Ann!".into()));
        assert_eq!(
            got[1],
            (first + 1, GREETER_ERR_INTERIOR_NUL, "name contains a NUL byte at offset 1".into())
        );
        assert_eq!(got[2], (first + 2, GREETER_OK, "Async Hello, Cyd!".into()));

        // A 17-byte buffer holds one greeting: they come one drain at a time.
        let n = greeter_greet_submit(
            b"AnnBob".as_ptr().cast(),
            [3usize, 3].as_ptr(),
            2,
            q,
            &mut first,
            &mut status,
        );
        assert_eq!(n, 2);
        let got = drain(q, 2, 17);
        assert_eq!(got[1], (first + 1, GREETER_OK, "Async Hello, Bob!".into()));
        assert_eq!(greeter_task_cancel(first, &mut status), 0, "finished");

        let n = greeter_greet_submit(null(), null(), 0, q, &mut first, &mut status);
        assert_eq!((n, status.code), (0, GREETER_OK));
        let n = greeter_greet_submit(b"x".as_ptr().cast(), null(), 1, q, &mut first, &mut status);
        assert_eq!((n, status.code), (0, GREETER_ERR_NULL_POINTER));
        let n = greeter_greet_submit(
            b"x".as_ptr().cast(),
            [1usize].as_ptr(),
            1,
            null(),
            &mut first,
            &mut status,
        );
        assert_eq!((n, message(&status).as_str()), (0, "queue is NULL"));
        assert_eq!(greeter_queue_fd(null(), &mut status), 0);
        greeter_status_clear(&mut status);
        greeter_queue_free(q);
        greeter_queue_free(null_mut());
    }
}

#[test]
fn a_drain_too_small_for_the_first_text_says_how_much_it_needs() {
    let _serial = tests_serial();
    let mut status = new_status();
    let mut first = 0u64;
    // SAFETY: valid pointers throughout; the queue is freed at the end.
    unsafe {
        let q = greeter_queue_new(&mut status);
        greeter_greet_submit(
            b"Cyd".as_ptr().cast(),
            [3usize].as_ptr(),
            1,
            q,
            &mut first,
            &mut status,
        );
        let (mut ids, mut codes, mut lens, mut text) =
            ([0u64; 4], [0i32; 4], [0usize; 4], [0u8; 64]);
        let (mut used, mut left) = (0usize, 0usize);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut n;
        loop {
            assert!(std::time::Instant::now() < deadline);
            n = greeter_queue_drain(
                q,
                ids.as_mut_ptr(),
                codes.as_mut_ptr(),
                lens.as_mut_ptr(),
                4,
                text.as_mut_ptr().cast(),
                4,
                &mut used,
                &mut left,
                &mut status,
            );
            if used > 0 {
                break;
            }
        }
        assert_eq!((n, used, left), (0, 17, 1));
        let n = greeter_queue_drain(
            q,
            ids.as_mut_ptr(),
            codes.as_mut_ptr(),
            lens.as_mut_ptr(),
            4,
            text.as_mut_ptr().cast(),
            64,
            &mut used,
            &mut left,
            &mut status,
        );
        assert_eq!(
            (n, ids[0], lens[0], &text[..used], left),
            (1, first, 17, &b"Async Hello, Cyd!"[..], 0)
        );
        let n = greeter_queue_drain(
            q,
            null_mut(),
            null_mut(),
            null_mut(),
            4,
            null_mut(),
            0,
            null_mut(),
            null_mut(),
            &mut status,
        );
        assert_eq!((n, message(&status).as_str()), (0, "ids is NULL"));
        greeter_status_clear(&mut status);
        greeter_queue_free(q);
    }
}

#[test]
fn pool_size_and_configure_report_through_the_status() {
    let mut status = new_status();
    let (mut threads, mut capacity) = (0usize, 0usize);
    // SAFETY: valid pointers.
    unsafe {
        greeter_pool_size(&mut threads, &mut capacity, &mut status);
        assert_eq!(status.code, GREETER_OK);
        assert!(threads >= 1 && capacity >= 1);
        greeter_pool_size(null_mut(), null_mut(), &mut status);
        greeter_pool_configure(usize::MAX, 0, &mut status);
        assert_eq!(status.code, GREETER_ERR_INVALID_ARGUMENT);
        greeter_status_clear(&mut status);
    }
}

#[test]
fn version_matches_the_crate() {
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(greeter_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

/// Submits `texts` with `greeter_debug_shapes_submit(shape, ...)` and drains their completions
/// as `(code, bytes)` in submission order.
fn shapes(shape: u32, texts: &[&str]) -> Vec<(i32, Vec<u8>)> {
    let packed: String = texts.concat();
    let lens: Vec<usize> = texts.iter().map(|t| t.len()).collect();
    let mut status = new_status();
    let mut first = 0u64;
    // SAFETY: a live queue; the packed texts, lengths, arrays and out-pointers are valid.
    unsafe {
        let q = greeter_queue_new(&mut status);
        let n = greeter_debug_shapes_submit(
            shape,
            packed.as_ptr().cast(),
            lens.as_ptr(),
            texts.len(),
            q,
            &mut first,
            &mut status,
        );
        assert_eq!((n, status.code), (texts.len(), GREETER_OK));
        let (mut ids, mut codes, mut sizes, mut data) =
            ([0u64; 8], [0i32; 8], [0usize; 8], [0u8; 256]);
        let (mut used, mut left) = (0usize, 0usize);
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while got.len() < texts.len() {
            assert!(std::time::Instant::now() < deadline, "completions lost");
            let k = greeter_queue_drain(
                q,
                ids.as_mut_ptr(),
                codes.as_mut_ptr(),
                sizes.as_mut_ptr(),
                8,
                data.as_mut_ptr().cast(),
                data.len(),
                &mut used,
                &mut left,
                &mut status,
            );
            let mut at = 0;
            for i in 0..k {
                got.push((ids[i], codes[i], data[at..at + sizes[i]].to_vec()));
                at += sizes[i];
            }
        }
        greeter_queue_free(q);
        got.sort();
        got.into_iter()
            .map(|(id, code, bytes)| {
                assert!(id >= first && id < first + texts.len() as u64);
                (code, bytes)
            })
            .collect()
    }
}

#[test]
fn async_results_of_every_shape_cross_as_bytes_with_a_length() {
    let _serial = tests_serial();
    let got = shapes(GREETER_DEBUG_SHAPE_BYTES, &["abé", "", "a\u{0}"]);
    assert_eq!(got[0], (GREETER_OK, b"\xa9\xc3ba".to_vec()), "not UTF-8");
    assert_eq!(got[1], (GREETER_OK, Vec::new()));
    assert_eq!(got[2].0, GREETER_ERR_INTERIOR_NUL);
    let got = shapes(GREETER_DEBUG_SHAPE_INTEGER, &["abc", ""]);
    assert_eq!(got[0], (GREETER_OK, (-3i64).to_ne_bytes().to_vec()));
    assert_eq!(got[1], (GREETER_OK, 0i64.to_ne_bytes().to_vec()));
    let before = greeter_live_objects();
    let got = shapes(GREETER_DEBUG_SHAPE_GREETER, &["<{name}>", "no placeholder"]);
    assert_eq!(got[1].0, GREETER_ERR_INVALID_TEMPLATE);
    assert_eq!(greeter_live_objects(), before + 1, "the caller owns the handed-out object");
    let (code, bytes) = &got[0];
    assert_eq!((*code, bytes.len()), (GREETER_OK, 8));
    let address = u64::from_ne_bytes(bytes[..].try_into().unwrap()) as usize;
    let greeter = address as *mut GreeterGreeter;
    let mut out = [0u8; 16];
    // SAFETY: the handle the drain handed out, used and freed once.
    unsafe {
        let n = greeter_greeter_greet_into(
            greeter,
            b"Jo".as_ptr().cast(),
            2,
            out.as_mut_ptr().cast(),
            16,
        );
        assert_eq!(&out[..n as usize], b"<Jo>");
        greeter_greeter_free(greeter);
    }
    assert_eq!(greeter_live_objects(), before);
    let mut status = new_status();
    // SAFETY: an unknown shape is refused before any pointer is read.
    unsafe {
        let n = greeter_debug_shapes_submit(9, null(), null(), 0, null(), null_mut(), &mut status);
        assert_eq!((n, message(&status).as_str()), (0, "no result shape 9"));
        assert_eq!(status.code, GREETER_ERR_INVALID_ARGUMENT);
        greeter_status_clear(&mut status);
    }
}

#[test]
fn a_result_never_handed_out_releases_what_it_owns() {
    let _serial = tests_serial();
    let before = greeter_live_objects();
    let mut status = new_status();
    let texts = "{name}".repeat(100);
    let lens = [6usize; 100];
    // SAFETY: a live queue, freed with completions in flight and waiting.
    unsafe {
        let q = greeter_queue_new(&mut status);
        let n = greeter_debug_shapes_submit(
            GREETER_DEBUG_SHAPE_GREETER,
            texts.as_ptr().cast(),
            lens.as_ptr(),
            100,
            q,
            null_mut(),
            &mut status,
        );
        assert_eq!(n, 100);
        greeter_queue_free(q);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while greeter_live_objects() != before {
        assert!(std::time::Instant::now() < deadline, "objects of dropped results leaked");
        std::thread::yield_now();
    }
}
