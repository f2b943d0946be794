//! Target discovery for files: `static_configs` and `file_sd_configs` target groups, and the
//! expansion of `__path__` globs.

pub mod static_files;
