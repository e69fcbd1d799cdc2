//! The backoff of member watch restarts: `feddns_provider::Backoff` (the one backoff of the
//! shared retry policy) with equal jitter, as kube's stream backoff too.

use std::time::Duration;

use feddns_provider::Jitter;

/// Delays that double from `base` up to `max`; each is drawn between half and all of the
/// exponential value, so that many clients failing together do not retry together.
#[derive(Debug)]
pub struct Backoff(feddns_provider::Backoff);

impl Backoff {
    /// A backoff starting at `base`, never longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self(feddns_provider::Backoff::new(base, max, Jitter::Equal))
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        self.0.next_delay()
    }

    /// Starts over from `base` (after a success).
    pub fn reset(&mut self) {
        self.0.reset();
    }
}

/// The same delays for kube's stream backoff (retries of a kind that cannot be read).
impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.next_delay())
    }
}

impl kube::runtime::utils::Backoff for Backoff {
    fn reset(&mut self) {
        Self::reset(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_jitter_bounds_up_to_the_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000));
        for exp in [100, 200, 400, 800, 1000, 1000] {
            let d = b.next_delay();
            assert!(d >= ms(exp / 2) && d <= ms(exp), "{d:?} for {exp}ms");
        }
        b.reset();
        assert!(b.next_delay() <= ms(100));
    }
}
