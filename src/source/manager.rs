//! The one target manager: keeps the latest target groups of a job's discoverers and runs one
//! [`Source`] per target key, whatever the kind.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{Discover, Source, SourceCtx, SourceKind, Target, TargetGroup};
use crate::telemetry::metrics as m;

/// Group updates buffered per job before discoverers wait.
const UPDATES_CAP: usize = 16;

/// Runs a job's sources from its discoverers' target groups.
pub struct TargetManager {
    /// What the job's targets are.
    pub kind: Arc<dyn SourceKind>,
    /// Where its targets come from.
    pub discoverers: Vec<Box<dyn Discover>>,
    /// What its sources share; `ctx.cancel` stops the manager, its discoverers and its sources.
    pub ctx: SourceCtx,
}

struct Running {
    target: Target,
    source: Box<dyn Source>,
}

impl TargetManager {
    /// Runs until `ctx.cancel` fires; then stops every source (keeping their positions) and
    /// waits for them.
    pub async fn run(self) {
        let TargetManager {
            kind,
            discoverers,
            ctx,
        } = self;
        let (tx, mut rx) = mpsc::channel::<(usize, Vec<TargetGroup>)>(UPDATES_CAP);
        let mut tasks = JoinSet::new();
        for (i, d) in discoverers.into_iter().enumerate() {
            let (dtx, mut drx) = mpsc::channel::<Vec<TargetGroup>>(UPDATES_CAP);
            tasks.spawn(d.run(dtx, ctx.cancel.clone()));
            let tx = tx.clone();
            tasks.spawn(async move {
                while let Some(groups) = drx.recv().await {
                    if tx.send((i, groups)).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut groups: BTreeMap<(usize, String), Vec<crate::core::Labels>> = BTreeMap::new();
        let mut running: HashMap<String, Running> = HashMap::new();
        loop {
            let update = tokio::select! {
                u = rx.recv() => u,
                _ = ctx.cancel.cancelled() => None,
            };
            let Some(first) = update else { break };
            // Coalesce a burst of updates into one sync.
            let mut pending = vec![first];
            while let Ok(more) = rx.try_recv() {
                pending.push(more);
            }
            for (i, update) in pending {
                for g in update {
                    if g.targets.is_empty() {
                        groups.remove(&(i, g.source));
                    } else {
                        groups.insert((i, g.source), g.targets);
                    }
                }
            }
            sync(kind.as_ref(), &ctx, &groups, &mut running).await;
        }
        for (_, r) in running.drain() {
            r.source.stop(false).await;
            metrics::gauge!(m::TARGETS_ACTIVE).decrement(1.0);
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Brings the running sources in line with the groups: stops those whose target went, follows
/// changed ones, starts new ones.
async fn sync(
    kind: &dyn SourceKind,
    ctx: &SourceCtx,
    groups: &BTreeMap<(usize, String), Vec<crate::core::Labels>>,
    running: &mut HashMap<String, Running>,
) {
    let mut want: Vec<Target> = Vec::new();
    let mut keys = HashSet::new();
    for discovered in groups.values().flatten() {
        match kind.target(discovered) {
            Ok(t) => {
                if keys.insert(t.key.clone()) {
                    want.push(t);
                }
            }
            Err(reason) => {
                metrics::counter!(m::TARGETS_FAILED, "reason" => reason.reason()).increment(1);
            }
        }
    }
    let gone: Vec<String> = running
        .keys()
        .filter(|k| !keys.contains(*k))
        .cloned()
        .collect();
    for key in gone {
        if let Some(r) = running.remove(&key) {
            tracing::debug!(job = %ctx.job, key = %key, "removing target");
            r.source.stop(true).await;
            metrics::gauge!(m::TARGETS_ACTIVE).decrement(1.0);
        }
    }
    for t in want {
        match running.get_mut(&t.key) {
            Some(r) => {
                if r.target != t {
                    r.source.update(&t);
                    r.target = t;
                }
            }
            None => {
                let source = kind.start(&t, ctx);
                metrics::gauge!(m::TARGETS_ACTIVE).increment(1.0);
                running.insert(t.key.clone(), Running { target: t, source });
            }
        }
    }
    // The series exists from the first sync, even with no target.
    metrics::gauge!(m::TARGETS_ACTIVE).increment(0.0);
}
