//! Fallible allocation: every buffer whose size follows from a caller's input is made here, so
//! that input too large for memory becomes a `GREETER_ERR_OUT_OF_MEMORY` error instead of
//! Rust's default, which aborts the process. Safe Rust.
//!
//! The rule for the whole crate: a buffer sized by input (a result, a copy of an argument, a
//! collection with one element per input item) is made with [`text`], [`copy_text`], [`vec`]
//! or a `try_reserve*` call checked by [`reserved`]; the infallible growth APIs
//! (`with_capacity`, `reserve`, `vec![..; n]`, `format!`, `to_owned`, `collect`...) appear only
//! at the sites the test at the end of this file lists, each with the bound that makes it
//! safe.

use std::collections::TryReserveError;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result, GREETER_ERR_OUT_OF_MEMORY};

/// The error for an allocation the system refused (or whose size overflows).
pub fn out_of_memory(what: &str, bytes: usize) -> Error {
    Error::new(
        GREETER_ERR_OUT_OF_MEMORY,
        format!("out of memory: cannot allocate {bytes} bytes for {what}"),
    )
}

/// Turns the outcome of a `try_reserve*` call into a `GREETER_ERR_OUT_OF_MEMORY` error naming
/// `what` and the `bytes` it asked for.
pub fn reserved(
    outcome: std::result::Result<(), TryReserveError>, what: &str, bytes: usize,
) -> Result<()> {
    outcome.map_err(|_| out_of_memory(what, bytes))
}

/// An empty string with room for `len` bytes and the C terminator every string handed out
/// gets, so that handing it out (`ffi::types::string_out`) never reallocates. The buffer of
/// every text result.
pub fn text(len: usize, what: &str) -> Result<String> {
    let mut s = String::new();
    let room = len.checked_add(1).ok_or_else(|| out_of_memory(what, len))?;
    if take_injected_failure() {
        return Err(out_of_memory(what, room));
    }
    reserved(s.try_reserve_exact(room), what, room)?;
    Ok(s)
}

/// A copy of `source` (an argument kept beyond the call: the input of a queued task).
pub fn copy_text(source: &str, what: &str) -> Result<String> {
    let mut s = String::new();
    reserved(s.try_reserve_exact(source.len()), what, source.len())?;
    s.push_str(source); // fits: no reallocation
    Ok(s)
}

/// A copy of `source`, asked for fallibly.
pub fn copy_bytes(source: &[u8], what: &str) -> Result<Vec<u8>> {
    let mut v = vec(source.len(), what)?;
    v.extend_from_slice(source); // fits: no reallocation
    Ok(v)
}

/// An empty vector with room for `n` elements.
pub fn vec<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    let bytes = n.saturating_mul(std::mem::size_of::<T>());
    reserved(v.try_reserve_exact(n), what, bytes)?;
    Ok(v)
}

/// Appends `item` to `items`, room for it asked for fallibly: a collection that grows by one
/// element per input (the names a stateful object keeps).
pub fn push<T>(items: &mut Vec<T>, item: T, what: &str) -> Result<()> {
    let bytes = std::mem::size_of::<T>().saturating_mul(items.len().saturating_add(1));
    reserved(items.try_reserve(1), what, bytes)?;
    items.push(item); // fits: room made above
    Ok(())
}

/// Result buffers still to refuse; see [`inject_failures`].
static INJECTED_FAILURES: AtomicU32 = AtomicU32::new(0);

/// Diagnostic: makes the next `count` result buffers ([`text`]: every text a function returns,
/// sync, async or tutorial-compatible) fail as if the system were out of memory, so the
/// out-of-memory paths can be exercised end to end with small inputs. Returns the previous
/// count.
pub fn inject_failures(count: u32) -> u32 {
    INJECTED_FAILURES.swap(count, Ordering::SeqCst)
}

