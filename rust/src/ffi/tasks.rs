//! Asynchronous calls: the worker pool, completion queues, task cancellation, and
//! [`submit`], the body of every `_submit` export.
//!
//! An asynchronous variant of a function is one export that hands [`submit`] the function (or
//! a closure) to run on each input text; the pool runs it on a worker as a [`Job`] and the
//! completion reaches the caller's queue like every other. The function returns any type that
//! becomes an [`Output`] (text, bytes, an integer, or a new object's handle through
//! [`crate::ffi::types::handle_result`]): every result crosses as bytes with a length, and each
//! binding function states how it reads them back. See `greeter_greet_submit`.

use std::ffi::c_char;
use std::sync::Arc;

use crate::error::{Error, GreeterCode, Result, GREETER_ERR_INVALID_ARGUMENT, GREETER_OK};
use crate::ffi::guard::{guard, GreeterStatus};
use crate::ffi::types::{
    buffer_out, byte_strings_in, handle_free, handle_in, handle_out, slice_out, texts_in,
    value_out, Handle,
};
use crate::memory::{copy_bytes, copy_text, vec};
use crate::pool::{global, Completion, CompletionQueue, Job, Output};

/// A completion queue: completed tasks for one consumer (one event loop), with a file
/// descriptor that is readable while completions wait.
///
/// Reference-counted: the pointer `greeter_queue_new` returns is the caller's reference, and
/// every task in flight for the queue holds its own. `greeter_queue_free` closes the queue and
/// drops the caller's reference; the memory and the descriptor go with the last reference, so
/// a worker never delivers into a freed queue. The caller's reference must stay alive during
/// every call it is passed to: free it only once calls on other threads have returned (the
/// Python binding guarantees this by construction, since each call holds the object that owns
/// the reference as an argument). A call on a freed queue is undefined behaviour in C.
pub struct GreeterCompletionQueue {
    _opaque: [u8; 0],
}

impl Handle for GreeterCompletionQueue {
    type Inner = CompletionQueue;
}

/// Queues `work` on each packed input text for `queue`, under one lock of the pool, and
/// returns how many were accepted (ids `*first..`); a text that is not valid UTF-8 or holds NUL
/// takes its id and completes with its error at once. The body of every `_submit` export.
///
/// Each job owns a copy of its text and of `work`: a function, or a closure that holds what it
/// needs (an `Arc` of a handle's value, for a method), since it runs later on a worker. Its
/// result is anything that becomes an [`Output`].
///
/// # Safety
/// `names`, `lens`, `count` as for [`texts_in`]; `queue` as for [`handle_in`]; `first` as for
/// [`value_out`].
pub unsafe fn submit<R: Into<Output>>(
    names: *const c_char, lens: *const usize, count: usize, queue: *const GreeterCompletionQueue,
    first: *mut u64, work: impl Fn(&str) -> Result<R> + Clone + Send + 'static,
) -> Result<usize> {
    // SAFETY: forwarded from this function's contract.
    let queue = unsafe { handle_in(queue, "queue") }?;
    // SAFETY: forwarded from this function's contract.
    let texts = unsafe { texts_in(names, lens, count) }?;
    // A copy that cannot be allocated fails its own task, as a bad text does.
    let job = |text: &str| -> Result<Job> {
        let (text, work) = (copy_text(text, "a name")?, work.clone());
        Ok(Box::new(move || work(&text).map(Into::into)))
    };
    let mut jobs = vec(texts.len(), "the tasks")?;
    jobs.extend(texts.into_iter().map(|t| t.and_then(job))); // fits: room made above
                                                             // SAFETY: forwarded from this function's contract.
    unsafe { enqueue(jobs, &queue, first) }
}

