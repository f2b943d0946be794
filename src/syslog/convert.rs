//! One syslog message to one entry, as Promtail's `handleMessageRFC5424`/`handleMessageRFC3164`
//! do it: parse, drop empty messages, label (connection, message, structured data), relabel with
//! the job's `relabel_configs`, remove `__` labels, pick the line and the timestamp.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ::syslog::{rfc3164, rfc5424, visit_labels, FrameError, Framer, LabelOptions, SyslogFormat};

use super::metrics::{dropped, reason, Counters};
use super::Options;
use crate::core::{Entry, Labels};
use crate::relabel::Relabeler;

/// Label sets cached per connection (distinct message label combinations); cleared when full.
const LABEL_CACHE_CAP: usize = 1024;
/// The prefix of every message label, left out of the cache keys (a marker byte says so).
const MESSAGE_PREFIX: &str = "__syslog_message_";
/// Parse errors logged at `warn` per connection (or UDP peer); later ones at `debug`.
const WARN_LOGS_PER_PEER: u32 = 10;
/// Nanoseconds in a day.
const DAY_NANOS: i64 = 86_400 * 1_000_000_000;

/// What every connection of a receiver shares.
pub struct Shared {
    /// The job's name.
    pub job: Arc<str>,
    /// The receiver's settings.
    pub opts: Arc<Options>,
    /// The job's `relabel_configs`, run on every message.
    pub relabel: Arc<Relabeler>,
    /// Metric handles.
    pub counters: Counters,
}

/// Turns the frames of one connection (or one UDP peer) into entries.
pub struct Converter {
    shared: Arc<Shared>,
    /// The job's `labels` and the connection labels.
    base: Labels,
    /// `ip:port` of the peer, for logs.
    peer: String,
    /// Message labels (as `name\0value\0...`, names without [`MESSAGE_PREFIX`]) to the labels
    /// after relabelling (`None`: dropped).
    cache: HashMap<Box<[u8]>, Option<Labels>, foldhash::fast::RandomState>,
    /// The distinct label sets of `cache`'s values: most message label combinations (process
    /// ids, message ids) relabel to a few sets, which then share one copy, here and in the
    /// client's batches.
    interned: HashSet<Labels, foldhash::fast::RandomState>,
    key: Vec<u8>,
    warned: u32,
}

impl Converter {
    /// A converter for a peer: `ip` as Go prints it, `hostname` its reverse-DNS names.
    pub fn new(shared: Arc<Shared>, peer: String, ip: &str, hostname: &str) -> Converter {
        let mut base: Labels = shared.opts.labels.iter().cloned().collect();
        for (k, v) in [
            ("__syslog_connection_ip_address", ip),
            ("__syslog_connection_hostname", hostname),
        ] {
            if !v.is_empty() {
                base.insert(k, v);
            }
        }
        Converter {
            shared,
            base,
            peer,
            cache: HashMap::default(),
            interned: HashSet::default(),
            key: Vec::with_capacity(256),
            warned: 0,
        }
    }

    /// The peer, as logged.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Whether this peer's next problem is logged at `warn` (the first few are).
    pub fn should_warn(&mut self) -> bool {
        self.warned += 1;
        self.warned <= WARN_LOGS_PER_PEER
    }

