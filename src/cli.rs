//! Promtail's command line, in Go `flag` syntax: `-flag=value`, `-flag value`, `--flag=value`,
//! and bool flags as `-flag` or `-flag=false`.

use std::time::Duration;

use crate::config::Overrides;
use gocompat::units::parse_go_duration;

/// Parsed flags.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `-config.file`.
    pub config_file: Option<String>,
    /// `-config.expand-env`.
    pub expand_env: bool,
    /// `-dry-run`.
    pub dry_run: bool,
    /// `-check-syntax`.
    pub check_syntax: bool,
    /// `-print-config-stderr`.
    pub print_config_stderr: bool,
    /// `-log-config-reverse-order`.
    pub log_config_reverse_order: bool,
    /// `-inspect`.
    pub inspect: bool,
    /// `-version`.
    pub version: bool,
    /// `-help`.
    pub help: bool,
    /// Values that override the file.
    pub overrides: Overrides,
    /// Flags given that ferrotail accepts and does nothing with (gRPC, request logging,
    /// profiling, tracing): one warning each.
    pub warnings: Vec<String>,
}

/// What went wrong on the command line (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// An unknown flag.
    #[error("flag provided but not defined: -{0}")]
    Unknown(String),
    /// A flag needing a value got none.
    #[error("flag needs an argument: -{0}")]
    MissingValue(String),
    /// A value that does not parse.
    #[error("invalid value {value:?} for flag -{flag}: {reason}")]
    BadValue {
        /// The flag.
        flag: String,
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Value,
}

