//! Service limits that span requests: the rate limit.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The window a rate limit counts requests over.
const WINDOW: Duration = Duration::from_secs(60);

/// A sliding-window rate limit: at most `per_minute` requests admitted in any 60 s.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    /// When each request of the last 60 s was admitted, oldest first.
    admitted: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// A limit of `per_minute` requests per 60 s (0 admits nothing).
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            admitted: Mutex::new(VecDeque::new()),
        }
    }

    /// Admits a request at `now`, or returns in how many ms (at least 1) the oldest admitted
    /// request leaves the window. A refused request does not count.
    pub fn admit(&self, now: Instant) -> Result<(), u64> {
        let mut admitted = self.admitted.lock().unwrap_or_else(PoisonError::into_inner);
        while admitted
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= WINDOW)
        {
            admitted.pop_front();
        }
        if admitted.len() < self.per_minute as usize {
            admitted.push_back(now);
            return Ok(());
        }
        let frees_at = admitted.front().map_or(now + WINDOW, |&t| t + WINDOW);
        let wait = frees_at.saturating_duration_since(now);
        Err((wait.as_micros().div_ceil(1000) as u64).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides_and_refusals_say_when_to_retry() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        assert_eq!(limiter.admit(t0), Ok(()));
        assert_eq!(limiter.admit(t0 + Duration::from_secs(10)), Ok(()));
        assert_eq!(limiter.admit(t0 + Duration::from_secs(20)), Err(40_000));
        // Refusals do not count: the first request leaves the window at 60 s.
        assert_eq!(limiter.admit(t0 + Duration::from_secs(59)), Err(1_000));
        assert_eq!(limiter.admit(t0 + Duration::from_secs(60)), Ok(()));
        assert_eq!(limiter.admit(t0 + Duration::from_secs(61)), Err(9_000));
        assert!(RateLimiter::new(0).admit(t0).is_err());
    }
}
