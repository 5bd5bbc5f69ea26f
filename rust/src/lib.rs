//! greeter: a small Rust library reached through a plain C ABI.
//!
//! Layout:
//! - [`error`]: error codes and the `GreeterStatus` error channel's Rust side;
//! - [`greeting`]: the safe core (the work itself);
//! - [`strings`]: strings handed to the caller and the live-string counter;
//! - [`pool`]: the worker pool and per-event-loop completion queues (safe Rust);
//! - [`ffi`]: every `extern "C"` function. It is the only module that converts raw pointers
//!   and calls `catch_unwind`.
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod error;
pub mod ffi;
pub mod greeting;
pub mod pool;
pub mod strings;

#[cfg(test)]
mod proptests;
