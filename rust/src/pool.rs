//! The worker pool and the completion queues that carry results back to event loops.
//!
//! The pool is a fixed set of threads owned by the library, started lazily on the first
//! submit and stopped by [`shutdown`], which joins them. It runs any [`Job`]: a closure that
//! owns its input and returns an [`Output`] (bytes with a length: text, bytes, an integer, a
//! new object's handle) or an error, so every asynchronous function (a greeting, a method of a
//! shared object, a function of any result type) goes through the same queue, workers and
//! completions. A submit
//! queues the job and returns a task id at once. Every task that is not cancelled before it
//! starts ends in exactly one delivery to its [`Target`]:
//! - [`Target::Queue`]: a [`Completion`] pushed to a [`CompletionQueue`], whose file
//!   descriptor becomes readable when the queue goes from empty to non-empty (one wake-up per
//!   batch, not per completion), so an event loop can watch it and drain it in batches;
//! - [`Target::Callback`]: a closure run on the worker thread (the tutorial's C callback).
//!
//! Cancelling a queued task removes it (no delivery). Cancelling a running task abandons it:
//! its result is dropped by the worker instead of delivered (an [`Output`] dropped without
//! being handed out releases what it owns). Tasks still queued at shutdown are delivered a
//! `GREETER_ERR_SHUT_DOWN` error.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::error::{
    Error, Result, GREETER_ERR_INVALID_ARGUMENT, GREETER_ERR_QUEUE_FULL, GREETER_ERR_SHUT_DOWN,
};
use crate::memory::reserved;

/// The work of one task: owns its input (copied at submit), runs once on a worker thread, and
/// returns the completion's [`Output`] or error. A panic inside it becomes a
/// `GREETER_ERR_PANIC` completion.
pub type Job = Box<dyn FnOnce() -> Result<Output> + Send>;

/// What a task returns: bytes with a length, whatever the function's type of result. The
/// caller knows each asynchronous function's shape and reads the bytes back as it: text
/// (UTF-8), bytes, an integer (8 bytes, native byte order), a new object's handle (its pointer,
/// 8 bytes). A result that owns something (a handle's reference) releases it when it is
/// dropped without being handed out: its task abandoned, its queue closed, the pool shut down.
pub struct Output {
    bytes: Bytes,
    /// Run when the output is dropped without [`Output::hand_out`].
    release: Option<Box<dyn FnOnce() + Send>>,
}

/// An output's bytes: on the heap, or inline for a scalar (no allocation).
enum Bytes {
    Heap(Vec<u8>),
    Word([u8; 8]),
}

impl Output {
    /// A result that owns something besides its bytes: `release` gives it back when the result
    /// is dropped without being handed out.
    pub fn owning(bytes: [u8; 8], release: impl FnOnce() + Send + 'static) -> Output {
        Output {
            bytes: Bytes::Word(bytes),
            release: Some(Box::new(release)),
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Heap(v) => v,
            Bytes::Word(w) => w,
        }
    }

    /// The bytes, with whatever the output owns handed over to whoever receives them (its
    /// release is not run).
    pub fn hand_out(mut self) -> Vec<u8> {
        self.release = None;
        match std::mem::replace(&mut self.bytes, Bytes::Heap(Vec::new())) {
            Bytes::Heap(v) => v,
            Bytes::Word(w) => w.to_vec(),
        }
    }

    /// Hands the output over without copying its bytes (a scalar's stay where they are).
    pub fn disarm(&mut self) {
        self.release = None;
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("bytes", &self.as_bytes())
            .field("owning", &self.release.is_some())
            .finish()
    }
}

/// Text: its UTF-8 bytes (no copy).
impl From<String> for Output {
    fn from(text: String) -> Output {
        Output::from(text.into_bytes())
    }
}

/// Bytes, as they are (no copy).
impl From<Vec<u8>> for Output {
    fn from(bytes: Vec<u8>) -> Output {
        Output {
            bytes: Bytes::Heap(bytes),
            release: None,
        }
    }
}

/// A signed integer: 8 bytes in native byte order (no allocation).
impl From<i64> for Output {
    fn from(value: i64) -> Output {
        Output {
            bytes: Bytes::Word(value.to_ne_bytes()),
            release: None,
        }
    }
}

/// The default bound on queued (not yet started) tasks.
pub const GREETER_DEFAULT_QUEUE_CAPACITY: usize = 65_536;

/// The most worker threads a pool may have. A larger request is refused with
/// `GREETER_ERR_INVALID_ARGUMENT` instead of trying to allocate and spawn that many (a request
/// for 2^40 threads aborted the process on the allocation of their handles).
pub const GREETER_MAX_POOL_THREADS: usize = 1024;

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent
/// before anything that can panic, and user code never runs while a lock is held.
/// Every acquisition is counted per thread, so that a test can show a call never takes one.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    crate::diagnostics::note_lock_taken();
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One finished task, as delivered to a [`CompletionQueue`].
#[derive(Debug)]
pub struct Completion {
    /// The id [`Pool::submit`] returned.
    pub task_id: u64,
    /// The job's output, or why there is none.
    pub result: Result<Output>,
}

/// Where a task's result goes.
pub enum Target {
    /// Pushed to this queue.
    Queue(Arc<CompletionQueue>),
    /// Passed to this closure on the worker thread.
    Callback(Box<dyn FnOnce(Result<Output>) + Send>),
}

