//! Loading `promtail-config.yml`.
//!
//! **Invariant:** loading config never starts a task, binds a port or opens a socket.

pub mod yaml;
