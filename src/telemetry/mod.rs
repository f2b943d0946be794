//! Metrics names and the log format.

pub mod logging;
pub mod metrics;
pub mod series;