/// Where a queued task's result goes, its room in a queue reserved at submit.
enum Destination {
    Queue(Slot),
    Callback(Box<dyn FnOnce(Result<Output>) + Send>),
}

impl Destination {
    fn deliver(self, task_id: u64, result: Result<Output>) {
        match self {
            Destination::Queue(slot) => {
                slot.into_queue()
                    .deliver_promised([Completion { task_id, result }]);
            }
            Destination::Callback(callback) => {
                // The callback is foreign code: a panic inside it must not kill the worker.
                let _ = catch_unwind(AssertUnwindSafe(move || callback(result)));
            }
        }
    }
}

/// One completion's room in a queue, reserved when its task was submitted
/// ([`CompletionQueue::promise`]), so that delivering it never allocates (a worker never fails
/// to deliver). Dropped undelivered (the task was cancelled while queued, or its result
/// abandoned), it gives the room back.
struct Slot(Option<Arc<CompletionQueue>>);

impl Slot {
    /// The queue, to deliver into the room this slot holds.
    fn into_queue(mut self) -> Arc<CompletionQueue> {
        self.0.take().expect("a slot is used once")
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(queue) = self.0.take() {
            queue.unpromise(1);
        }
    }
}

struct QueueState {
    items: VecDeque<Completion>,
    /// A wake-up byte has been written and not yet consumed by a drain that emptied the queue.
    notified: bool,
    /// The owner freed the queue: completions arriving now are dropped.
    closed: bool,
    /// Completions promised room and not yet delivered: `items` has capacity for them all.
    promised: usize,
}

/// A queue of completions with a file descriptor that is readable while it holds any.
pub struct CompletionQueue {
    state: Mutex<QueueState>,
    wake_rx: UnixStream,
    wake_tx: UnixStream,
}

impl CompletionQueue {
    /// A new empty queue with its wake-up socket pair.
    pub fn new() -> std::io::Result<Self> {
        let (wake_rx, wake_tx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        Ok(CompletionQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                notified: false,
                closed: false,
                promised: 0,
            }),
            wake_rx,
            wake_tx,
        })
    }

    /// The descriptor to watch for readability (for example with `loop.add_reader`).
    pub fn fd(&self) -> RawFd {
        self.wake_rx.as_raw_fd()
    }

    /// Adds a completion; wakes the reader only if it was not already woken. Fails only when
    /// there is no memory for it (nothing is added then).
    pub fn push(&self, completion: Completion) -> Result<()> {
        self.promise(1)?;
        self.deliver_promised([completion]);
        Ok(())
    }

    /// Adds completions under one lock, with at most one wake-up. Fails only when there is no
    /// memory for them (nothing is added then).
    pub fn push_many(&self, completions: Vec<Completion>) -> Result<()> {
        self.promise(completions.len())?;
        self.deliver_promised(completions);
        Ok(())
    }

    /// Reserves room for `n` more completions, so that delivering them never allocates; the
    /// room is used by [`CompletionQueue::deliver_promised`] or given back by
    /// [`CompletionQueue::unpromise`].
    fn promise(&self, n: usize) -> Result<()> {
        let mut state = lock(&self.state);
        let room = state.promised.saturating_add(n);
        let bytes = room.saturating_mul(std::mem::size_of::<Completion>());
        reserved(state.items.try_reserve(room), "the completion queue", bytes)?;
        state.promised = room;
        Ok(())
    }

    /// Gives back the room of `n` promised completions that will never be delivered.
    fn unpromise(&self, n: usize) {
        let mut state = lock(&self.state);
        state.promised = state.promised.saturating_sub(n);
    }

    /// Adds completions that were promised room, under one lock, with at most one wake-up:
    /// no allocation.
    fn deliver_promised(&self, completions: impl IntoIterator<Item = Completion>) {
        let mut state = lock(&self.state);
        let before = state.items.len();
        let mut delivered = 0;
        for completion in completions {
            delivered += 1;
            if !state.closed {
                state.items.push_back(completion); // within the room promised
            }
        }
        state.promised = state.promised.saturating_sub(delivered);
        if state.items.len() > before && !state.notified {
            state.notified = true;
            // WouldBlock means the socket already holds unread bytes: the reader is awake.
            let _ = (&self.wake_tx).write(&[1]);
        }
    }

    /// Moves up to `max` completions into `out`. When that empties the queue the wake-up bytes
    /// are consumed, so the descriptor stays readable exactly while completions are waiting.
    /// Fails only when `out` cannot grow to hold them (nothing is moved then).
    pub fn drain_into(&self, out: &mut Vec<Completion>, max: usize) -> Result<()> {
        self.drain_while(out, max, |_| true).map(drop)
    }

    /// Moves completions into `out`, in order, while fewer than `max` have been moved and
    /// `fits` accepts the next one; returns how many are still waiting. Wake-ups are consumed
    /// as by [`CompletionQueue::drain_into`]. Fails only when `out` cannot grow to hold them
    /// (nothing is moved then).
    pub fn drain_while(
        &self, out: &mut Vec<Completion>, max: usize, mut fits: impl FnMut(&Completion) -> bool,
    ) -> Result<usize> {
        let mut state = lock(&self.state);
        let most = max.min(state.items.len());
        let bytes = most.saturating_mul(std::mem::size_of::<Completion>());
        reserved(out.try_reserve(most), "the drained completions", bytes)?;
        let mut moved = 0;
        while moved < max {
            match state.items.front() {
                Some(next) if fits(next) => {}
                _ => break,
            }
            if let Some(next) = state.items.pop_front() {
                out.push(next);
                moved += 1;
            }
        }
        self.consume_wake_up_if_empty(&mut state);
        Ok(state.items.len())
    }

    fn consume_wake_up_if_empty(&self, state: &mut QueueState) {
        if state.items.is_empty() && state.notified {
            state.notified = false;
            let mut sink = [0u8; 64];
            loop {
                match (&self.wake_rx).read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        }
    }

    /// How many completions the queue holds room for.
    pub fn capacity(&self) -> usize {
        lock(&self.state).items.capacity()
    }

    /// The number of completions waiting.
    pub fn len(&self) -> usize {
        lock(&self.state).items.len()
    }

    /// True when no completion is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every waiting completion and every later one: the owner is gone.
    pub fn close(&self) {
        let dropped = {
            let mut state = lock(&self.state);
            state.closed = true;
            std::mem::take(&mut state.items)
        };
        drop(dropped);
    }
}

