//! The types every layer shares: label sets, entries and the extracted map, delivery tokens, and
//! the pools the hot path reuses. The bottom layer: it imports nothing else from ferrotail.

pub mod ack;
pub mod blocking;
pub mod entry;
pub mod pool;

pub use ack::{Ack, Progress};
pub use entry::{Entry, Extracted, LabelMemo, Labels, Value};
