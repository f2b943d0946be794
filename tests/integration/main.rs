//! Integration tests: the real `ferrotail` binary against a strict fake Loki.

mod util;

mod cli;
mod crash;
mod dashboards;
mod docker;
mod docker_dropin;
mod golden_errors;
mod golden_relabel;
mod hostile;
mod kubernetes;
mod outage;
mod reload;
mod tailing;
mod tls;
