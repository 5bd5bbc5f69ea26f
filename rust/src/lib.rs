//! greeter: a small Rust library reached through a plain C ABI.
//!
//! Layout:
//! - [`error`]: error codes and the `GreeterStatus` error channel's Rust side;
//! - [`greeting`]: the safe core (the work itself);
//! - [`template`]: greeting templates, parsed once and rendered many times (safe Rust);
//! - [`strings`]: strings handed to the caller and the live-string counter;
//! - [`diagnostics`]: a deliberately slow call and a lock counter, for the bindings' tests;
//! - [`pool`]: the worker pool and per-event-loop completion queues (safe Rust; it catches the
//!   panics of worker tasks and callbacks, a thread boundary rather than the C one);
//! - [`ffi`]: every `extern "C"` function and the only `unsafe` code: raw pointers are converted
//!   and panics at the C boundary caught here, nowhere else.
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod diagnostics;
pub mod error;
pub mod ffi;
pub mod greeting;
pub mod pool;
pub mod strings;
pub mod template;

#[cfg(test)]
mod proptests;