/// [`submit`] for a function of bytes: queues `work` on each packed input byte string (any
/// bytes, NUL included). The body of a `_submit` export whose inputs are bytes.
///
/// # Safety
/// `data`, `lens`, `count` as for [`byte_strings_in`]; the other arguments as for [`submit`].
pub unsafe fn submit_bytes<R: Into<Output>>(
    data: *const c_char, lens: *const usize, count: usize, queue: *const GreeterCompletionQueue,
    first: *mut u64, work: impl Fn(&[u8]) -> Result<R> + Clone + Send + 'static,
) -> Result<usize> {
    // SAFETY: forwarded from this function's contract.
    let queue = unsafe { handle_in(queue, "queue") }?;
    // SAFETY: forwarded from this function's contract.
    let inputs = unsafe { byte_strings_in(data, lens, count) }?;
    // A copy that cannot be allocated fails its own task.
    let job = |bytes: &[u8]| -> Result<Job> {
        let (bytes, work) = (copy_bytes(bytes, "an input")?, work.clone());
        Ok(Box::new(move || work(&bytes).map(Into::into)))
    };
    let mut jobs = vec(inputs.len(), "the tasks")?;
    jobs.extend(inputs.into_iter().map(job)); // fits: room made above
                                              // SAFETY: forwarded from this function's contract.
    unsafe { enqueue(jobs, &queue, first) }
}

/// [`submit`] for a method: `work` runs on the object behind `handle` and each packed text. Each job holds a reference of its own to the object, so the
/// caller may drop its reference as soon as this returns.
///
/// # Safety
/// `handle` as for [`handle_in`]; the other arguments as for [`submit`].
pub unsafe fn submit_method<H: Handle, R: Into<Output>>(
    handle: *const H, names: *const c_char, lens: *const usize, count: usize,
    queue: *const GreeterCompletionQueue, first: *mut u64,
    work: impl Fn(&H::Inner, &str) -> Result<R> + Clone + Send + 'static,
) -> Result<usize>
where
    H::Inner: 'static,
{
    // SAFETY: forwarded from this function's contract.
    let borrowed = unsafe { handle_in(handle, H::WHAT) }?;
    let object: Arc<H::Inner> = Arc::clone(&borrowed);
    // SAFETY: forwarded from this function's contract.
    unsafe { submit(names, lens, count, queue, first, move |text| work(&object, text)) }
}

/// Queues `jobs` for `queue` as [`submit`] does, for an export whose inputs are not packed
/// texts: each input converted into a job (or the error it completes with at once).
///
/// # Safety
/// `queue` as for [`handle_in`]; `first` as for [`value_out`].
pub unsafe fn submit_jobs(
    jobs: Vec<Result<Job>>, queue: *const GreeterCompletionQueue, first: *mut u64,
) -> Result<usize> {
    // SAFETY: forwarded from this function's contract.
    let queue = unsafe { handle_in(queue, "queue") }?;
    // SAFETY: forwarded from this function's contract.
    unsafe { enqueue(jobs, &queue, first) }
}

/// Queues `jobs` for `queue` (none: the pool is not even started) and stores the first id.
///
/// # Safety
/// `first` as for [`value_out`].
unsafe fn enqueue(
    jobs: Vec<Result<Job>>, queue: &Arc<CompletionQueue>, first: *mut u64,
) -> Result<usize> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let (first_id, accepted) = global::get()?.submit_many(jobs, queue)?;
    // SAFETY: forwarded from this function's contract.
    unsafe { value_out(first, first_id) };
    Ok(accepted)
}

/// Sets the worker pool's size for its next start: `threads` workers (0 = one per CPU) and room
/// for `queue_capacity` queued tasks (0 = 65536); beyond that, submits fail with
/// `GREETER_ERR_QUEUE_FULL`. Also re-opens a pool closed by `greeter_pool_shutdown`. Fails
/// with `GREETER_ERR_INVALID_ARGUMENT` while the pool is running or when `threads` exceeds
/// `GREETER_MAX_POOL_THREADS`.
///
/// # Safety
/// `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_pool_configure(
    threads: usize, queue_capacity: usize, status: *mut GreeterStatus,
) {
    // SAFETY: `status` is as this function's contract states.
    unsafe { guard(status, || global::configure(threads, queue_capacity)) }
}

/// Shuts the worker pool down: queued tasks complete with `GREETER_ERR_SHUT_DOWN` (their
/// `async_greet` callbacks run on this thread, with NULL, before this returns), running ones
/// finish, the workers are joined. Later submits fail with `GREETER_ERR_SHUT_DOWN` until
/// `greeter_pool_configure` is called. Idempotent; returns once the workers have exited (a
/// worker that calls it, from an `async_greet` callback, is left to return on its own).
///
/// # Safety
/// `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_pool_shutdown(status: *mut GreeterStatus) {
    // SAFETY: `status` is as this function's contract states.
    unsafe {
        guard(status, || {
            global::shutdown();
            Ok(())
        })
    }
}

