//! The stage registry: Promtail's stage names mapped to their builders.

use super::{BuildCtx, Stage};
use gocompat::yaml::Node;

pub mod cri;
pub mod decolorize;
pub mod docker;
pub mod drop;
pub mod eventlogmessage;
pub mod geoip;
pub mod json;
pub mod labelallow;
pub mod labeldrop;
pub mod labels;
pub mod limit;
pub mod logfmt;
pub mod match_;
pub mod metrics;
pub mod multiline;
pub mod output;
pub mod pack;
pub mod regex;
pub mod replace;
pub mod sampling;
pub mod static_labels;
pub mod structured_metadata;
pub mod template;
pub mod tenant;
pub mod timestamp;

/// Every stage name Promtail 3.4.6 registers.
pub const NAMES: &[&str] = &[
    "docker",
    "cri",
    "json",
    "logfmt",
    "regex",
    "metrics",
    "labels",
    "labeldrop",
    "timestamp",
    "output",
    "match",
    "template",
    "tenant",
    "replace",
    "drop",
    "sampling",
    "limit",
    "multiline",
    "pack",
    "labelallow",
    "static_labels",
    "decolorize",
    "eventlogmessage",
    "geoip",
    "structured_metadata",
    "non_indexed_labels",
];

/// Builds the stage named `name` from its config node. The error is the inner message; the
/// caller wraps it as `invalid <name> stage config: <msg>`.
pub fn build(ctx: &mut BuildCtx, name: &str, config: &Node) -> Result<Box<dyn Stage>, String> {
    match name {
        "docker" => docker::build(ctx, config),
        "cri" => cri::build(ctx, config),
        "json" => json::build(ctx, config),
        "logfmt" => logfmt::build(ctx, config),
        "regex" => regex::build(ctx, config),
        "metrics" => metrics::build(ctx, config),
        "labels" => labels::build(ctx, config),
        "labeldrop" => labeldrop::build(ctx, config),
        "timestamp" => timestamp::build(ctx, config),
        "output" => output::build(ctx, config),
        "match" => match_::build(ctx, config),
        "template" => template::build(ctx, config),
        "tenant" => tenant::build(ctx, config),
        "replace" => replace::build(ctx, config),
        "drop" => drop::build(ctx, config),
        "sampling" => sampling::build(ctx, config),
        "limit" => limit::build(ctx, config),
        "multiline" => multiline::build(ctx, config),
        "pack" => pack::build(ctx, config),
        "labelallow" => labelallow::build(ctx, config),
        "static_labels" => static_labels::build(ctx, config),
        "decolorize" => decolorize::build(ctx, config),
        "eventlogmessage" => eventlogmessage::build(ctx, config),
        "geoip" => geoip::build(ctx, config),
        "structured_metadata" | "non_indexed_labels" => structured_metadata::build(ctx, config),
        other => Err(format!("Unknown stage type: {other}")),
    }
}
