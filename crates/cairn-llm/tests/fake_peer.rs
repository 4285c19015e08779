//! What llmock does not cover, against our scripted server (following
//! `shared/reference/llm-wire-formats.md`): Ollama's NDJSON chat, byte-exact SSE framing through
//! the real HTTP stack, cached-token usage payloads, and the ledger's arithmetic on them.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cairn_llm::middleware::{GroupBy, Ledger, Ledgered, Retry, RetryPolicy};
use cairn_llm::providers::{
    anthropic::Anthropic, gemini::Gemini, ollama::Ollama, openai::OpenAi, Endpoint,
};
use cairn_llm::transport::Transport;
use cairn_llm::{
    collect, ChatEvent, ChatModel, ChatRequest, FinishReason, LlmError, Pricing, Timeouts, Tool,
    Usage,
};
use futures::StreamExt;
use serde_json::json;
use support::{FakeServer, Reply};

fn endpoint(base: &str) -> Endpoint {
    Endpoint {
        base_url: base.to_string(),
        api_key: Some("secret-key-123".into()),
        transport: Arc::new(Transport::new(Timeouts {
            idle: Duration::from_millis(500),
            ..Timeouts::default()
        })),
    }
}

fn ndjson(lines: &[serde_json::Value]) -> Vec<Vec<u8>> {
    lines
        .iter()
        .map(|l| format!("{l}\n").into_bytes())
        .collect()
}

#[tokio::test]
async fn ollama_chat_stream_tools_and_errors() {
    let done = json!({"model":"llama3.2","created_at":"2026-01-01T00:00:02Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":4883583458u64,"prompt_eval_count":26,"eval_count":282});
    let server = FakeServer::start(vec![
        // 1: streamed text, split mid-line across writes
        Reply::stream("application/x-ndjson", vec![
            b"{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"The\"},\"done\":false}\n{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"con".to_vec(),
            b"tent\":\" sky\"},\"done\":false}\n".to_vec(),
            format!("{done}\n").into_bytes(),
        ]),
        // 2: a tool call, whole, in a done:false chunk
        Reply::stream("application/x-ndjson", ndjson(&[
            json!({"model":"llama3.2","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Tokyo"}}}]},"done":false}),
            json!({"model":"llama3.2","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":40,"eval_count":9}),
        ])),
        // 3: a mid-stream error line with HTTP 200
        Reply::stream("application/x-ndjson", ndjson(&[
            json!({"model":"llama3.2","message":{"role":"assistant","content":"Hal"},"done":false}),
            json!({"error":"an unexpected error occurred"}),
        ])),
        // 4: a stream cut before done:true
        Reply::stream("application/x-ndjson", ndjson(&[
            json!({"model":"llama3.2","message":{"role":"assistant","content":"Hal"},"done":false}),
        ])),
        // 5: non-streaming
        Reply::json(200, &json!({"model":"llama3.2","message":{"role":"assistant","content":"Blue."},"done":true,"done_reason":"length","prompt_eval_count":5,"eval_count":2})),
        // 6: model not found
        Reply::json(404, &json!({"error":"model 'nope' not found, try pulling it first"})),
    ])
    .await;
    let m = Ollama::new(endpoint(&server.base), "llama3.2");

    let r = collect(
        m.stream(&ChatRequest::prompt(Some("sys"), "Why is the sky blue?"))
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.text(), "The sky");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 26,
            output_tokens: 282,
            ..Default::default()
        }
    );
    let sent = &server.received()[0];
    assert_eq!(sent.path, "/api/chat");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["messages"][0]["role"], "system");

    let mut treq = ChatRequest::prompt(None, "Weather in Tokyo?");
    treq.tools = vec![Tool {
        name: "get_weather".into(),
        description: "w".into(),
        parameters: json!({"type":"object"}),
    }];
    let r = collect(m.stream(&treq).await.unwrap()).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.tool_calls[0].arguments, json!({"city": "Tokyo"}));
    assert_eq!(
        server.received()[1].body["tools"][0]["function"]["name"],
        "get_weather"
    );
    // The tool result goes back keyed by tool name.
    let mut follow = treq.clone();
    follow.messages.push(r.to_message());
    follow.messages.push(cairn_llm::Message::tool_result(
        &r.tool_calls[0],
        "11 degrees",
    ));
    let body = m.body(&follow, true);
    assert_eq!(
        body["messages"][1]["tool_calls"][0]["function"]["arguments"],
        json!({"city": "Tokyo"})
    );
    assert_eq!(body["messages"][2]["tool_name"], "get_weather");

    let e = collect(m.stream(&ChatRequest::prompt(None, "x")).await.unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::Stream {
                kind: cairn_llm::StreamBreak::ErrorEvent,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("unexpected error"));

    let e = collect(m.stream(&ChatRequest::prompt(None, "x")).await.unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::Stream {
                kind: cairn_llm::StreamBreak::Truncated,
                ..
            }
        ),
        "{e:?}"
    );

    let r = m.chat(&ChatRequest::prompt(None, "x")).await.unwrap();
    assert_eq!(
        (r.text().as_str(), r.finish_reason),
        ("Blue.", FinishReason::Length)
    );

    let e = m.chat(&ChatRequest::prompt(None, "x")).await.unwrap_err();
    assert!(matches!(e, LlmError::Api { status: 404, .. }));
    assert!(e.to_string().contains("try pulling it first"), "{e}");
}