/// Stores the number of worker threads and the queue capacity of the running pool, or of the
/// next one, in `*threads` and `*queue_capacity` (each skipped when NULL).
///
/// # Safety
/// `threads`, `queue_capacity` and `status` are NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_pool_size(
    threads: *mut usize, queue_capacity: *mut usize, status: *mut GreeterStatus,
) {
    // SAFETY: the pointers are as this function's contract states.
    unsafe {
        guard(status, || {
            let (n, capacity) = global::size();
            value_out(threads, n);
            value_out(queue_capacity, capacity);
            Ok(())
        })
    }
}

/// Cancels task `task_id`. Returns 1 if it was still queued (it will never run and no
/// completion will be delivered), 2 if it is running (its result will be dropped, no completion
/// delivered), 0 if it is unknown or already finished (its completion is delivered or on its
/// way, and must still be drained). Fails (0 with the status set) only on a panic.
///
/// # Safety
/// `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_task_cancel(task_id: u64, status: *mut GreeterStatus) -> i32 {
    // SAFETY: `status` is as this function's contract states.
    unsafe { guard(status, || Ok(global::cancel(task_id) as i32)) }
}

/// Creates a completion queue and returns the caller's reference to it, given back with
/// `greeter_queue_free` (see `GreeterCompletionQueue`). Returns NULL with `status` set if the
/// wake-up descriptor cannot be created.
///
/// # Safety
/// `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_queue_new(
    status: *mut GreeterStatus,
) -> *mut GreeterCompletionQueue {
    // SAFETY: `status` is as this function's contract states.
    unsafe { guard(status, || Ok(handle_out(Arc::new(new_queue()?)))) }
}

fn new_queue() -> Result<CompletionQueue> {
    CompletionQueue::new().map_err(|e| {
        Error::new(
            GREETER_ERR_INVALID_ARGUMENT,
            format!("cannot create the completion queue's descriptor: {e}"),
        )
    })
}

/// The queue's file descriptor, owned by the queue: it is readable while completions wait, and
/// a drain that empties the queue consumes its readiness. Watch it for reading; never read or
/// close it. Returns 0 with `GREETER_ERR_NULL_POINTER` for a NULL `queue` (0 with
/// `GREETER_OK` is descriptor 0).
///
/// # Safety
/// `queue` is NULL or a live queue handle; `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_queue_fd(
    queue: *const GreeterCompletionQueue, status: *mut GreeterStatus,
) -> i32 {
    // SAFETY: the pointers are as this function's contract states.
    unsafe { guard(status, || Ok(handle_in(queue, "queue")?.fd())) }
}

/// Moves completions into flat caller-owned arrays, so that a caller reads a batch with a
/// few bulk copies instead of one field access per completion. Nothing is allocated for the
/// caller and nothing needs releasing.
///
/// For the `i`-th completion moved (`i` < the return value, at most `capacity`): `ids[i]` is
/// its task id, `codes[i]` its status code (`GREETER_OK` or a `GREETER_ERR_*`) and `lens[i]`
/// the length of its bytes, which are written to `data` back to back, `*data_used` bytes in
/// all. On success the bytes are the task's result, in the shape of the function that was
/// submitted (its `_submit` export says which: UTF-8 text, bytes, an `int64_t` in native byte
/// order, a new object's handle as a pointer-sized integer in native byte order, which the
/// caller then owns); on failure they are the error message (UTF-8). A completion whose bytes
/// do not fit in what is left of `data_len` stays queued, and so do those after it; when not
/// even the first fits, 0 is returned and `*data_used` is the room it needs. `*remaining` is
/// set to the number of completions still waiting. Returns 0 with `GREETER_OK` when none is
/// waiting; 0 with `GREETER_ERR_NULL_POINTER` for a NULL `queue`, or NULL `ids`/`codes`/`lens`
/// with a capacity; 0 with `GREETER_ERR_OUT_OF_MEMORY` when there is no memory to move the
/// batch (nothing moved).
///
/// # Safety
/// `queue` is NULL or a live queue handle; `ids`, `codes` and `lens` are NULL or writable for
/// `capacity` elements; `data` is NULL or writable for `data_len` bytes; none overlaps
/// another; `data_used`, `remaining` and `status` are NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn greeter_queue_drain(
    queue: *const GreeterCompletionQueue, ids: *mut u64, codes: *mut GreeterCode, lens: *mut usize,
    capacity: usize, data: *mut c_char, data_len: usize, data_used: *mut usize,
    remaining: *mut usize, status: *mut GreeterStatus,
) -> usize {
    // SAFETY: the pointers are as this function's contract states.
    unsafe {
        guard(status, || {
            drain(queue, ids, codes, lens, capacity, data, data_len, data_used, remaining)
        })
    }
}

