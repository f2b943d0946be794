//! The Docker logs API fallback: reading a container's output through the daemon, for containers
//! whose `json-file` log cannot be read directly (another log driver such as `local` or
//! `journald`, Docker Desktop where the files live in a VM, no host mount).
//!
//! This reads logs as Promtail's docker target does: `GET /containers/<id>/logs` with
//! `follow=1&stdout=1&stderr=1&timestamps=1&since=<seconds>`, stdout and stderr demultiplexed
//! from Docker's 8-byte frame headers (bollard does the framing), TTY output split on newlines and
//! reported as `stdout`. Every frame starts with an RFC 3339 timestamp and a space: it becomes the
//! entry timestamp and is stripped; trailing `\r`/`\n` are trimmed. Docker's 16 KiB partial
//! messages are joined with [`PartialJoiner`] (the same joiner the json-file reader uses), capped
//! at `max_line_size` or 256 KiB.
//!
//! Unlike Promtail, a broken connection (daemon restart, socket gone) is retried with backoff from
//! the last timestamp shipped, skipping lines already sent, and a stopped container's log is read
//! to its end, including a last partial line.
//!
//! Lines already sent are recognised per stream. Docker timestamps stdout and stderr in two
//! separate copier goroutines, so the log interleaves the streams in an order that need not be
//! the order of their timestamps (`out1` may be stored after `err1` with an earlier timestamp).
//! Within one stream the timestamps never go back. Within one connection every line is shipped;
//! after a reconnect each stream skips what it already shipped: lines before its last timestamp,
//! and as many lines at that very timestamp as it had shipped.

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::discovery::sleep_or_cancel;
use crate::core::backoff::Backoff;
use crate::docker::json_file::{JoinedLine, PartialJoiner, Stream};
use gocompat::time::parse_rfc3339_nanos;

/// One entry: stream (`stdout`/`stderr`), Docker's timestamp (Unix nanos), the line.
pub type LogItem = (&'static str, i64, String);

/// Promtail's counter of frames without a valid timestamp.
pub const PARSING_ERRORS: &str = "promtail_docker_target_parsing_errors_total";

/// Size of the pieces Docker cuts long lines into.
const DOCKER_PIECE: usize = 16 * 1024;

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsRequest {
    /// Container id (or name).
    pub container_id: String,
    /// `since` in Unix seconds; 0 reads the whole history (Promtail's behaviour for a new
    /// container). A Promtail `cursor-<id>` position goes here.
    pub since_secs: i64,
    /// Lines with a timestamp at or before this (Unix nanos) are skipped: the last line already
    /// shipped, so resuming within the same second sends nothing twice.
    pub skip_through_nanos: Option<i64>,
    /// `limits_config.max_line_size` (0: joined lines are capped at 256 KiB).
    pub max_line_size: usize,
}

/// How a log stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogsEnd {
    /// The container stopped and its log was read to the end.
    Finished,
    /// The container no longer exists.
    ContainerGone,
    /// `cancel` fired.
    Cancelled,
    /// The receiver was dropped.
    ReceiverGone,
}

/// Splits a frame into its timestamp and the rest, as Promtail's `extractTs` does: text up to the
/// first space must be an RFC 3339 timestamp, and something must follow the space.
pub fn split_timestamp(frame: &str) -> Result<(i64, &str), String> {
    let Some(space) = frame.find(' ') else {
        return Err("could not find timestamp in bytes".into());
    };
    if space + 1 >= frame.len() {
        return Err("could not find timestamp in bytes".into());
    }
    let ts = parse_rfc3339_nanos(&frame[..space])
        .map_err(|e| format!("could not parse timestamp: {e}"))?;
    Ok((ts, &frame[space + 1..]))
}

/// Feeds the frames of one log stream into a joiner and collects complete lines.
#[derive(Debug)]
pub struct FrameDecoder {
    joiner: PartialJoiner,
    /// Frames rejected for a missing or bad timestamp.
    pub errors: u64,
}

impl FrameDecoder {
    /// A decoder joining partial lines up to `max_line_size` (0: 256 KiB).
    pub fn new(max_line_size: usize) -> Self {
        FrameDecoder {
            joiner: PartialJoiner::new(max_line_size),
            errors: 0,
        }
    }

