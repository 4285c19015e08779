//! Client-side requests-per-minute and tokens-per-minute limits for one model. Two token
//! buckets refill continuously; a caller that would overdraw waits, and waiters are served in
//! arrival order (tokio's mutex is fair), so nobody fails and nobody jumps the queue.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::clock::{Clock, SystemClock};
use crate::error::LlmError;
use crate::model::{ChatModel, ChatStream, ModelId, ModelProfile, TokenCount};
use crate::types::{ChatRequest, ChatResponse};

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
}

#[derive(Debug)]
struct Buckets {
    requests: f64,
    tokens: f64,
    at: Duration,
}

pub struct RateLimiter {
    limits: Limits,
    state: tokio::sync::Mutex<Buckets>,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    pub fn new(limits: Limits, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        RateLimiter {
            state: tokio::sync::Mutex::new(Buckets {
                requests: limits.requests_per_minute.unwrap_or(0) as f64,
                tokens: limits.tokens_per_minute.unwrap_or(0) as f64,
                at: now,
            }),
            limits,
            clock,
        }
    }

    fn refill(&self, b: &mut Buckets) {
        let now = self.clock.now();
        let mins = now.saturating_sub(b.at).as_secs_f64() / 60.0;
        b.at = now;
        if let Some(r) = self.limits.requests_per_minute {
            b.requests = (b.requests + mins * r as f64).min(r as f64);
        }
        if let Some(t) = self.limits.tokens_per_minute {
            b.tokens = (b.tokens + mins * t as f64).min(t as f64);
        }
    }

    /// Waits until one request of `tokens` fits, then takes it. A request larger than the
    /// whole per-minute token budget waits for a full bucket rather than forever.
    pub async fn acquire(&self, tokens: u64) {
        let mut b = self.state.lock().await;
        loop {
            self.refill(&mut b);
            let mut wait: f64 = 0.0;
            if let Some(r) = self.limits.requests_per_minute.filter(|r| *r > 0) {
                if b.requests < 1.0 {
                    wait = wait.max((1.0 - b.requests) * 60.0 / r as f64);
                }
            }
            let need = match self.limits.tokens_per_minute.filter(|t| *t > 0) {
                Some(t) => {
                    let need = (tokens as f64).min(t as f64);
                    if b.tokens < need {
                        wait = wait.max((need - b.tokens) * 60.0 / t as f64);
                    }
                    need
                }
                None => 0.0,
            };
            if wait <= 0.0 {
                if self.limits.requests_per_minute.is_some() {
                    b.requests -= 1.0;
                }
                b.tokens -= need;
                return;
            }
            self.clock.sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

pub struct RateLimit {
    inner: Arc<dyn ChatModel>,
    limiter: RateLimiter,
}

impl RateLimit {
    pub fn new(inner: Arc<dyn ChatModel>, limits: Limits) -> Self {
        Self::with_clock(inner, limits, Arc::new(SystemClock::default()))
    }
    pub fn with_clock(inner: Arc<dyn ChatModel>, limits: Limits, clock: Arc<dyn Clock>) -> Self {
        RateLimit {
            inner,
            limiter: RateLimiter::new(limits, clock),
        }
    }

    /// The tokens a request will use: its input estimate plus the output it may produce.
    fn cost(&self, req: &ChatRequest) -> u64 {
        crate::tokens::estimate_request(&self.inner.id(), req).tokens
            + req.max_output_tokens.unwrap_or(0) as u64
    }
}

#[async_trait]
impl ChatModel for RateLimit {
    fn id(&self) -> ModelId {
        self.inner.id()
    }
    fn profile(&self) -> ModelProfile {
        self.inner.profile()
    }
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.limiter.acquire(self.cost(req)).await;
        self.inner.chat(req).await
    }
    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        self.limiter.acquire(self.cost(req)).await;
        self.inner.stream(req).await
    }
    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        self.inner.count_tokens(req).await
    }
    async fn context_window(&self) -> Result<Option<u64>, LlmError> {
        self.inner.context_window().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::clock::ManualClock;

    #[tokio::test]
    async fn requests_per_minute_queue_in_order() {
        let clock = Arc::new(ManualClock::new());
        let rl = Arc::new(RateLimiter::new(
            Limits {
                requests_per_minute: Some(60),
                tokens_per_minute: None,
            },
            clock.clone(),
        ));
        // A full bucket lets 60 through at once; the 61st waits one second.
        for _ in 0..60 {
            rl.acquire(0).await;
        }
        assert!(clock.sleeps().is_empty());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for i in 0..5 {
            let (rl, order) = (rl.clone(), order.clone());
            handles.push(tokio::spawn(async move {
                rl.acquire(0).await;
                order.lock().unwrap().push(i);
            }));
            tokio::task::yield_now().await;
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        let total: f64 = clock.sleeps().iter().map(|d| d.as_secs_f64()).sum();
        assert!(
            (total - 5.0).abs() < 1e-6,
            "waited {total}s for 5 requests at 1/s"
        );
    }

    #[tokio::test]
    async fn tokens_per_minute_waits_for_refill() {
        let clock = Arc::new(ManualClock::new());
        let rl = RateLimiter::new(
            Limits {
                requests_per_minute: None,
                tokens_per_minute: Some(6000),
            },
            clock.clone(),
        );
        rl.acquire(6000).await;
        rl.acquire(3000).await; // half a minute of refill
        assert_eq!(clock.sleeps().len(), 1);
        assert!((clock.sleeps()[0].as_secs_f64() - 30.0).abs() < 1e-6);
        // Larger than the whole budget: waits for a full bucket, does not hang.
        rl.acquire(1_000_000).await;
        let total: f64 = clock.sleeps().iter().map(|d| d.as_secs_f64()).sum();
        assert!((total - 90.0).abs() < 1e-6, "{total}");
    }
}
