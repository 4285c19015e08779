//! Property tests of the wait parsers fed by servers: `retry_after` over response headers
//! (`retry-after-ms`, `retry-after`, rate-limit resets) and `parse_go_duration` (OpenAI's reset
//! headers, Gemini's `RetryInfo.retryDelay` in error bodies and stream error events). They
//! never panic, whatever the numbers, and a wait they return is one a timer can take.
//!
//! `PROPTEST_CASES=1000000 cargo test -p cairn-llm --release --test prop_retry_after`.

mod prop_support;

use std::time::{Duration, SystemTime};

use cairn_llm::transport::{parse_go_duration, retry_after};
use prop_support::config;
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

const NAMES: &[&str] = &[
    "retry-after-ms",
    "retry-after",
    "x-ratelimit-reset-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-tokens",
    "x-ratelimit-remaining-tokens",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-tokens-remaining",
];

/// Numbers of every size and shape, durations, dates, junk.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        "[0-9]{1,40}(\\.[0-9]{0,9})?(e[0-9]{1,3})?",
        "[0-9.]{1,400}(h|m|s|ms|us|ns|µs)?",
        "([0-9]{1,25}(h|m|s|ms|us|ns)){1,4}",
        "(Mon|Fri), [0-9]{2} (Jan|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        "[0-9]{4,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
        "\\PC{0,12}",
    ]
}

/// The longest wait any parser returns: a year (far past any retry policy's ceiling, and
/// safe to add to an `Instant`).
const CAP: Duration = Duration::from_secs(365 * 24 * 3600);

proptest! {
    #![proptest_config(config())]

    #[test]
    fn go_durations_never_panic_and_stay_bounded(s in value()) {
        if let Some(d) = parse_go_duration(&s) {
            prop_assert!(d <= CAP, "{s:?} -> {d:?}");
        }
    }

    #[test]
    fn header_waits_never_panic_and_stay_bounded(
        headers in prop::collection::vec((prop::sample::select(NAMES), value()), 0..6),
        now_secs in 0u64..4_000_000_000,
    ) {
        let mut h = HeaderMap::new();
        for (k, v) in &headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append(HeaderName::from_static(k), v);
            }
        }
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
        if let Some(d) = retry_after(&h, now) {
            prop_assert!(d <= CAP, "{headers:?} -> {d:?}");
        }
    }
}
