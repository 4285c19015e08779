//! Per-response facts from the middleware, against the real llmock peer and the stack the CLI
//! builds (`select::build`: Cache(Fallback([Ledgered(Retry(..)), ..]))): the model that
//! answered after fallbacks, the cost the ledger booked for this very call, and whether the
//! response cache answered, in `chat` and in `stream` (one final `ChatEvent::Served`). Two
//! stacks sharing one ledger file, used at once, each learn their own model and cost (diffing
//! the shared ledger's newest rows could not tell them apart).

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cairn_llm::middleware::{Ledger, RetryPolicy};
use cairn_llm::select::{build, StackOptions};
use cairn_llm::{
    ChatEvent, ChatModel, ChatRequest, ChatResponse, FinishReason, ModelId, Pricing, Served,
    Timeouts,
};
use futures::StreamExt;
use serde_json::json;
use support::Llmock;

const PRIMARY: &str = "openai:gpt-4o-mini";
const FALLBACK: &str = "anthropic:claude-haiku-4-5";

fn env_for(mock: &Llmock) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<&'static str, String> = [
        ("OPENAI_BASE_URL", mock.base_for("openai")),
        ("OPENAI_API_KEY", "test-key".to_string()),
        ("ANTHROPIC_BASE_URL", mock.base_for("anthropic")),
        ("ANTHROPIC_API_KEY", "test-key".to_string()),
        ("GOOGLE_GEMINI_BASE_URL", mock.base_for("gemini")),
        ("GOOGLE_API_KEY", "test-key".to_string()),
    ]
    .into_iter()
    .collect();
    move |k| vars.get(k).cloned()
}

fn options(ledger: &Arc<Ledger>, cache: Option<&Path>) -> StackOptions {
    StackOptions {
        timeouts: Timeouts {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(10),
            idle: Duration::from_millis(1500),
            total: Duration::from_secs(60),
        },
        retry: RetryPolicy {
            max_retries: 1,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
        ledger: Some(ledger.clone()),
        cache_dir: cache.map(Path::to_path_buf),
        ..StackOptions::default()
    }
}

fn stack(mock: &Llmock, specs: &[&str], opts: &StackOptions) -> Arc<dyn ChatModel> {
    let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
    build(&specs, opts, &env_for(mock)).expect("stack")
}

fn req(q: &str) -> ChatRequest {
    ChatRequest::prompt(Some("You are terse."), q)
}

/// Every event of a stream (which must not fail).
async fn events(m: &dyn ChatModel, r: &ChatRequest) -> Vec<ChatEvent> {
    let s = m.stream(r).await.expect("stream opens");
    s.map(|e| e.expect("stream event")).collect().await
}

fn fold(evs: &[ChatEvent]) -> ChatResponse {
    let mut acc = cairn_llm::Accumulator::default();
    evs.iter().for_each(|e| acc.push(e));
    acc.response()
}

/// The `Served` events of a stream; asserts there is exactly one and that it comes last.
fn one_final_served(evs: &[ChatEvent]) -> Served {
    let served: Vec<&Served> = evs
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Served { served } => Some(served),
            _ => None,
        })
        .collect();
    assert_eq!(served.len(), 1, "one Served event per stream: {evs:?}");
    assert!(
        matches!(evs.last(), Some(ChatEvent::Served { .. })),
        "Served is the last event: {evs:?}"
    );
    let finish = evs
        .iter()
        .position(|e| matches!(e, ChatEvent::Finish { .. }))
        .expect("a Finish");
    assert_eq!(finish, evs.len() - 2, "Served comes right after Finish");
    served[0].clone()
}

fn price(spec: &str, r: &ChatResponse) -> Option<f64> {
    let (p, m) = spec.split_once(':').unwrap();
    Pricing::default().cost(&ModelId::new(p, m), &r.usage)
}

fn open_ledger(path: &Path) -> Arc<Ledger> {
    Arc::new(Ledger::open(path, Pricing::default()).expect("ledger"))
}

/// Checks a response that the ledger booked: it names `spec`, is not from the cache, and its
/// cost is the one row booked since `before`, which is what the pricing says.
fn assert_booked(ledger: &Ledger, before: i64, spec: &str, r: &ChatResponse) {
    assert_eq!(r.served.model, spec);
    assert!(!r.served.from_cache);
    let cost = r.served.cost_usd.expect("a priced model");
    assert!(cost > 0.0, "{cost}");
    assert_eq!(r.served.cost_usd, price(spec, r));
    assert_eq!(
        ledger.calls_after(before).unwrap(),
        vec![(spec.to_string(), Some(cost))],
        "the one row booked for this call"
    );
}

