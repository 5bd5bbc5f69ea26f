//! The example domain, greetings: the work itself. No pointers, no `unsafe`.
//!
//! Replaceable: the plumbing (texts, memory, pool, boundary) does not depend on it, so deleting
//! this module and its exports (`ffi/greet.rs`, `ffi/compat.rs`) leaves a crate that builds
//! (`tests/test_domain.py` checks it).

use crate::diagnostics::maybe_injected_panic;
use crate::error::{Error, Result, GREETER_ERR_INVALID_ARGUMENT, GREETER_ERR_OVERFLOW};
use crate::memory::{out_of_memory, text};
use crate::texts::split_packed;

/// The bytes the synchronous greeting adds to a name (`Hello, ` and `!`): a greeting is always
/// exactly `name_len + GREETER_GREETING_EXTRA_BYTES` bytes long.
pub const GREETER_GREETING_EXTRA_BYTES: usize = 8;

/// The synchronous greeting: `Hello, {name}!`; `GREETER_ERR_OUT_OF_MEMORY` when it does not
/// fit in memory.
pub fn greeting(name: &str) -> Result<String> {
    maybe_injected_panic();
    let mut out = text(greeting_len(name.len())?, "the greeting")?;
    out.push_str("Hello, ");
    out.push_str(name);
    out.push('!');
    Ok(out)
}

/// Writes the synchronous greeting into `buf` when it fits, and returns its length either way.
pub fn greeting_into(name: &str, buf: &mut [u8]) -> usize {
    maybe_injected_panic();
    const PREFIX: &[u8] = b"Hello, ";
    let len = name.len() + GREETER_GREETING_EXTRA_BYTES;
    if len <= buf.len() {
        buf[..PREFIX.len()].copy_from_slice(PREFIX);
        buf[PREFIX.len()..len - 1].copy_from_slice(name.as_bytes());
        buf[len - 1] = b'!';
    }
    len
}

/// The length of the synchronous greeting of a name of `name_len` bytes, refused when it would
/// not fit in a slice (over `isize::MAX`).
pub fn greeting_len(name_len: usize) -> Result<usize> {
    name_len
        .checked_add(GREETER_GREETING_EXTRA_BYTES)
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| {
            Error::new(
                GREETER_ERR_INVALID_ARGUMENT,
                format!("name length {name_len} exceeds isize::MAX"),
            )
        })
}

/// The prefix of the asynchronous greeting.
const ASYNC_PREFIX: &str = "Async Hello, ";

/// The asynchronous greeting: `Async Hello, {name}!`; `GREETER_ERR_OUT_OF_MEMORY` when it does
/// not fit in memory.
pub fn async_greeting(name: &str) -> Result<String> {
    maybe_injected_panic();
    let len = name
        .len()
        .checked_add(ASYNC_PREFIX.len() + 1)
        .ok_or_else(|| out_of_memory("the greeting", name.len()))?;
    let mut out = text(len, "the greeting")?;
    out.push_str(ASYNC_PREFIX);
    out.push_str(name);
    out.push('!');
    Ok(out)
}

/// `a + b`, or an overflow error instead of wrapping or panicking.
pub fn checked_add(a: i32, b: i32) -> Result<i32> {
    a.checked_add(b)
        .ok_or_else(|| Error::new(GREETER_ERR_OVERFLOW, format!("{a} + {b} overflows i32")))
}

/// Greets a packed list of `count` names: the names' UTF-8 bytes joined by single NUL bytes
/// (so a name cannot contain NUL, and `count` tells one empty name from none).
///
/// Writes the `count` greetings, joined the same way, into `out` when they fit, and returns
/// their total length in bytes either way (when it exceeds `out.len()`, the names are not read
/// and nothing is written). Fails when `packed` is not UTF-8, when it does not hold exactly
/// `count` names (a name held a NUL byte), or as [`greetings_len`].
pub fn greet_many_into(packed: &[u8], count: usize, out: &mut [u8]) -> Result<usize> {
    let needed = greetings_len(packed.len(), count)?;
    if needed > out.len() || count == 0 {
        return Ok(needed);
    }
    let mut at = 0;
    for (i, name) in split_packed(packed, count)?.enumerate() {
        if i > 0 {
            out[at] = 0;
            at += 1;
        }
        at += greeting_into(name, &mut out[at..]);
    }
    debug_assert_eq!(at, needed);
    Ok(needed)
}