    /// Decodes one demultiplexed frame (`"<timestamp> <text>"`) of `stream`.
    pub fn frame(&mut self, stream: Stream, frame: &[u8], out: &mut Vec<JoinedLine>) {
        if frame.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(frame);
        match split_timestamp(&text) {
            Ok((ts, payload)) => self.joiner.push(stream, ts, payload, out),
            Err(err) => match self.joiner.pending(stream) {
                // Inside a joined line Promtail keeps going with the pending timestamp.
                Some(ts) => self.joiner.push(stream, ts, &*text, out),
                None => {
                    self.errors += 1;
                    metrics::counter!(PARSING_ERRORS).increment(1);
                    tracing::error!(
                        component = "docker_target",
                        err = %err,
                        "error reading docker log line, skipping line"
                    );
                }
            },
        }
    }

    /// Decodes a chunk of TTY output: one line as bollard splits it, which may hold several
    /// timestamped 16 KiB pieces of one long line back to back.
    pub fn tty_chunk(&mut self, chunk: &[u8], out: &mut Vec<JoinedLine>) {
        let mut rest = chunk;
        loop {
            let split = rest.iter().position(|&b| b == b' ').and_then(|sp| {
                let piece_end = sp + 1 + DOCKER_PIECE;
                (rest.len() > piece_end && starts_with_timestamp(&rest[piece_end..]))
                    .then_some(piece_end)
            });
            match split {
                Some(end) => {
                    self.frame(Stream::Stdout, &rest[..end], out);
                    rest = &rest[end..];
                }
                None => {
                    self.frame(Stream::Stdout, rest, out);
                    return;
                }
            }
        }
    }

    /// Emits what is pending at the end of the log.
    pub fn finish(&mut self, out: &mut Vec<JoinedLine>) {
        self.joiner.flush(out);
    }
}

fn starts_with_timestamp(b: &[u8]) -> bool {
    let Some(sp) = b.iter().take(40).position(|&c| c == b' ') else {
        return false;
    };
    std::str::from_utf8(&b[..sp]).is_ok_and(|s| parse_rfc3339_nanos(s).is_ok())
}

enum Outcome {
    /// The stream ended cleanly.
    Ended,
    /// The stream broke.
    Broken(String),
    /// Stop reading.
    Stop(LogsEnd),
}

/// What one stream (stdout or stderr) has shipped, to skip it when a reconnect replays the log.
#[derive(Debug, Clone, Copy, Default)]
struct Shipped {
    /// Timestamp of the last line shipped and how many lines with that timestamp were shipped.
    last: Option<(i64, u32)>,
    /// Lines at exactly `last`'s timestamp seen again on the current connection.
    replayed_at_last: u32,
    /// Whether this connection is past what was shipped before: every line is new.
    caught_up: bool,
}

/// Which lines to ship: everything after the request's resume point, and after a reconnect only
/// what each stream has not shipped yet.
#[derive(Debug, Default)]
struct Dedup {
    /// Lines at or before this (from the request) are skipped on every stream.
    skip_through: Option<i64>,
    streams: [Shipped; 2],
}

impl Dedup {
    fn new(skip_through: Option<i64>) -> Self {
        Dedup {
            skip_through,
            ..Default::default()
        }
    }

    /// A new connection replays the log from `since`: skip again what each stream shipped.
    fn reconnected(&mut self) {
        for s in &mut self.streams {
            s.replayed_at_last = 0;
            s.caught_up = s.last.is_none();
        }
    }

    /// Whether a line of `stream` with timestamp `ts` is new; records it as shipped when it is.
    fn admit(&mut self, stream: Stream, ts: i64) -> bool {
        if self.skip_through.is_some_and(|t| ts <= t) {
            return false;
        }
        let s = &mut self.streams[stream.index()];
        if !s.caught_up {
            match s.last {
                Some((t, _)) if ts < t => return false,
                Some((t, n)) if ts == t && s.replayed_at_last < n => {
                    s.replayed_at_last += 1;
                    return false;
                }
                _ => s.caught_up = true,
            }
        }
        s.last = match s.last {
            Some((t, n)) if t == ts => Some((t, n + 1)),
            _ => Some((ts, 1)),
        };
        true
    }

