//! The fault matrix against the real llmock peer: OpenAI, Anthropic and Gemini, each with
//! every fault llmock can inject. Transient faults must be recovered within the retry budget,
//! permanent ones must surface as typed errors, no stream may duplicate output, and llmock's
//! own verdict on the client must show no FAIL and no WARN.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::error::{Classify, ErrorClass};
use cairn_llm::middleware::{Retry, RetryPolicy};
use cairn_llm::providers::{anthropic::Anthropic, gemini::Gemini, openai::OpenAi, Endpoint};
use cairn_llm::transport::Transport;
use cairn_llm::{
    collect, ChatEvent, ChatModel, ChatRequest, FinishReason, LlmError, Timeouts, Tool,
};
use futures::StreamExt;
use serde_json::json;
use support::Llmock;

const MODELS: &[(&str, &str)] = &[
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-haiku-4-5"),
    ("gemini", "gemini-2.5-flash"),
];

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        first_byte: Duration::from_secs(10),
        idle: Duration::from_millis(1500),
        total: Duration::from_secs(60),
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        ..RetryPolicy::default()
    }
}

fn provider(mock: &Llmock, provider: &str, model: &str) -> Arc<dyn ChatModel> {
    let ep = Endpoint {
        base_url: mock.base_for(provider),
        api_key: Some("test-key".into()),
        transport: Arc::new(Transport::new(timeouts())),
    };
    match provider {
        "openai" => Arc::new(OpenAi::new(ep, model)),
        "anthropic" => Arc::new(Anthropic::new(ep, model)),
        _ => Arc::new(Gemini::new(ep, model)),
    }
}

fn retrying(mock: &Llmock, p: &str, m: &str, policy: RetryPolicy) -> Retry {
    Retry::new(provider(mock, p, m), policy)
}

fn req() -> ChatRequest {
    ChatRequest::prompt(Some("You are terse."), "Tell me about resilient clients.")
}

/// Streams a request, returning the events and the final text as a consumer sees it.
async fn stream_all(
    m: &dyn ChatModel,
    r: &ChatRequest,
) -> (Vec<ChatEvent>, String, Result<(), LlmError>) {
    let mut s = match m.stream(r).await {
        Ok(s) => s,
        Err(e) => return (vec![], String::new(), Err(e)),
    };
    let mut evs = Vec::new();
    let mut text = String::new();
    while let Some(ev) = s.next().await {
        match ev {
            Ok(ev) => {
                match &ev {
                    ChatEvent::TextDelta { text: t } => text.push_str(t),
                    ChatEvent::Restart { .. } => text.clear(),
                    _ => {}
                }
                evs.push(ev);
            }
            Err(e) => return (evs, text, Err(e)),
        }
    }
    (evs, text, Ok(()))
}

