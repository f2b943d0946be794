//! The `limit` stage: a token-bucket rate limit on entries.
//!
//! The bucket refills at `rate` tokens per second up to `burst` and starts full, as Go's
//! `golang.org/x/time/rate` limiter does. With `drop: true` an entry that finds no token is
//! dropped and counted in `logentry_dropped_lines_total{reason="ratelimit_drop_stage"}`. With
//! `drop: false` (the default) the stage *waits* for a token: it sleeps the calling thread, which
//! is how Promtail applies back-pressure to the reader. The pipeline is synchronous; inside a
//! multi-threaded Tokio runtime the wait goes through `block_in_place`, so only this pipeline
//! stalls.
//!
//! With `by_label_name`, each value of that label gets its own bucket; entries without the label
//! are never limited, and drops are also counted in
//! `logentry_dropped_lines_by_label_total{label_name,label_value}`. The buckets live in a
//! two-generation map capped at `max_distinct_labels` (at least 10 000): when the current
//! generation is full it becomes the old one and buckets still in use move back on their next
//! entry. Promtail also resets the by-label counter at that point; counters registered through
//! the `metrics` crate cannot be reset, so ferrotail keeps counting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::pipeline::{BuildCtx, Entry, Stage};
use gocompat::yaml::Node;

use super::drop::{count_dropped, describe_dropped};

/// Name of the by-label drop counter.
pub const DROPPED_BY_LABEL: &str = "logentry_dropped_lines_by_label_total";
const REASON: &str = "ratelimit_drop_stage";
const MIN_DISTINCT_LABELS: usize = 10_000;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    rate: f64,
    burst: i64,
    drop: bool,
    by_label_name: String,
    max_distinct_labels: i64,
}

/// A token bucket with the semantics of Go's `rate.Limiter` (`Allow` and `Wait`).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32) -> Self {
        TokenBucket {
            rate,
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: None,
        }
    }

    fn advance(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            if elapsed > 0.0 {
                self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
            }
        }
        self.last = Some(match self.last {
            Some(last) if last > now => last,
            _ => now,
        });
    }

    /// Takes a token if one is available at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.rate.is_infinite() {
            return true;
        }
        self.advance(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Reserves a token at `now` and returns how long to wait until it is available.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        if self.rate.is_infinite() {
            return Duration::ZERO;
        }
        self.advance(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-self.tokens / self.rate).unwrap_or(Duration::MAX)
        }
    }
}

/// Two generations of per-label buckets, capped in size.
struct GenMap {
    max: usize,
    current: HashMap<String, TokenBucket>,
    old: HashMap<String, TokenBucket>,
}

impl GenMap {
    /// Takes a token from the bucket of `key` (created with `make` when new).
    fn allow(&mut self, key: &str, now: Instant, make: impl FnOnce() -> TokenBucket) -> bool {
        if let Some(bucket) = self.current.get_mut(key) {
            return bucket.allow(now);
        }
        let mut bucket = self.old.remove(key).unwrap_or_else(make);
        let allowed = bucket.allow(now);
        if self.current.len() >= self.max {
            self.old = std::mem::take(&mut self.current);
        }
        self.current.insert(key.to_string(), bucket);
        allowed
    }
}

/// The built stage.
pub struct LimitStage {
    rate: f64,
    burst: u32,
    drop: bool,
    bucket: TokenBucket,
    by_label: Option<(String, GenMap)>,
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let raw: RawConfig = ctx.decode("limit", config, true)?;
    if raw.rate <= 0.0 || raw.burst <= 0 || raw.rate.is_nan() {
        return Err("limit stage failed to parse rate or burst".into());
    }
    if !raw.by_label_name.is_empty() && !raw.drop {
        return Err("When ratelimiting by label, drop must be true".into());
    }
    let burst = u32::try_from(raw.burst).unwrap_or(u32::MAX);
    let by_label = if raw.by_label_name.is_empty() {
        None
    } else {
        let mut max = usize::try_from(raw.max_distinct_labels).unwrap_or(0);
        if max < MIN_DISTINCT_LABELS {
            ctx.warnings.push(format!(
                "limit stage: max_distinct_labels ({}) is below {MIN_DISTINCT_LABELS}; using {MIN_DISTINCT_LABELS}",
                raw.max_distinct_labels
            ));
            max = MIN_DISTINCT_LABELS;
        }
        metrics::describe_counter!(DROPPED_BY_LABEL, super::drop::DROPPED_LINES_HELP);
        Some((
            raw.by_label_name,
            GenMap {
                max,
                current: HashMap::new(),
                old: HashMap::new(),
            },
        ))
    };
    if raw.drop {
        describe_dropped();
    }
    Ok(Box::new(LimitStage {
        rate: raw.rate,
        burst,
        drop: raw.drop,
        bucket: TokenBucket::new(raw.rate, burst),
        by_label,
    }))
}