/// The body of `greeter_queue_drain`: the arguments converted, [`drain_packed`] run.
///
/// # Safety
/// As for `greeter_queue_drain`.
#[allow(clippy::too_many_arguments)] // the export's own parameters, in its order
unsafe fn drain(
    queue: *const GreeterCompletionQueue, ids: *mut u64, codes: *mut GreeterCode, lens: *mut usize,
    capacity: usize, data: *mut c_char, data_len: usize, data_used: *mut usize,
    remaining: *mut usize,
) -> Result<usize> {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        let queue = handle_in(queue, "queue")?;
        let out = Batch {
            ids: slice_out(ids, capacity, "ids")?,
            codes: slice_out(codes, capacity, "codes")?,
            lens: slice_out(lens, capacity, "lens")?,
            data: buffer_out(data, data_len, "data")?,
        };
        let drained = drain_packed(&queue, out)?;
        value_out(data_used, drained.data_used);
        value_out(remaining, drained.remaining);
        Ok(drained.moved)
    }
}

/// Closes a completion queue and drops the caller's reference to it. Completions waiting in
/// it, and those of tasks still in flight for it, are dropped (freed by greeter, never handed
/// out). The memory and the descriptor are released with the last reference: at once, or when
/// the last task in flight for the queue ends. Stop watching the descriptor first. NULL is
/// accepted.
///
/// # Safety
/// `queue` is NULL or a live queue handle, freed once, and not used again after this call; no
/// call on it may still be running on another thread.
#[no_mangle]
pub unsafe extern "C" fn greeter_queue_free(queue: *mut GreeterCompletionQueue) {
    // SAFETY: a NULL status; `queue` is as this function's contract states.
    unsafe {
        guard(std::ptr::null_mut(), || {
            if let Some(queue) = handle_free(queue) {
                queue.close();
            }
            Ok(())
        })
    }
}

/// The caller's arrays a drain fills.
struct Batch<'a> {
    ids: &'a mut [u64],
    codes: &'a mut [GreeterCode],
    lens: &'a mut [usize],
    data: &'a mut [u8],
}

/// What [`drain_packed`] moved.
struct Drained {
    moved: usize,
    data_used: usize,
    remaining: usize,
}

/// Moves completions from `queue` into the flat arrays of `greeter_queue_drain`; what a
/// moved result owns (a handle's reference) is the caller's from then on.
fn drain_packed(queue: &CompletionQueue, out: Batch<'_>) -> Result<Drained> {
    let mut batch = Vec::new();
    let mut used = 0usize;
    let mut first_needs = 0usize;
    let room = out.data.len();
    let remaining = queue.drain_while(&mut batch, out.ids.len(), |c| {
        let len = completion_bytes(c).len();
        if used + len <= room {
            used += len;
            true
        } else {
            if used == 0 {
                first_needs = len;
            }
            false
        }
    })?;
    let mut at = 0;
    for (i, completion) in batch.iter_mut().enumerate() {
        out.ids[i] = completion.task_id;
        out.codes[i] = completion
            .result
            .as_ref()
            .map_or_else(|e| e.code, |_| GREETER_OK);
        let bytes = completion_bytes(completion);
        out.lens[i] = bytes.len();
        out.data[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
        if let Ok(output) = &mut completion.result {
            output.disarm(); // handed out: the caller owns what it owns
        }
    }
    Ok(Drained {
        moved: batch.len(),
        data_used: if batch.is_empty() { first_needs } else { at },
        remaining,
    })
}

/// A completion's bytes in `greeter_queue_drain`: its result's, or its error message's.
fn completion_bytes(c: &Completion) -> &[u8] {
    match &c.result {
        Ok(output) => output.as_bytes(),
        Err(e) => e.message.as_bytes(),
    }
}