    /// Latest timestamp shipped on any stream.
    fn latest(&self) -> Option<i64> {
        self.streams
            .iter()
            .filter_map(|s| s.last.map(|l| l.0))
            .max()
    }

    /// `since` (Unix seconds) for a reconnect: every line not shipped yet is at or after it. The
    /// earliest of the streams' last seconds, but no more than a second before the latest (the
    /// streams are out of order only by the race between Docker's two copiers).
    fn resume_since(&self, since: i64) -> i64 {
        let secs = |t: i64| t.div_euclid(1_000_000_000);
        let Some(latest) = self.latest() else {
            return since;
        };
        let earliest = self
            .streams
            .iter()
            .filter_map(|s| s.last.map(|l| l.0))
            .min()
            .unwrap_or(latest);
        since.max(secs(earliest).max(secs(latest) - 1))
    }
}

/// Streams a container's logs into `tx` until the container stops (after its log is read to the
/// end), is removed, `cancel` fires, or the receiver goes away. A broken connection is retried
/// with backoff from the last timestamp shipped.
pub async fn stream_logs(
    docker: Docker,
    req: LogsRequest,
    tx: mpsc::Sender<LogItem>,
    cancel: CancellationToken,
) -> LogsEnd {
    let mut since = req.since_secs.max(0);
    let mut dedup = Dedup::new(req.skip_through_nanos);
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
    loop {
        let opts = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            since: i32::try_from(since).unwrap_or(i32::MAX),
            until: 0,
            timestamps: true,
            tail: "all".into(),
        };
        let mut logs = docker.logs(&req.container_id, Some(opts));
        let mut decoder = FrameDecoder::new(req.max_line_size);
        let mut lines: Vec<JoinedLine> = Vec::new();
        dedup.reconnected();
        let last_before = dedup.latest();
        let outcome = loop {
            let item = tokio::select! {
                _ = cancel.cancelled() => break Outcome::Stop(LogsEnd::Cancelled),
                item = logs.next() => item,
            };
            match item {
                None => break Outcome::Ended,
                Some(Err(e)) => {
                    if let bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    } = e
                    {
                        break Outcome::Stop(LogsEnd::ContainerGone);
                    }
                    break Outcome::Broken(super::discovery::err_chain(&e));
                }
                Some(Ok(out)) => match out {
                    LogOutput::StdOut { message } => {
                        decoder.frame(Stream::Stdout, &message, &mut lines)
                    }
                    LogOutput::StdErr { message } => {
                        decoder.frame(Stream::Stderr, &message, &mut lines)
                    }
                    LogOutput::Console { message } => decoder.tty_chunk(&message, &mut lines),
                    LogOutput::StdIn { .. } => {}
                },
            }
            if let Err(end) = ship(&mut lines, &mut dedup, &tx, &cancel).await {
                break Outcome::Stop(end);
            }
        };
        let outcome = match outcome {
            Outcome::Ended => match tokio::select! {
                _ = cancel.cancelled() => return LogsEnd::Cancelled,
                r = container_running(&docker, &req.container_id) => r,
            } {
                Ok(Some(false)) => {
                    // Stopped: the log is complete, including a last unterminated piece.
                    decoder.finish(&mut lines);
                    if let Err(end) = ship(&mut lines, &mut dedup, &tx, &cancel).await {
                        return end;
                    }
                    tracing::info!(
                        component = "docker_target",
                        container = %req.container_id,
                        "finished transferring logs"
                    );
                    return LogsEnd::Finished;
                }
                Ok(None) => return LogsEnd::ContainerGone,
                Ok(Some(true)) => {
                    Outcome::Broken("log stream ended while the container runs".into())
                }
                Err(e) => Outcome::Broken(e),
            },
            other => other,
        };
        match outcome {
            Outcome::Stop(end) => return end,
            Outcome::Broken(err) => {
                tracing::warn!(
                    component = "docker_target",
                    container = %req.container_id,
                    err = %err,
                    "docker log stream broke; reconnecting"
                );
            }
            Outcome::Ended => {}
        }
        // Resume from the second of the last lines shipped; what was shipped is skipped by
        // `dedup`.
        since = dedup.resume_since(since);
        if dedup.latest() != last_before {
            backoff.reset();
        }
        if !sleep_or_cancel(backoff.next_delay(), &cancel).await {
            return LogsEnd::Cancelled;
        }
    }
}

