//! Target discovery: static and file_sd file targets, Docker containers.

pub mod static_files;
