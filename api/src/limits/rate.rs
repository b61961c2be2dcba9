//! Writes per caller: a token bucket each, refilled at a steady rate up to a burst. A caller who
//! has spent the burst waits for the next token, and is told how long (`Retry-After`).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Buckets kept before the full ones (callers idle long enough to be back at their burst, so
/// forgetting them changes nothing) are let go.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Most tokens a bucket holds: writes a caller may make at once after a pause.
    pub burst: u32,
}

pub struct RateLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token from `caller`'s bucket, or says how long until there is one.
    pub fn take(&self, caller: &str) -> Result<(), Duration> {
        self.take_at(caller, Instant::now())
    }

    fn take_at(&self, caller: &str, now: Instant) -> Result<(), Duration> {
        let Rate { per_second, burst } = self.rate;
        let burst = f64::from(burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| b.refilled(per_second, burst, now) < burst);
        }
        let bucket = buckets.entry(caller.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = bucket.refilled(per_second, burst, now);
        *bucket = Bucket { tokens, at: now };
        if tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / per_second))
        }
    }
}

impl Bucket {
    fn refilled(&self, per_second: f64, burst: f64, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * per_second).min(burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_spends_the_burst_then_waits_for_the_rate_others_are_untouched() {
        let limiter = RateLimiter::new(Rate {
            per_second: 2.0,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take_at("a", t0), Ok(()));
        }
        let wait = limiter.take_at("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(limiter.take_at("b", t0), Ok(()), "another caller");
        let later = t0 + Duration::from_millis(500);
        assert_eq!(limiter.take_at("a", later), Ok(()));
        assert!(limiter.take_at("a", later).is_err());
        // A long pause refills up to the burst, no further.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.take_at("a", much_later), Ok(()));
        }
        assert!(limiter.take_at("a", much_later).is_err());
    }
}
