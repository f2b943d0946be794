//! The syslog receiver's metrics: Promtail's names (`clients/pkg/promtail/targets/syslog/
//! metrics.go`) and ferrotail's own, which say why anything received was not shipped.

use metrics::{describe_counter, describe_gauge, Counter};

/// Promtail: entries handed to the pipeline.
pub const ENTRIES: &str = "promtail_syslog_target_entries_total";
/// Promtail: messages refused by the parser or the framing.
pub const PARSING_ERRORS: &str = "promtail_syslog_target_parsing_errors_total";
/// Promtail: messages without a MSG part.
pub const EMPTY_MESSAGES: &str = "promtail_syslog_empty_messages_total";
/// ferrotail: messages or connections dropped, by `reason`.
pub const DROPPED: &str = "ferrotail_syslog_dropped_total";
/// ferrotail: open TCP connections.
pub const CONNECTIONS: &str = "ferrotail_syslog_connections";

/// `reason` values of [`DROPPED`].
pub mod reason {
    /// A message the parser refused (also in `promtail_syslog_target_parsing_errors_total`).
    pub const PARSE_ERROR: &str = "parse_error";
    /// A message without MSG (also in `promtail_syslog_empty_messages_total`).
    pub const EMPTY: &str = "empty_message";
    /// A message the job's relabel rules dropped.
    pub const RELABEL: &str = "relabel_dropped";
    /// An octet count above `max_message_length` (the connection is closed: framing is lost),
    /// or a non-transparent message above ferrotail's 1 MiB bound (skipped).
    pub const TOO_LARGE: &str = "message_too_large";
    /// A broken octet count or frame: the connection is closed.
    pub const FRAMING: &str = "framing_error";
    /// A connection closed in the middle of an octet-counted frame.
    pub const TRUNCATED: &str = "truncated_frame";
    /// A connection whose first byte is neither `<` nor a digit: closed.
    pub const INVALID_FRAMING: &str = "invalid_framing";
    /// A connection closed after `idle_timeout` without data (counted once per connection).
    pub const IDLE: &str = "idle_timeout";
    /// A connection refused over `max_connections`.
    pub const CONNECTION_LIMIT: &str = "connection_limit";
    /// A TLS handshake that failed or did not finish within `idle_timeout`.
    pub const TLS_HANDSHAKE: &str = "tls_handshake";
    /// UDP messages received while the pipeline was full and the receiver's backlog too.
    pub const PIPELINE_FULL: &str = "pipeline_full";
}

/// Counter handles of the per-message path.
#[derive(Clone)]
pub struct Counters {
    /// [`ENTRIES`].
    pub entries: Counter,
    /// [`PARSING_ERRORS`].
    pub parsing_errors: Counter,
    /// [`EMPTY_MESSAGES`].
    pub empty_messages: Counter,
    /// [`DROPPED`] `parse_error`.
    pub dropped_parse: Counter,
    /// [`DROPPED`] `empty_message`.
    pub dropped_empty: Counter,
    /// [`DROPPED`] `relabel_dropped`.
    pub dropped_relabel: Counter,
}

impl Counters {
    /// Registers the handles (and so the series, at 0).
    pub fn new() -> Counters {
        let c = Counters {
            entries: metrics::counter!(ENTRIES),
            parsing_errors: metrics::counter!(PARSING_ERRORS),
            empty_messages: metrics::counter!(EMPTY_MESSAGES),
            dropped_parse: dropped(reason::PARSE_ERROR),
            dropped_empty: dropped(reason::EMPTY),
            dropped_relabel: dropped(reason::RELABEL),
        };
        for c in [&c.entries, &c.parsing_errors, &c.empty_messages] {
            c.increment(0);
        }
        c
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

/// The [`DROPPED`] counter of `reason`.
pub fn dropped(reason: &'static str) -> Counter {
    metrics::counter!(DROPPED, "reason" => reason)
}

/// Registers the HELP texts.
pub fn describe() {
    describe_counter!(
        ENTRIES,
        "Total number of successful entries sent to the syslog target"
    );
    describe_counter!(
        PARSING_ERRORS,
        "Total number of parsing errors while receiving syslog messages"
    );
    describe_counter!(
        EMPTY_MESSAGES,
        "Total number of empty messages receiving from syslog"
    );
    describe_counter!(
        DROPPED,
        "Syslog messages or connections dropped by ferrotail's syslog receiver, by reason."
    );
    describe_gauge!(CONNECTIONS, "Open syslog TCP connections.");
}
