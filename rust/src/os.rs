//! Calls into the operating system's C library that the safe core needs. Not part of the C ABI
//! greeter exports: the boundary (`ffi`) is about pointers handed in by callers; this is the
//! other direction, greeter calling libc.

use std::ffi::c_int;

extern "C" {
    fn pthread_atfork(
        prepare: Option<extern "C" fn()>, parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
    ) -> c_int;
}

/// Registers fork handlers with libc (`pthread_atfork`); false if libc refused (ENOMEM).
pub(crate) fn register_fork_handlers(
    prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn(),
) -> bool {
    // SAFETY: pthread_atfork only records the three handlers; they are plain functions of this
    // library, which glibc unregisters if the library is unloaded, and must not unwind (the
    // pool's handlers only lock and unlock a mutex).
    unsafe { pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}
