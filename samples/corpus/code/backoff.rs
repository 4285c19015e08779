//! Exponential backoff with full jitter.

use std::time::Duration;

/// The delay before retry number `attempt` (0-based): uniform in [0, min(cap, base * 2^attempt)].
pub fn backoff(attempt: u32, base: Duration, cap: Duration, unit_random: f64) -> Duration {
    let ceiling = base.saturating_mul(2u32.saturating_pow(attempt)).min(cap);
    ceiling.mul_f64(unit_random.clamp(0.0, 1.0))
}
