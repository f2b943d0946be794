//! ferrotail: a drop-in replacement for Grafana Promtail.
//!
//! Code map (see ARCHITECTURE.md for the flow of an entry):
//! * `config`: loading `promtail-config.yml` with Promtail's rules.
//! * `pipeline`: Promtail's pipeline stages, one file per stage.
//! * `ack`: delivery tokens that move saved positions only once Loki has the lines.
//! * `client`: batching, encoding and pushing to Loki.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod core;
pub mod discovery;
pub mod docker;
pub mod file;
pub mod gelf;
pub mod journal;
pub mod kubernetes;
pub mod pipeline;
pub mod positions;
pub mod push;
pub mod readline;
pub mod relabel;
pub mod run;
pub mod server;
pub mod shutdown;
pub mod source;
pub mod stdin;
pub mod syslog;
pub mod tail;
pub mod telemetry;