/// What [`Pool::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// No such task: it finished (its delivery is made or under way) or never existed.
    NotFound = 0,
    /// The task was queued and is removed; it will never run or be delivered.
    Removed = 1,
    /// The task is running; its result will be dropped instead of delivered.
    Abandoned = 2,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TaskState {
    Queued,
    Running,
    Abandoned,
}

struct Task {
    id: u64,
    job: Job,
    destination: Destination,
}

struct PoolState {
    queue: VecDeque<Task>,
    /// Tasks not yet finished. A queued task missing from here was cancelled.
    tasks: HashMap<u64, TaskState>,
    /// Queued tasks not cancelled: what the capacity bounds.
    queued: usize,
    idle_workers: usize,
    /// Idle workers already notified and not yet awake: a burst of submits wakes each idle
    /// worker once instead of making a futex call per submit.
    waking: usize,
    next_id: u64,
    shutting_down: bool,
}

struct Shared {
    state: Mutex<PoolState>,
    work_ready: Condvar,
    capacity: usize,
    threads: usize,
}

/// A fixed set of worker threads and their bounded task queue.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    threads: usize,
    pid: u32,
}

impl Pool {
    /// Starts `threads` workers with room for `capacity` queued tasks.
    pub fn start(threads: usize, capacity: usize) -> Result<Pool> {
        if threads == 0 || capacity == 0 {
            return Err(Error::new(
                GREETER_ERR_INVALID_ARGUMENT,
                "a pool needs at least one thread and a queue capacity of at least one",
            ));
        }
        check_threads(threads)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                tasks: HashMap::new(),
                queued: 0,
                idle_workers: 0,
                waking: 0,
                next_id: 1,
                shutting_down: false,
            }),
            work_ready: Condvar::new(),
            capacity,
            threads,
        });
        let pool = Pool {
            shared,
            workers: Mutex::new(Vec::with_capacity(threads)),
            threads,
            pid: std::process::id(),
        };
        for i in 0..threads {
            let shared = Arc::clone(&pool.shared);
            let spawned = std::thread::Builder::new()
                .name(format!("greeter-worker-{i}"))
                .spawn(move || worker(&shared));
            match spawned {
                Ok(handle) => lock(&pool.workers).push(handle),
                Err(e) => {
                    pool.shutdown();
                    return Err(Error::new(
                        GREETER_ERR_SHUT_DOWN,
                        format!("could not start a worker thread: {e}"),
                    ));
                }
            }
        }
        Ok(pool)
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The bound on queued tasks.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Queues `job` for `target` and returns its task id (never 0).
    pub fn submit(&self, job: Job, target: Target) -> Result<u64> {
        let destination = match target {
            Target::Queue(queue) => {
                queue.promise(1)?;
                Destination::Queue(Slot(Some(queue)))
            }
            Target::Callback(callback) => Destination::Callback(callback),
        };
        let mut state = lock(&self.shared.state);
        if state.shutting_down {
            return Err(shut_down_error("the worker pool is shut down"));
        }
        if state.queued >= self.shared.capacity {
            return Err(Error::new(
                GREETER_ERR_QUEUE_FULL,
                format!(
                    "the worker pool's queue is full ({} tasks waiting); retry after some complete",
                    self.shared.capacity
                ),
            ));
        }
        reserve_tasks(&mut state, 1)?;
        let id = state.next_id;
        state.next_id += 1;
        state.tasks.insert(id, TaskState::Queued);
        state.queue.push_back(Task {
            id,
            job,
            destination,
        });
        state.queued += 1;
        let wake = state.idle_workers > state.waking;
        if wake {
            state.waking += 1;
        }
        drop(state);
        if wake {
            self.shared.work_ready.notify_one();
        }
        Ok(id)
    }

    /// Queues `jobs` for `queue` under one lock, with ids `first..first + n` where `(first, n)`
    /// is returned: as many as the capacity allows, in order (`n` may be less than
    /// `jobs.len()`, and is never 0). An input that could not become a job (`Err`) still takes
    /// its id, and its error is delivered to `queue` at once, so every id gets one completion.
    /// Fails when the pool is shut down, or when not even one task fits (queue full).
    pub fn submit_many(
        &self, jobs: Vec<Result<Job>>, queue: &Arc<CompletionQueue>,
    ) -> Result<(u64, usize)> {
        let mut state = lock(&self.shared.state);
        if state.shutting_down {
            return Err(shut_down_error("the worker pool is shut down"));
        }
        let room = self.shared.capacity.saturating_sub(state.queued);
        let n = jobs.len().min(room);
        if n == 0 && !jobs.is_empty() {
            return Err(Error::new(
                GREETER_ERR_QUEUE_FULL,
                format!(
                    "the worker pool's queue is full ({} tasks waiting); retry after some complete",
                    self.shared.capacity
                ),
            ));
        }
        reserve_tasks(&mut state, n)?;
        queue.promise(n)?; // every id gets its completion, a refused input's too
        let refused = jobs.iter().take(n).filter(|job| job.is_err()).count();
        let mut failed = crate::memory::vec(refused, "the refused tasks")?;
        let first = state.next_id;
        state.next_id += n as u64;
        for (i, job) in jobs.into_iter().take(n).enumerate() {
            let id = first + i as u64;
            match job {
                Ok(job) => {
                    state.tasks.insert(id, TaskState::Queued);
                    state.queue.push_back(Task {
                        id,
                        job,
                        destination: Destination::Queue(Slot(Some(Arc::clone(queue)))),
                    });
                    state.queued += 1;
                }
                Err(e) => failed.push(Completion {
                    task_id: id,
                    result: Err(e),
                }),
            }
        }
        let wake =
            (state.idle_workers - state.waking.min(state.idle_workers)).min(n - failed.len());
        state.waking += wake;
        drop(state);
        for _ in 0..wake {
            self.shared.work_ready.notify_one();
        }
        queue.deliver_promised(failed);
        Ok((first, n))
    }

    /// Cancels task `id`; see [`CancelOutcome`].
    pub fn cancel(&self, id: u64) -> CancelOutcome {
        let mut state = lock(&self.shared.state);
        match state.tasks.get(&id).copied() {
            Some(TaskState::Queued) => {
                state.tasks.remove(&id);
                state.queued -= 1;
                CancelOutcome::Removed
            }
            Some(TaskState::Running) => {
                state.tasks.insert(id, TaskState::Abandoned);
                CancelOutcome::Abandoned
            }
            Some(TaskState::Abandoned) => CancelOutcome::Abandoned,
            None => CancelOutcome::NotFound,
        }
    }

    /// Stops accepting work, delivers `GREETER_ERR_SHUT_DOWN` to every queued task, lets
    /// running tasks finish, and joins the workers. Idempotent.
    pub fn shutdown(&self) {
        let orphans = {
            let mut state = lock(&self.shared.state);
            state.shutting_down = true;
            let mut live = std::mem::take(&mut state.queue);
            // In place: shutting down allocates nothing, however many tasks are queued.
            live.retain(|t| state.tasks.remove(&t.id).is_some());
            state.queued = 0;
            live
        };
        self.shared.work_ready.notify_all();
        for task in orphans {
            let error = shut_down_error("the worker pool shut down before the task started");
            task.destination.deliver(task.id, Err(error));
        }
        let workers = std::mem::take(&mut *lock(&self.workers));
        let me = std::thread::current().id();
        for handle in workers {
            // Called from a worker (a tutorial-API callback calling greeter_pool_shutdown): that worker
            // cannot join itself (the join panicked with EDEADLK and left the remaining workers
            // unjoined); it is detached and returns once its callback does.
            if handle.thread().id() == me {
                continue;
            }
            // A worker only ends by returning: task panics are caught inside it.
            let _ = handle.join();
        }
    }

    /// True when this pool was started by another process (we are a fork child) and so has no
    /// threads here.
    pub fn is_inherited(&self) -> bool {
        self.pid != std::process::id()
    }
}

