//! greeter: a small Rust library reached through a plain C ABI.
//!
//! Layout:
//! - the example domain, greetings: [`greeting`] (the work itself) and [`template`] (greeting
//!   templates, parsed once), with their exports in `ffi/greet.rs`, `ffi/compat.rs` and
//!   `ffi/objects.rs`. Replaceable: nothing else depends on [`greeting`] (a test deletes it
//!   and its exports and builds the rest);
//! - the plumbing, safe Rust without raw pointers: [`texts`] (what is accepted as text, packed
//!   lists), [`memory`] (fallible allocation: input too large for memory is an error, never an
//!   abort), [`error`] (codes and the error type), [`strings`] and [`objects`] (the live-string
//!   and live-object counters), [`pool`] (the worker pool running any job, and the completion
//!   queues that carry results back to event loops), [`diagnostics`] (for the bindings' tests:
//!   injected panics, a slow call, lock counts);
//! - [`os`]: the C library calls the core makes itself (fork handlers);
//! - [`ffi`]: the C ABI: every `extern "C"` function, the conversions of what crosses it, and
//!   the one guard every export runs in.
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod diagnostics;
pub mod error;
pub mod ffi;
pub mod greeting;
pub mod memory;
pub mod objects;
mod os;
pub mod pool;
pub mod strings;
pub mod template;
pub mod texts;

#[cfg(test)]
mod proptests;

/// Serialises the crate's tests that touch process-wide state: [`diagnostics::inject_panics`]
/// arms a counter any greeting may consume, and the live-string and live-object counters are
/// shared, so a test that injects a panic or asserts an exact count runs alone.
#[cfg(test)]
pub(crate) fn tests_serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
