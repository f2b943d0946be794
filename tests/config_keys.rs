//! Every key of Promtail 3.4.6's configuration reference and every flag of `promtail -help`
//! (`../shared/reference/promtail-facts.md`, §1.2 and §2) is in one of three classes:
//!
//! * `Implemented`: read, with Promtail's meaning;
//! * `Refused`: start-up and `-check-syntax` fail with `not supported: <key>`;
//! * `Warned`: accepted with one warning naming it, only where it cannot change what reaches
//!   Loki or who can read ferrotail's endpoints (gRPC, request logging, profiling, tracing).
//!
//! The table covers the top-level blocks, `server`, `clients[]`, `positions`, `scrape_configs[]`
//! (and the keys of `journal`, `syslog`, `loki_push_api`, `gelf`, `docker_sd_configs`),
//! `target_config`, `limits_config`, `tracing`, `wal`, `options`, and every stage of
//! `pipeline_stages` with each of its keys (`../shared/reference/stage-facts.md`, §0 and §3;
//! a stage's keys are named `<stage>.<key>`, a stage without keys by its name). The tests drive the binary
//! with `-check-syntax`. They also fail when `src/config/raw.rs`
//! parses a key into an ignored value (`Ignored`) that the table does not warn about or refuse,
//! when a flag is accepted that the table does not list, and when the README's compatibility
//! section does not say what the table says.

use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Implemented,
    Refused,
    Warned,
}
use Class::*;

