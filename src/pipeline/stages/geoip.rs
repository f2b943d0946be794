//! The `geoip` stage: looks up an IP address from the extracted map in a local MaxMind database
//! and adds what it finds as labels.
//!
//! The database is read once at build time with the `maxminddb` crate. A relative `db` path is
//! tried as given (relative to the working directory, as Promtail opens it) and, when no such
//! file exists, relative to the config file's directory ([`BuildCtx::base_dir`]).
//!
//! `db_type: city` sets `geoip_city_name`, `geoip_country_name`, `geoip_continent_name`,
//! `geoip_continent_code`, `geoip_postal_code`, `geoip_timezone`, `geoip_subdivision_name` and
//! `geoip_subdivision_code` (from the most specific, i.e. last, subdivision), and
//! `geoip_location_latitude`/`_longitude` (only when either is non-zero, printed as Go's `%v`).
//! `db_type: asn` sets `geoip_autonomous_system_number` (when non-zero) and
//! `geoip_autonomous_system_organization`. Only non-empty values are set. As in Promtail 3.4.6,
//! any other `db_type` loads but adds nothing (an error is logged per entry), and an IP that is
//! missing, invalid or not in the database leaves the entry unchanged.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{geoip2, Reader};
use serde::Deserialize;

use crate::pipeline::{BuildCtx, Entry, Labels, Stage};
use gocompat::yaml::Node;

use gocompat::strconv::format_go_float_g;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    db: String,
    source: Option<String>,
    db_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DbType {
    City,
    Asn,
    Unknown,
}

/// The built stage.
pub struct GeoIpStage {
    reader: Reader<Vec<u8>>,
    source: Option<String>,
    db_type: DbType,
    /// False when the database's own type cannot answer lookups of `db_type` (Promtail's
    /// geoip2 library refuses those lookups with an error).
    compatible: bool,
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    if config.is_null() {
        return Err("geoip stage config cannot be empty".into());
    }
    let raw: RawConfig = ctx.decode("geoip", config, false)?;
    if raw.db.is_empty() {
        return Err("db path cannot be empty".into());
    }
    if raw.source.as_deref() == Some("") {
        return Err("source cannot be empty".into());
    }
    if raw.db_type.is_empty() {
        return Err("db type should be either city or asn".into());
    }
    let path = resolve_db_path(&raw.db, ctx.base_dir);
    let reader = Reader::open_readfile(&path).map_err(|e| open_error(&raw.db, &path, e))?;
    let db_type = match raw.db_type.as_str() {
        "city" => DbType::City,
        "asn" => DbType::Asn,
        other => {
            ctx.warnings.push(format!(
                "geoip stage: unknown db_type {other:?}: the stage adds no labels (Promtail logs `unknown database type` for every entry)"
            ));
            DbType::Unknown
        }
    };
    let kind = reader.metadata().database_type.clone();
    let compatible = match db_type {
        DbType::City => !kind.contains("ASN") || kind.contains("ISP"),
        DbType::Asn => !(kind.contains("City") || kind.contains("Country")),
        DbType::Unknown => true,
    };
    if !compatible {
        ctx.warnings.push(format!(
            "geoip stage: database {} is of type {kind:?}, which cannot answer {} lookups; the stage adds no labels",
            path.display(),
            raw.db_type
        ));
    }
    if raw.source.is_none() {
        ctx.warnings.push(
            "geoip stage: no `source` is configured, so there is no IP to look up and the stage adds no labels".into(),
        );
    }
    Ok(Box::new(GeoIpStage {
        reader,
        source: raw.source,
        db_type,
        compatible,
    }))
}

fn resolve_db_path(db: &str, base_dir: Option<&Path>) -> PathBuf {
    let given = PathBuf::from(db);
    if given.is_absolute() || given.exists() {
        return given;
    }
    match base_dir {
        Some(base) if base.join(&given).exists() => base.join(given),
        _ => given,
    }
}

fn open_error(db: &str, path: &Path, e: maxminddb::MaxMindDbError) -> String {
    match e {
        maxminddb::MaxMindDbError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            format!("open {db}: no such file or directory")
        }
        other => format!("open {}: {other}", path.display()),
    }
}

impl GeoIpStage {
    fn lookup(&self, ip: IpAddr, labels: &mut Labels) {
        let result = match self.reader.lookup(ip) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(%ip, error = %e, "unable to look up the ip in the geoip database");
                return;
            }
        };
        match self.db_type {
            DbType::City => match result.decode::<geoip2::City>() {
                Ok(Some(record)) => set_city_labels(labels, &record),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(%ip, error = %e, "unable to get City record for the ip")
                }
            },
            DbType::Asn => match result.decode::<geoip2::Asn>() {
                Ok(Some(record)) => {
                    if let Some(n) = record.autonomous_system_number.filter(|n| *n != 0) {
                        labels.insert("geoip_autonomous_system_number", n.to_string());
                    }
                    set_if_present(
                        labels,
                        "geoip_autonomous_system_organization",
                        record.autonomous_system_organization,
                    );
                }
                Ok(None) => {}
                Err(e) => tracing::error!(%ip, error = %e, "unable to get ASN record for the ip"),
            },
            DbType::Unknown => tracing::error!("unknown database type"),
        }
    }
}