/// The total length of the greetings of `count` packed names of `names_len` bytes (see
/// [`greet_many_into`]), known without reading them; refused when `count` is 0 for non-empty
/// names, or when it would not fit in a slice.
pub fn greetings_len(names_len: usize, count: usize) -> Result<usize> {
    if count == 0 && names_len > 0 {
        return Err(Error::new(
            GREETER_ERR_INVALID_ARGUMENT,
            "count is 0 but the names are not empty",
        ));
    }
    count
        .checked_mul(GREETER_GREETING_EXTRA_BYTES)
        .and_then(|extra| extra.checked_add(names_len))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| Error::new(GREETER_ERR_INVALID_ARGUMENT, "the greetings are too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{GREETER_ERR_INTERIOR_NUL, GREETER_ERR_INVALID_UTF8, GREETER_ERR_PANIC};
    use crate::tests_serial;

    #[test]
    fn greets_exactly() {
        let _serial = tests_serial();
        assert_eq!(greeting("Alice").unwrap(), "Hello, Alice!");
        assert_eq!(greeting("").unwrap(), "Hello, !");
        assert_eq!(greeting("世界🌍").unwrap(), "Hello, 世界🌍!");
        assert_eq!(async_greeting("Bob").unwrap(), "Async Hello, Bob!");
    }

    #[test]
    fn greeting_into_fits_or_reports_length() {
        let _serial = tests_serial();
        let mut buf = [0u8; 32];
        let n = greeting_into("Alice", &mut buf);
        assert_eq!(&buf[..n], b"Hello, Alice!");
        let mut small = [0u8; 4];
        assert_eq!(greeting_into("Alice", &mut small), 13);
        assert_eq!(small, [0u8; 4], "nothing is written when it does not fit");
        let mut exact = [0u8; 13];
        assert_eq!(greeting_into("Alice", &mut exact), 13);
        assert_eq!(&exact, b"Hello, Alice!");
    }

    #[test]
    fn greet_many_packs_greetings_exactly() {
        let _serial = tests_serial();
        let packed = "Alice\0\0世界🌍\0Bob".as_bytes();
        let mut out = vec![0u8; 64];
        let n = greet_many_into(packed, 4, &mut out).unwrap();
        let expected = "Hello, Alice!\0Hello, !\0Hello, 世界🌍!\0Hello, Bob!";
        assert_eq!(n, expected.len());
        assert_eq!(n, packed.len() + 4 * GREETER_GREETING_EXTRA_BYTES);
        assert_eq!(&out[..n], expected.as_bytes());
        // One empty name is not the same as none.
        assert_eq!(greet_many_into(b"", 1, &mut out).unwrap(), 8);
        assert_eq!(&out[..8], b"Hello, !");
        assert_eq!(greet_many_into(b"", 0, &mut out).unwrap(), 0);
    }

    #[test]
    fn greet_many_reports_room_needed_without_writing() {
        let _serial = tests_serial();
        let mut small = [7u8; 10];
        assert_eq!(greet_many_into(b"a\0b", 2, &mut small).unwrap(), 19);
        assert_eq!(small, [7u8; 10]);
        let mut exact = [0u8; 19];
        assert_eq!(greet_many_into(b"a\0b", 2, &mut exact).unwrap(), 19);
        assert_eq!(&exact, b"Hello, a!\0Hello, b!");
    }

    #[test]
    fn greet_many_refuses_bad_input() {
        let mut out = [0u8; 64];
        let nul = greet_many_into(b"a\0b\0c", 2, &mut out).unwrap_err();
        assert_eq!(nul.code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(
            nul.message,
            "the packed names hold 3 NUL-separated names, not 2: a name contains a NUL byte"
        );
        assert_eq!(greet_many_into(b"a", 2, &mut out).unwrap_err().code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(
            greet_many_into(b"a\xff", 1, &mut out).unwrap_err().code,
            GREETER_ERR_INVALID_UTF8
        );
        assert_eq!(
            greet_many_into(b"a", 0, &mut out).unwrap_err().code,
            GREETER_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            greet_many_into(b"", usize::MAX, &mut out).unwrap_err().code,
            GREETER_ERR_INVALID_ARGUMENT,
            "the greetings would not fit in memory"
        );
        let mut small = [0u8; 4];
        assert_eq!(
            greet_many_into(b"\xff\0\0", 2, &mut small),
            Ok(19),
            "too long for the buffer: the names are not read"
        );
    }

    #[test]
    fn add_checks_overflow() {
        assert_eq!(checked_add(3, 5), Ok(8));
        assert_eq!(checked_add(i32::MAX, 0), Ok(i32::MAX));
        assert_eq!(checked_add(i32::MIN, -1).unwrap_err().code, GREETER_ERR_OVERFLOW);
        let e = checked_add(i32::MAX, 1).unwrap_err();
        assert_eq!(e.message, "2147483647 + 1 overflows i32");
    }

    #[test]
    fn greetings_are_where_injected_panics_fire() {
        let _serial = tests_serial();
        crate::diagnostics::inject_panics(1);
        let caught = std::panic::catch_unwind(|| greeting("x")).unwrap_err();
        assert_eq!(Error::from_panic(caught.as_ref()).code, GREETER_ERR_PANIC);
        assert_eq!(greeting("x").unwrap(), "Hello, x!");
        assert_eq!(crate::diagnostics::inject_panics(0), 0);
    }

    #[test]
    fn greetings_that_cannot_be_allocated_are_errors() {
        let _serial = tests_serial();
        crate::memory::inject_failures(2);
        let e = greeting("x").unwrap_err();
        assert_eq!(e.code, crate::error::GREETER_ERR_OUT_OF_MEMORY);
        assert_eq!(e.message, "out of memory: cannot allocate 10 bytes for the greeting");
        assert_eq!(async_greeting("x").unwrap_err().code, crate::error::GREETER_ERR_OUT_OF_MEMORY);
        assert_eq!(greeting("x").unwrap(), "Hello, x!", "the next one is served");
    }
}
