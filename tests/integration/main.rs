//! Integration tests: the real `ferrotail` binary against a strict fake Loki.

mod util;

mod blocking_fs;
mod churn;
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
mod hostile_json;
mod journal;
mod kubernetes;
mod outage;
mod push;
mod reload;
mod secrets;
mod syslog;
mod tailing;
mod tls;