/// Every flag Promtail 3.4.6 defines, with its kind and help text. Flags ferrotail has no use
/// for are accepted and ignored so existing command lines keep working.
const FLAGS: &[(&str, Kind, &str)] = &[
    ("config.file", Kind::Value, "yaml file to load"),
    ("config.expand-env", Kind::Bool, "Expands ${var} in config according to the values of the environment variables."),
    ("dry-run", Kind::Bool, "Start Promtail but print entries instead of sending them to Loki."),
    ("check-syntax", Kind::Bool, "Validate the config file of its syntax"),
    ("inspect", Kind::Bool, "Allows for detailed inspection of pipeline stages"),
    ("print-config-stderr", Kind::Bool, "Dump the entire Loki config object to stderr."),
    ("log-config-reverse-order", Kind::Bool, "Dump the entire Loki config object at Info log level with the order reversed, reversing the order makes viewing the entries easier in Grafana."),
    ("version", Kind::Bool, "Print this builds version information"),
    ("help", Kind::Bool, "Print usage"),
    ("h", Kind::Bool, "Print usage"),
    ("log.level", Kind::Value, "Only log messages with the given severity or above. Valid levels: [debug, info, warn, error] (default info)"),
    ("log.format", Kind::Value, "Output log messages in the given format. Valid formats: [logfmt, json] (default logfmt)"),
    ("server.http-listen-address", Kind::Value, "HTTP server listen address."),
    ("server.http-listen-port", Kind::Value, "HTTP server listen port. (default 80)"),
    ("server.http-listen-network", Kind::Value, "HTTP server listen network, default tcp (default \"tcp\")"),
    ("server.grpc-listen-address", Kind::Value, "gRPC server listen address (ignored: ferrotail serves no gRPC)."),
    ("server.grpc-listen-port", Kind::Value, "gRPC server listen port (ignored)."),
    ("server.grpc-listen-network", Kind::Value, "gRPC server listen network (ignored)."),
    ("server.http-conn-limit", Kind::Value, "Maximum number of simultaneous http connections, <=0 to disable"),
    ("server.grpc-conn-limit", Kind::Value, "Ignored."),
    ("server.http-read-timeout", Kind::Value, "Read timeout for entire HTTP request, including headers and body. (default 30s)"),
    ("server.http-read-header-timeout", Kind::Value, "Read timeout for HTTP request headers."),
    ("server.http-write-timeout", Kind::Value, "Write timeout for HTTP server (default 30s)"),
    ("server.http-idle-timeout", Kind::Value, "Idle timeout for HTTP server (default 2m0s)"),
    ("server.graceful-shutdown-timeout", Kind::Value, "Timeout for graceful shutdowns (default 30s)"),
    ("server.path-prefix", Kind::Value, "Base path to serve all API routes from (e.g. /v1/)"),
    ("server.register-instrumentation", Kind::Bool, "Register the intrumentation handlers (/metrics etc). (default true)"),
    ("server.disable", Kind::Bool, "Disable the HTTP and GRPC server."),
    ("server.profiling_enabled", Kind::Bool, "Ignored."),
    ("server.enable-runtime-reload", Kind::Bool, "Enable reload config via /reload endpoint."),
    ("server.proxy-protocol-enabled", Kind::Bool, "Ignored."),
    ("server.http-tls-cert-path", Kind::Value, "HTTP server cert path."),
    ("server.http-tls-key-path", Kind::Value, "HTTP server key path."),
    ("server.http-tls-ca-path", Kind::Value, "HTTP TLS Client CA path."),
    ("server.http-tls-client-auth", Kind::Value, "HTTP TLS Client Auth type."),
    ("server.grpc-tls-cert-path", Kind::Value, "Ignored."),
    ("server.grpc-tls-key-path", Kind::Value, "Ignored."),
    ("server.grpc-tls-ca-path", Kind::Value, "Ignored."),
    ("server.grpc-tls-client-auth", Kind::Value, "Ignored."),
    ("server.tls-cipher-suites", Kind::Value, "Ignored."),
    ("server.tls-min-version", Kind::Value, "Ignored."),
    ("client.url", Kind::Value, "URL of log server (deprecated)."),
    ("client.batch-wait", Kind::Value, "Maximum wait period before sending batch. (default 1s)"),
    ("client.batch-size-bytes", Kind::Value, "Maximum batch size to accrue before sending. (default 1048576)"),
    ("client.max-retries", Kind::Value, "Maximum number of retries when sending batches. (default 10)"),
    ("client.min-backoff", Kind::Value, "Initial backoff time between retries. (default 500ms)"),
    ("client.max-backoff", Kind::Value, "Maximum backoff time between retries. (default 5m0s)"),
    ("client.timeout", Kind::Value, "Maximum time to wait for server to respond to a request (default 10s)"),
    ("client.tenant-id", Kind::Value, "Tenant ID to use when pushing logs to Loki."),
    ("client.drop-rate-limited-batches", Kind::Bool, "Drop batches that are rate limited."),
    ("client.external-labels", Kind::Value, "list of external labels to add to each log (e.g: --client.external-labels=lb1=v1,lb2=v2)"),
    ("positions.file", Kind::Value, "Location to read/write positions from. (default \"/var/log/positions.yaml\")"),
    ("positions.sync-period", Kind::Value, "Period with this to sync the position file. (default 10s)"),
    ("positions.ignore-invalid-yaml", Kind::Bool, "whether to ignore & later overwrite positions files that are corrupted"),
    ("target.sync-period", Kind::Value, "Period to resync directories being watched and files being tailed. (default 10s)"),
    ("stdin", Kind::Bool, "Set to true to pipe logs to promtail."),
    ("file-watch.min_poll_frequency", Kind::Value, "Minimum period to poll for file changes (default 250ms)"),
    ("file-watch.max_poll_frequency", Kind::Value, "Maximum period to poll for file changes (default 250ms)"),
    ("limit.readline-rate", Kind::Value, "The rate limit in lines per second. (default 10000)"),
    ("limit.readline-burst", Kind::Value, "The cap in the quantity of burst lines. (default 10000)"),
    ("limit.readline-rate-enabled", Kind::Bool, "When enable, the rate limit will be applied."),
    ("limit.readline-rate-drop", Kind::Bool, "When true, exceeds the rate limit reading log will be dropped. (default true)"),
    ("max-streams", Kind::Value, "Max active streams the client can have."),
    ("max-line-size", Kind::Value, "Maximum log line byte size allowed without dropping."),
    ("max-line-size-truncate", Kind::Bool, "Whether to truncate lines that exceed max_line_size."),
    ("tracing.enabled", Kind::Bool, "Ignored: ferrotail exports no traces."),
    ("tracing.profiling-enabled", Kind::Bool, "Ignored."),
    ("server.grpc-max-recv-msg-size-bytes", Kind::Value, "Ignored (no gRPC server)."),
    ("server.grpc-max-send-msg-size-bytes", Kind::Value, "Ignored (no gRPC server)."),
    ("server.grpc-max-concurrent-streams", Kind::Value, "Ignored (no gRPC server)."),
    ("server.grpc.keepalive.max-connection-idle", Kind::Value, "Ignored (no gRPC server)."),
    ("server.grpc.keepalive.max-connection-age", Kind::Value, "Ignored (no gRPC server)."),
    ("server.grpc.keepalive.max-connection-age-grace", Kind::Value, "Ignored (no gRPC server)."),
    ("server.grpc.keepalive.time", Kind::Value, "Ignored (no gRPC server)."),
    ("server.grpc.keepalive.timeout", Kind::Value, "Ignored (no gRPC server)."),
    ("server.grpc.keepalive.min-time-between-pings", Kind::Value, "Ignored (no gRPC server)."),
    ("server.grpc.keepalive.ping-without-stream-allowed", Kind::Bool, "Ignored (no gRPC server)."),
    ("server.grpc.num-workers", Kind::Value, "Ignored (no gRPC server)."),
    ("server.grpc.stats-tracking-enabled", Kind::Bool, "Ignored (no gRPC server)."),
    ("server.grpc.recv-buffer-pools-enabled", Kind::Bool, "Ignored (no gRPC server)."),
    ("server.report-grpc-codes-in-instrumentation-label-enabled", Kind::Bool, "Ignored (no gRPC server)."),
    ("server.http-log-closed-connections-without-response-enabled", Kind::Bool, "Ignored (no request logging)."),
    ("server.log-source-ips-enabled", Kind::Bool, "Ignored (no request logging)."),
    ("server.log-source-ips-full", Kind::Bool, "Ignored (no request logging)."),
    ("server.log-source-ips-header", Kind::Value, "Ignored (no request logging)."),
    ("server.log-source-ips-regex", Kind::Value, "Ignored (no request logging)."),
    ("server.log-request-headers", Kind::Bool, "Ignored (no request logging)."),
    ("server.log-request-at-info-level-enabled", Kind::Bool, "Ignored (no request logging)."),
    ("server.log-request-headers-exclude-list", Kind::Value, "Ignored (no request logging)."),
];