    /// Converts one frame received at `now` (Unix nanoseconds) into `out`, or counts why not.
    pub fn convert(&mut self, frame: &[u8], now: i64, out: &mut Vec<Entry>) {
        let opts = &self.shared.opts;
        let incoming_3164 = opts.use_incoming_timestamp && opts.format == SyslogFormat::Rfc3164;
        let parsed = match opts.format {
            SyslogFormat::Rfc5424 => rfc5424::parse(frame),
            SyslogFormat::Rfc3164 => rfc3164::parse(
                frame,
                &rfc3164::Options {
                    // Promtail leaves RFC 3164 timestamps in year 0, which Loki refuses; with
                    // use_incoming_timestamp ferrotail gives them the current year.
                    year: incoming_3164.then(|| year_of(now)),
                },
            ),
        };
        let mut msg = match parsed {
            Ok(m) => m,
            Err(e) => {
                self.shared.counters.parsing_errors.increment(1);
                self.shared.counters.dropped_parse.increment(1);
                if self.should_warn() {
                    tracing::warn!(job = %self.shared.job, peer = %self.peer, error = %e, "error parsing syslog stream");
                } else {
                    tracing::debug!(job = %self.shared.job, peer = %self.peer, error = %e, "error parsing syslog stream");
                }
                return;
            }
        };
        if incoming_3164 {
            // A timestamp more than a day ahead belongs to last year (December read in January).
            if let Some(ts) = msg.timestamp.and_then(|t| t.unix_nanos()) {
                if ts > now.saturating_add(DAY_NANOS) {
                    if let Ok(m) = rfc3164::parse(
                        frame,
                        &rfc3164::Options {
                            year: Some(year_of(now) - 1),
                        },
                    ) {
                        msg = m;
                    }
                }
            }
        }
        let Some(line) = ::syslog::line(&msg, opts.format, opts.use_rfc5424_message) else {
            self.shared.counters.empty_messages.increment(1);
            self.shared.counters.dropped_empty.increment(1);
            return;
        };
        let lopts = LabelOptions {
            label_structured_data: opts.label_structured_data,
            connection_ip: None,
            connection_hostname: None,
        };
        self.key.clear();
        visit_labels(&msg, &lopts, |k, v| {
            match k.strip_prefix(MESSAGE_PREFIX) {
                Some(short) => {
                    self.key.push(1);
                    self.key.extend_from_slice(short.as_bytes());
                }
                None => {
                    self.key.push(2);
                    self.key.extend_from_slice(k.as_bytes());
                }
            }
            self.key.push(0);
            self.key.extend_from_slice(v.as_bytes());
            self.key.push(0);
        });
        let labels = match self.cache.get(self.key.as_slice()) {
            Some(l) => l.clone(),
            None => {
                let mut l = self.base.clone();
                visit_labels(&msg, &lopts, |k, v| l.insert(k, v));
                let l = self.shared.relabel.process(l).map(|mut l| {
                    l.retain(|k, _| !k.starts_with("__"));
                    l
                });
                if self.cache.len() >= LABEL_CACHE_CAP {
                    self.cache.clear();
                    self.interned.clear();
                }
                let l = l.map(|l| match self.interned.get(&l) {
                    Some(same) => same.clone(),
                    None => {
                        self.interned.insert(l.clone());
                        l
                    }
                });
                self.cache
                    .insert(self.key.clone().into_boxed_slice(), l.clone());
                l
            }
        };
        let Some(labels) = labels else {
            // Promtail would push it with no labels, which Loki refuses.
            self.shared.counters.dropped_relabel.increment(1);
            return;
        };
        let ts = if opts.use_incoming_timestamp {
            msg.timestamp.and_then(|t| t.unix_nanos()).unwrap_or(now)
        } else {
            now
        };
        let line = match line {
            std::borrow::Cow::Borrowed(b) => match std::str::from_utf8(b) {
                Ok(s) => s.to_owned(),
                Err(_) => String::from_utf8_lossy(b).into_owned(),
            },
            std::borrow::Cow::Owned(v) => match String::from_utf8(v) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            },
        };
        self.shared.counters.entries.increment(1);
        out.push(Entry::new(labels, ts, line));
    }
}

