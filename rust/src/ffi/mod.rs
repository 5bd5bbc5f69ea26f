//! The C ABI: every `extern "C"` function, and the only place where pointers handed in by a
//! caller are converted and panics are caught.
//!
//! - [`types`]: the few kinds of value that cross (text in, buffer out, owned string out,
//!   handle...), each converted in one `unsafe fn`;
//! - [`guard`]: [`guard::guard`], which every export's body is one call of (panic caught,
//!   status filled, the return type's failure value on failure), and [`guard::GreeterStatus`];
//! - the exports, by domain: [`greet`] (sums and greetings, sync and async), [`tasks`] (worker
//!   pool, completion queues, cancellation, and the generic submit behind every async export),
//!   [`objects`] (greeter objects: a template parsed once, a reference-counted handle),
//!   [`common`] (freeing, statuses, version), [`diagnostics`], and [`compat`], the
//!   tutorial-compatible API.
//!
//! Ownership rule for the whole API: a `char *` returned or delivered by greeter is owned by
//! the caller, who frees it exactly once with `greeter_string_free` (or the tutorial-compatible
//! `free_string`, the same function); a `GreeterStatus` message is freed by
//! `greeter_status_clear`; a handle (`GreeterCompletionQueue *`) is the caller's reference,
//! given back with its `_free`. `const char *` returns are static and never freed. Input
//! pointers are borrowed only for the duration of the call. Every `_free` accepts NULL.

pub mod common;
pub mod compat;
pub mod diagnostics;
pub mod greet;
pub mod guard;
pub mod objects;
pub mod tasks;
pub mod types;

#[cfg(test)]
mod tests;
