//! Integration tests: the real `ferrotail` binary against a strict fake Loki.

mod util;

mod blocking_fs;
mod cli;
mod client_http;
mod crash;
mod dashboards;
mod docker;
mod docker_dropin;
mod gelf;
mod golden_errors;
mod golden_relabel;
mod hostile;
mod journal;
mod kubernetes;
mod many_targets;
mod outage;
mod push;
mod reload;
mod syslog;
mod tailing;
mod tls;
