//! Property tests (proptest) of the boundary helpers: pointer/length validation, UTF-8
//! handling, `greeting_into` against `greeting`, and the completion queue's push/drain
//! interleavings and descriptor readiness.

use std::collections::{HashSet, VecDeque};
use std::ffi::{c_char, c_int, c_short, CStr};
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::error::*;
use crate::ffi::common::{greeter_status_clear, greeter_status_take_thread, greeter_string_free};
use crate::ffi::greet::{greeter_greet, greeter_greet_into};
use crate::ffi::guard::{GreeterStatus, GREETER_FAILED};
use crate::ffi::types::{bytes_in, text_in};
use crate::greeting::{greeting, greeting_into};
use crate::pool::{Completion, CompletionQueue, Output};
use crate::tests_serial;
use crate::texts::validate_text;

/// The status greeter must give a name of these bytes: UTF-8 is checked before NUL.
fn model_code(bytes: &[u8]) -> GreeterCode {
    match std::str::from_utf8(bytes) {
        Err(_) => GREETER_ERR_INVALID_UTF8,
        Ok(s) if s.contains('\0') => GREETER_ERR_INTERIOR_NUL,
        Ok(_) => GREETER_OK,
    }
}

/// Bytes that are often, but not always, UTF-8, with NULs now and then.
fn name_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..64),
        any::<String>().prop_map(String::into_bytes),
        (any::<String>(), any::<String>()).prop_map(|(a, b)| format!("{a}\0{b}").into_bytes()),
        (any::<String>(), any::<u8>(), 0usize..8).prop_map(|(s, b, at)| {
            let mut v = s.into_bytes();
            v.insert(at.min(v.len()), b | 0x80); // a stray high byte: usually invalid UTF-8
            v
        }),
    ]
}