/// The flags ferrotail accepts with a warning: they cannot change what reaches Loki or who can
/// read ferrotail's endpoints.
pub fn is_warned_flag(name: &str) -> bool {
    name.starts_with("server.grpc")
        || name.starts_with("tracing.")
        || name.starts_with("server.log-")
        || matches!(
            name,
            "server.profiling_enabled"
                | "server.report-grpc-codes-in-instrumentation-label-enabled"
                | "server.http-log-closed-connections-without-response-enabled"
        )
}

/// The usage text (`-help`).
pub fn usage() -> String {
    let mut s = String::from("Usage of ferrotail (Promtail-compatible flags):\n");
    for (name, kind, help) in FLAGS {
        if *name == "h" {
            continue;
        }
        match kind {
            Kind::Bool => s.push_str(&format!("  -{name}\n    \t{help}\n")),
            Kind::Value => s.push_str(&format!("  -{name} value\n    \t{help}\n")),
        }
    }
    s
}

fn parse_bool(flag: &str, v: &str) -> Result<bool, FlagError> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(FlagError::BadValue {
            flag: flag.into(),
            value: v.into(),
            reason: "parse error".into(),
        }),
    }
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Flags, FlagError> {
    let mut f = Flags::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            break;
        }
        let body = arg.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        let Some((_, kind, _)) = FLAGS.iter().find(|(n, _, _)| *n == name) else {
            return Err(FlagError::Unknown(name));
        };
        let value = match (kind, inline) {
            (Kind::Bool, Some(v)) => v,
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Value, Some(v)) => v,
            (Kind::Value, None) => it
                .next()
                .ok_or_else(|| FlagError::MissingValue(name.clone()))?,
        };
        apply(&mut f, &name, &value)?;
    }
    Ok(f)
}

