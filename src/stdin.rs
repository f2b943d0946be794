//! Reading log lines from standard input (`-stdin` / `target_config.stdin`, or standard input
//! redirected from a file), as Promtail's stdin target does:
//!
//! * the first scrape config gives the pipeline and the labels (the labels of all its
//!   `static_configs` merged, later ones winning; no relabelling, no `filename`); further scrape
//!   configs are skipped with a warning. With no scrape config the labels are `job="stdin"` and
//!   `hostname="<host name>"` and there is no pipeline;
//! * every line is one entry stamped with the time it was read; `\r\n` / `\n` is trimmed and
//!   empty lines are skipped;
//! * when the input ends, the pipeline is flushed, the clients push what they hold, and the
//!   process exits (0, or 1 if the config could not be used). SIGINT/SIGTERM stop reading early;
//!   what was read is still pushed.
//!
//! No positions file is read or written and no target is discovered; the HTTP server is not
//! started (the process lives only as long as its input).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::client::{self, ClientConfig};
use crate::config::raw::RawScrapeConfig;
use crate::config::Config;
use crate::core::{Entry, Labels};
use crate::run::RunOptions;

/// Lines per chunk handed to the pipeline.
const CHUNK_LINES: usize = 256;

/// True when Promtail would read standard input: the `stdin` setting, or standard input that
/// is not a terminal and has data of a known size (Promtail's `isStdinPipe`: not a character
/// device, size > 0; a redirected file).
pub fn enabled(config: &Config) -> bool {
    config.raw.target_config.stdin || stdin_has_data()
}

fn stdin_has_data() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    !meta.file_type().is_char_device() && meta.len() > 0
}

/// The labels of the stdin entries: Promtail's default, or the first job's static labels.
pub fn labels(jobs: &[RawScrapeConfig]) -> Labels {
    let Some(job) = jobs.first() else {
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        return [("job", "stdin"), ("hostname", host.as_str())]
            .into_iter()
            .collect();
    };
    let mut merged: BTreeMap<&str, &str> = BTreeMap::new();
    for sc in &job.static_configs {
        for (k, v) in &sc.labels {
            merged.insert(k, v);
        }
    }
    merged.into_iter().collect()
}

/// Reads standard input to its end, pushes every line, and returns once everything is sent
/// (or `shutdown` fired and the clients gave up).
pub async fn run(
    config: Config,
    opts: RunOptions,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let _ = crate::run::install_metrics();
    let raw = &config.raw;
    let jobs = &raw.scrape_configs;
    if jobs.len() > 1 {
        tracing::warn!(
            "too many scrape configs, skipping {} configs.",
            jobs.len() - 1
        );
    }
    let default_job = RawScrapeConfig {
        job_name: "stdin".into(),
        ..RawScrapeConfig::default()
    };
    let job = jobs.first().unwrap_or(&default_job);
    let mut warnings = Vec::new();
    if opts.inspect {
        crate::pipeline::inspect::enable();
    }
    let mut pipeline =
        crate::check::build_pipeline(job, &mut warnings).map_err(|e| e.to_string())?;
    for w in warnings {
        tracing::warn!(job = %job.job_name, "{w}");
    }
    pipeline.set_inspect(opts.inspect);
    let labels = labels(jobs);

    // Clients, as for a normal run; `abort` fires only if shutdown outlasts the grace period.
    let abort = CancellationToken::new();
    let mut client_txs = Vec::new();
    let mut client_tasks = JoinSet::new();
    if opts.dry_run {
        let (tx, rx) = mpsc::channel(crate::run::CLIENT_CHANNEL_CAP);
        client_txs.push(tx);
        client_tasks.spawn(client::run_dry(rx));
    } else {
        for c in &raw.clients {
            let cfg = ClientConfig::compile(c, &raw.limits_config)?;
            let (tx, rx) = mpsc::channel(crate::run::CLIENT_CHANNEL_CAP);
            client_txs.push(tx);
            client_tasks.spawn(client::run(cfg, rx, abort.clone()));
        }
    }
    let readline = crate::readline::ReadlineLimiter::from_config(&raw.limits_config).map(Arc::new);

    // Standard input is read on a thread of its own (a blocking read).
    let (line_tx, mut line_rx) = mpsc::channel::<Vec<String>>(4);
    let reader = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut input = std::io::BufReader::with_capacity(64 * 1024, std::io::stdin());
            read_lines(&mut input, &line_tx)
        })
        .map_err(|e| format!("cannot read standard input: {e}"))?;

    let mut out = Vec::new();
    loop {
        let chunk = tokio::select! {
            c = line_rx.recv() => c,
            _ = shutdown.cancelled() => None,
        };
        let Some(lines) = chunk else { break };
        for line in lines {
            let e = Entry::new(labels.clone(), crate::core::entry::now_nanos(), line);
            pipeline.process(e, &mut out);
        }
        send(&mut out, &client_txs, readline.as_deref()).await;
    }
    pipeline.flush(&mut out);
    send(&mut out, &client_txs, readline.as_deref()).await;
    drop(client_txs);
    if shutdown.is_cancelled() {
        // The reader thread may be blocked in a read; it ends with the process.
        drop(reader);
    } else {
        let _ = reader.join();
    }
    let grace = raw.server.graceful_shutdown_timeout.0;
    let drained = async { while client_tasks.join_next().await.is_some() {} };
    tokio::select! {
        _ = drained => {}
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(timeout = ?grace, "graceful shutdown timed out; unsent stdin lines are lost");
            abort.cancel();
        }
    }
    Ok(())
}