#[tokio::test]
async fn a_fallback_answer_names_the_fallback_and_the_cost_booked_for_it() {
    let mock = Llmock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = open_ledger(&dir.path().join("ledger.sqlite"));
    let m = stack(&mock, &[PRIMARY, FALLBACK], &options(&ledger, None));

    // A clean primary answers itself.
    let before = ledger.last_id().unwrap();
    let r = m.chat(&req("warm up")).await.unwrap();
    assert_booked(&ledger, before, PRIMARY, &r);

    // The primary is down for good: every answer is the fallback's.
    mock.scenario(
        json!([{"type": "fail", "status": 503, "times": null, "match": {"provider": "openai"}}]),
    )
    .await;
    let before = ledger.last_id().unwrap();
    let r = m.chat(&req("chat through the fallback")).await.unwrap();
    assert!(!r.text().is_empty());
    assert_booked(&ledger, before, FALLBACK, &r);

    let before = ledger.last_id().unwrap();
    let evs = events(m.as_ref(), &req("stream through the fallback")).await;
    let served = one_final_served(&evs);
    let r = fold(&evs);
    assert_eq!(r.served, served);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_booked(&ledger, before, FALLBACK, &r);

    // The primary's stream breaks mid-answer, on every try: its retries restart it, then the
    // fallback answers after a Restart. Only the fallback's call is booked, and only its
    // Served event reaches the consumer.
    mock.reset().await;
    mock.scenario(json!([{"type": "stream_fault", "kind": "disconnect", "after_chunks": 2, "times": null, "match": {"provider": "openai", "stream": true}}]))
        .await;
    let before = ledger.last_id().unwrap();
    let evs = events(m.as_ref(), &req("a stream that breaks")).await;
    assert!(
        evs.iter().any(|e| matches!(e, ChatEvent::Restart { .. })),
        "the primary had yielded output: {evs:?}"
    );
    let served = one_final_served(&evs);
    let r = fold(&evs);
    assert_eq!(r.served, served);
    assert!(!r.text().is_empty());
    assert_booked(&ledger, before, FALLBACK, &r);
    assert!(
        mock.requests().await["requests"].as_array().unwrap().len() >= 3,
        "the primary was tried and retried first"
    );
}

