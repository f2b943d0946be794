//! Metric names, Promtail-compatible, and their HELP texts.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// Compressed bytes of encoded batches (`host`).
pub const ENCODED_BYTES: &str = "promtail_encoded_bytes_total";
/// Compressed bytes successfully sent (`host`).
pub const SENT_BYTES: &str = "promtail_sent_bytes_total";
/// Entries successfully sent (`host`).
pub const SENT_ENTRIES: &str = "promtail_sent_entries_total";
/// Bytes dropped (`host`, `tenant`, `reason`).
pub const DROPPED_BYTES: &str = "promtail_dropped_bytes_total";
/// Entries dropped (`host`, `tenant`, `reason`).
pub const DROPPED_ENTRIES: &str = "promtail_dropped_entries_total";
/// Entries truncated (`host`, `tenant`, `reason`).
pub const MUTATED_ENTRIES: &str = "promtail_mutated_entries_total";
/// Bytes removed by truncation (`host`, `tenant`, `reason`).
pub const MUTATED_BYTES: &str = "promtail_mutated_bytes_total";
/// Push duration per attempt (`status_code`, `host`).
pub const REQUEST_DURATION: &str = "promtail_request_duration_seconds";
/// Failed push attempts (`host`, `tenant`).
pub const BATCH_RETRIES: &str = "promtail_batch_retries_total";
/// Build information.
pub const BUILD_INFO: &str = "promtail_build_info";
/// Successful config reloads.
pub const RELOAD_SUCCESS: &str = "promtail_config_reload_success_total";
/// Failed config reloads.
pub const RELOAD_FAIL: &str = "promtail_config_reload_fail_total";
/// Read offset per file (a gauge despite the name, as in Promtail) (`path`).
pub const READ_BYTES: &str = "promtail_read_bytes_total";
/// File size (`path`).
pub const FILE_BYTES: &str = "promtail_file_bytes_total";
/// Lines read (`path`).
pub const READ_LINES: &str = "promtail_read_lines_total";
/// Files being tailed.
pub const FILES_ACTIVE: &str = "promtail_files_active_total";
/// Active file targets.
pub const TARGETS_ACTIVE: &str = "promtail_targets_active_total";
/// Targets that failed (`reason`).
pub const TARGETS_FAILED: &str = "promtail_targets_failed_total";
/// Docker entries read.
pub const DOCKER_ENTRIES: &str = "promtail_docker_target_entries_total";
/// Docker lines that could not be parsed.
pub const DOCKER_PARSING_ERRORS: &str = "promtail_docker_target_parsing_errors_total";
/// ferrotail: lines cut at the reader's safety cap (`path`).
pub const TRUNCATED_LINES: &str = "ferrotail_reader_truncated_lines_total";
/// ferrotail: json-file logs dockerd's rotation (`max-file`) deleted before ferrotail had read
/// them to their end (`container`, `reason`). Counted in files: how many lines a deleted file
/// held cannot be known.
pub const DOCKER_ROTATED_UNREAD_FILES: &str = "ferrotail_docker_rotated_unread_files_total";
/// ferrotail: bytes of the files counted in [`DOCKER_ROTATED_UNREAD_FILES`] with reason
/// `deleted_unread`, as last seen (`container`): a lower bound of what was lost.
pub const DOCKER_ROTATED_UNREAD_BYTES: &str = "ferrotail_docker_rotated_unread_bytes_total";
/// ferrotail: the offset up to which every line of a file was accepted by Loki, what the positions
/// file saves (`path`). `promtail_read_bytes_total` minus this is what is in flight.
pub const ACKNOWLEDGED_BYTES: &str = "ferrotail_acknowledged_bytes";

/// The series removed when their file or container is no longer read (see [`super::series`]).
pub const TARGET_SERIES: &[&str] = &[
    READ_BYTES,
    FILE_BYTES,
    READ_LINES,
    TRUNCATED_LINES,
    ACKNOWLEDGED_BYTES,
    DOCKER_ROTATED_UNREAD_FILES,
    DOCKER_ROTATED_UNREAD_BYTES,
];