async fn send(
    out: &mut Vec<Entry>,
    clients: &[mpsc::Sender<Vec<Entry>>],
    readline: Option<&crate::readline::ReadlineLimiter>,
) {
    let mut parts = Vec::new();
    match readline {
        Some(l) => {
            while let Some(p) = l.next(out).await {
                parts.push(p);
            }
        }
        None if !out.is_empty() => parts.push(std::mem::take(out)),
        None => {}
    }
    for part in parts {
        for c in clients {
            let _ = c.send(part.clone()).await;
        }
    }
}

/// Reads lines as Promtail's reader target does: `\r\n`/`\n` trimmed, empty lines skipped,
/// invalid UTF-8 replaced; stops at the end of input or on a read error (logged).
fn read_lines<R: std::io::Read>(input: &mut std::io::BufReader<R>, tx: &mpsc::Sender<Vec<String>>) {
    let mut chunk = Vec::with_capacity(CHUNK_LINES);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = match input.read_until(b'\n', &mut buf) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(err = %e, "error reading buffer");
                break;
            }
        };
        if n == 0 {
            break;
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        if buf.is_empty() {
            continue;
        }
        chunk.push(String::from_utf8_lossy(&buf).into_owned());
        // Hand on a full chunk, or what there is when no more input is waiting.
        if (chunk.len() >= CHUNK_LINES || input.buffer().is_empty())
            && tx.blocking_send(std::mem::take(&mut chunk)).is_err()
        {
            return;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_and_empty_ones_skipped() {
        let (tx, mut rx) = mpsc::channel(16);
        read_lines(
            &mut std::io::BufReader::new(&b"a\r\n\nb\n\r\n c \nlast"[..]),
            &tx,
        );
        drop(tx);
        let mut got = Vec::new();
        while let Ok(c) = rx.try_recv() {
            got.extend(c);
        }
        assert_eq!(got, vec!["a", "b", " c ", "last"]);
    }

    #[test]
    fn labels_as_promtail() {
        let l = labels(&[]);
        assert_eq!(l.get("job"), Some("stdin"));
        assert!(l.get("hostname").is_some());
        let node = gocompat::yaml::parse(
            "job_name: x\nstatic_configs:\n  - labels: {a: '1', b: '1'}\n  - labels: {b: '2'}\n",
        )
        .unwrap();
        let job: RawScrapeConfig = gocompat::yaml::from_node(&node, gocompat::yaml::Mode::Config)
            .unwrap()
            .value;
        let l = labels(&[job]);
        assert_eq!(l.get("a"), Some("1"));
        assert_eq!(l.get("b"), Some("2"));
        assert_eq!(l.get("job"), None);
    }
}
