//! Signals: the first SIGINT or SIGTERM starts the shutdown (see `run` for its order); a second
//! one, while the shutdown still waits for Loki, exits at once (see [`forced`]).

use std::sync::OnceLock;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Cancelled by a second SIGINT or SIGTERM.
pub fn forced() -> &'static CancellationToken {
    static FORCED: OnceLock<CancellationToken> = OnceLock::new();
    FORCED.get_or_init(CancellationToken::new)
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => next(&mut t, &mut i).await,
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn next(term: &mut Signal, int: &mut Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM and [`forced`] on the second. The handlers
/// are installed before this returns its future's first poll, and stay installed, so a second
/// signal is never the default action (which would skip saving positions).
pub async fn handle_signals(shutdown: CancellationToken) {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        shutdown.cancel();
        return;
    };
    next(&mut term, &mut int).await;
    shutdown.cancel();
    next(&mut term, &mut int).await;
    tracing::warn!("received a second SIGINT/SIGTERM: exiting now without waiting for Loki; positions stay at the last acknowledged lines");
    forced().cancel();
}
