//! The checks Promtail makes only when it starts (ferrotail also runs them for `-check-syntax`):
//! they build what the config describes (clients, pipelines, discovery configs) without starting
//! anything, so they sit above every layer they build.

use crate::config::raw::RawScrapeConfig;
use crate::config::{client_name, job_kind, redact_url, Config, ConfigError, JobKind};
use crate::pipeline::{BuildCtx, Pipeline};
use crate::relabel::is_valid_label_name;

/// The startup checks Promtail makes only when it starts (ferrotail also runs them for
/// `-check-syntax`). Builds every pipeline once to validate it.
pub fn validate_startup(config: &Config) -> Result<(), ConfigError> {
    let err = ConfigError::Startup;
    if config.raw.positions.filename.is_empty() {
        return Err(err(
            "positions.filename is empty: an empty `positions:` block clears Promtail's defaults (Promtail fails with \"read .: is a directory\")".into(),
        ));
    }
    // Promtail's write-ahead log changes how entries reach the clients; ferrotail's positions
    // already give at-least-once delivery. A disabled `wal` block changes nothing.
    if let Some(wal) = &config.raw.wal {
        let enabled = wal
            .0
            .get("enabled")
            .is_some_and(|n| matches!(n.resolve(), Some(gocompat::yaml::Resolved::Bool(true))));
        if enabled {
            return Err(err("not supported: wal (ferrotail's positions move only past lines Loki accepted, so no write-ahead log is needed)".into()));
        }
    }
    let server = &config.raw.server;
    if !server.tls_cipher_suites.is_empty() {
        return Err(err("not supported: server.tls_cipher_suites (ferrotail's TLS server uses rustls' cipher suites)".into()));
    }
    if server.proxy_protocol_enabled {
        return Err(err("not supported: server.proxy_protocol_enabled".into()));
    }
    if !server.disable {
        crate::server::listen::tls_config(&server.http_tls_config, &server.tls_min_version)
            .map_err(|e| err(format!("error creating loki server: {e}")))?;
    }
    if config.raw.clients.is_empty() {
        return Err(err("at least one client config must be provided".into()));
    }
    let mut seen = Vec::new();
    for (i, c) in config.raw.clients.iter().enumerate() {
        if c.url.is_empty() {
            return Err(err(format!("clients[{i}]: client needs target URL")));
        }
        let url = reqwest::Url::parse(&c.url)
            .map_err(|e| err(format!("clients[{i}].url {:?}: {e}", redact_url(&c.url))))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err(format!(
                "clients[{i}].url {:?}: unsupported scheme {:?}",
                redact_url(&c.url),
                url.scheme()
            )));
        }
        let key = format!("{c:?}");
        if seen.contains(&key) {
            return Err(err(format!(
                "duplicate client configs are not allowed, found duplicate for name: {}",
                client_name(c)
            )));
        }
        seen.push(key);
        c.http()
            .validate()
            .map_err(|e| err(format!("clients[{i}]: {e}")))?;
        if c.oauth2.is_some() {
            return Err(err(format!("clients[{i}]: not supported: oauth2")));
        }
        // Builds the HTTP client too, so broken TLS or secret files fail -check-syntax.
        crate::client::ClientConfig::compile(c, &config.raw.limits_config)
            .map_err(|e| err(format!("clients[{i}]: {e}")))?;
        for k in c.external_labels.keys() {
            if !is_valid_label_name(k) {
                return Err(err(format!(
                    "clients[{i}].external_labels: invalid label name: {k}"
                )));
            }
        }
    }
    for (i, job) in config.raw.scrape_configs.iter().enumerate() {
        let unsupported = job.unsupported_keys();
        if let Some(k) = unsupported.first() {
            return Err(err(format!(
                "scrape_configs[{i}] (job {:?}): not supported: {k} (ferrotail reads static_configs, file_sd_configs, kubernetes_sd_configs, journal, syslog, loki_push_api, gelf and docker_sd_configs)",
                job.job_name
            )));
        }
        if !job.encoding.is_empty()
            && !job.encoding.eq_ignore_ascii_case("utf-8")
            && !job.encoding.eq_ignore_ascii_case("utf8")
        {
            return Err(err(format!(
                "scrape_configs[{i}] (job {:?}): not supported: encoding {:?}",
                job.job_name, job.encoding
            )));
        }
        if job_kind(job) == Some(JobKind::Journal) {
            if let Some(j) = &job.journal {
                crate::journal::JournalConfig::parse(j)
                    .map_err(|e| err(format!("failed to make journal target manager: {e}")))?;
            }
        }
        if job_kind(job) == Some(JobKind::Docker) {
            crate::docker::decode_configs(job)
                .map_err(|e| err(format!("job {:?}: {e}", job.job_name)))?;
        }
        if job_kind(job) == Some(JobKind::Syslog) {
            crate::syslog::validate(job)
                .map_err(|e| err(format!("failed to make syslog target manager: {e}")))?;
        }
        match (job_kind(job), &job.loki_push_api, &job.gelf) {
            (Some(JobKind::PushApi), Some(p), _) => {
                crate::push::validate(p).map_err(|e| err(format!("job {:?}: {e}", job.job_name)))?
            }
            (Some(JobKind::Gelf), _, Some(g)) => {
                crate::gelf::validate(g).map_err(|e| err(format!("job {:?}: {e}", job.job_name)))?
            }
            _ => {}
        }
        // In stdin mode a job only lends its pipeline and labels; it needs no targets.
        if job_kind(job).is_none() && !config.raw.target_config.stdin {
            return Err(err(format!(
                "no valid target scrape config defined for {:?}",
                job.job_name
            )));
        }
        let mut warnings = Vec::new();
        build_pipeline(job, &mut warnings).map_err(|e| {
            err(format!(
                "failed to make {} target manager: {e}",
                kind_name(job)
            ))
        })?;
    }
    Ok(())
}

