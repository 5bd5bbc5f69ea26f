//! Error codes shared with C, and the error type the safe core returns.

use std::fmt;

/// A status code. `GREETER_OK` (0) means success; every other value names one failure.
pub type GreeterCode = i32;

/// Success.
pub const GREETER_OK: GreeterCode = 0;
/// A required pointer argument was NULL.
pub const GREETER_ERR_NULL_POINTER: GreeterCode = 1;
/// A string argument was not valid UTF-8.
pub const GREETER_ERR_INVALID_UTF8: GreeterCode = 2;
/// A string argument contained a NUL byte, which a C string cannot carry.
pub const GREETER_ERR_INTERIOR_NUL: GreeterCode = 3;
/// An integer result does not fit its type.
pub const GREETER_ERR_OVERFLOW: GreeterCode = 4;
/// Rust code panicked; the panic was caught at the boundary and its message is in the status.
pub const GREETER_ERR_PANIC: GreeterCode = 5;
/// The worker pool is shut down: the task was refused, or was queued and never started.
pub const GREETER_ERR_SHUT_DOWN: GreeterCode = 6;
/// The worker pool's queue is full; retry after some tasks complete (backpressure).
pub const GREETER_ERR_QUEUE_FULL: GreeterCode = 7;
/// An argument is outside its documented range.
pub const GREETER_ERR_INVALID_ARGUMENT: GreeterCode = 8;
/// A template was refused: no `{name}`, an unknown placeholder, a lone brace, a NUL character or
/// over 64 KiB. The message names the problem and its character offset.
pub const GREETER_ERR_INVALID_TEMPLATE: GreeterCode = 9;
/// A result, or a copy of an argument, needs more memory than the system gives: the input is
/// too large. The process goes on; the message names what could not be allocated.
pub const GREETER_ERR_OUT_OF_MEMORY: GreeterCode = 10;

/// An error from the safe core: a code from the table above and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// One of the `GREETER_ERR_*` codes.
    pub code: GreeterCode,
    /// What went wrong, for a person.
    pub message: String,
}

impl Error {
    /// Builds an error from a code and a message.
    pub fn new(code: GreeterCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// The error a caught panic becomes: its payload's text when it is a string.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let text = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_owned()
        };
        Error::new(GREETER_ERR_PANIC, format!("Rust panicked: {text}"))
    }

    /// Writes the message into `buf` as a NUL-terminated string, NUL bytes escaped as `\0`,
    /// cut at a character boundary to fit. Writes nothing into an empty `buf`.
    pub fn write_c_message(&self, buf: &mut [u8]) {
        let Some(room) = buf.len().checked_sub(1) else {
            return;
        };
        let escaped = self.message.replace('\0', "\\0");
        let mut end = escaped.len().min(room);
        while !escaped.is_char_boundary(end) {
            end -= 1;
        }
        buf[..end].copy_from_slice(&escaped.as_bytes()[..end]);
        buf[end] = 0;
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for Error {}

/// The result type of the safe core.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_messages_are_terminated_escaped_and_cut_at_char_boundaries() {
        let e = Error::new(GREETER_ERR_PANIC, "a\0é!");
        let mut buf = [0xffu8; 16];
        e.write_c_message(&mut buf);
        assert_eq!(&buf[..7], b"a\\0\xc3\xa9!\0");
        let mut small = [0xffu8; 5];
        e.write_c_message(&mut small);
        assert_eq!(&small, b"a\\0\0\xff", "é does not fit whole: cut before it");
        let mut empty: [u8; 0] = [];
        e.write_c_message(&mut empty);
        let mut one = [0xffu8; 1];
        e.write_c_message(&mut one);
        assert_eq!(one, [0]);
    }

    #[test]
    fn panic_payloads_become_messages() {
        let e = Error::from_panic(&"boom");
        assert_eq!(e.code, GREETER_ERR_PANIC);
        assert_eq!(e.message, "Rust panicked: boom");
        let e = Error::from_panic(&String::from("bang"));
        assert_eq!(e.message, "Rust panicked: bang");
        let e = Error::from_panic(&42_u8);
        assert_eq!(e.message, "Rust panicked: panic with a non-string payload");
    }

    #[test]
    fn display_names_the_code() {
        let e = Error::new(GREETER_ERR_OVERFLOW, "too big");
        assert_eq!(e.to_string(), "too big (code 4)");
    }
}
