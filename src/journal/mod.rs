//! The `journal` source kind: the systemd journal read with the pure-Rust `journal` crate, with
//! Promtail 3.4.6's meaning.
//!
//! * One target per job (the job's `journal.labels`); `relabel_configs` run on **every entry**
//!   over the `__journal_*` labels of its fields ([`format::EntryLabels`]); an entry the rules
//!   drop, or left without labels, is not sent.
//! * The line is `MESSAGE` (an entry without one is skipped), or with `json: true` the entry's
//!   fields as a JSON object; the timestamp is the entry's realtime timestamp.
//! * The position is the journal cursor of the last entry Loki accepted, under Promtail's key
//!   `cursor-<job_name>`, so a host switching from Promtail continues where it stopped. Entries
//!   are sent in chunks; each chunk holds one [`Ack`](crate::core::Ack) registered with a
//!   [`Progress`] at the chunk's sequence number, and a small ring maps committed sequence
//!   numbers back to the cursor of the chunk's last entry.
//! * Start: the saved cursor if its entry is not older than `max_age`, else `now - max_age`.
//! * The reader is blocking file IO: it runs on its own thread, polls for new entries every
//!   250 ms when idle (the reader rescans directories for rotated files every second while
//!   polling), and sends chunks with `blocking_send` (a full pipeline stops it).
//! * Corrupt files or objects are warnings: logged with the file, counted in
//!   `ferrotail_journal_corrupt_total`, skipped; reading goes on. A missing journal directory is
//!   an error naming it, retried every 10 s; the rest of the config runs.

pub mod format;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::raw::{RawJournal, RawScrapeConfig};
use crate::core::ack::Progress;
use crate::core::{Entry, Labels};
use crate::discovery::Static;
use crate::positions::Positions;
use crate::relabel::Relabeler;
use crate::source::{
    Dropped, ReaderStatus, Registry, Source, SourceCtx, SourceKind, Target, TargetView,
};
use format::EntryLabels;

/// Promtail's journal metrics.
pub const JOURNAL_LINES: &str = "promtail_journal_target_lines_total";
/// Promtail's journal parsing errors, by `error` (`no_message`, `empty_labels`).
pub const JOURNAL_ERRORS: &str = "promtail_journal_target_parsing_errors_total";
/// ferrotail: corrupt or unreadable journal files and objects skipped.
pub const JOURNAL_CORRUPT: &str = "ferrotail_journal_corrupt_total";

/// Promtail's default `max_age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 3600);
/// Entries per chunk sent to the pipeline.
const CHUNK: usize = 512;
/// How often an idle reader looks for new entries.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// How often a missing journal directory is looked for again.
const MISSING_RETRY: Duration = Duration::from_secs(10);

/// A job's journal settings, validated as Promtail validates them when it starts.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// `max_age`.
    pub max_age: Duration,
    /// `json`.
    pub json: bool,
    /// `labels`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `path`, empty for the system journal.
    pub path: String,
    /// `matches` as (field, value) pairs.
    pub matches: Vec<(String, String)>,
}

impl JournalConfig {
    /// Validates the section with Promtail's messages.
    pub fn parse(raw: &RawJournal) -> Result<JournalConfig, String> {
        let max_age = if raw.max_age.is_empty() {
            DEFAULT_MAX_AGE
        } else {
            gocompat::units::parse_go_duration(&raw.max_age)
                .map_err(|e| format!("parsing journal reader 'max_age' config value: {e}"))?
        };
        let mut matches = Vec::new();
        for m in raw.matches.split_whitespace() {
            let parts: Vec<&str> = m.split('=').collect();
            match parts.as_slice() {
                [f, v] => matches.push((f.to_string(), v.to_string())),
                _ => {
                    return Err(format!(
                        "Error parsing journal reader 'matches' config value (term {m:?}: want FIELD=value)"
                    ))
                }
            }
        }
        for k in raw.labels.keys() {
            if !crate::relabel::is_valid_label_name(k) {
                return Err(format!("journal.labels: {k:?} is not a valid label name"));
            }
        }
        Ok(JournalConfig {
            max_age,
            json: raw.json,
            labels: raw.labels.clone(),
            path: raw.path.clone(),
            matches,
        })
    }

    /// The directories (or files) to read.
    fn paths(&self) -> Vec<PathBuf> {
        if self.path.is_empty() {
            journal::default_dirs()
        } else {
            vec![PathBuf::from(&self.path)]
        }
    }
}