/// Connects to the daemon for a container's log stream, retrying with backoff while it is
/// unreachable or answers garbage (a daemon restarting, a proxy in front of it), until `cancel`
/// fires (`None`). A failed first connection used to end the container's reader for good.
pub async fn connect_retrying(
    cfg: &super::discovery::DockerSdConfig,
    container: &str,
    cancel: &CancellationToken,
) -> Option<Docker> {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
    loop {
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return None,
            r = super::discovery::connect(cfg) => r,
        };
        match attempt {
            Ok(docker) => return Some(docker),
            Err(e) => tracing::warn!(
                component = "docker_target",
                container = %container,
                err = %e,
                "could not connect to the Docker daemon to transfer logs; retrying"
            ),
        }
        if !sleep_or_cancel(backoff.next_delay(), cancel).await {
            return None;
        }
    }
}

/// Sends the complete lines that were not shipped before.
async fn ship(
    lines: &mut Vec<JoinedLine>,
    dedup: &mut Dedup,
    tx: &mpsc::Sender<LogItem>,
    cancel: &CancellationToken,
) -> Result<(), LogsEnd> {
    for l in lines.drain(..) {
        if !dedup.admit(l.stream, l.ts_nanos) {
            continue;
        }
        let item: LogItem = (l.stream.as_str(), l.ts_nanos, l.line);
        tokio::select! {
            _ = cancel.cancelled() => return Err(LogsEnd::Cancelled),
            r = tx.send(item) => r.map_err(|_| LogsEnd::ReceiverGone)?,
        }
    }
    Ok(())
}

