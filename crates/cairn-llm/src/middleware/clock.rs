//! Time as a dependency, so retry backoff and rate-limit waits are tested by reading a clock
//! instead of sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

#[async_trait]
pub trait Clock: Send + Sync {
    /// Monotonic time since an arbitrary origin.
    fn now(&self) -> Duration;
    async fn sleep(&self, d: Duration);
}

/// The real clock (tokio's timer).
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
}

/// A clock that moves only when slept on: each sleep advances it at once and is recorded.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Mutex<Duration>,
    sleeps: Mutex<Vec<Duration>>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }
    /// Every sleep so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().expect("lock").clone()
    }
    pub fn advance(&self, d: Duration) {
        *self.now.lock().expect("lock") += d;
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock().expect("lock")
    }
    async fn sleep(&self, d: Duration) {
        self.sleeps.lock().expect("lock").push(d);
        self.advance(d);
        tokio::task::yield_now().await;
    }
}

/// A small seeded generator for jitter (splitmix64): no global RNG, reproducible in tests.
#[derive(Debug)]
pub struct Jitterer {
    state: Mutex<u64>,
}

impl Jitterer {
    pub fn seeded(seed: u64) -> Self {
        Jitterer {
            state: Mutex::new(seed),
        }
    }
    pub fn from_time() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9);
        Self::seeded(t ^ (std::process::id() as u64).rotate_left(32))
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&self) -> f64 {
        let mut s = self.state.lock().expect("lock");
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}