async fn matrix_for(p: &'static str, m: &'static str) {
    let mock = Llmock::start().await;
    let model = retrying(&mock, p, m, policy());
    let raw = provider(&mock, p, m);

    // The reference answer, from a clean call of each kind.
    let clean = model.chat(&req()).await.expect("clean chat");
    assert!(!clean.text().is_empty());
    assert_eq!(clean.finish_reason, FinishReason::Stop);
    assert!(
        clean.usage.output_tokens > 0,
        "{p}: usage {:?}",
        clean.usage
    );
    let (evs, clean_stream_text, r) = stream_all(&model, &req()).await;
    r.expect("clean stream");
    assert!(matches!(
        evs.last(),
        Some(ChatEvent::Finish {
            reason: FinishReason::Stop
        })
    ));
    assert!(
        evs.iter()
            .any(|e| matches!(e, ChatEvent::Usage { usage } if usage.output_tokens > 0)),
        "{p}: no usage in stream"
    );
    assert_eq!(
        clean_stream_text,
        clean.text(),
        "{p}: stream and whole reply differ"
    );
    mock.assert_clean(&format!("{p} clean")).await;

    // Transient HTTP errors, non-streaming and streaming: recovered.
    for (status, retry_after) in [
        (429, Some(0.6)),
        (500, None),
        (503, None),
        (529, None),
        (502, None),
        (408, None),
    ] {
        for streaming in [false, true] {
            let mut b = json!({"type": "fail", "status": status, "times": 2});
            if let Some(ra) = retry_after {
                b["retry_after"] = json!(ra);
            }
            mock.scenario(json!([b])).await;
            let started = Instant::now();
            let text = if streaming {
                let (_, text, r) = stream_all(&model, &req()).await;
                r.unwrap_or_else(|e| panic!("{p} {status} stream not recovered: {e}"));
                text
            } else {
                model
                    .chat(&req())
                    .await
                    .unwrap_or_else(|e| panic!("{p} {status} not recovered: {e}"))
                    .text()
            };
            assert_eq!(text, clean.text(), "{p} {status}");
            if let Some(ra) = retry_after {
                assert!(
                    started.elapsed().as_secs_f64() >= 2.0 * ra,
                    "{p}: did not wait for Retry-After"
                );
            }
            mock.assert_clean(&format!("{p} {status} stream={streaming}"))
                .await;
        }
    }

    // Permanent errors: one attempt, a typed error naming provider, status and message.
    for status in [400, 401, 403, 404, 422] {
        mock.scenario(
            json!([{"type": "fail", "status": status, "message": format!("scripted {status}")}]),
        )
        .await;
        let e = model.chat(&req()).await.expect_err("permanent error");
        match &e {
            LlmError::Api {
                provider: prov,
                status: s,
                message,
                ..
            } => {
                assert_eq!(*prov, p);
                assert_eq!(*s, status);
                assert!(
                    message.contains(&format!("scripted {status}")),
                    "{p} {status}: {message}"
                );
            }
            other => panic!("{p} {status}: expected an API error, got {other:?}"),
        }
        assert!(!e.is_retryable());
        let shown = e.to_string();
        assert!(
            shown.contains(p) && shown.contains(&status.to_string()),
            "{shown}"
        );
        let reqs = mock.requests().await;
        assert_eq!(
            reqs["requests"].as_array().map(|a| a.len()),
            Some(1),
            "{p} {status} was retried"
        );
        mock.assert_clean(&format!("{p} {status}")).await;
    }

    // An outage outlasting the retry budget: a typed transient error after max_retries + 1
    // attempts, with growing gaps.
    mock.scenario(json!([{"type": "fail", "status": 503, "times": null}]))
        .await;
    let e = model.chat(&req()).await.expect_err("outage");
    assert!(matches!(e, LlmError::Api { status: 503, .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Transient);
    let reqs = mock.requests().await;
    assert_eq!(reqs["requests"].as_array().unwrap().len(), 4);
    mock.assert_clean(&format!("{p} outage")).await;

    // Broken streams: dropped, truncated, malformed, stalled. Each is restarted; the consumer
    // sees a Restart when output had gone out, and the final text is the clean text, once.
    for (kind, after) in [
        ("disconnect", 2),
        ("truncate", 2),
        ("malformed", 2),
        ("stall", 2),
        ("disconnect", 0),
        ("truncate", 0),
    ] {
        let mut b = json!({"type": "stream_fault", "kind": kind, "after_chunks": after});
        if kind == "stall" {
            b["stall_seconds"] = json!(4.0);
        }
        mock.scenario(json!([b])).await;
        let (evs, text, r) = stream_all(&model, &req()).await;
        r.unwrap_or_else(|e| panic!("{p} {kind}: not recovered: {e}"));
        assert_eq!(
            text, clean_stream_text,
            "{p} {kind}: output duplicated or lost"
        );
        let restarts = evs
            .iter()
            .filter(|e| matches!(e, ChatEvent::Restart { .. }))
            .count();
        let finishes = evs
            .iter()
            .filter(|e| matches!(e, ChatEvent::Finish { .. }))
            .count();
        assert_eq!(finishes, 1, "{p} {kind}");
        if after > 0 {
            assert_eq!(
                restarts, 1,
                "{p} {kind}: expected one Restart, events {evs:?}"
            );
        }
        mock.assert_clean(&format!("{p} stream {kind} after {after}"))
            .await;
    }

    // The raw provider (no retry) reports each break as a typed stream error, never as a
    // finished answer.
    for kind in ["disconnect", "truncate", "malformed"] {
        mock.scenario(json!([{"type": "stream_fault", "kind": kind, "after_chunks": 2}]))
            .await;
        let (evs, _, r) = stream_all(raw.as_ref(), &req()).await;
        let e = r.expect_err("a broken stream is an error");
        assert!(matches!(e, LlmError::Stream { .. }), "{p} {kind}: {e:?}");
        assert!(e.is_retryable());
        assert!(
            !evs.iter().any(|e| matches!(e, ChatEvent::Finish { .. })),
            "{p} {kind}"
        );
        mock.reset().await;
    }

    // Opting out of restarts: the partial output comes back inside a typed error.
    let strict = retrying(
        &mock,
        p,
        m,
        RetryPolicy {
            restart_streams: false,
            ..policy()
        },
    );
    mock.scenario(json!([{"type": "stream_fault", "kind": "disconnect", "after_chunks": 5}]))
        .await;
    let (_, _, r) = stream_all(&strict, &req()).await;
    match r {
        Err(LlmError::PartialStream { partial, source }) => {
            assert!(!partial.text().is_empty());
            assert!(
                clean.text().starts_with(&partial.text()),
                "{p}: partial is not a prefix"
            );
            assert!(matches!(*source, LlmError::Stream { .. }));
        }
        other => panic!("{p}: expected PartialStream, got {other:?}"),
    }
    mock.reset().await;

    // Tool calls, streamed with argument deltas where the provider streams them.
    let tool = Tool {
        name: "get_weather".into(),
        description: "Current weather for a city".into(),
        parameters: json!({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}),
    };
    let mut treq = ChatRequest::prompt(None, "What is the weather in Paris?");
    treq.tools = vec![tool];
    mock.scenario(json!([{"type": "reply", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}])).await;
    let (evs, _, r) = stream_all(&model, &treq).await;
    r.expect("tool stream");
    let deltas = evs
        .iter()
        .filter(|e| matches!(e, ChatEvent::ToolCallDelta { .. }))
        .count();
    assert!(deltas >= 1, "{p}: no argument deltas");
    let mut acc = cairn_llm::Accumulator::default();
    evs.iter().for_each(|e| acc.push(e));
    let resp = acc.response();
    assert_eq!(resp.finish_reason, FinishReason::ToolCalls, "{p}");
    assert_eq!(resp.tool_calls[0].name, "get_weather");
    assert_eq!(resp.tool_calls[0].arguments, json!({"city": "Paris"}));
    // Send the result back: the mock answers in text once a tool result arrives.
    let mut follow = treq.clone();
    follow.messages.push(resp.to_message());
    follow.messages.push(cairn_llm::Message::tool_result(
        &resp.tool_calls[0],
        "21C and sunny",
    ));
    let done = model.chat(&follow).await.expect("answer after tool result");
    assert_eq!(done.finish_reason, FinishReason::Stop, "{p}");
    assert!(!done.text().is_empty());
    mock.assert_clean(&format!("{p} tools")).await;

    // A mid-stream tool call that breaks is restarted, not stitched.
    mock.scenario(json!([
        {"type": "reply", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}], "times": 2},
        {"type": "stream_fault", "kind": "disconnect", "after_chunks": 2}
    ])).await;
    let c = collect(model.stream(&treq).await.unwrap())
        .await
        .expect("restarted tool stream");
    assert_eq!(c.tool_calls.len(), 1, "{p}: {c:?}");
    assert_eq!(c.tool_calls[0].arguments, json!({"city": "Paris"}));
    mock.assert_clean(&format!("{p} tool stream fault")).await;

    // Structured output through the provider's native mode, validated.
    let schema = json!({"type":"object","properties":{"title":{"type":"string"},"year":{"type":"integer"}},
        "required":["title","year"],"additionalProperties":false});
    let fmt = cairn_llm::structured::format_for("film", schema.clone());
    assert!(fmt.strict);
    let (value, _) = cairn_llm::structured::generate_json(
        &model,
        &ChatRequest::prompt(None, "Name a film."),
        &fmt,
    )
    .await
    .unwrap_or_else(|e| panic!("{p} structured: {e}"));
    assert!(
        cairn_llm::structured::validate(&schema, &value)
            .unwrap()
            .is_empty(),
        "{p}: {value}"
    );
    mock.assert_clean(&format!("{p} structured")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_fault_matrix() {
    matrix_for(MODELS[0].0, MODELS[0].1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_fault_matrix() {
    matrix_for(MODELS[1].0, MODELS[1].1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_fault_matrix() {
    matrix_for(MODELS[2].0, MODELS[2].1).await;
}
