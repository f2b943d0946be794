//! The types every layer shares: label sets, entries and the extracted map, delivery tokens, the
//! pools the hot path reuses, and retry backoff. The bottom layer: it imports nothing else from ferrotail.

pub mod ack;
pub mod backoff;
pub mod entry;
pub mod pool;

pub use ack::{Ack, Progress};
pub use entry::{Entry, Extracted, LabelMemo, Labels, Value};