/// Converts every complete frame of `framer` into `out`. A framing error is counted (with
/// Promtail's parsing-error metric where Promtail counts it) and logged with the peer; returns
/// true when it was fatal: framing is lost and the connection must be closed.
pub fn drain(framer: &mut Framer, conv: &mut Converter, now: i64, out: &mut Vec<Entry>) -> bool {
    while let Some(r) = framer.next_frame() {
        let e = match r {
            Ok(frame) => {
                conv.convert(frame, now, out);
                continue;
            }
            Err(e) => e,
        };
        let reason = match e {
            FrameError::InvalidFraming { .. } => reason::INVALID_FRAMING,
            FrameError::MessageTooLarge { .. } | FrameError::NonTransparentTooLong { .. } => {
                reason::TOO_LARGE
            }
            FrameError::Truncated { .. } => reason::TRUNCATED,
            _ => reason::FRAMING,
        };
        dropped(reason).increment(1);
        if e.counts_as_parsing_error() {
            conv.shared.counters.parsing_errors.increment(1);
        }
        let job = Arc::clone(&conv.shared.job);
        if e.is_fatal() {
            tracing::warn!(job = %job, peer = %conv.peer, error = %e, reason, "error parsing syslog stream; closing the connection");
            return true;
        }
        if conv.should_warn() {
            tracing::warn!(job = %job, peer = %conv.peer, error = %e, reason, "error parsing syslog stream");
        }
    }
    false
}

/// The UTC year of `nanos` since the Unix epoch.
fn year_of(nanos: i64) -> i32 {
    use chrono::Datelike;
    chrono::DateTime::from_timestamp_nanos(nanos).year()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawRelabel, RawSyslog};

    fn shared(raw: RawSyslog, relabel: &str) -> Arc<Shared> {
        let rules: Vec<RawRelabel> = if relabel.is_empty() {
            Vec::new()
        } else {
            gocompat::yaml::from_str(relabel).unwrap().0
        };
        Arc::new(Shared {
            job: Arc::from("j"),
            opts: Arc::new(Options::from_raw(&raw).unwrap()),
            relabel: Arc::new(Relabeler::compile(&rules).unwrap()),
            counters: Counters::new(),
        })
    }

    #[test]
    fn labels_relabel_and_drop() {
        let mut raw = RawSyslog::default();
        raw.labels.insert("job".into(), "syslog".into());
        raw.use_incoming_timestamp = true;
        let s = shared(
            raw,
            "- source_labels: [__syslog_message_hostname]\n  target_label: host\n- source_labels: [__syslog_message_app_name]\n  target_label: app\n- source_labels: [__syslog_message_severity]\n  target_label: severity\n- source_labels: [__syslog_connection_ip_address]\n  target_label: ip\n- source_labels: [app]\n  regex: dropme\n  action: drop\n",
        );
        let mut c = Converter::new(s, "1.2.3.4:5".into(), "1.2.3.4", "");
        let mut out = Vec::new();
        c.convert(
            b"<165>1 2003-10-11T22:14:15.003Z mymachine evntslog - ID47 - hello",
            7,
            &mut out,
        );
        c.convert(b"<165>1 - h dropme - - - x", 7, &mut out);
        c.convert(b"<165>1 - h a - - -", 7, &mut out);
        c.convert(b"garbage", 7, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].labels.display_string(),
            r#"{app="evntslog", host="mymachine", ip="1.2.3.4", job="syslog", severity="notice"}"#
        );
        assert_eq!(out[0].line, "hello");
        assert_eq!(out[0].timestamp, 1_065_910_455_003_000_000);
    }

    #[test]
    fn rfc3164_incoming_timestamp_gets_a_year() {
        let raw = RawSyslog {
            use_incoming_timestamp: true,
            syslog_format: "rfc3164".into(),
            ..Default::default()
        };
        let s = shared(raw, "- target_label: x\n  replacement: y\n");
        let mut c = Converter::new(s, "p".into(), "", "");
        let mut out = Vec::new();
        // 2024-06-01T00:00:00Z
        let now = 1_717_200_000 * 1_000_000_000;
        c.convert(b"<13>May 31 23:00:00 host app[1]: hi", now, &mut out);
        c.convert(b"<13>Dec 31 23:00:00 host app[1]: old", now, &mut out);
        assert_eq!(out[0].timestamp, now - 3600 * 1_000_000_000);
        let dec = chrono::DateTime::from_timestamp_nanos(out[1].timestamp);
        assert_eq!(dec.to_rfc3339(), "2023-12-31T23:00:00+00:00");
    }
}