fn new_status() -> GreeterStatus {
    GreeterStatus {
        code: -1,
        message: std::ptr::null_mut(),
    }
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

extern "C" {
    fn poll(fds: *mut PollFd, nfds: std::ffi::c_ulong, timeout: c_int) -> c_int;
}

const POLLIN: c_short = 1;

/// True when `fd` is readable right now (poll with a zero timeout; nothing is consumed).
fn readable(fd: c_int) -> bool {
    let mut p = PollFd {
        fd,
        events: POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd for the duration of the call.
    let n = unsafe { poll(&mut p, 1, 0) };
    assert!(n >= 0, "poll failed");
    n == 1 && p.revents & POLLIN != 0
}

#[derive(Debug, Clone)]
enum Op {
    Push(u8),
    Drain(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    vec(prop_oneof![(1u8..6).prop_map(Op::Push), (0usize..8).prop_map(Op::Drain),], 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn validate_name_accepts_exactly_utf8_without_nul(bytes in name_bytes()) {
        match validate_text(&bytes, "name") {
            Ok(s) => {
                prop_assert_eq!(model_code(&bytes), GREETER_OK);
                prop_assert_eq!(s.as_bytes(), &bytes[..]);
            }
            Err(e) => {
                prop_assert_eq!(e.code, model_code(&bytes));
                if e.code == GREETER_ERR_INTERIOR_NUL {
                    let at = bytes.iter().position(|&b| b == 0).unwrap();
                    prop_assert_eq!(e.message, format!("name contains a NUL byte at offset {at}"));
                }
            }
        }
    }

    #[test]
    fn every_str_without_nul_is_accepted_unchanged(s in any::<String>()) {
        let s = s.replace('\0', "");
        prop_assert_eq!(validate_text(s.as_bytes(), "name"), Ok(s.as_str()));
    }

    #[test]
    fn bytes_in_borrows_exactly_the_stated_prefix(bytes in name_bytes(), cut in any::<prop::sample::Index>()) {
        let len = cut.index(bytes.len() + 1);
        // SAFETY: `bytes` is readable for `len <= bytes.len()` bytes while borrowed here.
        let got = unsafe { bytes_in(bytes.as_ptr().cast(), len, "name") }.unwrap();
        prop_assert_eq!(got, &bytes[..len]);
    }

    #[test]
    fn text_in_refuses_null_and_lengths_over_isize_max(len in any::<usize>(), big in (isize::MAX as usize + 1)..=usize::MAX) {
        // SAFETY: NULL is refused before any read.
        let e = unsafe { text_in(std::ptr::null(), len, "name") }.unwrap_err();
        prop_assert_eq!(e.code, GREETER_ERR_NULL_POINTER);
        let one = [b'x'];
        // SAFETY: a length over isize::MAX is refused before any read.
        let e = unsafe { bytes_in(one.as_ptr().cast(), big, "name") }.unwrap_err();
        prop_assert_eq!(e.code, GREETER_ERR_INVALID_ARGUMENT);
    }

    #[test]
    fn greeting_into_agrees_with_greeting(name in any::<String>(), extra in 0usize..12, short in any::<prop::sample::Index>()) {
        let _serial = tests_serial();
        let want = greeting(&name).unwrap();
        // A buffer with room to spare: written exactly, the rest untouched.
        let mut buf = vec![0xa5u8; want.len() + extra];
        prop_assert_eq!(greeting_into(&name, &mut buf), want.len());
        prop_assert_eq!(&buf[..want.len()], want.as_bytes());
        prop_assert!(buf[want.len()..].iter().all(|&b| b == 0xa5));
        // Any shorter buffer: the length is reported and nothing is written.
        let mut small = vec![0xa5u8; short.index(want.len())];
        prop_assert_eq!(greeting_into(&name, &mut small), want.len());
        prop_assert!(small.iter().all(|&b| b == 0xa5));
    }

    #[test]
    fn the_c_greet_calls_agree_with_the_model(bytes in name_bytes(), room in 0usize..300) {
        let _serial = tests_serial();
        let want = model_code(&bytes);
        let mut status = new_status();
        let mut len = usize::MAX;
        // SAFETY: `bytes` is readable for its length; `len` and `status` are valid for writes.
        let ptr = unsafe { greeter_greet(bytes.as_ptr().cast(), bytes.len(), &mut len) };
        // SAFETY: as above.
        unsafe { greeter_status_take_thread(&mut status) };
        prop_assert_eq!(status.code, want);
        let expected = [b"Hello, ".as_slice(), &bytes, b"!"].concat();
        if want == GREETER_OK {
            // SAFETY: a live NUL-terminated string handed out by greeter_greet.
            prop_assert_eq!(unsafe { CStr::from_ptr(ptr) }.to_bytes(), &expected[..]);
            prop_assert_eq!(len, expected.len());
            // SAFETY: handed out above, freed once.
            unsafe { greeter_string_free(ptr) };
        } else {
            prop_assert!(ptr.is_null());
            prop_assert!(!status.message.is_null());
        }
        let mut buf = vec![0xa5u8; room];
        // SAFETY: as above; `buf` is writable for `room` bytes (and may be empty).
        let n = unsafe {
            greeter_greet_into(bytes.as_ptr().cast(), bytes.len(), buf.as_mut_ptr().cast::<c_char>(), room)
        };
        if expected.len() > room {
            prop_assert_eq!(n, expected.len() as i64, "too long for the buffer: not read");
        } else if want == GREETER_OK {
            prop_assert_eq!(n, expected.len() as i64);
            prop_assert_eq!(&buf[..expected.len()], &expected[..]);
        } else {
            prop_assert_eq!(n, GREETER_FAILED);
            // SAFETY: a status filled by the call above.
            unsafe { greeter_status_take_thread(&mut status) };
            prop_assert_eq!(status.code, want);
        }
        // SAFETY: a status filled by the calls above.
        unsafe { greeter_status_clear(&mut status) };
        prop_assert!(status.message.is_null());
    }

    #[test]
    fn every_push_is_drained_once_in_order_and_the_fd_is_readable_iff_non_empty(ops in ops()) {
        let queue = CompletionQueue::new().unwrap();
        let fd = queue.fd();
        let mut model: VecDeque<u64> = VecDeque::new();
        let mut next = 0u64;
        let mut out = Vec::new();
        for op in ops {
            match op {
                Op::Push(k) => {
                    for _ in 0..k {
                        queue.push(Completion { task_id: next, result: Ok(Output::from(format!("v{next}"))) }).unwrap();
                        model.push_back(next);
                        next += 1;
                    }
                }
                Op::Drain(max) => {
                    out.clear();
                    queue.drain_into(&mut out, max).unwrap();
                    let want: Vec<u64> = model.drain(..max.min(model.len())).collect();
                    let got: Vec<u64> = out.iter().map(|c| c.task_id).collect();
                    prop_assert_eq!(&got, &want);
                    for c in &out {
                        let value = format!("v{}", c.task_id);
                        prop_assert_eq!(c.result.as_ref().map(Output::as_bytes), Ok(value.as_bytes()));
                    }
                }
            }
            prop_assert_eq!(queue.len(), model.len());
            prop_assert_eq!(readable(fd), !model.is_empty());
        }
        out.clear();
        queue.drain_into(&mut out, usize::MAX).unwrap();
        prop_assert_eq!(out.len(), model.len());
        prop_assert!(!readable(fd));
        queue.close();
        queue.push(Completion { task_id: next, result: Ok(Output::from(Vec::new())) }).unwrap();
        prop_assert!(queue.is_empty() && !readable(fd), "a closed queue drops late completions");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn concurrent_producers_deliver_each_completion_exactly_once(
        per_producer in vec(0u64..300, 1..5),
        batch in 1usize..64,
    ) {
        let queue = Arc::new(CompletionQueue::new().unwrap());
        let total: u64 = per_producer.iter().sum();
        let producers: Vec<_> = per_producer
            .iter()
            .enumerate()
            .map(|(p, &n)| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || {
                    for i in 0..n {
                        queue.push(Completion { task_id: ((p as u64) << 32) | i, result: Ok(Output::from(Vec::new())) }).unwrap();
                    }
                })
            })
            .collect();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while (seen.len() as u64) < total {
            prop_assert!(std::time::Instant::now() < deadline, "completions lost");
            out.clear();
            queue.drain_into(&mut out, batch).unwrap();
            for c in &out {
                prop_assert!(seen.insert(c.task_id), "delivered twice: {}", c.task_id);
            }
            if out.is_empty() {
                std::thread::yield_now();
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        out.clear();
        queue.drain_into(&mut out, usize::MAX).unwrap();
        prop_assert!(out.is_empty());
        prop_assert!(!readable(queue.fd()), "readable with nothing waiting");
    }
}
