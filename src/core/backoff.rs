//! Exponential backoff between retries: the delay starts at `min` and doubles after each retry,
//! never above `max`. The Loki client draws each delay at random from `[d, 2d)` (capped at `max`),
//! as dskit's backoff does; Docker's reconnects wait exactly `d`.

use std::time::Duration;

/// The delays of one run of retries.
#[derive(Debug, Clone)]
pub struct Backoff {
    cur: Duration,
    min: Duration,
    max: Duration,
    jitter: bool,
}

impl Backoff {
    /// Delays of exactly `min`, `2 min`, `4 min`, ... up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            cur: min,
            min,
            max,
            jitter: false,
        }
    }

    /// Like [`Backoff::new`], each delay drawn from `[d, 2d)` and capped at `max` (dskit).
    pub fn jittered(min: Duration, max: Duration) -> Self {
        Backoff {
            jitter: true,
            ..Backoff::new(min, max)
        }
    }

    /// The delay before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        let d = if self.jitter {
            self.cur.mul_f64(1.0 + rand::random::<f64>()).min(self.max)
        } else {
            self.cur
        };
        self.cur = (self.cur * 2).min(self.max);
        d
    }

    /// Starts over from `min` (after a success).
    pub fn reset(&mut self) {
        self.cur = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_max_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(500), ms(3000));
        let got: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert_eq!(got, [ms(500), ms(1000), ms(2000), ms(3000), ms(3000)]);
        b.reset();
        assert_eq!(b.next_delay(), ms(500));
    }

    #[test]
    fn jitter_stays_in_range() {
        let ms = Duration::from_millis;
        let mut b = Backoff::jittered(ms(100), ms(500));
        for d in [100, 200, 400, 500, 500] {
            let got = b.next_delay();
            assert!(
                got >= ms(d).min(ms(500)) && got <= ms(2 * d).min(ms(500)),
                "{got:?}"
            );
        }
    }
}
