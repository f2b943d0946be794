//! The Loki clients: batching, encoding and sending.

pub mod limits;