/// ferrotail: tenants a client holds state for: an open batch, or batches queued or being
/// pushed (`host`). Tenants seen once (a `tenant` stage) are released when their batch is
/// answered, so this stays near the number of tenants in use.
pub const CLIENT_TENANTS: &str = "ferrotail_client_tenants";

/// ferrotail: lines a pipeline stage could not process and passed on as Promtail does (a line
/// that is not JSON, a time that does not parse, a failing template) (`job`, `stage`).
pub const STAGE_ERRORS: &str = "ferrotail_stage_errors_total";

/// Registers HELP texts for the metrics above.
pub fn describe(file_jobs: bool, docker_jobs: bool) {
    describe_counter!(
        ENCODED_BYTES,
        Unit::Bytes,
        "Number of bytes encoded and ready to send."
    );
    describe_counter!(SENT_BYTES, Unit::Bytes, "Number of bytes sent.");
    describe_counter!(SENT_ENTRIES, "Number of log entries sent to the ingester.");
    describe_counter!(
        DROPPED_BYTES,
        Unit::Bytes,
        "Number of bytes dropped because failed to be sent to the ingester after all retries."
    );
    describe_counter!(DROPPED_ENTRIES, "Number of log entries dropped because failed to be sent to the ingester after all retries.");
    describe_counter!(
        MUTATED_ENTRIES,
        "The total number of log entries that have been mutated."
    );
    describe_counter!(
        MUTATED_BYTES,
        Unit::Bytes,
        "The total number of bytes that have been mutated."
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Duration of send requests."
    );
    describe_counter!(
        BATCH_RETRIES,
        "Number of times batches has had to be retried."
    );
    describe_gauge!(BUILD_INFO, "A metric with a constant '1' value labeled by version, revision, branch, goversion from which promtail was built, and the goos and goarch for the build.");
    describe_gauge!(
        CLIENT_TENANTS,
        "Tenants the client holds an open batch or batches in flight for."
    );
    describe_counter!(
        STAGE_ERRORS,
        "Lines a pipeline stage could not process (passed on unchanged by that stage)."
    );
    describe_counter!(RELOAD_SUCCESS, "Number of reload success times.");
    describe_counter!(RELOAD_FAIL, "Number of reload fail times.");
    if file_jobs {
        describe_gauge!(READ_BYTES, "Number of bytes read.");
        describe_gauge!(FILE_BYTES, "Number of bytes total.");
        describe_counter!(READ_LINES, "Number of lines read.");
        describe_gauge!(FILES_ACTIVE, "Number of active files.");
        describe_gauge!(
            ACKNOWLEDGED_BYTES,
            Unit::Bytes,
            "Offset up to which every line of the file was accepted by Loki (the saved position)."
        );
        describe_gauge!(TARGETS_ACTIVE, "Number of active total.");
        describe_counter!(TARGETS_FAILED, "Number of failed targets.");
        describe_counter!(
            TRUNCATED_LINES,
            "Lines longer than the reader's safety cap, truncated."
        );
    }
    if docker_jobs {
        describe_counter!(
            DOCKER_ENTRIES,
            "Total number of successful entries sent to the Docker target"
        );
        describe_counter!(
            DOCKER_PARSING_ERRORS,
            "Total number of parsing errors while receiving Docker messages"
        );
        describe_counter!(
            DOCKER_ROTATED_UNREAD_FILES,
            "Container json-file logs that dockerd's rotation deleted before ferrotail had read them to their end: reason deleted_unread (none of its lines were read) or deleted_while_stopped (the file being read when ferrotail stopped; lines after the saved offset, if any, are lost)."
        );
        describe_counter!(
            DOCKER_ROTATED_UNREAD_BYTES,
            Unit::Bytes,
            "Bytes of container json-file logs that dockerd's rotation deleted before ferrotail read any of them (their size when last seen, a lower bound)."
        );
    }
}

/// Updates the `process_*` metrics (CPU seconds, resident and virtual memory, open and maximum
/// file descriptors, start time), as Promtail's Go client exposes them. Called on every scrape.
pub fn collect_process() {
    static COLLECTOR: std::sync::OnceLock<metrics_process::Collector> = std::sync::OnceLock::new();
    COLLECTOR
        .get_or_init(|| {
            let c = metrics_process::Collector::default();
            c.describe();
            c
        })
        .collect();
}
