//! Middleware behaviour on a scripted model and a manual clock: backoff schedules, Retry-After,
//! give-up rules, stream restarts, fallbacks, the response cache and the context guard. No
//! test here sleeps.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cairn_llm::middleware::{
    Cache, ContextGuard, Fallback, Jitter, ManualClock, Retry, RetryPolicy,
};
use cairn_llm::{
    collect, ChatEvent, ChatModel, ChatRequest, ChatResponse, ChatStream, ContentPart,
    FinishReason, LlmError, ModelId, StreamBreak, Usage,
};
use futures::StreamExt;

/// What one call of the scripted model does.
enum Step {
    Fail(LlmError),
    Reply(&'static str),
    /// Stream these text pieces, then break.
    Break(Vec<&'static str>),
}

struct Scripted {
    name: &'static str,
    steps: Mutex<VecDeque<Step>>,
    calls: Mutex<u32>,
}

impl Scripted {
    fn new(name: &'static str, steps: Vec<Step>) -> Arc<Self> {
        Arc::new(Scripted {
            name,
            steps: Mutex::new(steps.into()),
            calls: Mutex::new(0),
        })
    }
    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
    fn next(&self) -> Step {
        *self.calls.lock().unwrap() += 1;
        self.steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Step::Reply("default"))
    }
}

fn reply(text: &str) -> ChatResponse {
    ChatResponse {
        content: vec![ContentPart::Text { text: text.into() }],
        tool_calls: vec![],
        finish_reason: FinishReason::Stop,
        usage: Usage {
            input_tokens: 5,
            output_tokens: 2,
            ..Default::default()
        },
        request_id: None,
        model: None,
        served: Default::default(),
    }
}

#[async_trait]
impl ChatModel for Scripted {
    fn id(&self) -> ModelId {
        ModelId::new("test", self.name)
    }
    async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse, LlmError> {
        match self.next() {
            Step::Fail(e) => Err(e),
            Step::Reply(t) => Ok(reply(t)),
            Step::Break(_) => Err(broken()),
        }
    }
    async fn stream(&self, _: &ChatRequest) -> Result<ChatStream, LlmError> {
        let evs: Vec<Result<ChatEvent, LlmError>> = match self.next() {
            Step::Fail(e) => return Err(e),
            Step::Reply(t) => cairn_llm::model::events_of(&reply(t))
                .into_iter()
                .map(Ok)
                .collect(),
            Step::Break(pieces) => pieces
                .into_iter()
                .map(|p| Ok(ChatEvent::TextDelta { text: p.into() }))
                .chain(std::iter::once(Err(broken())))
                .collect(),
        };
        Ok(Box::pin(futures::stream::iter(evs)))
    }
}

fn api(status: u16, retry_after: Option<Duration>) -> LlmError {
    LlmError::Api {
        provider: "openai",
        status,
        code: None,
        message: format!("status {status}"),
        request_id: None,
        retry_after,
        should_retry: None,
    }
}

fn broken() -> LlmError {
    LlmError::Stream {
        provider: "openai",
        kind: StreamBreak::Dropped,
        detail: String::new(),
    }
}

fn q() -> ChatRequest {
    ChatRequest::prompt(None, "q")
}

fn no_jitter() -> RetryPolicy {
    RetryPolicy {
        jitter: Jitter::None,
        ..RetryPolicy::default()
    }
}

#[tokio::test]
async fn exponential_backoff_schedule() {
    let m = Scripted::new(
        "m",
        vec![
            Step::Fail(api(500, None)),
            Step::Fail(api(503, None)),
            Step::Fail(api(529, None)),
            Step::Reply("ok"),
        ],
    );
    let clock = Arc::new(ManualClock::new());
    let r = Retry::with_clock(m.clone(), no_jitter(), clock.clone());
    assert_eq!(r.chat(&q()).await.unwrap().text(), "ok");
    assert_eq!(
        clock.sleeps(),
        vec![
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_secs(2)
        ]
    );
    assert_eq!(m.calls(), 4);
}

#[tokio::test]
async fn delays_are_capped() {
    let p = RetryPolicy {
        max_retries: 10,
        ..no_jitter()
    };
    assert_eq!(p.backoff(10), Duration::from_secs(8));
    assert_eq!(p.backoff(4), Duration::from_secs(8));
    assert_eq!(p.backoff(3), Duration::from_secs(4));
}

#[tokio::test]
async fn jitter_stays_in_its_band() {
    for (jitter, lo) in [(Jitter::Fraction(0.25), 0.75), (Jitter::Full, 0.0)] {
        let steps = (0..3)
            .map(|_| Step::Fail(api(500, None)))
            .chain([Step::Reply("ok")])
            .collect();
        let m = Scripted::new("m", steps);
        let clock = Arc::new(ManualClock::new());
        let r = Retry::with_clock(
            m,
            RetryPolicy {
                jitter,
                ..RetryPolicy::default()
            },
            clock.clone(),
        )
        .seeded(42);
        r.chat(&q()).await.unwrap();
        for (i, d) in clock.sleeps().iter().enumerate() {
            let cap = 0.5 * 2f64.powi(i as i32);
            let s = d.as_secs_f64();
            assert!(
                s >= lo * cap - 1e-9 && s <= cap + 1e-9,
                "{jitter:?} retry {i}: {s} not in [{}, {cap}]",
                lo * cap
            );
        }
        if jitter == Jitter::Fraction(0.25) {
            let s = clock.sleeps();
            assert!(
                s.windows(2).all(|w| w[1] > w[0].mul_f64(1.1)),
                "delays must grow: {s:?}"
            );
        }
    }
}

#[tokio::test]
async fn retry_after_is_honoured_and_too_long_waits_are_not_retried() {
    let m = Scripted::new(
        "m",
        vec![
            Step::Fail(api(429, Some(Duration::from_secs(7)))),
            Step::Reply("ok"),
        ],
    );
    let clock = Arc::new(ManualClock::new());
    let r = Retry::with_clock(m, no_jitter(), clock.clone());
    r.chat(&q()).await.unwrap();
    assert_eq!(clock.sleeps().len(), 1);
    assert!(clock.sleeps()[0] >= Duration::from_secs(7));

    let m = Scripted::new(
        "m",
        vec![Step::Fail(api(429, Some(Duration::from_secs(600))))],
    );
    let clock = Arc::new(ManualClock::new());
    let r = Retry::with_clock(m.clone(), no_jitter(), clock.clone());
    assert!(matches!(
        r.chat(&q()).await,
        Err(LlmError::Api { status: 429, .. })
    ));
    assert!(clock.sleeps().is_empty());
    assert_eq!(m.calls(), 1);
}

#[tokio::test]
async fn permanent_errors_are_never_retried_and_budgets_end() {
    for status in [400, 401, 403, 404, 422] {
        let m = Scripted::new("m", vec![Step::Fail(api(status, None))]);
        let clock = Arc::new(ManualClock::new());
        let r = Retry::with_clock(m.clone(), no_jitter(), clock.clone());
        assert!(r.chat(&q()).await.is_err());
        assert_eq!((m.calls(), clock.sleeps().len()), (1, 0), "{status}");
    }
    let m = Scripted::new("m", (0..10).map(|_| Step::Fail(api(503, None))).collect());
    let clock = Arc::new(ManualClock::new());
    let r = Retry::with_clock(m.clone(), no_jitter(), clock.clone());
    assert!(matches!(
        r.chat(&q()).await,
        Err(LlmError::Api { status: 503, .. })
    ));
    assert_eq!(m.calls(), 4);
}

#[tokio::test]
async fn a_broken_stream_restarts_once_with_a_restart_event() {
    let m = Scripted::new(
        "m",
        vec![
            Step::Break(vec!["Hel", "lo wor"]),
            Step::Reply("Hello world"),
        ],
    );
    let clock = Arc::new(ManualClock::new());
    let r = Retry::with_clock(m, no_jitter(), clock.clone());
    let evs: Vec<ChatEvent> = r
        .stream(&q())
        .await
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
        .await;
    let restarts: Vec<_> = evs
        .iter()
        .filter(|e| matches!(e, ChatEvent::Restart { .. }))
        .collect();
    assert_eq!(restarts.len(), 1);
    let mut acc = cairn_llm::Accumulator::default();
    evs.iter().for_each(|e| acc.push(e));
    assert_eq!(acc.response().text(), "Hello world");
    assert_eq!(clock.sleeps().len(), 1);
}

#[tokio::test]
async fn restarts_off_gives_the_partial_output_in_a_typed_error() {
    let m = Scripted::new("m", vec![Step::Break(vec!["Hel"]), Step::Reply("Hello")]);
    let policy = RetryPolicy {
        restart_streams: false,
        ..no_jitter()
    };
    let r = Retry::with_clock(m.clone(), policy, Arc::new(ManualClock::new()));
    match collect(r.stream(&q()).await.unwrap()).await {
        Err(LlmError::PartialStream { partial, .. }) => assert_eq!(partial.text(), "Hel"),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.calls(), 1);
}

#[tokio::test]
async fn fallback_moves_on_and_reports_every_failure() {
    let a = Scripted::new("a", vec![Step::Fail(api(401, None))]);
    let b = Scripted::new("b", vec![Step::Reply("from b")]);
    let f = Fallback::new(vec![a.clone(), b.clone()]).unwrap();
    assert_eq!(f.chat(&q()).await.unwrap().text(), "from b");

    // Mid-stream failure after output: Restart, then the next model's answer alone.
    let a = Scripted::new("a", vec![Step::Break(vec!["partial "])]);
    let b = Scripted::new("b", vec![Step::Reply("whole answer")]);
    let f = Fallback::new(vec![a, b]).unwrap();
    let evs: Vec<ChatEvent> = f
        .stream(&q())
        .await
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
        .await;
    assert!(evs.iter().any(|e| matches!(e, ChatEvent::Restart { .. })));
    let mut acc = cairn_llm::Accumulator::default();
    evs.iter().for_each(|e| acc.push(e));
    assert_eq!(acc.response().text(), "whole answer");

    let a = Scripted::new("a", vec![Step::Fail(api(500, None))]);
    let b = Scripted::new("b", vec![Step::Fail(api(404, None))]);
    let f = Fallback::new(vec![a, b]).unwrap();
    match f.chat(&q()).await {
        Err(LlmError::AllFailed { errors, last }) => {
            assert_eq!(errors.len(), 1);
            assert!(errors[0].0.contains("test:a"));
            assert!(matches!(*last, LlmError::Api { status: 404, .. }));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn cache_serves_repeats_and_replays_streams() {
    let dir = tempfile::tempdir().unwrap();
    let m = Scripted::new("m", vec![Step::Reply("first"), Step::Reply("second")]);
    let c = Cache::new(m.clone(), dir.path());
    assert_eq!(c.chat(&q()).await.unwrap().text(), "first");
    assert_eq!(c.chat(&q()).await.unwrap().text(), "first");
    assert_eq!(m.calls(), 1);
    let replay = collect(c.stream(&q()).await.unwrap()).await.unwrap();
    assert_eq!(replay.text(), "first");
    assert_eq!(m.calls(), 1);
    // A different request misses; a stream fills the cache for the next call.
    let other = ChatRequest::prompt(None, "other");
    assert_eq!(
        collect(c.stream(&other).await.unwrap())
            .await
            .unwrap()
            .text(),
        "second"
    );
    assert_eq!(c.chat(&other).await.unwrap().text(), "second");
    assert_eq!(m.calls(), 2);
    // Failures are not cached.
    let m = Scripted::new("f", vec![Step::Fail(api(500, None)), Step::Reply("ok")]);
    let c = Cache::new(m.clone(), dir.path());
    assert!(c.chat(&q()).await.is_err());
    assert_eq!(c.chat(&q()).await.unwrap().text(), "ok");
}

#[tokio::test]
async fn over_the_window_is_refused_before_any_call() {
    let m = Scripted::new("m", vec![Step::Reply("never")]);
    let g = ContextGuard::new(m.clone(), 100);
    let long = ChatRequest::prompt(None, &"word ".repeat(500));
    match g.chat(&long).await {
        Err(e @ LlmError::ContextTooLong { .. }) => {
            assert!(e.to_string().contains("context window of 100"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.calls(), 0);
    let mut fits = ChatRequest::prompt(None, "short");
    assert!(g.chat(&fits).await.is_ok());
    // The output budget counts against the window too.
    fits.max_output_tokens = Some(99);
    assert!(matches!(
        g.stream(&fits).await,
        Err(LlmError::ContextTooLong { .. })
    ));
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema, PartialEq)]
struct Film {
    title: String,
    year: i64,
}

#[tokio::test]
async fn structured_output_from_a_rust_type_with_one_repair_round() {
    let fmt = cairn_llm::structured::format_of::<Film>();
    assert_eq!(fmt.name, "Film");
    assert_eq!(fmt.schema["required"], serde_json::json!(["title", "year"]));

    // Wrong first (year as text), right after the repair round.
    let m = Scripted::new(
        "m",
        vec![
            Step::Reply(r#"{"title": "Alien", "year": "nineteen"}"#),
            Step::Reply("```json\n{\"title\": \"Alien\", \"year\": 1979}\n```"),
        ],
    );
    let film: Film = cairn_llm::structured::generate(m.as_ref(), &q())
        .await
        .unwrap();
    assert_eq!(
        film,
        Film {
            title: "Alien".into(),
            year: 1979
        }
    );
    assert_eq!(m.calls(), 2);

    // Wrong twice: a typed error holding the last reply and what was wrong.
    let m = Scripted::new(
        "m",
        vec![Step::Reply("not json"), Step::Reply(r#"{"title": 5}"#)],
    );
    match cairn_llm::structured::generate::<Film>(m.as_ref(), &q()).await {
        Err(LlmError::SchemaMismatch {
            schema_name,
            errors,
            reply,
        }) => {
            assert_eq!(schema_name, "Film");
            assert_eq!(reply, r#"{"title": 5}"#);
            assert!(
                errors.contains("year") || errors.contains("title"),
                "{errors}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.calls(), 2);
}
