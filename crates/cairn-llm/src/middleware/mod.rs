//! Decorators that wrap any `ChatModel`. None of this lives in the providers.

pub mod cache;
pub mod clock;
pub mod fallback;
pub mod guard;
pub mod ledger;
pub mod rate_limit;
pub mod retry;

pub use cache::Cache;
pub use clock::{Clock, ManualClock, SystemClock};
pub use fallback::Fallback;
pub use guard::ContextGuard;
pub use ledger::{GroupBy, Ledger, LedgerRow, Ledgered};
pub use rate_limit::{Limits, RateLimit};
pub use retry::{Jitter, Retry, RetryPolicy};