/// Builds a job's pipeline, collecting warnings for ignored stage keys.
pub fn build_pipeline(
    job: &RawScrapeConfig,
    warnings: &mut Vec<String>,
) -> Result<Pipeline, crate::pipeline::PipelineError> {
    let base_dir = std::env::current_dir().ok();
    let mut ctx = BuildCtx {
        job: &job.job_name,
        warnings,
        base_dir: base_dir.as_deref(),
    };
    match &job.pipeline_stages {
        Some(node) => Pipeline::build(&mut ctx, &node.0),
        None => Ok(Pipeline::empty()),
    }
}

fn kind_name(job: &RawScrapeConfig) -> &'static str {
    match job_kind(job) {
        Some(JobKind::Docker) => "Docker service discovery",
        Some(JobKind::Journal) => "journal",
        Some(JobKind::PushApi) => "loki push",
        Some(JobKind::Gelf) => "gelf",
        Some(JobKind::Syslog) => "syslog",
        _ => "file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's configs load with their values and pass the start-up checks.
    #[test]
    fn seed_configs_pass_the_startup_checks() {
        for f in [
            "promtail-config.yml",
            "promtail-config-macos.yml",
            "promtail-config-direct.yml",
        ] {
            let path = format!("{}/tests/data/seed/{f}", env!("CARGO_MANIFEST_DIR"));
            let c = Config::load(&path, false).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(c.raw.server.http_listen_port, 9080);
            assert_eq!(c.raw.positions.filename, "/tmp/positions.yaml");
            assert_eq!(
                c.raw.clients[0].batchwait.0,
                std::time::Duration::from_secs(1)
            );
            assert_eq!(c.raw.clients[0].backoff_config.max_retries, 10);
            if let Err(e) = validate_startup(&c) {
                panic!("{f}: {e}");
            }
        }
    }

    #[test]
    fn an_enabled_wal_is_refused_and_a_disabled_one_accepted() {
        let base = "clients:\n  - url: http://x/\n";
        let c = Config::from_text(&format!("{base}wal:\n  enabled: true\n"), None, false).unwrap();
        let e = validate_startup(&c).unwrap_err().to_string();
        assert!(e.contains("not supported: wal"), "{e}");
        let c = Config::from_text(&format!("{base}wal:\n  enabled: false\n"), None, false).unwrap();
        validate_startup(&c).unwrap();
    }

    #[test]
    fn an_empty_positions_block_fails_at_start_up() {
        let c =
            Config::from_text("positions:\nclients:\n  - url: http://x/\n", None, false).unwrap();
        assert!(validate_startup(&c).is_err());
    }
}
