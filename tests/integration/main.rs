//! Integration tests: the real `ferrotail` binary against a strict fake Loki.

mod util;

mod cli;
mod crash;
mod docker;
mod docker_dropin;
mod golden_errors;
mod golden_relabel;
mod hostile;
mod outage;
mod reload;
mod syslog;
mod tailing;
mod tls;