/// Makes room for `n` more tasks in the queue and the task table, so that queueing them
/// cannot fail half-way (and never aborts).
fn reserve_tasks(state: &mut PoolState, n: usize) -> Result<()> {
    let bytes = n.saturating_mul(std::mem::size_of::<Task>());
    reserved(state.queue.try_reserve(n), "the task queue", bytes)?;
    let bytes = n.saturating_mul(std::mem::size_of::<(u64, TaskState)>());
    reserved(state.tasks.try_reserve(n), "the task table", bytes)
}

/// Refuses a thread count above [`GREETER_MAX_POOL_THREADS`].
fn check_threads(threads: usize) -> Result<()> {
    if threads > GREETER_MAX_POOL_THREADS {
        return Err(Error::new(
            GREETER_ERR_INVALID_ARGUMENT,
            format!("a pool may have at most {GREETER_MAX_POOL_THREADS} threads, not {threads}"),
        ));
    }
    Ok(())
}

fn shut_down_error(message: &str) -> Error {
    Error::new(GREETER_ERR_SHUT_DOWN, message)
}

/// The most tasks a worker takes from the shared queue per visit. Taking several per lock, and
/// handing their results back under one lock per queue, keeps a submitting event loop from
/// contending with the workers for the pool's mutex on every task.
const WORKER_BATCH: usize = 64;

