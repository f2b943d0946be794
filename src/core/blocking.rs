//! The threads file-system calls run on, so a slow or hung disk (NFS) stalls only the task that
//! made the call, never a runtime worker (and with it `/metrics`, `/ready`, other files and the
//! pushes).
//!
//! A small pool of its own rather than tokio's blocking pool: tokio starts a thread whenever no
//! thread is idle at the moment of a call, so a thousand readers starting together get a few
//! hundred threads, which cost memory (tens of MB) and CPU long after start-up. Here
//! [`CORE_THREADS`] thread serves calls while the disk answers; a call that has waited
//! [`PRESUMED_HUNG`] in the queue while every thread is busy and no call finished in that time
//! (every thread presumably stuck in a hung call) adds a thread, up to [`MAX_THREADS`], so hung
//! calls never hold up the calls of healthy files. A long queue of quick calls (ten thousand files
//! opened at start) adds none: calls keep finishing (issue 22: it used to grow the pool to hundreds
//! of threads, each with its stack and allocator pages). Threads idle for [`KEEP_ALIVE`] end.
//!
//! Memory (issue 15: the pool must not raise peak RSS): one thread, not four, because a thread
//! is not only its stack but its own allocator heap (mimalloc keeps pages per thread), and the
//! read blocks a call allocates on one pool thread and frees on another (a later call of the same
//! reader) wait in the first thread's deferred-free list, keeping their pages resident. With one
//! thread those frees are local and the memory is reused at once. A call is a read of at most
//! 64 KiB from the page cache (tens of microseconds) against about a millisecond of pipeline
//! work per block on the runtime, so one thread keeps up; a slow or hung disk grows the pool as
//! before. Stacks are [`STACK_BYTES`]: the calls are shallow (the deepest is a glob walk of at
//! most 32 directories).

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Threads that serve calls while none hangs.
pub const CORE_THREADS: usize = 1;
/// Stack of a pool thread (Rust's default is 2 MiB).
pub const STACK_BYTES: usize = 256 << 10;
/// The most threads: each hung call holds one.
pub const MAX_THREADS: usize = 512;
/// A call queued this long while every thread is busy adds a thread.
pub const PRESUMED_HUNG: Duration = Duration::from_millis(200);
/// An idle thread ends after this long.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// Calls finished so far: a pool whose threads all hang finishes none.
static FINISHED: AtomicU64 = AtomicU64::new(0);

struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

struct Pool {
    state: Mutex<State>,
    work: Condvar,
}

static POOL: Pool = Pool {
    state: Mutex::new(State {
        queue: VecDeque::new(),
        threads: 0,
        idle: 0,
    }),
    work: Condvar::new(),
};

fn lock() -> MutexGuard<'static, State> {
    // Jobs run outside the lock and catch their panics, so the lock is never poisoned by them.
    POOL.state.lock().unwrap_or_else(|e| e.into_inner())
}

fn spawn_thread(st: &mut State) {
    let spawned = std::thread::Builder::new()
        .name("ferrotail-fs".into())
        .stack_size(STACK_BYTES)
        .spawn(serve);
    match spawned {
        Ok(_) => st.threads += 1,
        Err(e) => tracing::error!(error = %e, "cannot start a file-system thread"),
    }
}

fn submit(job: Job) {
    let mut st = lock();
    st.queue.push_back(job);
    if st.idle > 0 {
        POOL.work.notify_one();
    } else if st.threads < CORE_THREADS {
        spawn_thread(&mut st);
    }
}

/// Called when a call waited [`PRESUMED_HUNG`]: adds a thread if calls are queued and none is
/// idle to take them.
fn grow() {
    let mut st = lock();
    if !st.queue.is_empty() && st.idle == 0 && st.threads < MAX_THREADS {
        spawn_thread(&mut st);
    }
}

fn serve() {
    let mut st = lock();
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            job();
            FINISHED.fetch_add(1, Ordering::Relaxed);
            st = lock();
            continue;
        }
        st.idle += 1;
        let (guard, waited) = POOL
            .work
            .wait_timeout(st, KEEP_ALIVE)
            .unwrap_or_else(|e| e.into_inner());
        st = guard;
        st.idle -= 1;
        if waited.timed_out() && st.queue.is_empty() {
            st.threads -= 1;
            return;
        }
    }
}

/// Runs `f` (file-system calls) on the pool and waits for it. `None` when `cancel` fires first:
/// the call is then abandoned (it ends on its own and its result is dropped; one still queued
/// does not run), so a stop never waits for a hung disk. A panic inside `f` counts as cancelled.
pub async fn blocking<T, F>(cancel: &CancellationToken, f: F) -> Option<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    submit(Box::new(move || {
        if tx.is_closed() {
            return;
        }
        let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(f)).ok());
    }));
    let mut finished = FINISHED.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            biased;
            r = &mut rx => return r.ok().flatten(),
            _ = cancel.cancelled() => return None,
            _ = tokio::time::sleep(PRESUMED_HUNG) => {
                let now = FINISHED.load(Ordering::Relaxed);
                if now == finished {
                    grow();
                }
                finished = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hung_calls_do_not_hold_up_others() {
        let cancel = CancellationToken::new();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = std::sync::Arc::new(Mutex::new(hold));
        let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // More hung calls than core threads.
        let mut hung = Vec::new();
        for _ in 0..CORE_THREADS + 2 {
            let hold = std::sync::Arc::clone(&hold);
            let started = std::sync::Arc::clone(&started);
            let c = cancel.clone();
            hung.push(tokio::spawn(async move {
                blocking(&c, move || {
                    started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = hold.lock().map(|h| h.recv_timeout(Duration::from_secs(30)));
                })
                .await
            }));
        }
        // Every core thread is stuck before the quick call is queued.
        while started.load(std::sync::atomic::Ordering::SeqCst) < CORE_THREADS {
            tokio::task::yield_now().await;
        }
        let quick = tokio::time::timeout(
            Duration::from_secs(5),
            blocking(&CancellationToken::new(), || 42),
        )
        .await;
        assert_eq!(quick.ok().flatten(), Some(42));
        cancel.cancel();
        for h in hung {
            assert_eq!(h.await.ok().flatten(), None);
        }
        drop(release);
    }
}