fn apply(f: &mut Flags, name: &str, v: &str) -> Result<(), FlagError> {
    let bad = |reason: String| FlagError::BadValue {
        flag: name.into(),
        value: v.into(),
        reason,
    };
    // Go's flag package reports any number or duration that does not parse as `parse error`,
    // and a number that does not fit as `value out of range`.
    let dur = |v: &str| -> Result<Duration, FlagError> {
        parse_go_duration(v).map_err(|_| bad("parse error".into()))
    };
    fn num<T: std::str::FromStr<Err = std::num::ParseIntError>>(v: &str) -> Result<T, String> {
        v.parse::<T>().map_err(|e| match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range".to_string()
            }
            _ => "parse error".to_string(),
        })
    }
    let boolean = |v: &str| parse_bool(name, v);
    let o = &mut f.overrides;
    match name {
        "config.file" => f.config_file = Some(v.to_string()),
        "config.expand-env" => f.expand_env = parse_bool(name, v)?,
        "dry-run" => f.dry_run = parse_bool(name, v)?,
        "check-syntax" => f.check_syntax = parse_bool(name, v)?,
        "inspect" => f.inspect = parse_bool(name, v)?,
        "print-config-stderr" => f.print_config_stderr = parse_bool(name, v)?,
        "log-config-reverse-order" => f.log_config_reverse_order = parse_bool(name, v)?,
        "version" => f.version = parse_bool(name, v)?,
        "help" | "h" => f.help = parse_bool(name, v)?,
        "log.level" => {
            crate::telemetry::logging::parse_level(v).map_err(bad)?;
            o.log_level = Some(v.to_string());
        }
        "log.format" => o.log_format = Some(v.to_string()),
        "server.http-listen-address" => o.listen_address = Some(v.to_string()),
        "server.http-listen-port" => o.listen_port = Some(num(v).map_err(bad)?),
        "server.enable-runtime-reload" => o.enable_runtime_reload = Some(parse_bool(name, v)?),
        "client.url" => o.client_url = Some(v.to_string()),
        "client.tenant-id" => o.client_tenant_id = Some(v.to_string()),
        "client.batch-wait" => o.client_batch_wait = Some(dur(v)?),
        "client.batch-size-bytes" => o.client_batch_size = Some(num(v).map_err(bad)?),
        "client.max-retries" => o.client_max_retries = Some(num(v).map_err(bad)?),
        "client.min-backoff" => o.client_min_backoff = Some(dur(v)?),
        "client.max-backoff" => o.client_max_backoff = Some(dur(v)?),
        "client.timeout" => o.client_timeout = Some(dur(v)?),
        "client.drop-rate-limited-batches" => {
            o.client_drop_rate_limited_batches = Some(boolean(v)?)
        }
        "positions.sync-period" => o.positions_sync_period = Some(dur(v)?),
        "positions.ignore-invalid-yaml" => o.positions_ignore_invalid_yaml = Some(boolean(v)?),
        "target.sync-period" => o.target_sync_period = Some(dur(v)?),
        "server.graceful-shutdown-timeout" => o.graceful_shutdown_timeout = Some(dur(v)?),
        "server.path-prefix" => o.path_prefix = Some(v.to_string()),
        "server.http-read-timeout" => o.http_timeouts[0] = Some(dur(v)?),
        "server.http-read-header-timeout" => o.http_timeouts[1] = Some(dur(v)?),
        "server.http-write-timeout" => o.http_timeouts[2] = Some(dur(v)?),
        "server.http-idle-timeout" => o.http_timeouts[3] = Some(dur(v)?),
        "server.http-conn-limit" => {
            // An int flag in Promtail; <= 0 disables the limit.
            let n: i64 = num(v).map_err(bad)?;
            o.http_conn_limit = Some(u32::try_from(n.max(0)).unwrap_or(u32::MAX));
        }
        "server.http-listen-network" => o.http_listen_network = Some(v.to_string()),
        "server.disable" => o.server_disable = Some(boolean(v)?),
        "server.http-tls-cert-path" => o.http_tls[0] = Some(v.to_string()),
        "server.http-tls-key-path" => o.http_tls[1] = Some(v.to_string()),
        "server.http-tls-client-auth" => o.http_tls[2] = Some(v.to_string()),
        "server.http-tls-ca-path" => o.http_tls[3] = Some(v.to_string()),
        "stdin" => o.stdin = Some(boolean(v)?),
        "server.tls-min-version" => o.tls_min_version = Some(v.to_string()),
        "server.tls-cipher-suites" => o.tls_cipher_suites = Some(v.to_string()),
        "server.proxy-protocol-enabled" => o.proxy_protocol_enabled = Some(boolean(v)?),
        "server.register-instrumentation" => o.register_instrumentation = Some(boolean(v)?),
        "file-watch.min_poll_frequency" => o.min_poll_frequency = Some(dur(v)?),
        "file-watch.max_poll_frequency" => o.max_poll_frequency = Some(dur(v)?),
        "limit.readline-rate" => {
            o.readline_rate = Some(v.parse().map_err(|_| bad("parse error".into()))?)
        }
        "limit.readline-burst" => o.readline_burst = Some(num(v).map_err(bad)?),
        "limit.readline-rate-enabled" => o.readline_rate_enabled = Some(boolean(v)?),
        "limit.readline-rate-drop" => o.readline_rate_drop = Some(boolean(v)?),
        "max-streams" => o.max_streams = Some(num(v).map_err(bad)?),
        "max-line-size" => {
            o.max_line_size = Some(gocompat::units::parse_byte_size(v).map_err(bad)?)
        }
        "max-line-size-truncate" => o.max_line_size_truncate = Some(boolean(v)?),
        "client.external-labels" => {
            for pair in v.split(',').filter(|p| !p.is_empty()) {
                let (k, val) = pair
                    .split_once('=')
                    .ok_or_else(|| bad(format!("{pair:?} is not k=v")))?;
                o.client_external_labels
                    .push((k.trim().to_string(), val.trim().to_string()));
            }
        }
        "positions.file" => o.positions_file = Some(v.to_string()),
        _ => {
            // Accepted for compatibility, with a warning; bools are still checked.
            if let Some((_, Kind::Bool, _)) = FLAGS.iter().find(|(n, _, _)| *n == name) {
                parse_bool(name, v)?;
            }
            if is_warned_flag(name) {
                f.warnings.push(format!(
                    "flag -{name} is accepted and has no effect in ferrotail (no gRPC server, request logging, profiling or tracing)"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Flags, FlagError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn go_flag_syntax() {
        for args in [
            vec!["-config.file=/etc/promtail/config.yml"],
            vec!["-config.file", "/etc/promtail/config.yml"],
            vec!["--config.file=/etc/promtail/config.yml"],
            vec!["--config.file", "/etc/promtail/config.yml"],
        ] {
            assert_eq!(
                p(&args).unwrap().config_file.as_deref(),
                Some("/etc/promtail/config.yml"),
                "{args:?}"
            );
        }
        let f = p(&[
            "-dry-run",
            "-config.expand-env=true",
            "-check-syntax=false",
            "-client.external-labels=a=1,b=2",
            "-server.http-listen-port",
            "9080",
        ])
        .unwrap();
        assert!(f.dry_run && f.expand_env && !f.check_syntax);
        assert_eq!(f.overrides.client_external_labels.len(), 2);
        assert_eq!(f.overrides.listen_port, Some(9080));
    }

    /// Every flag Promtail defines that sets a config value, with Go's messages for bad values.
    #[test]
    fn value_flags_set_their_overrides() {
        let f = p(&[
            "-client.url=http://loki/loki/api/v1/push",
            "-client.max-retries=3",
            "-client.min-backoff=100ms",
            "-client.max-backoff=1m",
            "-client.timeout=5s",
            "-client.drop-rate-limited-batches",
            "-positions.sync-period=2s",
            "-positions.ignore-invalid-yaml",
            "-target.sync-period=3s",
            "-server.graceful-shutdown-timeout=7s",
            "-server.path-prefix=/p/",
            "-server.http-read-timeout=1s",
            "-server.http-idle-timeout=4s",
            "-server.http-conn-limit=-1",
            "-file-watch.min_poll_frequency=50ms",
            "-file-watch.max_poll_frequency=1s",
            "-limit.readline-rate=12.5",
            "-limit.readline-burst=20",
            "-limit.readline-rate-enabled",
            "-limit.readline-rate-drop=false",
            "-max-streams=9",
            "-max-line-size=1kb",
            "-max-line-size-truncate",
        ])
        .unwrap();
        let o = &f.overrides;
        assert_eq!(o.client_max_retries, Some(3));
        assert_eq!(o.client_min_backoff, Some(Duration::from_millis(100)));
        assert_eq!(o.client_max_backoff, Some(Duration::from_secs(60)));
        assert_eq!(o.client_timeout, Some(Duration::from_secs(5)));
        assert_eq!(o.client_drop_rate_limited_batches, Some(true));
        assert_eq!(o.positions_sync_period, Some(Duration::from_secs(2)));
        assert_eq!(o.positions_ignore_invalid_yaml, Some(true));
        assert_eq!(o.target_sync_period, Some(Duration::from_secs(3)));
        assert_eq!(o.graceful_shutdown_timeout, Some(Duration::from_secs(7)));
        assert_eq!(o.path_prefix.as_deref(), Some("/p/"));
        assert_eq!(o.http_timeouts[0], Some(Duration::from_secs(1)));
        assert_eq!(o.http_timeouts[3], Some(Duration::from_secs(4)));
        assert_eq!(o.http_conn_limit, Some(0));
        assert_eq!(o.min_poll_frequency, Some(Duration::from_millis(50)));
        assert_eq!(o.readline_rate, Some(12.5));
        assert_eq!(o.readline_burst, Some(20));
        assert_eq!(o.readline_rate_enabled, Some(true));
        assert_eq!(o.readline_rate_drop, Some(false));
        assert_eq!(o.max_streams, Some(9));
        assert_eq!(o.max_line_size, Some(1024));
        assert_eq!(o.max_line_size_truncate, Some(true));
        for (arg, msg) in [
            (
                "-client.max-retries=ten",
                r#"invalid value "ten" for flag -client.max-retries: parse error"#,
            ),
            (
                "-client.timeout=5",
                r#"invalid value "5" for flag -client.timeout: parse error"#,
            ),
            (
                "-server.http-listen-port=70000",
                r#"invalid value "70000" for flag -server.http-listen-port: value out of range"#,
            ),
            (
                "-positions.ignore-invalid-yaml=maybe",
                r#"invalid value "maybe" for flag -positions.ignore-invalid-yaml: parse error"#,
            ),
        ] {
            assert_eq!(p(&[arg]).unwrap_err().to_string(), msg, "{arg}");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            p(&["-bogus"]).unwrap_err().to_string(),
            "flag provided but not defined: -bogus"
        );
        assert!(matches!(
            p(&["-config.file"]),
            Err(FlagError::MissingValue(_))
        ));
        assert!(p(&["-log.level=loud"]).is_err());
        assert!(p(&["-client.batch-wait=1d"]).is_err());
    }
}