/// `(key path, YAML that sets it, class)`. The YAML is merged into a valid base config:
/// `server.x: v` lines go under `server:`, and so on (see [`config_with`]).
const KEYS: &[(&str, &str, Class)] = &[
    // Top level.
    (
        "global",
        "global: {file_watch_config: {min_poll_frequency: 100ms}}",
        Implemented,
    ),
    (
        "client",
        "client: {url: 'http://127.0.0.1:3100/loki/api/v1/push', batchwait: 2s}",
        Implemented,
    ),
    ("options", "options: {}", Implemented),
    ("wal", "wal: {enabled: true}", Refused),
    // server
    (
        "server.http_listen_port",
        "server.http_listen_port: 0",
        Implemented,
    ),
    (
        "server.http_listen_address",
        "server.http_listen_address: 127.0.0.1",
        Implemented,
    ),
    (
        "server.http_listen_network",
        "server.http_listen_network: tcp4",
        Implemented,
    ),
    (
        "server.http_listen_conn_limit",
        "server.http_listen_conn_limit: 10",
        Implemented,
    ),
    (
        "server.register_instrumentation",
        "server.register_instrumentation: false",
        Implemented,
    ),
    ("server.log_level", "server.log_level: warn", Implemented),
    ("server.log_format", "server.log_format: json", Implemented),
    (
        "server.http_path_prefix",
        "server.http_path_prefix: /p",
        Implemented,
    ),
    (
        "server.external_url",
        "server.external_url: http://x/",
        Implemented,
    ),
    (
        "server.health_check_target",
        "server.health_check_target: false",
        Implemented,
    ),
    ("server.disable", "server.disable: true", Implemented),
    (
        "server.enable_runtime_reload",
        "server.enable_runtime_reload: true",
        Implemented,
    ),
    (
        "server.graceful_shutdown_timeout",
        "server.graceful_shutdown_timeout: 5s",
        Implemented,
    ),
    (
        "server.http_server_read_timeout",
        "server.http_server_read_timeout: 5s",
        Implemented,
    ),
    (
        "server.http_server_read_header_timeout",
        "server.http_server_read_header_timeout: 5s",
        Implemented,
    ),
    (
        "server.http_server_write_timeout",
        "server.http_server_write_timeout: 5s",
        Implemented,
    ),
    (
        "server.http_server_idle_timeout",
        "server.http_server_idle_timeout: 5s",
        Implemented,
    ),
    (
        "server.http_tls_config",
        "server.http_tls_config: {client_auth_type: RequireAndVerifyClientCert}",
        Implemented,
    ),
    (
        "server.tls_min_version",
        "server.tls_min_version: VersionTLS13",
        Implemented,
    ),
    (
        "server.tls_cipher_suites",
        "server.tls_cipher_suites: TLS_AES_128_GCM_SHA256",
        Refused,
    ),
    (
        "server.proxy_protocol_enabled",
        "server.proxy_protocol_enabled: true",
        Refused,
    ),
    (
        "server.profiling_enabled",
        "server.profiling_enabled: true",
        Warned,
    ),
    (
        "server.grpc_listen_port",
        "server.grpc_listen_port: 0",
        Warned,
    ),
    (
        "server.grpc_listen_address",
        "server.grpc_listen_address: 127.0.0.1",
        Warned,
    ),
    (
        "server.grpc_listen_network",
        "server.grpc_listen_network: tcp",
        Warned,
    ),
    (
        "server.grpc_listen_conn_limit",
        "server.grpc_listen_conn_limit: 1",
        Warned,
    ),
    (
        "server.grpc_server_max_recv_msg_size",
        "server.grpc_server_max_recv_msg_size: 1",
        Warned,
    ),
    (
        "server.grpc_server_max_send_msg_size",
        "server.grpc_server_max_send_msg_size: 1",
        Warned,
    ),
    (
        "server.grpc_server_max_concurrent_streams",
        "server.grpc_server_max_concurrent_streams: 1",
        Warned,
    ),
    (
        "server.grpc_server_max_connection_idle",
        "server.grpc_server_max_connection_idle: 1s",
        Warned,
    ),
    (
        "server.grpc_server_max_connection_age",
        "server.grpc_server_max_connection_age: 1s",
        Warned,
    ),
    (
        "server.grpc_server_max_connection_age_grace",
        "server.grpc_server_max_connection_age_grace: 1s",
        Warned,
    ),
    (
        "server.grpc_server_keepalive_time",
        "server.grpc_server_keepalive_time: 1s",
        Warned,
    ),
    (
        "server.grpc_server_keepalive_timeout",
        "server.grpc_server_keepalive_timeout: 1s",
        Warned,
    ),
    (
        "server.grpc_server_min_time_between_pings",
        "server.grpc_server_min_time_between_pings: 1s",
        Warned,
    ),
    (
        "server.grpc_server_ping_without_stream_allowed",
        "server.grpc_server_ping_without_stream_allowed: true",
        Warned,
    ),
    (
        "server.grpc_server_num_workers",
        "server.grpc_server_num_workers: 1",
        Warned,
    ),
    (
        "server.grpc_server_stats_tracking_enabled",
        "server.grpc_server_stats_tracking_enabled: true",
        Warned,
    ),
    (
        "server.grpc_server_recv_buffer_pools_enabled",
        "server.grpc_server_recv_buffer_pools_enabled: true",
        Warned,
    ),
    (
        "server.grpc_tls_config",
        "server.grpc_tls_config: {cert_file: /x}",
        Warned,
    ),
    (
        "server.report_grpc_codes_in_instrumentation_label_enabled",
        "server.report_grpc_codes_in_instrumentation_label_enabled: true",
        Warned,
    ),
    (
        "server.http_log_closed_connections_without_response_enabled",
        "server.http_log_closed_connections_without_response_enabled: true",
        Warned,
    ),
    (
        "server.log_source_ips_enabled",
        "server.log_source_ips_enabled: true",
        Warned,
    ),
    (
        "server.log_source_ips_full",
        "server.log_source_ips_full: true",
        Warned,
    ),
    (
        "server.log_source_ips_header",
        "server.log_source_ips_header: X",
        Warned,
    ),
    (
        "server.log_source_ips_regex",
        "server.log_source_ips_regex: x",
        Warned,
    ),
    (
        "server.log_request_headers",
        "server.log_request_headers: true",
        Warned,
    ),
    (
        "server.log_request_at_info_level_enabled",
        "server.log_request_at_info_level_enabled: true",
        Warned,
    ),
    (
        "server.log_request_exclude_headers_list",
        "server.log_request_exclude_headers_list: x",
        Warned,
    ),
    // clients[]
    (
        "clients.url",
        "clients.url: 'http://127.0.0.1:3100/loki/api/v1/push'",
        Implemented,
    ),
    ("clients.name", "clients.name: a", Implemented),
    ("clients.batchwait", "clients.batchwait: 2s", Implemented),
    ("clients.batchsize", "clients.batchsize: 1000", Implemented),
    ("clients.timeout", "clients.timeout: 2s", Implemented),
    ("clients.tenant_id", "clients.tenant_id: t", Implemented),
    ("clients.headers", "clients.headers: {X-A: b}", Implemented),
    (
        "clients.backoff_config",
        "clients.backoff_config: {min_period: 1s, max_period: 2s, max_retries: 3}",
        Implemented,
    ),
    (
        "clients.drop_rate_limited_batches",
        "clients.drop_rate_limited_batches: true",
        Implemented,
    ),
    (
        "clients.external_labels",
        "clients.external_labels: {a: b}",
        Implemented,
    ),
    (
        "clients.basic_auth",
        "clients.basic_auth: {username: u, password: p}",
        Implemented,
    ),
    (
        "clients.authorization",
        "clients.authorization: {type: Bearer, credentials: c}",
        Implemented,
    ),
    (
        "clients.bearer_token",
        "clients.bearer_token: t",
        Implemented,
    ),
    (
        "clients.bearer_token_file",
        "clients.bearer_token_file: /etc/hostname",
        Implemented,
    ),
    (
        "clients.tls_config",
        "clients.tls_config: {insecure_skip_verify: true, min_version: TLS12}",
        Implemented,
    ),
    (
        "clients.proxy_url",
        "clients.proxy_url: 'http://127.0.0.1:9'",
        Implemented,
    ),
    (
        "clients.no_proxy",
        "clients.proxy_url: 'http://127.0.0.1:9'\nclients.no_proxy: 127.0.0.1",
        Implemented,
    ),
    (
        "clients.proxy_from_environment",
        "clients.proxy_from_environment: true",
        Implemented,
    ),
    (
        "clients.proxy_connect_header",
        "clients.proxy_url: 'http://127.0.0.1:9'\nclients.proxy_connect_header: {X-P: [v]}",
        Implemented,
    ),
    (
        "clients.follow_redirects",
        "clients.follow_redirects: false",
        Implemented,
    ),
    (
        "clients.enable_http2",
        "clients.enable_http2: false",
        Implemented,
    ),
    (
        "clients.http_headers",
        "clients.http_headers: {X-H: {values: [v]}}",
        Implemented,
    ),
    (
        "clients.oauth2",
        "clients.oauth2: {client_id: a, client_secret: b, token_url: 'http://x/'}",
        Refused,
    ),
    // positions
    (
        "positions.filename",
        "positions.filename: /tmp/ferrotail-keys-positions.yaml",
        Implemented,
    ),
    (
        "positions.sync_period",
        "positions.sync_period: 5s",
        Implemented,
    ),
    (
        "positions.ignore_invalid_yaml",
        "positions.ignore_invalid_yaml: true",
        Implemented,
    ),
    // scrape_configs[]
    (
        "scrape_configs.job_name",
        "scrape_configs.job_name: j",
        Implemented,
    ),
    (
        "scrape_configs.pipeline_stages",
        "scrape_configs.pipeline_stages: [{labeldrop: [a]}]",
        Implemented,
    ),
    (
        "scrape_configs.relabel_configs",
        "scrape_configs.relabel_configs: [{action: labeldrop, regex: x}]",
        Implemented,
    ),
    (
        "scrape_configs.static_configs",
        "scrape_configs.static_configs: [{labels: {__path__: /tmp/x.log}}]",
        Implemented,
    ),
    (
        "scrape_configs.file_sd_configs",
        "scrape_configs.file_sd_configs: [{files: [/tmp/x.json]}]",
        Implemented,
    ),
    (
        "scrape_configs.encoding",
        "scrape_configs.encoding: ISO-8859-1",
        Refused,
    ),
    (
        "scrape_configs.decompression",
        "scrape_configs.decompression: {enabled: true, format: gz}",
        Refused,
    ),
    (
        "scrape_configs.consul_sd_configs",
        "scrape_configs.consul_sd_configs: [{server: x}]",
        Refused,
    ),
    (
        "scrape_configs.consulagent_sd_configs",
        "scrape_configs.consulagent_sd_configs: [{server: x}]",
        Refused,
    ),
    (
        "scrape_configs.dns_sd_configs",
        "scrape_configs.dns_sd_configs: [{names: [x]}]",
        Refused,
    ),
    (
        "scrape_configs.digitalocean_sd_configs",
        "scrape_configs.digitalocean_sd_configs: [{}]",
        Refused,
    ),
    (
        "scrape_configs.dockerswarm_sd_configs",
        "scrape_configs.dockerswarm_sd_configs: [{host: x, role: tasks}]",
        Refused,
    ),
    (
        "scrape_configs.serverset_sd_configs",
        "scrape_configs.serverset_sd_configs: [{servers: [x], paths: [/x]}]",
        Refused,
    ),
    (
        "scrape_configs.nerve_sd_configs",
        "scrape_configs.nerve_sd_configs: [{servers: [x], paths: [/x]}]",
        Refused,
    ),
    (
        "scrape_configs.marathon_sd_configs",
        "scrape_configs.marathon_sd_configs: [{servers: [x]}]",
        Refused,
    ),
    (
        "scrape_configs.gce_sd_configs",
        "scrape_configs.gce_sd_configs: [{project: p, zone: z}]",
        Refused,
    ),
    (
        "scrape_configs.openstack_sd_configs",
        "scrape_configs.openstack_sd_configs: [{role: instance, region: r}]",
        Refused,
    ),
    (
        "scrape_configs.azure_sd_configs",
        "scrape_configs.azure_sd_configs: [{subscription_id: s}]",
        Refused,
    ),
    (
        "scrape_configs.triton_sd_configs",
        "scrape_configs.triton_sd_configs: [{account: a, dns_suffix: d, endpoint: e}]",
        Refused,
    ),
    (
        "scrape_configs.gcplog",
        "scrape_configs.gcplog: {project_id: p}",
        Refused,
    ),
    (
        "scrape_configs.windows_events",
        "scrape_configs.windows_events: {eventlog_name: Application}",
        Refused,
    ),
    (
        "scrape_configs.kafka",
        "scrape_configs.kafka: {brokers: [x], topics: [t]}",
        Refused,
    ),
    (
        "scrape_configs.azure_event_hubs",
        "scrape_configs.azure_event_hubs: {fully_qualified_namespace: x}",
        Refused,
    ),
    (
        "scrape_configs.cloudflare",
        "scrape_configs.cloudflare: {api_token: t, zone_id: z}",
        Refused,
    ),
    (
        "scrape_configs.heroku_drain",
        "scrape_configs.heroku_drain: {server: {http_listen_port: 0}}",
        Refused,
    ),
    // target_config, limits_config, tracing
    (
        "target_config.sync_period",
        "target_config.sync_period: 5s",
        Implemented,
    ),
    (
        "target_config.stdin",
        "target_config.stdin: false",
        Implemented,
    ),
    (
        "limits_config.readline_rate",
        "limits_config.readline_rate: 5.5",
        Implemented,
    ),
    (
        "limits_config.readline_burst",
        "limits_config.readline_burst: 5",
        Implemented,
    ),
    (
        "limits_config.readline_rate_enabled",
        "limits_config.readline_rate_enabled: true",
        Implemented,
    ),
    (
        "limits_config.readline_rate_drop",
        "limits_config.readline_rate_drop: false",
        Implemented,
    ),
    (
        "limits_config.max_streams",
        "limits_config.max_streams: 10",
        Implemented,
    ),
    (
        "limits_config.max_line_size",
        "limits_config.max_line_size: 1kb",
        Implemented,
    ),
    (
        "limits_config.max_line_size_truncate",
        "limits_config.max_line_size_truncate: true",
        Implemented,
    ),
    ("tracing.enabled", "tracing.enabled: false", Warned),
    (
        "tracing.profiling_enabled",
        "tracing.profiling_enabled: false",
        Warned,
    ),
    // The keys of each kind of source (a job of that kind only).
    ("journal.json", "job: {job_name: j, journal: {json: true}}", Implemented),
    ("journal.max_age", "job: {job_name: j, journal: {max_age: 1h}}", Implemented),
    ("journal.path", "job: {job_name: j, journal: {path: /tmp}}", Implemented),
    ("journal.matches", "job: {job_name: j, journal: {matches: '_SYSTEMD_UNIT=x.service'}}", Implemented),
    ("journal.labels", "job: {job_name: j, journal: {labels: {a: b}}}", Implemented),
    ("syslog.listen_address", "job: {job_name: j, syslog: {listen_address: '127.0.0.1:0'}}", Implemented),
    ("syslog.listen_protocol", "job: {job_name: j, syslog: {listen_address: '127.0.0.1:0', listen_protocol: udp}}", Implemented),
    ("syslog.idle_timeout", "job: {job_name: j, syslog: {listen_address: '127.0.0.1:0', idle_timeout: 1m}}", Implemented),
    ("syslog.label_structured_data", "job: {job_name: j, syslog: {listen_address: '127.0.0.1:0', label_structured_data: true}}", Implemented),
    ("syslog.labels", "job: {job_name: j, syslog: {listen_address: '127.0.0.1:0', labels: {a: b}}}", Implemented),
    ("syslog.use_incoming_timestamp", "job: {job_name: j, syslog: {listen_address: '127.0.0.1:0', use_incoming_timestamp: true}}", Implemented),
    ("syslog.use_rfc5424_message", "job: {job_name: j, syslog: {listen_address: '127.0.0.1:0', use_rfc5424_message: true}}", Implemented),
    ("syslog.max_message_length", "job: {job_name: j, syslog: {listen_address: '127.0.0.1:0', max_message_length: 100}}", Implemented),
    ("syslog.syslog_format", "job: {job_name: j, syslog: {listen_address: '127.0.0.1:0', syslog_format: rfc3164}}", Implemented),
    ("loki_push_api.server", "job: {job_name: j, loki_push_api: {server: {http_listen_address: 127.0.0.1, http_listen_port: 0}}}", Implemented),
    ("loki_push_api.labels", "job: {job_name: j, loki_push_api: {server: {http_listen_address: 127.0.0.1, http_listen_port: 0}, labels: {a: b}}}", Implemented),
    ("loki_push_api.use_incoming_timestamp", "job: {job_name: j, loki_push_api: {server: {http_listen_address: 127.0.0.1, http_listen_port: 0}, use_incoming_timestamp: true}}", Implemented),
    ("loki_push_api.server.http_tls_config", "job: {job_name: j, loki_push_api: {server: {http_listen_address: 127.0.0.1, http_listen_port: 0, http_tls_config: {cert_file: /c, key_file: /k}}}}", Refused),
    ("loki_push_api.server.http_path_prefix", "job: {job_name: j, loki_push_api: {server: {http_listen_address: 127.0.0.1, http_listen_port: 0, http_path_prefix: /p}}}", Refused),
    ("loki_push_api.server.http_listen_conn_limit", "job: {job_name: j, loki_push_api: {server: {http_listen_address: 127.0.0.1, http_listen_port: 0, http_listen_conn_limit: 10}}}", Refused),
    ("loki_push_api.server.http_listen_network", "job: {job_name: j, loki_push_api: {server: {http_listen_address: 127.0.0.1, http_listen_port: 0, http_listen_network: tcp}}}", Implemented),
    ("loki_push_api.server.http_server_read_timeout", "job: {job_name: j, loki_push_api: {server: {http_listen_address: 127.0.0.1, http_listen_port: 0, http_server_read_timeout: 5s}}}", Implemented),
    ("loki_push_api.server.grpc_listen_port", "job: {job_name: j, loki_push_api: {server: {http_listen_address: 127.0.0.1, http_listen_port: 0, grpc_listen_port: 9095}}}", Warned),
    ("loki_push_api.server.http_server_write_timeout", "job: {job_name: j, loki_push_api: {server: {http_listen_address: 127.0.0.1, http_listen_port: 0, http_server_write_timeout: 5s}}}", Warned),
    ("gelf.listen_address", "job: {job_name: j, gelf: {listen_address: '127.0.0.1:0'}}", Implemented),
    ("gelf.labels", "job: {job_name: j, gelf: {labels: {a: b}}}", Implemented),
    ("gelf.use_incoming_timestamp", "job: {job_name: j, gelf: {use_incoming_timestamp: true}}", Implemented),
    ("docker_sd_configs.host", "job: {job_name: j, docker_sd_configs: [{host: 'unix:///var/run/docker.sock'}]}", Implemented),
    ("docker_sd_configs.port", "job: {job_name: j, docker_sd_configs: [{host: 'unix:///var/run/docker.sock', port: 2375}]}", Implemented),
    ("docker_sd_configs.host_networking_host", "job: {job_name: j, docker_sd_configs: [{host: 'unix:///var/run/docker.sock', host_networking_host: h}]}", Implemented),
    ("docker_sd_configs.filters", "job: {job_name: j, docker_sd_configs: [{host: 'unix:///var/run/docker.sock', filters: [{name: name, values: [x]}]}]}", Implemented),
    ("docker_sd_configs.refresh_interval", "job: {job_name: j, docker_sd_configs: [{host: 'unix:///var/run/docker.sock', refresh_interval: 1m}]}", Implemented),
    ("docker_sd_configs.match_first_network", "job: {job_name: j, docker_sd_configs: [{host: 'unix:///var/run/docker.sock', match_first_network: false}]}", Implemented),
    ("docker_sd_configs.basic_auth", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', basic_auth: {username: u, password: p}}]}", Implemented),
    ("docker_sd_configs.authorization", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', authorization: {credentials: c}}]}", Implemented),
    ("docker_sd_configs.bearer_token", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', bearer_token: t}]}", Implemented),
    ("docker_sd_configs.bearer_token_file", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', bearer_token_file: /dev/null}]}", Implemented),
    ("docker_sd_configs.tls_config", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', tls_config: {insecure_skip_verify: true}}]}", Implemented),
    ("docker_sd_configs.http_headers", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', http_headers: {X-H: {values: [v]}}}]}", Implemented),
    ("docker_sd_configs.follow_redirects", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', follow_redirects: false}]}", Implemented),
    ("docker_sd_configs.enable_http2", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', enable_http2: false}]}", Implemented),
    ("docker_sd_configs.oauth2", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', oauth2: {client_id: a, client_secret: b, token_url: 'http://x/'}}]}", Refused),
    ("docker_sd_configs.proxy_url", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', proxy_url: 'http://127.0.0.1:3128'}]}", Refused),
    ("docker_sd_configs.proxy_from_environment", "job: {job_name: j, docker_sd_configs: [{host: 'tcp://127.0.0.1:2375', proxy_from_environment: true}]}", Refused),
    // kubernetes_sd_configs: Prometheus v0.55's keys and its HTTP client keys.
    ("kubernetes_sd_configs.role", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443'}]}", Implemented),
    ("kubernetes_sd_configs.api_server", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443'}]}", Implemented),
    ("kubernetes_sd_configs.namespaces", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', namespaces: {names: [default]}}]}", Implemented),
    ("kubernetes_sd_configs.own_namespace", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', namespaces: {own_namespace: false}}]}", Implemented),
    ("kubernetes_sd_configs.selectors", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', selectors: [{role: pod, label: 'app=x', field: 'spec.nodeName=n'}]}]}", Implemented),
    ("kubernetes_sd_configs.attach_metadata", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', attach_metadata: {node: true}}]}", Implemented),
    ("kubernetes_sd_configs.basic_auth", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', basic_auth: {username: u, password: p}}]}", Implemented),
    ("kubernetes_sd_configs.authorization", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', authorization: {credentials: c}}]}", Implemented),
    ("kubernetes_sd_configs.bearer_token", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', bearer_token: t}]}", Implemented),
    ("kubernetes_sd_configs.bearer_token_file", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', bearer_token_file: /dev/null}]}", Implemented),
    ("kubernetes_sd_configs.tls_config", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', tls_config: {insecure_skip_verify: true}}]}", Implemented),
    ("kubernetes_sd_configs.proxy_url", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', proxy_url: 'http://127.0.0.1:3128'}]}", Implemented),
    ("kubernetes_sd_configs.no_proxy", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', proxy_url: 'http://127.0.0.1:3128', no_proxy: localhost}]}", Implemented),
    ("kubernetes_sd_configs.proxy_from_environment", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', proxy_from_environment: true}]}", Implemented),
    ("kubernetes_sd_configs.proxy_connect_header", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', proxy_url: 'http://127.0.0.1:3128', proxy_connect_header: {X-P: [v]}}]}", Implemented),
    ("kubernetes_sd_configs.http_headers", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', http_headers: {X-H: {values: [v]}}}]}", Implemented),
    ("kubernetes_sd_configs.follow_redirects", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', follow_redirects: false}]}", Implemented),
    ("kubernetes_sd_configs.enable_http2", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', enable_http2: false}]}", Implemented),
    ("kubernetes_sd_configs.oauth2", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:6443', oauth2: {client_id: a, client_secret: b, token_url: 'http://x/'}}]}", Refused),
    ("kubernetes_sd_configs.kubeconfig_file", "job: {job_name: j, kubernetes_sd_configs: [{role: pod, kubeconfig_file: /tmp/ferrotail-keys-kubeconfig.yaml}]}", Implemented),
    // pipeline_stages: every stage of Promtail 3.4.6 and each of its keys (stage-facts.md §0, §3).
    ("docker", "scrape_configs.pipeline_stages: [{docker: {}}]", Implemented),
    ("cri", "scrape_configs.pipeline_stages: [{cri: {}}]", Implemented),
    ("cri.max_partial_lines", "scrape_configs.pipeline_stages: [{cri: {max_partial_lines: 10}}]", Implemented),
    ("cri.max_partial_line_size", "scrape_configs.pipeline_stages: [{cri: {max_partial_line_size: 1024}}]", Implemented),
    ("cri.max_partial_line_size_truncate", "scrape_configs.pipeline_stages: [{cri: {max_partial_line_size: 1024, max_partial_line_size_truncate: true}}]", Implemented),
    ("regex.expression", "scrape_configs.pipeline_stages: [{regex: {expression: '(?P<a>x)'}}]", Implemented),
    ("regex.source", "scrape_configs.pipeline_stages: [{regex: {expression: '(?P<a>x)', source: msg}}]", Implemented),
    ("json.expressions", "scrape_configs.pipeline_stages: [{json: {expressions: {a: b.c}}}]", Implemented),
    ("json.source", "scrape_configs.pipeline_stages: [{json: {expressions: {a: b}, source: msg}}]", Implemented),
    ("json.drop_malformed", "scrape_configs.pipeline_stages: [{json: {expressions: {a: b}, drop_malformed: true}}]", Implemented),
    ("logfmt.mapping", "scrape_configs.pipeline_stages: [{logfmt: {mapping: {a: b}}}]", Implemented),
    ("logfmt.source", "scrape_configs.pipeline_stages: [{logfmt: {mapping: {a: b}, source: msg}}]", Implemented),
    ("replace.expression", "scrape_configs.pipeline_stages: [{replace: {expression: '(x)'}}]", Implemented),
    ("replace.source", "scrape_configs.pipeline_stages: [{replace: {expression: '(x)', source: msg}}]", Implemented),
    ("replace.replace", "scrape_configs.pipeline_stages: [{replace: {expression: '(x)', replace: '{{ .Value | ToUpper }}'}}]", Implemented),
    ("multiline.firstline", "scrape_configs.pipeline_stages: [{multiline: {firstline: '^\\d'}}]", Implemented),
    ("multiline.max_wait_time", "scrape_configs.pipeline_stages: [{multiline: {firstline: '^x', max_wait_time: 1s}}]", Implemented),
    ("multiline.max_lines", "scrape_configs.pipeline_stages: [{multiline: {firstline: '^x', max_lines: 10}}]", Implemented),
    ("template.source", "scrape_configs.pipeline_stages: [{template: {source: msg, template: x}}]", Implemented),
    ("template.template", "scrape_configs.pipeline_stages: [{template: {source: msg, template: '{{ .Value }}'}}]", Implemented),
    ("pack.labels", "scrape_configs.pipeline_stages: [{pack: {labels: [pod]}}]", Implemented),
    ("pack.ingest_timestamp", "scrape_configs.pipeline_stages: [{pack: {labels: [pod], ingest_timestamp: false}}]", Implemented),
    ("decolorize", "scrape_configs.pipeline_stages: [{decolorize: {}}]", Implemented),
    ("timestamp.source", "scrape_configs.pipeline_stages: [{timestamp: {source: ts, format: RFC3339}}]", Implemented),
    ("timestamp.format", "scrape_configs.pipeline_stages: [{timestamp: {source: ts, format: '2006-01-02 15:04:05'}}]", Implemented),
    ("timestamp.fallback_formats", "scrape_configs.pipeline_stages: [{timestamp: {source: ts, format: RFC3339, fallback_formats: [UnixMs]}}]", Implemented),
    ("timestamp.location", "scrape_configs.pipeline_stages: [{timestamp: {source: ts, format: '2006-01-02 15:04:05', location: Europe/Paris}}]", Implemented),
    ("timestamp.action_on_failure", "scrape_configs.pipeline_stages: [{timestamp: {source: ts, format: RFC3339, action_on_failure: skip}}]", Implemented),
    ("output.source", "scrape_configs.pipeline_stages: [{output: {source: msg}}]", Implemented),
    ("labels", "scrape_configs.pipeline_stages: [{labels: {level: '', app: application}}]", Implemented),
    ("labelallow", "scrape_configs.pipeline_stages: [{labelallow: [job]}]", Implemented),
    ("labeldrop", "scrape_configs.pipeline_stages: [{labeldrop: [filename]}]", Implemented),
    ("structured_metadata", "scrape_configs.pipeline_stages: [{structured_metadata: {trace_id: ''}}]", Implemented),
    ("non_indexed_labels", "scrape_configs.pipeline_stages: [{non_indexed_labels: {trace_id: ''}}]", Implemented),
    ("static_labels", "scrape_configs.pipeline_stages: [{static_labels: {env: prod}}]", Implemented),
    ("metrics.type", "scrape_configs.pipeline_stages: [{metrics: {m: {type: Gauge, config: {action: inc}}}}]", Implemented),
    ("metrics.description", "scrape_configs.pipeline_stages: [{metrics: {m: {type: Counter, description: d, config: {action: inc}}}}]", Implemented),
    ("metrics.source", "scrape_configs.pipeline_stages: [{metrics: {m: {type: Counter, source: s, config: {action: inc}}}}]", Implemented),
    ("metrics.prefix", "scrape_configs.pipeline_stages: [{metrics: {m: {type: Counter, prefix: my_, config: {action: inc}}}}]", Implemented),
    ("metrics.max_idle_duration", "scrape_configs.pipeline_stages: [{metrics: {m: {type: Counter, max_idle_duration: 1m, config: {action: inc}}}}]", Implemented),
    ("metrics.config.value", "scrape_configs.pipeline_stages: [{metrics: {m: {type: Counter, config: {value: v, action: inc}}}}]", Implemented),
    ("metrics.config.action", "scrape_configs.pipeline_stages: [{metrics: {m: {type: Gauge, config: {action: sub}}}}]", Implemented),
    ("metrics.config.match_all", "scrape_configs.pipeline_stages: [{metrics: {m: {type: Counter, config: {match_all: true, action: inc}}}}]", Implemented),
    ("metrics.config.count_entry_bytes", "scrape_configs.pipeline_stages: [{metrics: {m: {type: Counter, config: {match_all: true, count_entry_bytes: true, action: add}}}}]", Implemented),
    ("metrics.config.buckets", "scrape_configs.pipeline_stages: [{metrics: {m: {type: Histogram, config: {buckets: [0.1, 1]}}}}]", Implemented),
    ("tenant.label", "scrape_configs.pipeline_stages: [{tenant: {label: team}}]", Implemented),
    ("tenant.source", "scrape_configs.pipeline_stages: [{tenant: {source: team}}]", Implemented),
    ("tenant.value", "scrape_configs.pipeline_stages: [{tenant: {value: team-a}}]", Implemented),
    ("limit.rate", "scrape_configs.pipeline_stages: [{limit: {rate: 10, burst: 10}}]", Implemented),
    ("limit.burst", "scrape_configs.pipeline_stages: [{limit: {rate: 10, burst: 20}}]", Implemented),
    ("limit.drop", "scrape_configs.pipeline_stages: [{limit: {rate: 10, burst: 10, drop: true}}]", Implemented),
    ("limit.by_label_name", "scrape_configs.pipeline_stages: [{limit: {rate: 10, burst: 10, drop: true, by_label_name: app}}]", Implemented),
    ("limit.max_distinct_labels", "scrape_configs.pipeline_stages: [{limit: {rate: 10, burst: 10, drop: true, by_label_name: app, max_distinct_labels: 20000}}]", Implemented),
    ("match.selector", "scrape_configs.pipeline_stages: [{match: {selector: '{job=\"keys\"}', stages: [{labeldrop: [filename]}]}}]", Implemented),
    ("match.stages", "scrape_configs.pipeline_stages: [{match: {selector: '{job=\"keys\"} |= \"x\"', stages: [{static_labels: {a: b}}]}}]", Implemented),
    ("match.action", "scrape_configs.pipeline_stages: [{match: {selector: '{job=\"keys\"}', action: drop}}]", Implemented),
    ("match.pipeline_name", "scrape_configs.pipeline_stages: [{match: {selector: '{job=\"keys\"}', pipeline_name: p, stages: [{labeldrop: [filename]}]}}]", Implemented),
    ("match.drop_counter_reason", "scrape_configs.pipeline_stages: [{match: {selector: '{job=\"keys\"}', action: drop, drop_counter_reason: r}}]", Implemented),
    ("drop.source", "scrape_configs.pipeline_stages: [{drop: {source: level}}]", Implemented),
    ("drop.value", "scrape_configs.pipeline_stages: [{drop: {source: level, value: debug}}]", Implemented),
    ("drop.separator", "scrape_configs.pipeline_stages: [{drop: {source: [a, b], separator: '|', expression: 'x'}}]", Implemented),
    ("drop.expression", "scrape_configs.pipeline_stages: [{drop: {expression: '.*debug.*'}}]", Implemented),
    ("drop.older_than", "scrape_configs.pipeline_stages: [{drop: {older_than: 24h}}]", Implemented),
    ("drop.longer_than", "scrape_configs.pipeline_stages: [{drop: {longer_than: 8kb}}]", Implemented),
    ("drop.drop_counter_reason", "scrape_configs.pipeline_stages: [{drop: {longer_than: 8kb, drop_counter_reason: too_long}}]", Implemented),
    ("sampling.rate", "scrape_configs.pipeline_stages: [{sampling: {rate: 0.5}}]", Implemented),
    ("sampling.drop_counter_reason", "scrape_configs.pipeline_stages: [{sampling: {rate: 0.5, drop_counter_reason: sampled}}]", Implemented),
    ("eventlogmessage.source", "scrape_configs.pipeline_stages: [{eventlogmessage: {source: msg}}]", Implemented),
    ("eventlogmessage.drop_invalid_labels", "scrape_configs.pipeline_stages: [{eventlogmessage: {drop_invalid_labels: true}}]", Implemented),
    ("eventlogmessage.overwrite_existing", "scrape_configs.pipeline_stages: [{eventlogmessage: {overwrite_existing: true}}]", Implemented),
    ("geoip.db", concat!("scrape_configs.pipeline_stages: [{geoip: {db: '", env!("CARGO_MANIFEST_DIR"), "/tests/data/golden/stages/240-geoip-city/city.mmdb', db_type: city, source: ip}}]"), Implemented),
    ("geoip.db_type", concat!("scrape_configs.pipeline_stages: [{geoip: {db: '", env!("CARGO_MANIFEST_DIR"), "/tests/data/golden/stages/240-geoip-city/city.mmdb', db_type: city, source: ip}}]"), Implemented),
    ("geoip.source", concat!("scrape_configs.pipeline_stages: [{geoip: {db: '", env!("CARGO_MANIFEST_DIR"), "/tests/data/golden/stages/240-geoip-city/city.mmdb', db_type: city, source: ip}}]"), Implemented),
];

/// Every flag of `promtail -help` and its class.
const FLAGS: &[(&str, Class)] = &[
    ("config.file", Implemented),
    ("config.expand-env", Implemented),
    ("check-syntax", Implemented),
    ("dry-run", Implemented),
    ("inspect", Implemented),
    ("print-config-stderr", Implemented),
    ("log-config-reverse-order", Implemented),
    ("version", Implemented),
    ("help", Implemented),
    ("h", Implemented),
    ("log.level", Implemented),
    ("log.format", Implemented),
    ("server.http-listen-address", Implemented),
    ("server.http-listen-port", Implemented),
    ("server.http-listen-network", Implemented),
    ("server.http-conn-limit", Implemented),
    ("server.http-read-timeout", Implemented),
    ("server.http-read-header-timeout", Implemented),
    ("server.http-write-timeout", Implemented),
    ("server.http-idle-timeout", Implemented),
    ("server.graceful-shutdown-timeout", Implemented),
    ("server.path-prefix", Implemented),
    ("server.register-instrumentation", Implemented),
    ("server.disable", Implemented),
    ("server.enable-runtime-reload", Implemented),
    ("server.http-tls-cert-path", Implemented),
    ("server.http-tls-key-path", Implemented),
    ("server.http-tls-ca-path", Implemented),
    ("server.http-tls-client-auth", Implemented),
    ("server.tls-min-version", Implemented),
    ("server.tls-cipher-suites", Refused),
    ("server.proxy-protocol-enabled", Refused),
    ("server.profiling_enabled", Warned),
    ("server.grpc-listen-address", Warned),
    ("server.grpc-listen-port", Warned),
    ("server.grpc-listen-network", Warned),
    ("server.grpc-conn-limit", Warned),
    ("server.grpc-tls-cert-path", Warned),
    ("server.grpc-tls-key-path", Warned),
    ("server.grpc-tls-ca-path", Warned),
    ("server.grpc-tls-client-auth", Warned),
    ("server.grpc-max-recv-msg-size-bytes", Warned),
    ("server.grpc-max-send-msg-size-bytes", Warned),
    ("server.grpc-max-concurrent-streams", Warned),
    ("server.grpc.keepalive.max-connection-idle", Warned),
    ("server.grpc.keepalive.max-connection-age", Warned),
    ("server.grpc.keepalive.max-connection-age-grace", Warned),
    ("server.grpc.keepalive.time", Warned),
    ("server.grpc.keepalive.timeout", Warned),
    ("server.grpc.keepalive.min-time-between-pings", Warned),
    ("server.grpc.keepalive.ping-without-stream-allowed", Warned),
    ("server.grpc.num-workers", Warned),
    ("server.grpc.stats-tracking-enabled", Warned),
    ("server.grpc.recv-buffer-pools-enabled", Warned),
    (
        "server.report-grpc-codes-in-instrumentation-label-enabled",
        Warned,
    ),
    (
        "server.http-log-closed-connections-without-response-enabled",
        Warned,
    ),
    ("server.log-source-ips-enabled", Warned),
    ("server.log-source-ips-full", Warned),
    ("server.log-source-ips-header", Warned),
    ("server.log-source-ips-regex", Warned),
    ("server.log-request-headers", Warned),
    ("server.log-request-at-info-level-enabled", Warned),
    ("server.log-request-headers-exclude-list", Warned),
    ("client.url", Implemented),
    ("client.batch-wait", Implemented),
    ("client.batch-size-bytes", Implemented),
    ("client.max-retries", Implemented),
    ("client.min-backoff", Implemented),
    ("client.max-backoff", Implemented),
    ("client.timeout", Implemented),
    ("client.tenant-id", Implemented),
    ("client.drop-rate-limited-batches", Implemented),
    ("client.external-labels", Implemented),
    ("positions.file", Implemented),
    ("positions.sync-period", Implemented),
    ("positions.ignore-invalid-yaml", Implemented),
    ("target.sync-period", Implemented),
    ("stdin", Implemented),
    ("file-watch.min_poll_frequency", Implemented),
    ("file-watch.max_poll_frequency", Implemented),
    ("limit.readline-rate", Implemented),
    ("limit.readline-burst", Implemented),
    ("limit.readline-rate-enabled", Implemented),
    ("limit.readline-rate-drop", Implemented),
    ("max-streams", Implemented),
    ("max-line-size", Implemented),
    ("max-line-size-truncate", Implemented),
    ("tracing.enabled", Warned),
    ("tracing.profiling-enabled", Warned),
];

const BIN: &str = env!("CARGO_BIN_EXE_ferrotail");

/// A valid config with `extra` merged in: each `section.key: value` line of `extra` becomes
/// `key: value` under that section (`clients` and `scrape_configs` are the first list item);
/// lines without a section are top-level.
fn config_with(extra: &str) -> String {
    let mut sections: Vec<(&str, Vec<String>)> = vec![
        ("server", vec!["http_listen_port: 0".into()]),
        (
            "positions",
            vec!["filename: /tmp/ferrotail-keys-positions.yaml".into()],
        ),
        (
            "clients",
            vec!["url: 'http://127.0.0.1:3100/loki/api/v1/push'".into()],
        ),
        (
            "scrape_configs",
            vec![
                "job_name: keys".into(),
                "static_configs: [{labels: {__path__: /tmp/ferrotail-keys/*.log}}]".into(),
            ],
        ),
        ("target_config", vec![]),
        ("limits_config", vec![]),
        ("tracing", vec![]),
    ];
    let mut top = Vec::new();
    for line in extra.lines() {
        let section = line
            .split_once(':')
            .and_then(|(k, _)| k.split_once('.'))
            .map(|(s, _)| s);
        // `job: {...}`: the whole scrape config, replacing the base job.
        if let Some(job) = line.strip_prefix("job: ") {
            if let Some((_, lines)) = sections.iter_mut().find(|(n, _)| *n == "scrape_configs") {
                *lines = vec![job.trim().to_string()];
            }
            continue;
        }
        match section.and_then(|s| sections.iter_mut().find(|(n, _)| *n == s)) {
            Some((name, lines)) => {
                let rest = &line[name.len() + 1..];
                let key = rest.split_once(':').map(|(k, _)| k).unwrap_or(rest);
                lines.retain(|l| !l.starts_with(&format!("{key}:")));
                lines.push(rest.to_string());
            }
            None => top.push(line.to_string()),
        }
    }
    let mut out = String::new();
    for (name, lines) in sections {
        if lines.is_empty() {
            continue;
        }
        out.push_str(&format!("{name}:\n"));
        let list = matches!(name, "clients" | "scrape_configs");
        for (i, l) in lines.iter().enumerate() {
            let prefix = if list && i == 0 {
                "  - "
            } else if list {
                "    "
            } else {
                "  "
            };
            out.push_str(&format!("{prefix}{l}\n"));
        }
    }
    for l in top {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Runs `-check-syntax` on `config` with `args`: (exit code, stdout + stderr).
fn check(dir: &Path, name: &str, config: &str, args: &[&str]) -> (i32, String) {
    let path = dir.join(format!("{name}.yml"));
    std::fs::write(&path, config).unwrap();
    let out = Command::new(BIN)
        .arg("-check-syntax")
        .arg(format!("-config.file={}", path.display()))
        .args(args)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The last dotted part of a key (`server.grpc_listen_port` → `grpc_listen_port`).
fn leaf(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

#[test]
fn every_config_key_is_implemented_refused_or_warned() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        "/tmp/ferrotail-keys-kubeconfig.yaml",
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .unwrap();
    let mut failures = Vec::new();
    for (i, (key, yaml, class)) in KEYS.iter().enumerate() {
        let cfg = config_with(yaml);
        let (code, out) = check(tmp.path(), &format!("k{i}"), &cfg, &[]);
        let warned = out
            .lines()
            .any(|l| l.contains("level=warn") && l.contains(leaf(key)) && l.contains("no effect"));
        let ok = match class {
            Implemented => code == 0 && !warned && !out.contains("not supported"),
            Refused => code != 0 && out.contains(&format!("not supported: {}", short(key))),
            Warned => {
                code == 0
                    && warned
                    && out
                        .lines()
                        .filter(|l| l.contains("level=warn") && l.contains(leaf(key)))
                        .count()
                        == 1
            }
        };
        if !ok {
            failures.push(format!("{key} ({class:?}): exit {code}\n{cfg}\n{out}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
}

/// The key as the refusal names it: scrape config keys without the `scrape_configs.` prefix,
/// client keys without `clients.`.
fn short(key: &str) -> &str {
    key.strip_prefix("scrape_configs.")
        .or_else(|| key.strip_prefix("clients."))
        .unwrap_or(key)
}

#[test]
fn every_flag_is_implemented_refused_or_warned() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_with("");
    // Every flag ferrotail accepts is in the table (the usage text lists them).
    let usage = Command::new(BIN).arg("-help").output().unwrap();
    let usage = String::from_utf8_lossy(&usage.stdout).into_owned()
        + &String::from_utf8_lossy(&usage.stderr);
    for line in usage.lines() {
        let Some(name) = line.trim_start().strip_prefix('-') else {
            continue;
        };
        let name = name.split_whitespace().next().unwrap_or("");
        assert!(
            FLAGS.iter().any(|(f, _)| *f == name),
            "flag -{name} is accepted but not in the table"
        );
    }
    let mut failures = Vec::new();
    for (i, (flag, class)) in FLAGS.iter().enumerate() {
        // A value that parses for each kind of flag.
        let value = match *flag {
            "config.file"
            | "check-syntax"
            | "help"
            | "h"
            | "version"
            | "dry-run"
            | "inspect"
            | "print-config-stderr"
            | "log-config-reverse-order"
            | "stdin" => continue,
            "server.tls-min-version" => "VersionTLS12",
            "server.tls-cipher-suites" => "TLS_AES_128_GCM_SHA256",
            "log.level" => "info",
            "log.format" => "logfmt",
            "server.http-listen-network" => "tcp",
            "server.http-tls-cert-path"
            | "server.http-tls-key-path"
            | "server.http-tls-ca-path"
            | "server.http-tls-client-auth" => "",
            "client.url" => "http://127.0.0.1:3100/loki/api/v1/push",
            "client.external-labels" => "a=b",
            "positions.file" => "/tmp/ferrotail-keys-positions.yaml",
            "max-line-size" => "1kb",
            "file-watch.min_poll_frequency" => "100ms",
            "file-watch.max_poll_frequency" => "1s",
            f if f.contains("timeout")
                || f.contains("period")
                || f.contains("backoff")
                || f.contains("wait")
                || f.contains("frequency")
                || f.contains("keepalive.") && !f.ends_with("allowed") =>
            {
                "1s"
            }
            f if is_bool(f) => "true",
            "limit.readline-rate" => "1.5",
            f if f.contains("header") || f.contains("regex") || f.contains("address") => "x",
            _ => "1",
        };
        let arg = format!("-{flag}={value}");
        let (code, out) = check(tmp.path(), &format!("f{i}"), &cfg, &[&arg]);
        let warned = out
            .lines()
            .any(|l| l.contains("level=warn") && l.contains(&format!("-{flag} ")));
        let ok = match class {
            Implemented => code == 0 && !warned,
            Refused => code != 0 && out.contains("not supported: server."),
            Warned => code == 0 && warned,
        };
        if !ok {
            failures.push(format!("-{flag} ({class:?}): {arg}: exit {code}\n{out}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
}

fn is_bool(flag: &str) -> bool {
    flag.ends_with("enabled")
        || flag.ends_with("-drop")
        || flag.ends_with("truncate")
        || flag.ends_with("allowed")
        || flag.ends_with("-full")
        || flag.ends_with("request-headers")
        || matches!(
            flag,
            "server.disable"
                | "server.register-instrumentation"
                | "client.drop-rate-limited-batches"
                | "positions.ignore-invalid-yaml"
                | "config.expand-env"
        )
}

/// A key parsed into an ignored value must be warned about or refused.
#[test]
fn no_key_is_parsed_and_silently_ignored() {
    let raw =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/raw.rs"))
            .unwrap();
    let mut struct_name = String::new();
    let mut missing = Vec::new();
    for line in raw.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("pub struct ") {
            struct_name = rest.split_whitespace().next().unwrap_or("").to_string();
        }
        let Some(field) = t.strip_prefix("pub ") else {
            continue;
        };
        let Some((name, ty)) = field.split_once(':') else {
            continue;
        };
        if ty.trim().trim_end_matches(',') != "Ignored" {
            continue;
        }
        let listed = KEYS
            .iter()
            .any(|(k, _, c)| leaf(k) == name && *c != Implemented);
        if !listed {
            missing.push(format!("{struct_name}.{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "parsed and ignored without a warning or a refusal: {missing:?}"
    );
}

/// The README's compatibility section says what the table says: every key and flag is named
/// there, each refused one in a row that says "not supported" or "refused", each warned one in
/// a row that says "warning".
#[test]
fn the_readme_says_what_the_table_says() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("## Compatibility").unwrap();
    let end = readme[start + 3..]
        .find("\n## ")
        .map(|e| start + 3 + e)
        .unwrap_or(readme.len());
    let section = &readme[start..end];
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with('|')).collect();
    let mut problems = Vec::new();
    let mut check_row = |name: &str, class: Class, what: &str| {
        let needle = format!("`{name}`");
        let found: Vec<&&str> = rows.iter().filter(|r| r.contains(&needle)).collect();
        if found.is_empty() {
            problems.push(format!("{what} {name} is not in the README's tables"));
            return;
        }
        let says = |r: &&&str, words: &[&str]| words.iter().any(|w| r.to_lowercase().contains(w));
        let ok = match class {
            Implemented => true,
            Refused => found.iter().any(|r| says(r, &["not supported", "refused"])),
            Warned => found.iter().any(|r| says(r, &["warning"])),
        };
        if !ok {
            problems.push(format!(
                "{what} {name}: the README's row does not say {class:?}"
            ));
        }
    };
    for (key, _, class) in KEYS {
        check_row(leaf(key), *class, "key");
    }
    for (flag, class) in FLAGS {
        if *flag == "h" {
            continue;
        }
        check_row(&format!("-{flag}"), *class, "flag");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A stage name Promtail 3.4.6 does not register is refused as Promtail refuses it (not with
/// `not supported`: Promtail has no such stage). `luhn` is a Grafana Alloy stage; `pipeline` is
/// only the name of a nested pipeline.
#[test]
fn a_stage_promtail_does_not_have_is_refused_as_promtail_refuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    for stage in ["luhn", "pipeline", "bogus_stage"] {
        let cfg = config_with(&format!(
            "scrape_configs.pipeline_stages: [{{{stage}: {{}}}}]"
        ));
        let (code, out) = check(tmp.path(), stage, &cfg, &[]);
        let want = format!("invalid {stage} stage config: Unknown stage type: {stage}");
        assert!(
            code != 0 && out.contains(&want),
            "{stage}: exit {code}\n{out}"
        );
    }
}

/// An unknown key inside a stage is ignored as Promtail ignores it, with one warning naming it
/// and the stage (logged when the pipeline is built; `-stdin` with empty input builds it and
/// exits).
#[test]
fn an_unknown_stage_key_is_accepted_with_one_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_with(
        "scrape_configs.pipeline_stages: [{regex: {expression: '(?P<a>x)', typo_field: 1}}]",
    );
    let path = tmp.path().join("unknown.yml");
    std::fs::write(&path, &cfg).unwrap();
    let out = Command::new(BIN)
        .arg(format!("-config.file={}", path.display()))
        .args(["-stdin", "-dry-run"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let warnings = text
        .lines()
        .filter(|l| l.contains("level=warn") && l.contains("typo_field"))
        .count();
    assert!(
        out.status.success() && warnings == 1,
        "exit {:?}\n{text}",
        out.status.code()
    );
    assert!(text.contains("regex stage: unknown key"), "{text}");
}
