//! The `sampling` stage: keeps a random fraction `rate` of the entries.
//!
//! As in Promtail, an entry is kept when a random non-zero 63-bit number is at most
//! `rate × (2^63 − 1)`, so `rate: 1` keeps everything and `rate: 0` (also the default, so
//! `sampling: {}` drops everything) keeps nothing. Drops are counted in
//! `logentry_dropped_lines_total{reason}` (`sampling_stage` unless `drop_counter_reason` is set).
//! The random source is seeded from the OS, so which entries survive differs between runs.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use crate::pipeline::{BuildCtx, Entry, Stage};
use gocompat::yaml::Node;

use super::drop::{count_dropped, describe_dropped};

const MAX_RANDOM: u64 = (1 << 63) - 1;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    rate: f64,
    drop_counter_reason: Option<String>,
}

/// The built stage.
pub struct SamplingStage {
    threshold: u64,
    reason: String,
    rng: StdRng,
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let raw: RawConfig = ctx.decode("sampling", config, true)?;
    if !(0.0..=1.0).contains(&raw.rate) {
        return Err(format!(
            "sampling stage failed to parse rate,Sampling Rate must be between 0.0 and 1.0, received {}",
            go_percent_f(raw.rate)
        ));
    }
    describe_dropped();
    let reason = match raw.drop_counter_reason.as_deref() {
        None | Some("") => "sampling_stage".to_string(),
        Some(r) => r.to_string(),
    };
    Ok(Box::new(SamplingStage {
        threshold: (raw.rate * MAX_RANDOM as f64) as u64,
        reason,
        rng: StdRng::from_os_rng(),
    }))
}

/// Go's `%f` formatting of a float64.
fn go_percent_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{f:.6}")
    }
}

impl SamplingStage {
    fn keep(&mut self) -> bool {
        let id = loop {
            let r = self.rng.random::<u64>() & MAX_RANDOM;
            if r != 0 {
                break r;
            }
        };
        id <= self.threshold
    }
}

impl Stage for SamplingStage {
    fn name(&self) -> &'static str {
        "sampling"
    }

    fn process(&mut self, entry: Entry, out: &mut Vec<Entry>) {
        if self.keep() {
            out.push(entry);
        } else {
            count_dropped(&self.reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Labels;
    use gocompat::yaml;

    fn build_from(text: &str) -> Result<Box<dyn Stage>, String> {
        let node = yaml::parse(text).unwrap();
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "test",
            warnings: &mut warnings,
            base_dir: None,
        };
        build(&mut ctx, &node)
    }

    fn kept(cfg: &str, n: usize) -> usize {
        let mut stage = build_from(cfg).unwrap();
        let mut out = Vec::new();
        for i in 0..n {
            stage.process(Entry::new(Labels::new(), 0, i.to_string()), &mut out);
        }
        out.len()
    }

    #[test]
    fn rates() {
        assert_eq!(kept("rate: 1", 1000), 1000);
        assert_eq!(kept("rate: 0", 1000), 0);
        assert_eq!(kept("{}", 1000), 0);
        // The documented example keeps about a quarter of the lines.
        let k = kept("rate: 0.25", 20_000);
        assert!((4_000..6_000).contains(&k), "{k}");
        // WeakDecode reads strings as numbers.
        assert_eq!(kept("rate: '1'", 10), 10);
    }

    #[test]
    fn rate_out_of_range() {
        assert_eq!(
            build_from("rate: 2").err().unwrap(),
            "sampling stage failed to parse rate,Sampling Rate must be between 0.0 and 1.0, received 2.000000"
        );
        assert!(build_from("rate: -0.5").is_err());
    }
}
