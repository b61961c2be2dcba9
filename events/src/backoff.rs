//! How long to wait before trying again: every retry loop in Rota uses one [`Backoff`].

use std::time::Duration;

/// Waits that double from `first` up to `max`. Each wait is jittered to between half of it and all
/// of it, so replicas that failed together (a broker restart, say) do not all retry at once.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }

    /// The wait before the next attempt; the one after it is twice as long, up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay / 2 + delay.mul_f64(fastrand::f64() / 2.0)
    }

    /// After a success: the next failure waits the first delay again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_with_jitter_below_each_step() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(100), ms(1_000));
        for step in [100, 200, 400, 800, 1_000, 1_000] {
            let delay = backoff.next_delay();
            assert!(
                delay >= ms(step / 2) && delay <= ms(step),
                "{delay:?} for a {step} ms step"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= ms(100));
        let waits: std::collections::HashSet<Duration> = (0..20)
            .map(|_| Backoff::new(ms(1_000), ms(1_000)).next_delay())
            .collect();
        assert!(waits.len() > 1, "jittered: {waits:?}");
    }
}
