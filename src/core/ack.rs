//! Delivery acknowledgements: how a file's saved position learns that Loki has its lines.
//!
//! Every line a reader hands on carries an [`Ack`]. The reader registers the line's end offset
//! with its file's [`Progress`] before sending it; the offset counts as *done* when the last clone
//! of its `Ack` is dropped, which happens when every client has had the batch holding it accepted
//! (or dropped it for a counted reason), or when a pipeline stage dropped the entry. A file's
//! committed position is the end of the longest done prefix, so a crash re-sends at most the
//! batches in flight and never skips a line. At shutdown [`Progress::abandon`] is called before
//! unsent entries are discarded, so their drop does not count as delivery.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Read and delivery progress of one file.
#[derive(Debug, Default)]
pub struct Progress {
    inner: Mutex<ProgressInner>,
    abandoned: AtomicBool,
}

#[derive(Debug, Default)]
struct ProgressInner {
    /// End offsets handed on and not yet done, in increasing order, with their done flag.
    pending: VecDeque<(u64, bool)>,
    /// Offset below which every line is done.
    committed: u64,
}

impl Progress {
    /// A progress tracker whose committed position starts at `offset`.
    pub fn new(offset: u64) -> Arc<Self> {
        Arc::new(Progress {
            inner: Mutex::new(ProgressInner {
                pending: VecDeque::new(),
                committed: offset,
            }),
            abandoned: AtomicBool::new(false),
        })
    }

    /// Registers a line ending at `end_offset` and returns its token.
    pub fn register(self: &Arc<Self>, end_offset: u64) -> Ack {
        if let Ok(mut inner) = self.inner.lock() {
            inner.pending.push_back((end_offset, false));
        }
        Ack(Arc::new(AckInner {
            progress: Arc::clone(self),
            end_offset,
        }))
    }

    /// Moves the committed position to `offset` when nothing is pending (used when a reader skips
    /// bytes it never hands on, such as an over-long line that is dropped).
    pub fn skip_to(&self, offset: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            if inner.pending.is_empty() && offset > inner.committed {
                inner.committed = offset;
            } else {
                inner.pending.push_back((offset, true));
                inner.advance();
            }
        }
    }

    /// Resets the position (the file was truncated or replaced and is read again from `offset`).
    pub fn reset(&self, offset: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.pending.clear();
            inner.committed = offset;
        }
    }

    /// The end of the longest prefix of lines that are done.
    pub fn committed(&self) -> u64 {
        self.inner.lock().map(|i| i.committed).unwrap_or(0)
    }

    /// Number of lines handed on and not yet done.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().map(|i| i.pending.len()).unwrap_or(0)
    }

    /// From now on, dropping a token does not count as delivery (shutdown discards unsent lines).
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }

    /// True once [`Progress::abandon`] was called: the lines still pending will never be
    /// acknowledged, so the committed position is final (and those lines are read again by
    /// whoever resumes from it).
    pub fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    fn done(&self, end_offset: u64) {
        if self.abandoned.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut inner) = self.inner.lock() {
            // Offsets are registered in increasing order, so the slot is found by binary search.
            if let Ok(i) = inner.pending.binary_search_by(|(o, _)| o.cmp(&end_offset)) {
                inner.pending[i].1 = true;
            }
            inner.advance();
        }
    }
}

/// Woken whenever some file's committed position advances, so the positions file can be saved
/// promptly after Loki acknowledges a batch (fewer duplicates after a crash).
pub static COMMITTED: tokio::sync::Notify = tokio::sync::Notify::const_new();

impl ProgressInner {
    fn advance(&mut self) {
        let before = self.committed;
        while let Some(&(offset, true)) = self.pending.front() {
            self.committed = self.committed.max(offset);
            self.pending.pop_front();
        }
        if self.committed != before {
            COMMITTED.notify_one();
        }
    }
}

#[derive(Debug)]
struct AckInner {
    progress: Arc<Progress>,
    end_offset: u64,
}

impl Drop for AckInner {
    fn drop(&mut self) {
        self.progress.done(self.end_offset);
    }
}

/// A line's delivery token; see the module docs. Cloning shares the token (one per client).
#[derive(Debug, Clone)]
pub struct Ack(Arc<AckInner>);

impl Ack {
    /// Marks the token's file as abandoned: from now on dropped tokens of that file do not count
    /// as delivered (used at shutdown for entries that were never sent).
    pub fn abandon(&self) {
        self.0.progress.abandon();
    }

    /// True when both are clones of one token.
    pub fn same(&self, other: &Ack) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The offset this token commits.
    pub fn end_offset(&self) -> u64 {
        self.0.end_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_the_done_prefix_only() {
        let p = Progress::new(0);
        let a = p.register(10);
        let b = p.register(20);
        let c = p.register(30);
        drop(b);
        assert_eq!(p.committed(), 0);
        drop(a);
        assert_eq!(p.committed(), 20);
        let c2 = c.clone();
        drop(c);
        assert_eq!(p.committed(), 20);
        drop(c2);
        assert_eq!(p.committed(), 30);
    }

    #[test]
    fn abandoned_tokens_do_not_commit() {
        let p = Progress::new(5);
        let a = p.register(10);
        p.abandon();
        drop(a);
        assert_eq!(p.committed(), 5);
    }
}