fn take_injected_failure() -> bool {
    // One relaxed load per result; the decrement only happens while failures are armed.
    INJECTED_FAILURES.load(Ordering::Relaxed) != 0
        && INJECTED_FAILURES
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_serial;

    #[test]
    fn sizes_no_memory_can_hold_are_errors_not_aborts() {
        let _serial = tests_serial();
        for len in [usize::MAX, usize::MAX - 1, isize::MAX as usize] {
            let e = text(len, "the greeting").unwrap_err();
            assert_eq!(e.code, GREETER_ERR_OUT_OF_MEMORY);
        }
        let e = vec::<u64>(usize::MAX / 4, "the names").unwrap_err();
        assert_eq!(e.code, GREETER_ERR_OUT_OF_MEMORY);
        assert_eq!(
            e.message,
            format!(
                "out of memory: cannot allocate {} bytes for the names",
                (usize::MAX / 4).saturating_mul(8)
            )
        );
        let mut v: Vec<u8> = Vec::new();
        let e = reserved(v.try_reserve(usize::MAX), "a copy", usize::MAX).unwrap_err();
        assert_eq!(e.code, GREETER_ERR_OUT_OF_MEMORY);
    }

    #[test]
    fn buffers_have_exact_room_and_copies_are_equal() {
        let _serial = tests_serial();
        let s = text(5, "the greeting").unwrap();
        assert!(s.is_empty() && s.capacity() >= 6, "room for the C terminator");
        assert_eq!(copy_text("héllo", "a name").unwrap(), "héllo");
        assert!(vec::<u32>(3, "ids").unwrap().capacity() >= 3);
        let mut names = vec::<String>(0, "names").unwrap();
        push(&mut names, copy_text("Ann", "a name").unwrap(), "names").unwrap();
        push(&mut names, String::new(), "names").unwrap();
        assert_eq!(names, ["Ann", ""]);
    }

    #[test]
    fn injected_failures_fail_the_requested_number_of_results() {
        let _serial = tests_serial();
        inject_failures(2);
        assert_eq!(text(3, "x").unwrap_err().code, GREETER_ERR_OUT_OF_MEMORY);
        assert_eq!(
            text(3, "x").unwrap_err().message,
            "out of memory: cannot allocate 4 bytes for x"
        );
        assert!(text(3, "x").is_ok());
        assert!(copy_text("x", "x").is_ok(), "copies are never injected");
        assert_eq!(inject_failures(0), 0);
    }
}

/// The check that keeps the crate's allocations fallible: every use of an infallible growth API
/// outside tests is one of the sites listed here, each with the bound that makes it safe.
#[cfg(test)]
mod infallible_sites {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// The APIs that size an allocation without reporting failure (Rust aborts instead).
    /// `Box::new` and `Arc::new` are left out: their size is a type's, never an input's; and so
    /// are `push`, `push_str` and `extend`, which the rule confines to room made fallibly first
    /// (`text`, `vec`, `try_reserve*`), as in every site below.
    const GROWTH_APIS: &[&str] = &[
        "with_capacity(",
        ".reserve(",
        ".reserve_exact(",
        "vec![",
        "format!(",
        ".to_owned()",
        ".to_string()",
        ".to_vec()",
        "String::from(",
        ".repeat(",
        ".concat()",
        ".join(",
        ".collect",
        ".replace(",
        ".to_uppercase()",
        ".to_lowercase()",
        ".into_owned()",
        ".push_back(",
        ".insert(",
    ];