/// `Some(running)`, or `None` when the container no longer exists.
async fn container_running(docker: &Docker, id: &str) -> Result<Option<bool>, String> {
    match docker.inspect_container(id, None).await {
        Ok(i) => Ok(Some(
            i.state.as_ref().and_then(|s| s.running).unwrap_or(false),
        )),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(super::discovery::err_chain(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "2024-05-01T10:00:00.123456789Z";
    const TS_NANOS: i64 = 1_714_557_600_123_456_789;

    fn lines(out: &[JoinedLine]) -> Vec<(&'static str, i64, &str)> {
        out.iter()
            .map(|l| (l.stream.as_str(), l.ts_nanos, l.line.as_str()))
            .collect()
    }

    #[test]
    fn frames_are_split_and_trimmed() {
        let mut d = FrameDecoder::new(0);
        let mut out = Vec::new();
        d.frame(Stream::Stdout, format!("{TS} out1\n").as_bytes(), &mut out);
        d.frame(
            Stream::Stderr,
            format!("{TS} err1\r\n").as_bytes(),
            &mut out,
        );
        d.frame(
            Stream::Stdout,
            format!("{TS}   indented\n").as_bytes(),
            &mut out,
        );
        assert_eq!(
            lines(&out),
            vec![
                ("stdout", TS_NANOS, "out1"),
                ("stderr", TS_NANOS, "err1"),
                ("stdout", TS_NANOS, "  indented")
            ]
        );
    }

    #[test]
    fn bad_timestamps_are_counted_and_skipped() {
        let mut d = FrameDecoder::new(0);
        let mut out = Vec::new();
        d.frame(Stream::Stdout, b"no-timestamp here\n", &mut out);
        d.frame(Stream::Stdout, b"nospace", &mut out);
        d.frame(Stream::Stdout, format!("{TS} ").as_bytes(), &mut out);
        assert!(out.is_empty());
        assert_eq!(d.errors, 3);
        // Inside a joined line a frame without timestamp continues it.
        d.frame(Stream::Stdout, format!("{TS} abc").as_bytes(), &mut out);
        d.frame(Stream::Stdout, b"def\n", &mut out);
        assert_eq!(lines(&out), vec![("stdout", TS_NANOS, "abcdef")]);
        assert_eq!(d.errors, 3);
    }

    #[test]
    fn partial_frames_are_joined() {
        let mut d = FrameDecoder::new(0);
        let mut out = Vec::new();
        let a = "a".repeat(DOCKER_PIECE);
        d.frame(Stream::Stdout, format!("{TS} {a}").as_bytes(), &mut out);
        d.frame(Stream::Stdout, format!("{TS} tail\n").as_bytes(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].line, format!("{a}tail"));
    }

    #[test]
    fn tty_chunks_with_pieces_back_to_back() {
        let mut d = FrameDecoder::new(0);
        let mut out = Vec::new();
        let a = "a".repeat(DOCKER_PIECE);
        let chunk = format!("{TS} {a}{TS} tail\r\n");
        d.tty_chunk(chunk.as_bytes(), &mut out);
        assert_eq!(
            lines(&out),
            vec![("stdout", TS_NANOS, format!("{a}tail").as_str())]
        );
        out.clear();
        d.tty_chunk(format!("{TS} tty1\r\n").as_bytes(), &mut out);
        assert_eq!(lines(&out), vec![("stdout", TS_NANOS, "tty1")]);
        // An unterminated last chunk stays pending until finish.
        out.clear();
        d.tty_chunk(format!("{TS} last").as_bytes(), &mut out);
        assert!(out.is_empty());
        d.finish(&mut out);
        assert_eq!(lines(&out), vec![("stdout", TS_NANOS, "last")]);
    }

    #[test]
    fn streams_out_of_timestamp_order_are_all_shipped() {
        // dockerd stores `out1` after `err1` though `out1` was read first (two copiers race).
        let mut d = Dedup::new(None);
        d.reconnected();
        assert!(d.admit(Stream::Stderr, 20));
        assert!(d.admit(Stream::Stdout, 10));
        assert!(d.admit(Stream::Stdout, 20));
        assert!(
            d.admit(Stream::Stdout, 20),
            "same timestamp twice in one stream"
        );
        assert!(d.admit(Stream::Stderr, 15 + 10));
    }

    #[test]
    fn a_reconnect_skips_exactly_what_was_shipped() {
        let mut d = Dedup::new(None);
        d.reconnected();
        for (s, ts) in [
            (Stream::Stdout, 1_000_000_010),
            (Stream::Stdout, 1_000_000_020),
        ] {
            assert!(d.admit(s, ts));
        }
        assert!(d.admit(Stream::Stdout, 1_000_000_020));
        assert!(d.admit(Stream::Stderr, 1_000_000_015));
        assert_eq!(d.resume_since(0), 1);
        d.reconnected();
        // The replay from second 1: everything shipped is skipped, per stream.
        assert!(!d.admit(Stream::Stdout, 1_000_000_010));
        assert!(!d.admit(Stream::Stderr, 1_000_000_015));
        assert!(!d.admit(Stream::Stdout, 1_000_000_020));
        assert!(!d.admit(Stream::Stdout, 1_000_000_020));
        // A third line at the same timestamp was not shipped yet.
        assert!(d.admit(Stream::Stdout, 1_000_000_020));
        assert!(d.admit(Stream::Stderr, 1_000_000_016));
        assert!(d.admit(Stream::Stdout, 1_000_000_021));
    }

    #[test]
    fn the_request_resume_point_applies_to_both_streams() {
        let mut d = Dedup::new(Some(100));
        d.reconnected();
        assert!(!d.admit(Stream::Stdout, 100));
        assert!(!d.admit(Stream::Stderr, 50));
        assert!(d.admit(Stream::Stderr, 101));
        assert!(d.admit(Stream::Stdout, 101));
    }

    #[test]
    fn resume_since_allows_for_the_copier_race_only() {
        let sec = 1_000_000_000;
        let mut d = Dedup::new(None);
        assert_eq!(d.resume_since(7), 7);
        assert!(d.admit(Stream::Stderr, 2 * sec));
        assert!(d.admit(Stream::Stdout, 50 * sec));
        // stderr last wrote at 2 s: replaying from there would be wasteful; one second back.
        assert_eq!(d.resume_since(0), 49);
        assert_eq!(d.resume_since(60), 60);
    }

    #[test]
    fn split_timestamp_matches_promtail() {
        assert_eq!(split_timestamp(&format!("{TS} x")), Ok((TS_NANOS, "x")));
        assert!(split_timestamp(&format!("{TS} ")).is_err());
        assert!(split_timestamp("x y").is_err());
        assert!(split_timestamp("").is_err());
    }
}