fn worker(shared: &Shared) {
    let mut batch: Vec<Task> = Vec::with_capacity(WORKER_BATCH);
    let mut done: Vec<Finished> = Vec::with_capacity(WORKER_BATCH);
    loop {
        {
            let mut state = lock(&shared.state);
            loop {
                // A fair share of what is queued, so that every worker gets some.
                let share = (state.queue.len() / shared.threads).clamp(1, WORKER_BATCH);
                while batch.len() < share {
                    let Some(task) = state.queue.pop_front() else {
                        break;
                    };
                    match state.tasks.get_mut(&task.id) {
                        Some(s) => {
                            *s = TaskState::Running;
                            state.queued -= 1;
                            batch.push(task);
                        }
                        None => continue, // cancelled while queued
                    }
                }
                if !batch.is_empty() {
                    break;
                }
                if state.shutting_down {
                    return;
                }
                state.idle_workers += 1;
                state = shared
                    .work_ready
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.idle_workers -= 1;
                // Woken by a submit (or spuriously: then a later submit's notify finds the
                // count one short and wakes another idle worker, or this one takes the task).
                state.waking = state.waking.saturating_sub(1);
            }
        }
        for Task {
            id,
            job,
            destination,
        } in batch.drain(..)
        {
            let result = catch_unwind(AssertUnwindSafe(job))
                .unwrap_or_else(|payload| Err(Error::from_panic(payload.as_ref())));
            done.push((id, destination, result));
        }
        {
            let mut state = lock(&shared.state);
            // Cancelled while running: the result is dropped instead of delivered.
            done.retain(|(id, _, _)| state.tasks.remove(id) != Some(TaskState::Abandoned));
        }
        deliver_all(&mut done);
    }
}

/// A finished task: its id, where its result goes, and the result.
type Finished = (u64, Destination, Result<Output>);

/// Delivers finished tasks, in order: a run of tasks bound for the same queue is pushed under
/// one lock with at most one wake-up.
fn deliver_all(done: &mut Vec<Finished>) {
    let mut run: Vec<Completion> = Vec::new();
    let mut run_queue: Option<Arc<CompletionQueue>> = None;
    for (task_id, destination, result) in done.drain(..) {
        match destination {
            Destination::Queue(slot) => {
                let queue = slot.into_queue();
                if let Some(current) = &run_queue {
                    if !Arc::ptr_eq(current, &queue) {
                        current.deliver_promised(run.drain(..));
                        run_queue = Some(queue);
                    }
                } else {
                    run_queue = Some(queue);
                }
                run.push(Completion { task_id, result });
            }
            callback @ Destination::Callback(_) => callback.deliver(task_id, result),
        }
    }
    if let Some(queue) = run_queue {
        queue.deliver_promised(run);
    }
}

/// The process-wide pool behind the C API.
pub mod global {
    use super::*;

    struct Slot {
        pool: Option<Arc<Pool>>,
        threads: usize,
        capacity: usize,
        /// Set by [`shutdown`]; cleared by [`configure`].
        closed: bool,
    }

    static SLOT: Mutex<Slot> = Mutex::new(Slot {
        pool: None,
        threads: 0,
        capacity: 0,
        closed: false,
    });