/// The journal kind and its one discoverer for a job.
pub fn job(job: &RawScrapeConfig, relabel: Relabeler) -> Result<(JournalKind, Static), String> {
    let raw = job.journal.clone().unwrap_or_default();
    let cfg = JournalConfig::parse(&raw).map_err(|e| format!("job {:?}: {e}", job.job_name))?;
    let labels = EntryLabels::new(&cfg.labels, relabel, &job.relabel_configs);
    let target: Labels = cfg
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok((
        JournalKind {
            cfg,
            labels: Mutex::new(Some(labels)),
        },
        Static::one("journal", target),
    ))
}

/// The journal source kind of one job.
pub struct JournalKind {
    cfg: JournalConfig,
    /// Taken by the one source the job runs.
    labels: Mutex<Option<EntryLabels>>,
}

impl SourceKind for JournalKind {
    fn name(&self) -> &'static str {
        "journal"
    }

    /// The job's one target; relabelling happens per entry.
    fn target(&self, discovered: &Labels) -> Result<Target, Dropped> {
        Ok(Target {
            key: "journal".into(),
            labels: discovered.clone(),
            relabelled: discovered.clone(),
            discovered: discovered.clone(),
        })
    }

    fn start(&self, target: &Target, ctx: &SourceCtx) -> Box<dyn Source> {
        let labels = self.labels.lock().unwrap_or_else(|e| e.into_inner()).take();
        let cancel = ctx.cancel.child_token();
        let status = Arc::new(ReaderStatus::default());
        let shared = Arc::new(Shared {
            key: format!("cursor-{}", ctx.job),
            progress: Progress::new(0),
            ring: Mutex::new(VecDeque::new()),
            positions: Arc::clone(&ctx.positions),
            registry: Arc::clone(&ctx.registry),
            registry_key: format!("{}/journal", ctx.job),
            view: TargetView {
                job: ctx.job.to_string(),
                kind: "journal",
                labels: target.labels.clone(),
                files: vec![(
                    self.cfg
                        .paths()
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    Arc::clone(&status),
                )],
                details: String::new(),
            },
            shown: Mutex::new((String::new(), None)),
        });
        shared.show(shared.positions.get(&shared.key).unwrap_or_default());
        let reader = ReaderThread {
            job: ctx.job.to_string(),
            cfg: self.cfg.clone(),
            labels,
            tx: ctx.tx.clone(),
            shared: Arc::clone(&shared),
            status,
            cancel: cancel.clone(),
        };
        tracing::info!(job = %ctx.job, path = %shared.view.files[0].0, "Adding journal target");
        let handle = tokio::task::spawn_blocking(move || reader.run());
        Box::new(JournalSource {
            cancel,
            handle,
            shared,
        })
    }
}

/// What the reader thread, the source and the committer share.
struct Shared {
    /// `cursor-<job>`.
    key: String,
    progress: Arc<Progress>,
    /// Chunks in flight: (sequence number, cursor of the chunk's last entry).
    ring: Mutex<VecDeque<(u64, String)>>,
    positions: Arc<Positions>,
    registry: Arc<Registry>,
    registry_key: String,
    view: TargetView,
    /// The cursor shown on `/targets` and when it was last shown.
    shown: Mutex<(String, Option<Instant>)>,
}

impl Shared {
    /// Saves the cursor of the last chunk Loki has accepted; returns whether it moved.
    fn commit(&self) -> bool {
        let committed = self.progress.committed();
        let mut last = None;
        {
            let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
            while ring.front().is_some_and(|(s, _)| *s <= committed) {
                last = ring.pop_front().map(|(_, c)| c);
            }
        }
        match last {
            Some(c) => {
                self.positions.set(&self.key, c.clone());
                let due = {
                    let shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
                    shown
                        .1
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                };
                if due {
                    self.show(c);
                }
                true
            }
            None => false,
        }
    }

    /// Updates the `/targets` view with the saved cursor.
    fn show(&self, cursor: String) {
        let mut view = self.view.clone();
        view.details = format!("position: {cursor}");
        self.registry.set(self.registry_key.clone(), view);
        *self.shown.lock().unwrap_or_else(|e| e.into_inner()) = (cursor, Some(Instant::now()));
    }
}