    /// (file under `rust/src`, API, uses, the bound that makes them safe).
    const ALLOWED: &[(&str, &str, usize, &str)] = &[
        ("diagnostics.rs", "format!(", 1, "an error message: constant text and two numbers"),
        (
            "error.rs",
            ".replace(",
            1,
            "write_c_message escapes an error message: every message is constant text, \
             numbers and at most 40 quoted characters",
        ),
        ("error.rs", ".to_owned()", 2, "a panic's message: the crate's own panic texts"),
        ("error.rs", "format!(", 1, "a panic's message: the crate's own panic texts"),
        ("ffi/diagnostics.rs", "format!(", 1, "an error message: constant text and a number"),
        (
            "ffi/guard.rs",
            ".replace(",
            2,
            "escape_nul on an error message (bounded as above); a Cell's replace, no allocation",
        ),
        (
            "ffi/guard.rs",
            ".push_back(",
            1,
            "a thread's failures not taken yet: at most GREETER_THREAD_FAILURES_KEPT",
        ),
        ("ffi/tasks.rs", "format!(", 1, "an error message: constant text and an OS error"),
        ("ffi/types.rs", "format!(", 3, "error messages: an argument's name and a number"),
        ("greeting.rs", "format!(", 2, "error messages: constant text and numbers"),
        (
            "memory.rs",
            "format!(",
            1,
            "the out-of-memory message: constant text, a number, what was being allocated",
        ),
        (
            "pool.rs",
            ".insert(",
            3,
            "into the task table after reserve_tasks; and marking a task abandoned, which \
             replaces an entry",
        ),
        (
            "pool.rs",
            ".push_back(",
            3,
            "tasks into the queue after reserve_tasks; completions into the room their task \
             was promised at submit (CompletionQueue::promise)",
        ),
        ("pool.rs", ".to_vec()", 1, "an output's inline word handed out: 8 bytes"),
        (
            "pool.rs",
            "format!(",
            5,
            "error messages and worker thread names: constant text and numbers",
        ),
        (
            "pool.rs",
            "with_capacity(",
            3,
            "worker handles (at most GREETER_MAX_POOL_THREADS) and a worker's batches \
             (WORKER_BATCH)",
        ),
        (
            "texts.rs",
            "format!(",
            4,
            "error messages: constant text, numbers, an argument's name, a UTF-8 error",
        ),
        (
            "template.rs",
            ".collect",
            1,
            "an unknown placeholder quoted in an error message: at most QUOTED_CHARS characters",
        ),
        (
            "template.rs",
            ".to_owned()",
            1,
            "a template's source: at most GREETER_TEMPLATE_MAX_BYTES",
        ),
        (
            "template.rs",
            "format!(",
            5,
            "error messages: constant text, numbers, at most QUOTED_CHARS quoted characters",
        ),
    ];

    /// The code of a source file: its test module (from `#[cfg(test)]` followed by `mod`) and
    /// comment lines left out.
    fn code(source: &str) -> String {
        let mut lines = Vec::new();
        let mut all = source.lines().peekable();
        while let Some(line) = all.next() {
            if line.trim() == "#[cfg(test)]"
                && all.peek().is_some_and(|next| next.starts_with("mod "))
            {
                break;
            }
            if !line.trim_start().starts_with("//") {
                lines.push(line);
            }
        }
        lines.join("\n")
    }

    fn uses(code: &str, api: &str) -> usize {
        let found = code.matches(api).count();
        if api == ".join(" {
            return found - code.matches(".join()").count(); // a thread's join
        }
        found
    }

    fn sources(dir: &Path, under: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, under, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path
                    .strip_prefix(under)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                // Whole files of tests.
                if !matches!(name.as_str(), "ffi/tests.rs" | "proptests.rs") {
                    out.insert(name, code(&std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
    }

    #[test]
    fn infallible_growth_only_at_listed_sites() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = BTreeMap::new();
        sources(&root, &root, &mut files);
        let mut found = BTreeMap::new();
        for (file, code) in &files {
            for api in GROWTH_APIS {
                let n = uses(code, api);
                if n > 0 {
                    found.insert((file.as_str(), *api), n);
                }
            }
        }
        let allowed: BTreeMap<(&str, &str), usize> = ALLOWED
            .iter()
            .map(|&(file, api, n, bound)| {
                assert!(!bound.is_empty(), "{file} {api}: state the bound");
                ((file, api), n)
            })
            .collect();
        let mut wrong = Vec::new();
        for (key, n) in &found {
            if allowed.get(key) != Some(n) {
                wrong.push(format!(
                    "rust/src/{} uses `{}` {} time(s), the list allows {}",
                    key.0,
                    key.1,
                    n,
                    allowed.get(key).copied().unwrap_or(0)
                ));
            }
        }
        for (key, n) in &allowed {
            if !found.contains_key(key) {
                wrong.push(format!(
                    "rust/src/{} no longer uses `{}` (the list allows {n}): drop its entry",
                    key.0, key.1
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "allocations sized by input must be fallible (crate::memory); a site whose size \
             is bounded otherwise goes in ALLOWED with its bound:\n{}",
            wrong.join("\n")
        );
    }
}
