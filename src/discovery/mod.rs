//! Target discovery: Docker containers (docker_sd_configs) and the Docker logs API fallback.
pub mod docker;
pub mod docker_logs;
