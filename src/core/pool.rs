//! A bounded pool of reusable values shared by every task (the hot path's large buffers), so
//! memory freed by one batch or chunk is reused by the next instead of being returned to the OS
//! and faulted in again.

use std::sync::Mutex;

/// At most `max` idle values; more are dropped when given back.
pub struct Pool<T> {
    idle: Mutex<Vec<T>>,
    max: usize,
}

impl<T> Pool<T> {
    /// An empty pool keeping at most `max` values.
    pub const fn new(max: usize) -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            max,
        }
    }

    /// An idle value, if the pool has one.
    pub fn take(&self) -> Option<T> {
        self.idle.lock().ok().and_then(|mut idle| idle.pop())
    }

    /// Keeps `value` for reuse, or drops it when the pool is full.
    pub fn give(&self, value: T) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max {
                idle.push(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_max() {
        let pool = Pool::new(2);
        for i in 0..5 {
            pool.give(i);
        }
        assert_eq!(pool.take(), Some(1));
        assert_eq!(pool.take(), Some(0));
        assert_eq!(pool.take(), None);
    }
}
