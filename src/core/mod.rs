//! The types every layer shares: label sets, entries and the extracted map, delivery tokens, the
//! pools the hot path reuses, retry backoff, the bounded pool file-system calls run on, and the release of start-up code's
//! resident pages. The bottom layer: it imports nothing else from ferrotail.

pub mod ack;
pub mod backoff;
pub mod blocking;
pub mod entry;
pub mod pool;
pub mod resident;

pub use ack::{Ack, Progress};
pub use entry::{Entry, Extracted, LabelMemo, Labels, Value};
