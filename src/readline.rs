//! `limits_config.readline_rate*`: Promtail's global read-line rate limiter.
//!
//! One token bucket (`golang.org/x/time/rate`: `readline_rate` tokens a second, at most
//! `readline_burst` stored, full at start) shared by every job's pipeline, applied to the entries
//! a pipeline lets through, as Promtail's `Pipeline.Wrap` does. With `readline_rate_drop` an entry
//! that finds no token is dropped and counted in
//! `logentry_dropped_lines_total{reason="global_rate_limiter_drop"}` (its delivery token is
//! released, as for a stage drop); otherwise the pipeline waits for tokens, which holds up the
//! readers behind it (the files are the buffer).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::raw::RawLimits;
use crate::core::Entry;

/// The drop reason Promtail counts.
pub const DROP_REASON: &str = "global_rate_limiter_drop";

/// The shared limiter.
#[derive(Debug)]
pub struct ReadlineLimiter {
    bucket: Mutex<Bucket>,
    drop: bool,
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }
}

impl ReadlineLimiter {
    /// The limiter `limits` asks for, or `None` when `readline_rate_enabled` is false.
    pub fn from_config(limits: &RawLimits) -> Option<ReadlineLimiter> {
        if !limits.readline_rate_enabled {
            return None;
        }
        Some(ReadlineLimiter::new(
            limits.readline_rate,
            limits.readline_burst,
            limits.readline_rate_drop,
        ))
    }

    /// A limiter of `rate` lines a second with `burst` stored; `drop` drops instead of waiting.
    pub fn new(rate: f64, burst: i64, drop: bool) -> ReadlineLimiter {
        let burst = burst.max(0) as f64;
        ReadlineLimiter {
            bucket: Mutex::new(Bucket {
                rate: if rate.is_finite() {
                    rate.max(0.0)
                } else {
                    f64::MAX
                },
                burst,
                tokens: burst,
                last: Instant::now(),
            }),
            drop,
        }
    }

    /// The next part of `out` the limiter lets through, `None` once `out` is empty. In drop
    /// mode the entries that find no token are dropped (counted) and the rest returned at once;
    /// in wait mode this waits for at least one token and returns as many entries as there are
    /// tokens, so lines leave at the configured rate.
    pub async fn next(&self, out: &mut Vec<Entry>) -> Option<Vec<Entry>> {
        if out.is_empty() {
            return None;
        }
        loop {
            let wait = {
                let Ok(mut b) = self.bucket.lock() else {
                    return Some(std::mem::take(out));
                };
                b.refill(Instant::now());
                let tokens = b.tokens.floor().max(0.0) as usize;
                if self.drop {
                    let allowed = tokens.min(out.len());
                    b.tokens -= allowed as f64;
                    drop(b);
                    let dropped = out.len() - allowed;
                    if dropped > 0 {
                        out.truncate(allowed);
                        metrics::counter!(crate::pipeline::DROPPED_LINES, "reason" => DROP_REASON)
                            .increment(dropped as u64);
                    }
                    return (!out.is_empty()).then(|| std::mem::take(out));
                }
                if b.burst < 1.0 || (b.rate <= 0.0 && tokens == 0) {
                    // Go's `Wait` fails (burst 0, or no rate and no token left); Promtail passes
                    // the entry on.
                    return Some(std::mem::take(out));
                }
                if tokens >= 1 {
                    let n = tokens.min(out.len());
                    b.tokens -= n as f64;
                    let rest = out.split_off(n);
                    return Some(std::mem::replace(out, rest));
                }
                Duration::from_secs_f64(((1.0 - b.tokens) / b.rate).min(3600.0))
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Labels;

    fn entries(n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry::new(Labels::new(), i as i64, format!("line {i}")))
            .collect()
    }

    #[test]
    fn disabled_by_default() {
        assert!(ReadlineLimiter::from_config(&RawLimits::default()).is_none());
        let l = RawLimits {
            readline_rate_enabled: true,
            ..RawLimits::default()
        };
        let r = ReadlineLimiter::from_config(&l).unwrap();
        assert!(r.drop, "Promtail's default readline_rate_drop is true");
    }

    #[tokio::test]
    async fn drop_mode_keeps_the_burst() {
        let l = ReadlineLimiter::new(0.001, 5, true);
        let mut out = entries(8);
        let part = l.next(&mut out).await.unwrap();
        assert_eq!(part.len(), 5);
        assert_eq!(part[4].line, "line 4");
        assert!(out.is_empty());
        assert!(l.next(&mut out).await.is_none());
        let mut out = entries(3);
        assert!(l.next(&mut out).await.is_none(), "no token left");
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn wait_mode_releases_lines_at_the_rate() {
        let l = ReadlineLimiter::new(50.0, 10, false);
        let start = Instant::now();
        let mut out = entries(20);
        let mut parts = Vec::new();
        while let Some(p) = l.next(&mut out).await {
            parts.push(p.len());
        }
        assert_eq!(parts.iter().sum::<usize>(), 20);
        assert_eq!(parts[0], 10, "the burst goes at once");
        // 10 lines beyond the burst at 50 lines/s: about 200 ms.
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
    }
}
