//! Readers of log files: the json-file decoder for Docker containers.
pub mod docker_json;
