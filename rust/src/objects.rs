//! Objects handed to the caller, and the live-object counter that makes their leaks countable.
//!
//! A [`Counted`] value is counted from its creation to its drop; the objects greeter hands out
//! hold one, so `live()` is the number of objects whose last reference (the caller's, or a
//! call or task still using it) has not gone yet. Safe code only.

use std::ops::Deref;
use std::sync::atomic::{AtomicI64, Ordering};

static LIVE: AtomicI64 = AtomicI64::new(0);

/// The number of objects handed out and not yet freed.
pub fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// A value counted by [`live`] while it exists.
#[derive(Debug)]
pub struct Counted<T>(T);

impl<T> Counted<T> {
    /// Counts `value` until it is dropped.
    pub fn new(value: T) -> Self {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Counted(value)
    }
}

impl<T> Deref for Counted<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_serial;

    #[test]
    fn counted_values_are_live_until_their_last_reference_goes() {
        let _serial = tests_serial();
        let before = live();
        let a = Counted::new(String::from("a"));
        let b = Counted::new(());
        assert_eq!(live(), before + 2);
        assert_eq!(a.len(), 1, "derefs to the value");
        drop(b);
        assert_eq!(live(), before + 1);
        let shared = std::sync::Arc::new(a);
        let clone = std::sync::Arc::clone(&shared);
        drop(shared);
        assert_eq!(live(), before + 1, "alive while a reference remains");
        drop(clone);
        assert_eq!(live(), before);
    }
}
