//! Integration tests: the real `ferrotail` binary against a strict fake Loki.

mod util;

mod at_least_once;
mod bad_input;
mod blocking_fs;
mod churn;
mod cli;
mod client_http;
mod crash;
mod dashboards;
mod docker;
mod docker_daemon;
mod docker_dropin;
mod gelf;
mod golden_errors;
mod golden_relabel;
mod hostile;
mod hostile_json;
mod journal;
mod kubernetes;
mod limits;
mod many_targets;
mod outage;
mod push;
mod reload;
mod rotation_gaps;
mod secrets;
mod server_options;
mod stdin;
mod syslog;
mod tailing;
mod tls;
