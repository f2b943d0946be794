//! Target discovery: static and file_sd file targets, Docker containers and the Docker logs
//! API fallback.

pub mod docker;
pub mod docker_logs;
pub mod static_files;
