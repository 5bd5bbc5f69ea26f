//! Strings handed to the caller, and the live-string counter that makes leaks countable.
//!
//! Every string given to C goes out through [`hand_out`] and comes back through
//! [`take_back`]; the counter is the number given out and not yet returned.

use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicI64, Ordering};

static LIVE: AtomicI64 = AtomicI64::new(0);

/// The number of strings handed to the caller and not yet freed.
pub fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// Turns `s` into a C string the caller owns, counting it. Returns the pointer and the length
/// in bytes without the terminating NUL.
///
/// `s` must not contain NUL; every producer validates its input, so a NUL here is a bug and
/// panics (inside the boundary's `catch_unwind`).
pub fn hand_out(s: String) -> (*mut c_char, usize) {
    let len = s.len();
    let c = CString::new(s).expect("greeter never hands out a string containing NUL");
    LIVE.fetch_add(1, Ordering::Relaxed);
    (c.into_raw(), len)
}

/// Takes back a string made by [`hand_out`] and frees it. NULL is accepted and ignored.
///
/// # Safety
/// `ptr` is NULL or a pointer returned by [`hand_out`] that has not been taken back yet.
pub unsafe fn take_back(ptr: *mut c_char) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: by this function's contract `ptr` came from `CString::into_raw` in `hand_out`
    // and is reclaimed exactly once.
    drop(unsafe { CString::from_raw(ptr) });
    LIVE.fetch_sub(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
