//! The one interface every way entries come in implements, and the one target manager that runs
//! them.
//!
//! A job is a [`SourceKind`] (file, docker, ...) fed by [`Discover`]ers (static, file_sd,
//! docker_sd, ...) that only produce [`TargetGroup`]s. The [`manager::TargetManager`] keeps the
//! latest groups, asks the kind what each discovered label set becomes (a [`Target`] with a key,
//! or a [`Dropped`] reason), and starts, updates and stops one [`Source`] per key.
//!
//! A source:
//! * is started from its relabelled [`Target`] with a [`SourceCtx`];
//! * sends chunks of [`Entry`]s to the job's pipeline (`ctx.tx`; a full channel is backpressure:
//!   the source stops reading), each entry carrying the delivery tokens ([`crate::core::Ack`]) of
//!   the input it came from;
//! * owns one kind of position in the shared positions file (a byte offset tracked by a
//!   [`crate::core::Progress`], or a cursor string), moved only once Loki has the entries;
//! * reports itself to `/targets` through `ctx.registry` and removes itself when it stops;
//! * stops cleanly when [`Source::stop`] is awaited: its tasks have ended, and its positions are
//!   forgotten only when the target went away for good (`forget`).
//!
//! Adding a kind of source: its config section (`config::raw`), one module implementing
//! [`SourceKind`] and [`Source`] (and a [`Discover`] if it discovers targets), and one line in
//! `run::job_source`.

pub mod manager;
mod registry;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::{Entry, Labels};
use crate::positions::Positions;
pub use registry::{ReaderStatus, Registry, TargetView};

/// A group of discovered targets, as Prometheus' discovery produces them. Each target's labels
/// already include the group's common labels. A group with no targets means its source is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    /// Identifies the group within its discoverer (`static/0`, a file_sd file, a container).
    pub source: String,
    /// The targets' labels before relabelling (`__address__`, `__meta_*`, `__path__`, ...).
    pub targets: Vec<Labels>,
}

/// A discovered target after its kind's relabelling: what a [`Source`] is started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Identity: discovered targets with the same key are one source.
    pub key: String,
    /// The labels entries get (every `__` label removed).
    pub labels: Labels,
    /// The labels after relabelling, `__` labels included (`__path__`, `__path_exclude__`).
    pub relabelled: Labels,
    /// The labels as discovered, before relabelling (`/targets`).
    pub discovered: Labels,
}

/// Why a discovered target is not run (`promtail_targets_failed_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// A relabel rule dropped it.
    Relabel,
    /// No `__path__` after relabelling.
    NoPath,
    /// `__host__` names another host.
    WrongHost,
    /// A bad glob or another target error.
    Error,
}

impl Dropped {
    /// The metric's reason label.
    pub fn reason(self) -> &'static str {
        match self {
            Dropped::Relabel => "dropped",
            Dropped::NoPath => "no_path",
            Dropped::WrongHost => "wrong_host",
            Dropped::Error => "error",
        }
    }
}

/// What every source of a job shares.
#[derive(Clone)]
pub struct SourceCtx {
    /// The job's name.
    pub job: Arc<str>,
    /// The job's pipeline.
    pub tx: mpsc::Sender<Vec<Entry>>,
    /// The positions file.
    pub positions: Arc<Positions>,
    /// `/targets` and `/ready`.
    pub registry: Arc<Registry>,
    /// Fired when the source must stop (shutdown or reload); a removed target is stopped through
    /// [`Source::stop`] instead.
    pub cancel: CancellationToken,
}

/// One kind of source, built per job from its config.
pub trait SourceKind: Send + Sync + 'static {
    /// The kind's name on `/targets` (`file`, `docker`).
    fn name(&self) -> &'static str;

    /// What a discovered label set becomes: the target to run, or why it is not run.
    fn target(&self, discovered: &Labels) -> Result<Target, Dropped>;

    /// Starts a source for `target`. Runs on the manager's task: it spawns and returns at once.
    fn start(&self, target: &Target, ctx: &SourceCtx) -> Box<dyn Source>;
}

/// A running source.
pub trait Source: Send {
    /// The target of the same key changed (a renamed container, new labels): follow it.
    fn update(&mut self, _target: &Target) {}

    /// Stops the source and waits until it has. `forget`: the target is gone for good, so its
    /// positions are removed (as Promtail removes them); otherwise (shutdown, reload) they stay.
    fn stop(self: Box<Self>, forget: bool) -> BoxFuture<'static, ()>;
}

/// A discovery mechanism: sends the latest target groups whenever they change, until cancelled.
pub trait Discover: Send + 'static {
    /// Runs the discovery.
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, ()>;
}