#[tokio::test]
async fn sse_framing_edge_cases_through_the_http_stack() {
    // CRLF separators, a comment, multi-line data and an event split mid-code-point across
    // writes: the same text must come out.
    let chunk = |t: &str| {
        json!({"id":"c","choices":[{"index":0,"delta":{"content":t},"finish_reason":null}]})
            .to_string()
    };
    let body = format!(
        ": keep-alive\r\n\r\ndata: {}\r\n\r\ndata: {}\r\n\r\ndata: {}\r\n\r\ndata: {}\r\n\r\ndata: [DONE]\r\n\r\n",
        chunk("h\u{e9}"),
        chunk("llo \u{1F600}"),
        json!({"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}),
        json!({"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}),
    );
    let bytes = body.into_bytes();
    let emoji = bytes
        .windows(4)
        .position(|w| w == "\u{1F600}".as_bytes())
        .unwrap();
    let pieces = vec![
        bytes[..7].to_vec(),
        bytes[7..emoji + 2].to_vec(),
        bytes[emoji + 2..].to_vec(),
    ];
    let server = FakeServer::start(vec![Reply::stream("text/event-stream", pieces)]).await;
    let m = OpenAi::new(endpoint(&format!("{}/v1", server.base)), "gpt-4o-mini");
    let r = collect(m.stream(&ChatRequest::prompt(None, "x")).await.unwrap())
        .await
        .unwrap();
    assert_eq!(r.text(), "h\u{e9}llo \u{1F600}");
    assert_eq!(r.usage.output_tokens, 4);
    let sent = &server.received()[0];
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
    // The key goes in the header, and nowhere else.
    assert!(sent
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer secret-key-123"));
    assert!(!sent.body.to_string().contains("secret-key-123"));
}

#[tokio::test]
async fn a_stalled_stream_times_out_and_a_dropped_one_is_an_error() {
    let mut stalled = Reply::stream("text/event-stream", vec![]);
    stalled.chunks = vec![
        (
            0,
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n".to_vec(),
        ),
        (3000, b"data: [DONE]\n\n".to_vec()),
    ];
    let mut dropped = Reply::stream(
        "text/event-stream",
        vec![b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n".to_vec()],
    );
    dropped.drop_connection = true;
    let server = FakeServer::start(vec![stalled, dropped]).await;
    let m = OpenAi::new(endpoint(&server.base), "gpt-4o-mini");
    let started = std::time::Instant::now();
    let e = collect(m.stream(&ChatRequest::prompt(None, "x")).await.unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::Timeout {
                phase: cairn_llm::TimeoutPhase::Idle,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(2500));
    let e = collect(m.stream(&ChatRequest::prompt(None, "x")).await.unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::Stream {
                kind: cairn_llm::StreamBreak::Dropped,
                ..
            }
        ),
        "{e:?}"
    );
}

/// Cached-token payloads as each provider reports them (llmock reports none), summed by the
/// ledger and checked against hand arithmetic from the pricing table.
#[tokio::test]
async fn ledger_totals_with_cached_tokens_match_hand_arithmetic() {
    let openai = FakeServer::start(vec![
        Reply::json(200, &json!({"id":"chatcmpl-1","model":"gpt-4o-mini","choices":[{"index":0,"message":{"content":"a"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":2006,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":1920}}})),
        Reply::stream("text/event-stream", vec![
            b"data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":null}]}\n\n".to_vec(),
            b"data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".to_vec(),
            b"data: {\"id\":\"c2\",\"choices\":[],\"usage\":{\"prompt_tokens\":1500,\"completion_tokens\":80,\"prompt_tokens_details\":{\"cached_tokens\":1024}}}\n\ndata: [DONE]\n\n".to_vec(),
        ]),
    ]).await;
    let anthropic = FakeServer::start(vec![
        Reply::json(200, &json!({"id":"msg_1","model":"claude-sonnet-4-5","content":[{"type":"text","text":"a"}],"stop_reason":"end_turn",
            "usage":{"input_tokens":50,"output_tokens":120,"cache_creation_input_tokens":4000,"cache_read_input_tokens":0}})),
        Reply::json(200, &json!({"id":"msg_2","model":"claude-sonnet-4-5","content":[{"type":"text","text":"b"}],"stop_reason":"end_turn",
            "usage":{"input_tokens":60,"output_tokens":90,"cache_creation_input_tokens":0,"cache_read_input_tokens":4000}})),
    ]).await;
    let gemini = FakeServer::start(vec![
        Reply::json(200, &json!({"candidates":[{"content":{"role":"model","parts":[{"text":"a"}]},"finishReason":"STOP"}],
            "usageMetadata":{"promptTokenCount":5000,"cachedContentTokenCount":4096,"candidatesTokenCount":200,"thoughtsTokenCount":100},"responseId":"g1"})),
    ]).await;

    let dir = tempfile::tempdir().unwrap();
    let ledger =
        Arc::new(Ledger::open(&dir.path().join("ledger.sqlite"), Pricing::default()).unwrap());
    let wrap = |m: Arc<dyn ChatModel>| {
        Ledgered::new(
            Arc::new(Retry::new(m, RetryPolicy::default())),
            ledger.clone(),
        )
    };
    let o = wrap(Arc::new(OpenAi::new(endpoint(&openai.base), "gpt-4o-mini")));
    let a = wrap(Arc::new(Anthropic::new(
        endpoint(&anthropic.base),
        "claude-sonnet-4-5",
    )));
    let g = wrap(Arc::new(Gemini::new(
        endpoint(&gemini.base),
        "gemini-2.5-flash",
    )));
    let q = ChatRequest::prompt(None, "q");
    o.chat(&q).await.unwrap();
    collect(o.stream(&q).await.unwrap()).await.unwrap();
    a.chat(&q).await.unwrap();
    a.chat(&q).await.unwrap();
    g.chat(&q).await.unwrap();

    // By hand, USD per 1M tokens from the reference's §11:
    // gpt-4o-mini: input 0.15, cached 0.075, output 0.60
    let openai_cost = ((2006.0 - 1920.0) * 0.15
        + 1920.0 * 0.075
        + 300.0 * 0.60
        + (1500.0 - 1024.0) * 0.15
        + 1024.0 * 0.075
        + 80.0 * 0.60)
        / 1e6;
    // claude-sonnet-4-5: input 3.00, cache write 3.75, cache read 0.30, output 15.00
    let anthropic_cost =
        (50.0 * 3.0 + 4000.0 * 3.75 + 120.0 * 15.0 + 60.0 * 3.0 + 4000.0 * 0.30 + 90.0 * 15.0)
            / 1e6;
    // gemini-2.5-flash: input 0.30, cached 0.03, output (thinking included) 2.50
    let gemini_cost = ((5000.0 - 4096.0) * 0.30 + 4096.0 * 0.03 + 300.0 * 2.50) / 1e6;

    let rows = ledger.report(None, GroupBy::Model).unwrap();
    let row = |k: &str| {
        rows.iter()
            .find(|r| r.key == k)
            .unwrap_or_else(|| panic!("no row {k}: {rows:?}"))
    };
    let r = row("openai:gpt-4o-mini");
    assert_eq!(
        (
            r.calls,
            r.input_tokens,
            r.cached_input_tokens,
            r.output_tokens
        ),
        (2, 3506, 2944, 380)
    );
    assert!(
        (r.cost_usd - openai_cost).abs() < 1e-12,
        "{} vs {openai_cost}",
        r.cost_usd
    );
    let r = row("anthropic:claude-sonnet-4-5");
    assert_eq!(
        (
            r.calls,
            r.input_tokens,
            r.cached_input_tokens,
            r.cache_write_tokens,
            r.output_tokens
        ),
        (2, 8110, 4000, 4000, 210)
    );
    assert!(
        (r.cost_usd - anthropic_cost).abs() < 1e-12,
        "{} vs {anthropic_cost}",
        r.cost_usd
    );
    let r = row("gemini:gemini-2.5-flash");
    assert_eq!(
        (r.input_tokens, r.cached_input_tokens, r.output_tokens),
        (5000, 4096, 300)
    );
    assert!(
        (r.cost_usd - gemini_cost).abs() < 1e-12,
        "{} vs {gemini_cost}",
        r.cost_usd
    );
    let by_day = ledger.report(None, GroupBy::Day).unwrap();
    assert_eq!(by_day.len(), 1);
    assert_eq!(by_day[0].calls, 5);
    assert!((by_day[0].cost_usd - (openai_cost + anthropic_cost + gemini_cost)).abs() < 1e-12);
    assert!(ledger
        .report(Some("2999-01-01"), GroupBy::Day)
        .unwrap()
        .is_empty());
    // Nothing secret reached the ledger file.
    let raw = std::fs::read(dir.path().join("ledger.sqlite")).unwrap();
    assert!(!raw.windows(14).any(|w| w == b"secret-key-123"));
}

#[tokio::test]
async fn count_tokens_endpoints() {
    let anthropic = FakeServer::start(vec![Reply::json(200, &json!({"input_tokens": 1234}))]).await;
    let gemini = FakeServer::start(vec![Reply::json(200, &json!({"totalTokens": 321}))]).await;
    let q = ChatRequest::prompt(Some("sys"), "q");
    let a = Anthropic::new(endpoint(&anthropic.base), "claude-haiku-4-5");
    let c = a.count_tokens(&q).await.unwrap();
    assert_eq!((c.tokens, c.exact), (1234, true));
    assert_eq!(anthropic.received()[0].path, "/v1/messages/count_tokens");
    assert!(anthropic.received()[0].body.get("max_tokens").is_none());
    let g = Gemini::new(endpoint(&gemini.base), "gemini-2.5-flash");
    assert_eq!(g.count_tokens(&q).await.unwrap().tokens, 321);
    assert_eq!(
        gemini.received()[0].path,
        "/v1beta/models/gemini-2.5-flash:countTokens"
    );
    // OpenAI counts locally with tiktoken.
    let o = OpenAi::new(endpoint("http://127.0.0.1:9"), "gpt-4o");
    let c = o.count_tokens(&q).await.unwrap();
    assert!(c.exact && c.tokens > 5);
}

#[tokio::test]
async fn stream_events_carry_request_ids() {
    let server = FakeServer::start(vec![Reply::stream("text/event-stream", vec![
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_9\",\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n".to_vec(),
        b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_vec(),
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n".to_vec(),
        b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":2}}\n\n".to_vec(),
        b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_vec(),
    ]).header("request-id", "req_abc")]).await;
    let m = Anthropic::new(endpoint(&server.base), "claude-haiku-4-5");
    let mut s = m.stream(&ChatRequest::prompt(None, "x")).await.unwrap();
    let first = s.next().await.unwrap().unwrap();
    assert_eq!(
        first,
        ChatEvent::Start {
            request_id: Some("req_abc".into()),
            model: Some("claude-haiku-4-5".into())
        }
    );
    let rest: Vec<_> = s.collect().await;
    assert!(matches!(
        rest.last(),
        Some(Ok(ChatEvent::Finish {
            reason: FinishReason::Length
        }))
    ));
    let h = &server.received()[0].headers;
    assert!(h
        .iter()
        .any(|(k, v)| k == "anthropic-version" && v == "2023-06-01"));
    assert!(h
        .iter()
        .any(|(k, v)| k == "x-api-key" && v == "secret-key-123"));
}

#[tokio::test]
async fn first_byte_and_total_timeouts() {
    let line = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n".to_vec();
    let mut slow_start = Reply::stream("text/event-stream", vec![]);
    slow_start.chunks = vec![(1500, line.clone()), (0, b"data: [DONE]\n\n".to_vec())];
    let mut steady = Reply::stream("text/event-stream", vec![]);
    steady.chunks = (0..10).map(|_| (300, line.clone())).collect();
    let server = FakeServer::start(vec![slow_start, steady]).await;
    let ep = Endpoint {
        base_url: server.base.clone(),
        api_key: None,
        transport: Arc::new(Transport::new(Timeouts {
            first_byte: Duration::from_millis(500),
            idle: Duration::from_millis(500),
            total: Duration::from_millis(1100),
            ..Timeouts::default()
        })),
    };
    let m = OpenAi::new(ep, "gpt-4o-mini");
    let e = collect(m.stream(&ChatRequest::prompt(None, "x")).await.unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::Timeout {
                phase: cairn_llm::TimeoutPhase::FirstByte,
                ..
            }
        ),
        "{e:?}"
    );
    // Chunks every 300 ms never trip the 500 ms idle limit, but the whole call passes 1.1 s.
    let started = std::time::Instant::now();
    let e = collect(m.stream(&ChatRequest::prompt(None, "x")).await.unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::Timeout {
                phase: cairn_llm::TimeoutPhase::Total,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1600));
}