    /// Locks the slot. Every access goes through here, so the fork handlers are installed
    /// before the slot is first used.
    fn slot() -> MutexGuard<'static, Slot> {
        fork_guard::install();
        lock(&SLOT)
    }

    /// Keeps the slot's lock consistent across `fork()`: the forking thread takes it just
    /// before the fork and releases it after, in the parent and in the child. Without this a
    /// fork while another thread held it (any submit takes it briefly) left it locked forever
    /// in the child, whose first submit then hung.
    mod fork_guard {
        use super::{lock, Slot, SLOT};
        use std::cell::RefCell;
        use std::sync::{MutexGuard, Once};

        thread_local! {
            static HELD: RefCell<Option<MutexGuard<'static, Slot>>> = const { RefCell::new(None) };
        }

        extern "C" fn prepare() {
            let guard = lock(&SLOT);
            HELD.with(|held| *held.borrow_mut() = Some(guard));
        }

        extern "C" fn release() {
            HELD.with(|held| drop(held.borrow_mut().take()));
        }

        pub(super) fn install() {
            static INSTALLED: Once = Once::new();
            INSTALLED.call_once(|| {
                // The handlers run on the forking thread only, so the guard taken by `prepare` is
                // released by the same thread (in the parent, and in the child where that thread
                // is the only one). A failure (ENOMEM) leaves fork as unprotected as it was
                // without the handlers.
                let _ = crate::os::register_fork_handlers(prepare, release, release);
            });
        }
    }

    fn default_threads() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    fn running(slot: &mut Slot) -> Option<Arc<Pool>> {
        if slot.pool.as_ref().is_some_and(|p| p.is_inherited()) {
            // A fork child: the parent's workers do not exist here and its locks may be held
            // forever. Forget that pool without touching it; the next submit starts a new one.
            std::mem::forget(slot.pool.take());
        }
        slot.pool.clone()
    }

    /// The running pool, started lazily, or the shut-down error.
    pub fn get() -> Result<Arc<Pool>> {
        let mut slot = slot();
        if let Some(pool) = running(&mut slot) {
            return Ok(pool);
        }
        if slot.closed {
            return Err(shut_down_error(
                "the worker pool is shut down; configure it to start again",
            ));
        }
        let threads = if slot.threads == 0 {
            default_threads()
        } else {
            slot.threads
        };
        let capacity = if slot.capacity == 0 {
            GREETER_DEFAULT_QUEUE_CAPACITY
        } else {
            slot.capacity
        };
        let pool = Arc::new(Pool::start(threads, capacity)?);
        slot.pool = Some(Arc::clone(&pool));
        Ok(pool)
    }

    /// The pool if it is running, without starting it.
    pub fn current() -> Option<Arc<Pool>> {
        running(&mut slot())
    }

    /// Cancels task `id` of the running pool; see [`Pool::cancel`].
    pub fn cancel(id: u64) -> CancelOutcome {
        current().map_or(CancelOutcome::NotFound, |p| p.cancel(id))
    }

    /// Sets the size of the next pool (0 = the default) and allows starting again after a
    /// shutdown. Refused while a pool is running, and for more than
    /// [`GREETER_MAX_POOL_THREADS`] threads.
    pub fn configure(threads: usize, capacity: usize) -> Result<()> {
        check_threads(threads)?;
        let mut slot = slot();
        if running(&mut slot).is_some() {
            return Err(Error::new(
                GREETER_ERR_INVALID_ARGUMENT,
                "the worker pool is running; shut it down before configuring it",
            ));
        }
        slot.threads = threads;
        slot.capacity = capacity;
        slot.closed = false;
        Ok(())
    }

    /// Shuts the running pool down (see [`Pool::shutdown`]); later submits fail until
    /// [`configure`] is called. Idempotent.
    pub fn shutdown() {
        let pool = {
            let mut slot = slot();
            slot.closed = true;
            running(&mut slot);
            slot.pool.take()
        };
        // Joined outside the slot lock so other threads get the shut-down error meanwhile.
        if let Some(pool) = pool {
            pool.shutdown();
        }
    }

    /// `(threads, capacity)` of the running pool, or of the next one.
    pub fn size() -> (usize, usize) {
        let mut slot = slot();
        match running(&mut slot) {
            Some(p) => (p.threads(), p.capacity()),
            None => (
                if slot.threads == 0 {
                    default_threads()
                } else {
                    slot.threads
                },
                if slot.capacity == 0 {
                    GREETER_DEFAULT_QUEUE_CAPACITY
                } else {
                    slot.capacity
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GREETER_ERR_PANIC;
    use crate::greeting::async_greeting;
    use std::sync::mpsc;
    use std::time::Duration;

    /// The async greeting of `name`, as a job.
    fn greet(name: &str) -> Job {
        let name = name.to_owned();
        Box::new(move || async_greeting(&name).map(Output::from))
    }

    fn drain_all(queue: &CompletionQueue, expected: usize) -> Vec<Completion> {
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while out.len() < expected {
            assert!(std::time::Instant::now() < deadline, "timed out");
            queue.drain_into(&mut out, 1000).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        out
    }

    #[test]
    fn completions_arrive_exactly_once_with_ids() {
        let _serial = crate::tests_serial();
        let pool = Pool::start(2, 1000).unwrap();
        let queue = Arc::new(CompletionQueue::new().unwrap());
        let mut ids = HashMap::new();
        for i in 0..500 {
            let id = pool
                .submit(greet(&format!("n{i}")), Target::Queue(Arc::clone(&queue)))
                .unwrap();
            ids.insert(id, i);
        }
        let done = drain_all(&queue, 500);
        assert_eq!(done.len(), 500);
        for c in done {
            let i = ids.remove(&c.task_id).expect("each id once");
            assert_eq!(c.result.unwrap().as_bytes(), format!("Async Hello, n{i}!").as_bytes());
        }
        pool.shutdown();
    }

    #[test]
    fn the_descriptor_is_readable_only_while_completions_wait() {
        let queue = CompletionQueue::new().unwrap();
        let mut byte = [0u8; 8];
        assert!((&queue.wake_rx).read(&mut byte).is_err(), "nothing yet");
        for id in 0..3 {
            queue
                .push(Completion {
                    task_id: id,
                    result: Ok(Output::from(Vec::new())),
                })
                .unwrap();
        }
        let mut out = Vec::new();
        queue.drain_into(&mut out, 2).unwrap();
        assert_eq!(out.len(), 2);
        queue.drain_into(&mut out, 2).unwrap();
        assert_eq!(out.len(), 3);
        assert!(queue.is_empty());
        assert!(
            (&queue.wake_rx).read(&mut byte).is_err(),
            "one wake-up byte for three completions, consumed by the emptying drain"
        );
    }

    #[test]
    fn queue_full_is_an_error_and_cancel_frees_room() {
        let _serial = crate::tests_serial();
        // No workers can take tasks while the only one is blocked in a callback.
        let pool = Pool::start(1, 2).unwrap();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        pool.submit(
            greet("block"),
            Target::Callback(Box::new(move |_| {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })),
        )
        .unwrap();
        started_rx.recv().unwrap();
        let queue = Arc::new(CompletionQueue::new().unwrap());
        let a = pool
            .submit(greet("a"), Target::Queue(Arc::clone(&queue)))
            .unwrap();
        let _b = pool
            .submit(greet("b"), Target::Queue(Arc::clone(&queue)))
            .unwrap();
        let full = pool
            .submit(greet("c"), Target::Queue(Arc::clone(&queue)))
            .unwrap_err();
        assert_eq!(full.code, GREETER_ERR_QUEUE_FULL);
        assert_eq!(pool.cancel(a), CancelOutcome::Removed);
        assert_eq!(pool.cancel(a), CancelOutcome::NotFound);
        pool.submit(greet("c"), Target::Queue(Arc::clone(&queue)))
            .unwrap();
        release_tx.send(()).unwrap();
        let done = drain_all(&queue, 2);
        let mut names: Vec<_> = done
            .into_iter()
            .map(|c| c.result.unwrap().hand_out())
            .collect();
        names.sort();
        assert_eq!(names, [b"Async Hello, b!".to_vec(), b"Async Hello, c!".to_vec()]);
        pool.shutdown();
    }

    #[test]
    fn shutdown_fails_queued_tasks_and_refuses_new_ones() {
        let _serial = crate::tests_serial();
        let pool = Pool::start(1, 10).unwrap();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        pool.submit(
            greet("block"),
            Target::Callback(Box::new(move |_| {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })),
        )
        .unwrap();
        started_rx.recv().unwrap();
        let queue = Arc::new(CompletionQueue::new().unwrap());
        let id = pool
            .submit(greet("queued"), Target::Queue(Arc::clone(&queue)))
            .unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            release_tx.send(()).unwrap();
        });
        pool.shutdown();
        releaser.join().unwrap();
        let done = drain_all(&queue, 1);
        assert_eq!(done[0].task_id, id);
        assert_eq!(done[0].result.as_ref().unwrap_err().code, GREETER_ERR_SHUT_DOWN);
        let refused = pool
            .submit(greet("late"), Target::Queue(Arc::clone(&queue)))
            .unwrap_err();
        assert_eq!(refused.code, GREETER_ERR_SHUT_DOWN);
        pool.shutdown();
    }

    #[test]
    fn a_panicking_task_is_reported_and_the_pool_keeps_working() {
        let _serial = crate::tests_serial();
        let pool = Pool::start(1, 10).unwrap();
        let queue = Arc::new(CompletionQueue::new().unwrap());
        crate::diagnostics::inject_panics(1);
        let bad = pool
            .submit(greet("x"), Target::Queue(Arc::clone(&queue)))
            .unwrap();
        let done = drain_all(&queue, 1);
        assert_eq!(done[0].task_id, bad);
        let err = done[0].result.as_ref().unwrap_err();
        assert_eq!(err.code, GREETER_ERR_PANIC);
        assert!(err.message.contains("injected panic"), "{}", err.message);
        pool.submit(greet("y"), Target::Queue(Arc::clone(&queue)))
            .unwrap();
        let done = drain_all(&queue, 1);
        assert_eq!(done[0].result.as_ref().unwrap().as_bytes(), "Async Hello, y!".as_bytes());
        pool.shutdown();
    }

    #[test]
    fn drain_while_stops_at_the_first_refused_and_counts_the_rest() {
        let queue = CompletionQueue::new().unwrap();
        for id in 0..4 {
            queue
                .push(Completion {
                    task_id: id,
                    result: Ok(Output::from("x".repeat(id as usize + 1))),
                })
                .unwrap();
        }
        let mut out = Vec::new();
        let mut budget = 3;
        let left = queue
            .drain_while(&mut out, 10, |c| {
                let len = c.result.as_ref().map_or(0, |o| o.as_bytes().len());
                let fits = len <= budget;
                if fits {
                    budget -= len;
                }
                fits
            })
            .unwrap();
        assert_eq!(out.len(), 2, "1 + 2 bytes fit, 3 does not");
        assert_eq!(left, 2);
        assert_eq!(queue.drain_while(&mut out, 1, |_| true).unwrap(), 1);
        assert_eq!(queue.drain_while(&mut out, 10, |_| true).unwrap(), 0);
        assert_eq!(out.iter().map(|c| c.task_id).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let mut byte = [0u8; 8];
        assert!((&queue.wake_rx).read(&mut byte).is_err(), "emptied: wake-up consumed");
    }

    #[test]
    fn submit_many_takes_contiguous_ids_and_reports_bad_names_as_completions() {
        let _serial = crate::tests_serial();
        let pool = Pool::start(2, 3).unwrap();
        let queue = Arc::new(CompletionQueue::new().unwrap());
        let bad = Error::new(crate::error::GREETER_ERR_INTERIOR_NUL, "bad");
        let jobs = vec![Ok(greet("a")), Err(bad), Ok(greet("c")), Ok(greet("d"))];
        let (first, n) = pool.submit_many(jobs, &queue).unwrap();
        assert_eq!(n, 3, "capacity 3: the fourth is left to the caller");
        let mut done = drain_all(&queue, 3);
        done.sort_by_key(|c| c.task_id);
        assert_eq!(done[0].task_id, first);
        assert_eq!(done[0].result.as_ref().unwrap().as_bytes(), "Async Hello, a!".as_bytes());
        assert_eq!(done[1].task_id, first + 1);
        assert_eq!(done[1].result.as_ref().unwrap_err().message, "bad");
        assert_eq!(done[2].task_id, first + 2);
        assert_eq!(done[2].result.as_ref().unwrap().as_bytes(), "Async Hello, c!".as_bytes());
        assert_eq!(pool.submit_many(Vec::new(), &queue).unwrap().1, 0);
        pool.shutdown();
        let refused = pool.submit_many(vec![Ok(greet("x"))], &queue).unwrap_err();
        assert_eq!(refused.code, GREETER_ERR_SHUT_DOWN);
    }

    #[test]
    fn a_worker_may_shut_its_own_pool_down() {
        let _serial = crate::tests_serial();
        let pool = Arc::new(Pool::start(2, 10).unwrap());
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let inner = Arc::clone(&pool);
        pool.submit(
            greet("stop"),
            Target::Callback(Box::new(move |_| {
                inner.shutdown(); // joins the other worker, detaches this one
                done_tx.send(()).unwrap();
            })),
        )
        .unwrap();
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("shutdown from a worker returned normally");
        let queue = Arc::new(CompletionQueue::new().unwrap());
        let refused = pool
            .submit(greet("late"), Target::Queue(queue))
            .unwrap_err();
        assert_eq!(refused.code, GREETER_ERR_SHUT_DOWN);
    }

    #[test]
    fn push_many_wakes_once_and_keeps_order() {
        let queue = CompletionQueue::new().unwrap();
        queue
            .push_many(
                (0..5)
                    .map(|id| Completion {
                        task_id: id,
                        result: Ok(Output::from(format!("v{id}"))),
                    })
                    .collect(),
            )
            .unwrap();
        queue.push_many(Vec::new()).unwrap();
        let mut bytes = [0u8; 8];
        assert_eq!((&queue.wake_rx).read(&mut bytes).unwrap(), 1, "one wake-up byte");
        let mut out = Vec::new();
        queue.drain_into(&mut out, 10).unwrap();
        let ids: Vec<u64> = out.iter().map(|c| c.task_id).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4]);
        queue.close();
        queue
            .push_many(vec![Completion {
                task_id: 9,
                result: Ok(Output::from(Vec::new())),
            }])
            .unwrap();
        assert!(queue.is_empty());
    }

    #[test]
    fn a_closed_queue_drops_late_completions() {
        let queue = CompletionQueue::new().unwrap();
        queue
            .push(Completion {
                task_id: 1,
                result: Ok(Output::from(b"a".to_vec())),
            })
            .unwrap();
        queue.close();
        queue
            .push(Completion {
                task_id: 2,
                result: Ok(Output::from(b"b".to_vec())),
            })
            .unwrap();
        assert!(queue.is_empty());
    }

    #[test]
    fn absurd_thread_counts_are_refused_not_attempted() {
        for threads in [GREETER_MAX_POOL_THREADS + 1, 1 << 40, usize::MAX] {
            assert_eq!(Pool::start(threads, 1).err().unwrap().code, GREETER_ERR_INVALID_ARGUMENT);
            assert_eq!(
                global::configure(threads, 1).unwrap_err().code,
                GREETER_ERR_INVALID_ARGUMENT
            );
        }
    }

    #[test]
    fn an_output_releases_what_it_owns_unless_handed_out() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static RELEASED: AtomicUsize = AtomicUsize::new(0);
        let owning = || {
            Output::owning(7u64.to_ne_bytes(), || {
                RELEASED.fetch_add(1, Ordering::SeqCst);
            })
        };
        drop(owning());
        assert_eq!(RELEASED.load(Ordering::SeqCst), 1, "dropped: released");
        assert_eq!(owning().hand_out(), 7u64.to_ne_bytes());
        let mut disarmed = owning();
        disarmed.disarm();
        drop(disarmed);
        assert_eq!(RELEASED.load(Ordering::SeqCst), 1, "handed out: not released");
        assert_eq!(Output::from(-2i64).as_bytes(), (-2i64).to_ne_bytes());
        assert_eq!(Output::from(String::from("é")).as_bytes(), "é".as_bytes());
        assert_eq!(Output::from(vec![0u8, 255]).hand_out(), [0, 255]);
    }

    #[test]
    fn a_cancelled_running_task_releases_its_result() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let _serial = crate::tests_serial();
        static RELEASED: AtomicBool = AtomicBool::new(false);
        let pool = Pool::start(1, 10).unwrap();
        let queue = Arc::new(CompletionQueue::new().unwrap());
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let job: Job = Box::new(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            Ok(Output::owning([0; 8], || RELEASED.store(true, Ordering::SeqCst)))
        });
        let id = pool.submit(job, Target::Queue(Arc::clone(&queue))).unwrap();
        started_rx.recv().unwrap();
        assert_eq!(pool.cancel(id), CancelOutcome::Abandoned);
        release_tx.send(()).unwrap();
        pool.shutdown(); // joins the worker: the task has ended
        assert!(RELEASED.load(Ordering::SeqCst));
        assert!(queue.is_empty(), "abandoned: nothing delivered");
        assert_eq!(lock(&queue.state).promised, 0, "its room given back");
    }

    #[test]
    fn every_promised_room_is_used_or_given_back() {
        let _serial = crate::tests_serial();
        let promised = |q: &CompletionQueue| lock(&q.state).promised;
        let pool = Pool::start(1, 100).unwrap();
        let queue = Arc::new(CompletionQueue::new().unwrap());
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        pool.submit(
            Box::new(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok(Output::from(Vec::new()))
            }),
            Target::Queue(Arc::clone(&queue)),
        )
        .unwrap();
        started_rx.recv().unwrap();
        let bad = Error::new(crate::error::GREETER_ERR_INTERIOR_NUL, "bad");
        let jobs = vec![Ok(greet("a")), Err(bad), Ok(greet("c")), Ok(greet("d"))];
        let (first, n) = pool.submit_many(jobs, &queue).unwrap();
        assert_eq!(n, 4);
        assert_eq!(promised(&queue), 4, "the running task and three queued; the refused delivered");
        assert!(queue.len() == 1 && queue.capacity() >= 5);
        assert_eq!(pool.cancel(first + 2), CancelOutcome::Removed);
        release_tx.send(()).unwrap();
        let done = drain_all(&queue, 4);
        assert_eq!(done.len(), 4);
        pool.shutdown();
        assert_eq!(promised(&queue), 0, "delivered, or given back by the cancelled task");
    }

    #[test]
    fn zero_sizes_are_refused() {
        assert_eq!(Pool::start(0, 1).err().unwrap().code, GREETER_ERR_INVALID_ARGUMENT);
        assert_eq!(Pool::start(1, 0).err().unwrap().code, GREETER_ERR_INVALID_ARGUMENT);
    }
}
