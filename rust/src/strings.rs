//! The live-string counter that makes leaks countable.
//!
//! Every string handed to C goes out through `ffi::types::string_out`, which counts it with
//! [`count_handed_out`], and comes back through `ffi::types::string_free`, which reports it
//! with [`count_freed`]; the counter is the number given out and not yet returned.

use std::sync::atomic::{AtomicI64, Ordering};

static LIVE: AtomicI64 = AtomicI64::new(0);

/// The number of strings handed to the caller and not yet freed.
pub fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// Counts one string handed to the caller.
pub fn count_handed_out() {
    LIVE.fetch_add(1, Ordering::Relaxed);
}

/// Counts one string handed out earlier as freed.
pub fn count_freed() {
    LIVE.fetch_sub(1, Ordering::Relaxed);
}
