//! Docker jobs: `docker_sd_configs` discovery wired to json-file readers.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::raw::RawScrapeConfig;
use crate::pipeline::Entry;
use crate::positions::Positions;
use crate::relabel::Relabeler;
use crate::targets::Registry;

/// Starts a docker job.
pub fn spawn(
    job: &RawScrapeConfig,
    _relabel: Relabeler,
    _tx: mpsc::Sender<Vec<Entry>>,
    _positions: Arc<Positions>,
    _registry: Arc<Registry>,
    _tasks: &mut JoinSet<()>,
    _cancel: CancellationToken,
) -> Result<(), String> {
    Err(format!(
        "job {:?}: docker_sd_configs is not wired in yet",
        job.job_name
    ))
}