/// A running journal target.
struct JournalSource {
    cancel: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Source for JournalSource {
    /// Stops the reader, then waits (briefly) for the entries in flight to be acknowledged so the
    /// saved cursor is theirs; a cursor is never removed (Promtail keeps `cursor-` keys).
    fn stop(self: Box<Self>, _forget: bool) -> BoxFuture<'static, ()> {
        self.cancel.cancel();
        Box::pin(async move {
            let _ = self.handle.await;
            let shared = self.shared;
            // Batches go out within `batchwait`; give up when nothing moves for 2 s (Loki down,
            // or a stage holding entries until the pipeline closes), and keep committing in the
            // background until the rest is answered or abandoned.
            let mut idle_since = Instant::now();
            while shared.progress.in_flight() > 0 && idle_since.elapsed() < Duration::from_secs(2) {
                if shared.commit() {
                    idle_since = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            shared.commit();
            if shared.progress.in_flight() > 0 {
                let bg = Arc::clone(&shared);
                tokio::spawn(async move {
                    let mut idle_since = Instant::now();
                    while bg.progress.in_flight() > 0
                        && idle_since.elapsed() < Duration::from_secs(120)
                    {
                        if bg.commit() {
                            idle_since = Instant::now();
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    bg.commit();
                });
            }
            shared.registry.remove(&shared.registry_key);
        })
    }
}

/// The blocking reader of one journal job.
struct ReaderThread {
    job: String,
    cfg: JournalConfig,
    labels: Option<EntryLabels>,
    tx: mpsc::Sender<Vec<Entry>>,
    shared: Arc<Shared>,
    status: Arc<ReaderStatus>,
    cancel: CancellationToken,
}

/// Where an entry is, to build its cursor after the entry buffer was reused.
#[derive(Clone, Copy, Default)]
struct Key {
    realtime: u64,
    monotonic: u64,
    boot_id: [u8; 16],
    seqnum: u64,
    seqnum_id: [u8; 16],
    xor_hash: u64,
}

impl Key {
    fn of(e: &journal::Entry) -> Key {
        Key {
            realtime: e.realtime_usec,
            monotonic: e.monotonic_usec,
            boot_id: e.boot_id,
            seqnum: e.seqnum,
            seqnum_id: e.seqnum_id,
            xor_hash: e.xor_hash,
        }
    }

    fn cursor(&self) -> String {
        journal::Entry {
            realtime_usec: self.realtime,
            monotonic_usec: self.monotonic,
            boot_id: self.boot_id,
            seqnum: self.seqnum,
            seqnum_id: self.seqnum_id,
            xor_hash: self.xor_hash,
            fields: Vec::new(),
        }
        .cursor()
    }
}

fn now_usec() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl ReaderThread {
    /// Sleeps up to `d`, waking early when cancelled; returns whether it was cancelled.
    fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while !self.cancel.is_cancelled() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(Duration::from_millis(250)));
        }
        true
    }

    /// The journal once one of its directories can be read.
    fn open(&self) -> Option<journal::Journal> {
        let paths = self.cfg.paths();
        let mut logged = false;
        loop {
            let problems: Vec<String> = paths
                .iter()
                .filter_map(|p| match std::fs::metadata(p) {
                    Ok(m) if m.is_file() => std::fs::File::open(p)
                        .err()
                        .map(|e| format!("{}: {e}", p.display())),
                    Ok(_) => std::fs::read_dir(p)
                        .err()
                        .map(|e| format!("{}: {e}", p.display())),
                    Err(e) => Some(format!("{}: {e}", p.display())),
                })
                .collect();
            if problems.len() < paths.len() {
                if logged {
                    tracing::info!(job = %self.job, "journal directory readable now");
                }
                break;
            }
            if !logged {
                let hint = if self.cfg.path.is_empty() {
                    " (in a container, mount the host's /var/log/journal, /run/log/journal and /etc/machine-id)"
                } else {
                    ""
                };
                tracing::error!(job = %self.job, error = %problems.join("; "), "cannot read the journal{hint}; retrying every 10s");
                logged = true;
            }
            if self.sleep(MISSING_RETRY) {
                return None;
            }
        }
        match journal::Journal::open_dir(&paths) {
            Ok(j) => Some(j),
            Err(e) => {
                tracing::error!(job = %self.job, error = %e, "cannot open the journal");
                None
            }
        }
    }

    /// Positions the journal as Promtail does: after the saved cursor when its entry is not older
    /// than `max_age`, else at `now - max_age`.
    fn position(&self, j: &mut journal::Journal) {
        let since = now_usec().saturating_sub(self.cfg.max_age.as_micros() as u64);
        let saved = self
            .shared
            .positions
            .get(&self.shared.key)
            .filter(|c| !c.is_empty());
        let Some(cursor) = saved else {
            j.seek_realtime(since);
            return;
        };
        let realtime = match journal::Cursor::parse(&cursor) {
            Ok(c) => c.realtime,
            Err(e) => {
                tracing::error!(job = %self.job, cursor = %cursor, error = %e, "received error reading saved journal position; reading from max_age");
                j.seek_realtime(since);
                return;
            }
        };
        if realtime.is_some_and(|t| t < since) {
            tracing::info!(job = %self.job, cursor = %cursor, max_age = ?self.cfg.max_age, "saved journal position is older than max_age; reading from max_age");
            j.seek_realtime(since);
            return;
        }
        match j.seek_cursor(&cursor) {
            Ok(true) => {
                tracing::info!(job = %self.job, cursor = %cursor, "resuming the journal after the saved cursor");
            }
            Ok(false) => {
                // The entry is gone (vacuumed): sd_journal_seek_cursor, as Promtail uses it,
                // continues with the nearest following entry.
                tracing::warn!(job = %self.job, cursor = %cursor, "the saved cursor's journal entry no longer exists (vacuumed or rotated away); continuing with the entries after it");
            }
            Err(e) => {
                tracing::error!(job = %self.job, cursor = %cursor, error = %e, "received error reading saved journal position; reading from max_age");
                j.seek_realtime(since);
            }
        }
    }

    fn run(mut self) {
        let Some(mut j) = self.open() else { return };
        for (f, v) in &self.cfg.matches {
            j.add_match(f, v.as_bytes());
        }
        self.position(&mut j);
        self.status.running.store(true, Ordering::Relaxed);
        let Some(mut labels) = self.labels.take() else {
            tracing::error!(job = %self.job, "journal target started twice");
            return;
        };
        let lines = metrics::counter!(JOURNAL_LINES);
        let no_message = metrics::counter!(JOURNAL_ERRORS, "error" => "no_message");
        let empty_labels = metrics::counter!(JOURNAL_ERRORS, "error" => "empty_labels");
        let corrupt = metrics::counter!(JOURNAL_CORRUPT);
        corrupt.increment(0);
        let mut e = journal::Entry::default();
        let mut seq = 0u64;
        let mut read = 0u64;
        'outer: while !self.cancel.is_cancelled() {
            let mut chunk = crate::core::entry::chunk(CHUNK);
            let mut last: Option<Key> = None;
            let mut n = 0;
            while n < CHUNK {
                match j.next_into(&mut e) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(job = %self.job, error = %err, "error reading the journal");
                        break;
                    }
                }
                n += 1;
                last = Some(Key::of(&e));
                let line = if self.cfg.json {
                    let mut s = String::with_capacity(512);
                    format::write_json(&mut s, &e.fields);
                    s
                } else {
                    match e.fields.iter().rev().find(|(k, _)| k == "MESSAGE") {
                        Some((_, m)) => String::from_utf8_lossy(m).into_owned(),
                        None => {
                            no_message.increment(1);
                            continue;
                        }
                    }
                };
                let Some(l) = labels.labels(&e.fields) else {
                    empty_labels.increment(1);
                    continue;
                };
                lines.increment(1);
                let ts = i64::try_from(e.realtime_usec)
                    .unwrap_or(i64::MAX / 1000)
                    .saturating_mul(1000);
                chunk.push(Entry::new(l, ts, line));
            }
            for w in j.warnings() {
                corrupt.increment(1);
                tracing::warn!(job = %self.job, file = %w.path.display(), offset = ?w.offset, error = %w.message, "skipping corrupt journal data");
            }
            read += n as u64;
            self.status.read_offset.store(read, Ordering::Relaxed);
            match last {
                Some(k) => {
                    seq += 1;
                    self.shared
                        .ring
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_back((seq, k.cursor()));
                    let ack = self.shared.progress.register(seq);
                    for entry in chunk.iter_mut() {
                        entry.acks.push(ack.clone());
                    }
                    drop(ack);
                    if !chunk.is_empty() && self.tx.blocking_send(chunk).is_err() {
                        break 'outer;
                    }
                    self.shared.commit();
                }
                None => {
                    crate::core::entry::recycle(chunk);
                    self.shared.commit();
                    if self.sleep(IDLE_POLL) {
                        break;
                    }
                }
            }
        }
        self.status.running.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_like_promtail() {
        let c = JournalConfig::parse(&RawJournal::default()).unwrap();
        assert_eq!(c.max_age, DEFAULT_MAX_AGE);
        let bad = RawJournal {
            max_age: "7".into(),
            ..Default::default()
        };
        assert!(JournalConfig::parse(&bad)
            .unwrap_err()
            .starts_with("parsing journal reader 'max_age' config value: time: missing unit"));
        let m = RawJournal {
            matches: "_SYSTEMD_UNIT=a.service  _TRANSPORT=kernel".into(),
            ..Default::default()
        };
        assert_eq!(JournalConfig::parse(&m).unwrap().matches.len(), 2);
        let bad = RawJournal {
            matches: "A=b=c".into(),
            ..Default::default()
        };
        assert!(JournalConfig::parse(&bad)
            .unwrap_err()
            .starts_with("Error parsing journal reader 'matches' config value"));
    }
}