impl Stage for LimitStage {
    fn name(&self) -> &'static str {
        "limit"
    }

    fn process(&mut self, entry: Entry, out: &mut Vec<Entry>) {
        let now = Instant::now();
        if let Some((label, buckets)) = &mut self.by_label {
            let Some(value) = entry.labels.get(label) else {
                out.push(entry);
                return;
            };
            let (rate, burst) = (self.rate, self.burst);
            if buckets.allow(value, now, || TokenBucket::new(rate, burst)) {
                out.push(entry);
            } else {
                metrics::counter!(DROPPED_BY_LABEL, "label_name" => label.clone(), "label_value" => value.to_string())
                    .increment(1);
                count_dropped(REASON);
            }
            return;
        }
        if self.drop {
            if self.bucket.allow(now) {
                out.push(entry);
            } else {
                count_dropped(REASON);
            }
        } else {
            let wait = self.bucket.reserve(now);
            if !wait.is_zero() {
                block_for(wait);
            }
            out.push(entry);
        }
    }
}

/// Sleeps the calling thread. Inside a multi-threaded Tokio runtime the worker first hands its
/// other tasks to the rest of the pool (`block_in_place`), so a waiting limit stage stalls only
/// its own pipeline.
fn block_for(wait: Duration) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| std::thread::sleep(wait))
        }
        _ => std::thread::sleep(wait),
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

    #[test]
    fn bucket_semantics() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1.0, 2);
        assert!(b.allow(t0));
        assert!(b.allow(t0));
        assert!(!b.allow(t0));
        assert!(b.allow(t0 + Duration::from_secs(1)));
        assert!(!b.allow(t0 + Duration::from_millis(1500)));
        // Refill never exceeds the burst.
        let later = t0 + Duration::from_secs(100);
        assert!(b.allow(later));
        assert!(b.allow(later));
        assert!(!b.allow(later));
        // Reservations queue up behind each other.
        let mut b = TokenBucket::new(10.0, 1);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), Duration::from_millis(100));
        assert_eq!(b.reserve(t0), Duration::from_millis(200));
    }

    #[test]
    fn validation() {
        assert_eq!(
            build_from("rate: 0\nburst: 1").err().unwrap(),
            "limit stage failed to parse rate or burst"
        );
        assert_eq!(
            build_from("rate: 1").err().unwrap(),
            "limit stage failed to parse rate or burst"
        );
        assert_eq!(
            build_from("rate: 1\nburst: 1\nby_label_name: app")
                .err()
                .unwrap(),
            "When ratelimiting by label, drop must be true"
        );
    }

    /// The documented example: rate 1, burst 2, drop: of a burst of entries two pass.
    #[test]
    fn drop_mode_keeps_the_burst() {
        let mut stage = build_from("rate: 1\nburst: 2\ndrop: true").unwrap();
        let mut out = Vec::new();
        for i in 0..6 {
            stage.process(Entry::new(Labels::new(), 0, format!("line{i}")), &mut out);
        }
        let lines: Vec<_> = out.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, vec!["line0", "line1"]);
    }

    #[test]
    fn by_label_buckets() {
        let mut stage =
            build_from("rate: 1\nburst: 1\ndrop: true\nby_label_name: app\nmax_distinct_labels: 5")
                .unwrap();
        let mut out = Vec::new();
        for (app, line) in [
            (Some("a"), "a1"),
            (Some("a"), "a2"),
            (Some("b"), "b1"),
            (Some("a"), "a3"),
            (None, "n1"),
            (None, "n2"),
        ] {
            let labels: Labels = app.map(|a| ("app", a)).into_iter().collect();
            stage.process(Entry::new(labels, 0, line.into()), &mut out);
        }
        let lines: Vec<_> = out.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, vec!["a1", "b1", "n1", "n2"]);
    }

    #[test]
    fn wait_mode_passes_everything() {
        let mut stage = build_from("rate: 1000\nburst: 5").unwrap();
        let mut out = Vec::new();
        for i in 0..8 {
            stage.process(Entry::new(Labels::new(), 0, i.to_string()), &mut out);
        }
        assert_eq!(out.len(), 8);
    }
}