fn set_if_present(labels: &mut Labels, name: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        labels.insert(name, v);
    }
}

fn set_city_labels(labels: &mut Labels, r: &geoip2::City) {
    set_if_present(labels, "geoip_city_name", r.city.names.english);
    set_if_present(labels, "geoip_country_name", r.country.names.english);
    set_if_present(labels, "geoip_continent_name", r.continent.names.english);
    set_if_present(labels, "geoip_continent_code", r.continent.code);
    set_if_present(labels, "geoip_postal_code", r.postal.code);
    set_if_present(labels, "geoip_timezone", r.location.time_zone);
    let lat = r.location.latitude.unwrap_or(0.0);
    let lon = r.location.longitude.unwrap_or(0.0);
    if lat != 0.0 || lon != 0.0 {
        labels.insert("geoip_location_latitude", format_go_float_g(lat));
        labels.insert("geoip_location_longitude", format_go_float_g(lon));
    }
    if let Some(sub) = r.subdivisions.last() {
        set_if_present(labels, "geoip_subdivision_name", sub.names.english);
        set_if_present(labels, "geoip_subdivision_code", sub.iso_code);
    }
}

/// Parses an IP as Go's `net.ParseIP` does, with IPv4-mapped IPv6 addresses looked up as IPv4.
fn parse_ip(s: &str) -> Option<IpAddr> {
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }),
        v4 => Some(v4),
    }
}

impl Stage for GeoIpStage {
    fn name(&self) -> &'static str {
        "geoip"
    }

    fn process(&mut self, mut entry: Entry, out: &mut Vec<Entry>) {
        if self.compatible {
            if let Some(source) = &self.source {
                let ip = entry
                    .extracted
                    .get(source)
                    .and_then(|v| v.to_go_string())
                    .and_then(|s| parse_ip(&s));
                if let Some(ip) = ip {
                    self.lookup(ip, &mut entry.labels);
                }
            }
        }
        out.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Value;
    use gocompat::yaml;

    fn golden_dir(case: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/golden/stages")
            .join(case)
    }

    fn build_in(text: &str, base: Option<&Path>) -> Result<Box<dyn Stage>, String> {
        let node = yaml::parse(text).unwrap();
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "test",
            warnings: &mut warnings,
            base_dir: base,
        };
        build(&mut ctx, &node)
    }

    fn lookup(stage: &mut Box<dyn Stage>, ip: &str) -> Vec<(String, String)> {
        let mut e = Entry::new(Labels::new(), 0, String::new());
        e.extracted.insert("ip", Value::Str(ip.into()));
        let mut out = Vec::new();
        stage.process(e, &mut out);
        out[0]
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn validation() {
        assert_eq!(
            build_in("", None).err().unwrap(),
            "geoip stage config cannot be empty"
        );
        assert_eq!(
            build_in("db_type: city", None).err().unwrap(),
            "db path cannot be empty"
        );
        assert_eq!(
            build_in("db: x.mmdb\nsource: ''\ndb_type: city", None)
                .err()
                .unwrap(),
            "source cannot be empty"
        );
        assert_eq!(
            build_in("db: x.mmdb\nsource: ip", None).err().unwrap(),
            "db type should be either city or asn"
        );
        assert_eq!(
            build_in("db: missing.mmdb\nsource: ip\ndb_type: city", None)
                .err()
                .unwrap(),
            "open missing.mmdb: no such file or directory"
        );
    }

    #[test]
    fn city_lookups() {
        let dir = golden_dir("240-geoip-city");
        let mut stage = build_in("db: city.mmdb\nsource: ip\ndb_type: city", Some(&dir)).unwrap();
        let full = lookup(&mut stage, "192.0.2.7");
        assert!(full.contains(&("geoip_city_name".into(), "Springfield".into())));
        assert!(full.contains(&("geoip_subdivision_code".into(), "IN".into())));
        assert!(full.contains(&("geoip_location_longitude".into(), "13.405".into())));
        let partial = lookup(&mut stage, "198.51.100.1");
        assert_eq!(
            partial,
            vec![
                ("geoip_country_name".into(), "Nowhere".into()),
                ("geoip_location_latitude".into(), "0".into()),
                ("geoip_location_longitude".into(), "-0.5".into()),
            ]
        );
        assert!(lookup(&mut stage, "203.0.113.9").is_empty());
        assert!(lookup(&mut stage, "not-an-ip").is_empty());
        // An IPv4-mapped IPv6 address is looked up as IPv4, as Go's net.ParseIP makes it.
        assert_eq!(lookup(&mut stage, "::ffff:192.0.2.7"), full);
    }

    #[test]
    fn asn_lookups() {
        let dir = golden_dir("241-geoip-asn");
        let mut stage = build_in("db: asn.mmdb\nsource: ip\ndb_type: asn", Some(&dir)).unwrap();
        assert_eq!(
            lookup(&mut stage, "192.0.2.7"),
            vec![
                ("geoip_autonomous_system_number".into(), "64496".into()),
                (
                    "geoip_autonomous_system_organization".into(),
                    "Example Org \"Quoted\"".into()
                ),
            ]
        );
        assert_eq!(
            lookup(&mut stage, "203.0.113.9"),
            vec![(
                "geoip_autonomous_system_organization".into(),
                "Org Without Number".into()
            )]
        );
    }
}