#[tokio::test]
async fn cache_hits_say_so_and_cost_nothing_in_chat_and_stream() {
    let mock = Llmock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = open_ledger(&dir.path().join("ledger.sqlite"));
    let cache = dir.path().join("cache");
    let m = stack(&mock, &[PRIMARY, FALLBACK], &options(&ledger, Some(&cache)));
    mock.scenario(
        json!([{"type": "fail", "status": 401, "times": null, "match": {"provider": "openai"}}]),
    )
    .await;

    // chat: a miss is booked; the repeat is a free hit naming the model that answered.
    let q = req("cache me");
    let before = ledger.last_id().unwrap();
    let miss = m.chat(&q).await.unwrap();
    assert_booked(&ledger, before, FALLBACK, &miss);
    let calls = ledger.last_id().unwrap();
    let hit = m.chat(&q).await.unwrap();
    assert_eq!(hit.text(), miss.text());
    assert_eq!(
        hit.served,
        Served {
            model: FALLBACK.into(),
            cost_usd: Some(0.0),
            from_cache: true
        }
    );
    // A stream of the same request replays the hit, with one final Served saying so.
    let evs = events(m.as_ref(), &q).await;
    let served = one_final_served(&evs);
    assert_eq!(served, hit.served);
    assert_eq!(fold(&evs).served, hit.served);
    assert_eq!(fold(&evs).text(), miss.text());
    assert_eq!(ledger.last_id().unwrap(), calls, "hits book nothing");

    // stream: a miss is booked and stored with its served facts; the repeat (either way) is a
    // free hit.
    let q = req("stream then cache me");
    let before = ledger.last_id().unwrap();
    let evs = events(m.as_ref(), &q).await;
    let served = one_final_served(&evs);
    let miss = fold(&evs);
    assert_eq!(miss.served, served);
    assert_booked(&ledger, before, FALLBACK, &miss);
    let calls = ledger.last_id().unwrap();
    let sent = mock.requests().await["requests"].as_array().unwrap().len();
    let evs = events(m.as_ref(), &q).await;
    let served = one_final_served(&evs);
    assert_eq!(
        served,
        Served {
            model: FALLBACK.into(),
            cost_usd: Some(0.0),
            from_cache: true
        }
    );
    assert_eq!(fold(&evs).text(), miss.text());
    let hit = m.chat(&q).await.unwrap();
    assert_eq!(hit.served, served);
    assert_eq!(ledger.last_id().unwrap(), calls, "hits book nothing");
    assert_eq!(
        mock.requests().await["requests"].as_array().unwrap().len(),
        sent,
        "hits send nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stacks_sharing_one_ledger_each_report_their_own_model_and_cost() {
    let mock = Llmock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    // Two handles on one file, as two processes would have.
    let (la, lb) = (open_ledger(&path), open_ledger(&path));
    const A: &str = "openai:gpt-4o-mini";
    const B: &str = "anthropic:claude-sonnet-4-5";
    let a = stack(&mock, &[A], &options(&la, None));
    let b = stack(&mock, &[B], &options(&lb, None));

    async fn run(m: Arc<dyn ChatModel>, tag: &'static str, n: usize) -> Vec<ChatResponse> {
        let mut out = Vec::new();
        for i in 0..n {
            let q = req(&format!("{tag} question {i}{}", " and more".repeat(i)));
            let r = if i % 2 == 0 {
                m.chat(&q).await.unwrap()
            } else {
                let evs = events(m.as_ref(), &q).await;
                one_final_served(&evs);
                fold(&evs)
            };
            out.push(r);
        }
        out
    }
    const N: usize = 6;
    let (ra, rb) = tokio::join!(tokio::spawn(run(a, "a", N)), tokio::spawn(run(b, "b", N)));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());

    let mut reported = Vec::new();
    for (spec, rs) in [(A, &ra), (B, &rb)] {
        for r in rs {
            assert_eq!(r.served.model, spec);
            assert!(!r.served.from_cache);
            assert!(r.served.cost_usd.is_some_and(|c| c > 0.0), "{r:?}");
            assert_eq!(r.served.cost_usd, price(spec, r), "{spec}: its own price");
            reported.push((r.served.model.clone(), r.served.cost_usd));
        }
    }
    // Every call reported exactly the row booked for it.
    let key = |v: &(String, Option<f64>)| (v.0.clone(), v.1.map(f64::to_bits));
    let mut booked = la.calls_after(0).unwrap();
    // The calls really overlapped: the shared ledger's rows alternate between the stacks, so
    // "the newest rows after mine" would have named the other stack's model and cost.
    let switches = booked.windows(2).filter(|w| w[0].0 != w[1].0).count();
    assert!(switches >= 2, "the two stacks did not overlap: {booked:?}");
    assert_eq!(booked.len(), 2 * N);
    booked.sort_by_key(key);
    reported.sort_by_key(key);
    assert_eq!(booked, reported);
    // The two models price differently, so a mix-up would show.
    assert_ne!(price(A, &ra[0]), price(B, &ra[0]));
}

#[tokio::test]
async fn bare_providers_name_themselves_and_know_no_cost() {
    let mock = Llmock::start().await;
    let env = env_for(&mock);
    let transport = Arc::new(cairn_llm::transport::Transport::new(Timeouts::default()));
    for spec in [PRIMARY, FALLBACK, "gemini:gemini-2.5-flash"] {
        let m = cairn_llm::select::provider_model(spec, None, &env, transport.clone()).unwrap();
        let r = m.chat(&req("hi")).await.unwrap();
        assert_eq!(
            r.served,
            Served {
                model: spec.into(),
                cost_usd: None,
                from_cache: false
            },
            "{spec}"
        );
        // A bare stream has no middleware to report: no Served event, nothing folded.
        let evs = events(m.as_ref(), &req("hi")).await;
        assert!(
            matches!(evs.last(), Some(ChatEvent::Finish { .. })),
            "{spec}"
        );
        assert_eq!(fold(&evs).served, Served::default());
        assert_eq!(m.profile().id.to_string(), spec);
        assert_eq!(m.profile().source_budget, 2000);
    }
}
