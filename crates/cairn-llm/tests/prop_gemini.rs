//! Property tests of the Gemini `streamGenerateContent` parser (`GeminiStream`): arbitrary,
//! mutated and damaged chunks never panic and always give a well-formed event sequence; valid
//! generated streams, SSE-framed and cut into arbitrary reads, fold back into the response
//! they encode.
//!
//! `PROPTEST_CASES=1000000 cargo test -p cairn-llm --release --test prop_gemini`.

mod prop_support;

use cairn_llm::providers::decode_payloads;
use cairn_llm::providers::gemini::GeminiStream;
use cairn_llm::{ChatResponse, ContentPart, FinishReason, ToolCall, Usage};
use prop_support::*;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

const FINISH: &[&str] = &[
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "OTHER",
    "MALFORMED_FUNCTION_CALL",
];

fn finish_of(f: &str, has_calls: bool) -> FinishReason {
    match f {
        "STOP" if has_calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

fn usage_json() -> impl Strategy<Value = Value> {
    (count(), count(), count(), count()).prop_map(|(p, c, t, k)| {
        json!({"promptTokenCount": p, "candidatesTokenCount": c, "thoughtsTokenCount": t,
            "cachedContentTokenCount": k})
    })
}

fn part() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(|t| json!({"text": t})),
        text().prop_map(|t| json!({"text": t, "thought": true})),
        (
            text(),
            arguments(),
            prop::option::of(text()),
            prop::option::of(text())
        )
            .prop_map(|(n, a, id, sig)| {
                let mut p = json!({"functionCall": {"name": n, "args": a}});
                if let Some(id) = id {
                    p["functionCall"]["id"] = json!(id);
                }
                if let Some(s) = sig {
                    p["thoughtSignature"] = json!(s);
                }
                p
            }),
    ]
}

/// `RetryInfo.retryDelay` as Google writes it ("37s"), and as a hostile server might.
fn retry_delay() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,3}(\\.[0-9]{1,3})?s",
        "[0-9]{1,40}(\\.[0-9]{0,5})?(h|m|s|ms|us|ns)?",
        text(),
    ]
}

/// One chunk of any kind the API sends, with generated contents.
fn valid_chunk() -> BoxedStrategy<Value> {
    (
        prop::collection::vec(part(), 0..3),
        prop::option::of(prop::sample::select(FINISH)),
        prop::option::of(usage_json()),
        text(),
        0u8..8,
        retry_delay(),
    )
        .prop_map(|(parts, finish, usage, rid, shape, delay)| match shape {
            0 => json!({"promptFeedback": {"blockReason": "SAFETY"}, "responseId": rid}),
            1 => json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}}),
            _ => {
                let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
                if let Some(f) = finish { c["finishReason"] = json!(f); }
                let mut v = json!({"candidates": [c], "responseId": rid, "modelVersion": "gemini-2.5-flash"});
                if let Some(u) = usage { v["usageMetadata"] = u; }
                v
            }
        })
        .boxed()
}

#[derive(Debug, Clone)]
struct Call {
    id: Option<String>,
    name: String,
    args: Value,
    signature: Option<String>,
}

#[derive(Debug, Clone)]
struct Reply {
    rid: String,
    model: String,
    text: String,
    text_cuts: Vec<Index>,
    calls: Vec<Call>,
    finish: usize,
    usage: Option<(u64, u64, u64, u64)>,
}

fn reply() -> impl Strategy<Value = Reply> {
    let call = (
        prop::option::of(text()),
        text(),
        arguments(),
        prop::option::of(text()),
    )
        .prop_map(|(id, name, args, signature)| Call {
            id,
            name,
            args,
            signature,
        });
    (
        (
            text(),
            text(),
            text(),
            prop::collection::vec(any::<Index>(), 0..5),
        ),
        prop::collection::vec(call, 0..3),
        0..FINISH.len(),
        prop::option::of((count(), count(), count(), count())),
    )
        .prop_map(
            |((rid, model, text, text_cuts), calls, finish, usage)| Reply {
                rid,
                model,
                text,
                text_cuts,
                calls,
                finish,
                usage,
            },
        )
}

/// The chunks the API streams for `r`: text pieces (a thought part among them), then the
/// calls, then the finish reason with usage. There is no end marker.
fn encode(r: &Reply) -> Vec<String> {
    let chunk = |parts: Vec<Value>| {
        json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
            "responseId": r.rid, "modelVersion": r.model})
    };
    let mut out = Vec::new();
    out.push(chunk(vec![json!({"text": "thinking...", "thought": true})]));
    for p in pieces(&r.text, &r.text_cuts) {
        out.push(chunk(vec![json!({"text": p})]));
    }
    for c in &r.calls {
        let mut p = json!({"functionCall": {"name": c.name, "args": c.args}});
        if let Some(id) = &c.id {
            p["functionCall"]["id"] = json!(id);
        }
        if let Some(s) = &c.signature {
            p["thoughtSignature"] = json!(s);
        }
        out.push(chunk(vec![p]));
    }
    let mut last = chunk(vec![json!({"text": ""})]);
    last["candidates"][0]["finishReason"] = json!(FINISH[r.finish]);
    if let Some((p, c, t, k)) = r.usage {
        last["usageMetadata"] = json!({"promptTokenCount": p, "candidatesTokenCount": c,
            "thoughtsTokenCount": t, "cachedContentTokenCount": k, "totalTokenCount": 0});
    }
    out.push(last);
    out.iter().map(Value::to_string).collect()
}

fn expected(r: &Reply) -> ChatResponse {
    ChatResponse {
        content: if r.text.is_empty() {
            vec![]
        } else {
            vec![ContentPart::Text {
                text: r.text.clone(),
            }]
        },
        tool_calls: r
            .calls
            .iter()
            .map(|c| ToolCall {
                id: c.id.clone().unwrap_or_default(),
                name: c.name.clone(),
                arguments: c.args.clone(),
                signature: c.signature.clone(),
            })
            .collect(),
        finish_reason: finish_of(FINISH[r.finish], !r.calls.is_empty()),
        usage: r
            .usage
            .map(|(p, c, t, k)| Usage {
                input_tokens: p,
                cached_input_tokens: k,
                cache_write_tokens: 0,
                output_tokens: c.saturating_add(t),
            })
            .unwrap_or_default(),
        request_id: Some(r.rid.clone()),
        model: Some(r.model.clone()),
        served: Default::default(),
    }
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, arbitrary JSON, mutated and damaged chunks: no panic and a
    /// well-formed event sequence.
    #[test]
    fn arbitrary_chunks_never_panic(
        payloads in prop::collection::vec(payload(valid_chunk()), 0..10),
        rid in prop::option::of("[a-z0-9-]{1,8}"),
    ) {
        let (events, err) = decode_checked(GeminiStream::new(rid.clone()), &payloads)?;
        if let (Some(rid), Some(cairn_llm::ChatEvent::Start { request_id, .. })) = (&rid, events.first()) {
            prop_assert_eq!(request_id.as_ref(), Some(rid), "the header's id wins");
        }
        if err.is_none() {
            // Without an end marker, only a finish reason or a block completes a stream.
            let ended = payloads.iter().any(|p| {
                serde_json::from_slice::<Value>(p).is_ok_and(|v| {
                    v.pointer("/candidates/0/finishReason").is_some_and(Value::is_string)
                        || v.pointer("/promptFeedback/blockReason").is_some()
                })
            });
            prop_assert!(ended, "{:?}", events);
        }
    }

    /// Valid streams, SSE-framed and cut into arbitrary reads, fold into what they encode.
    #[test]
    fn valid_streams_round_trip(r in reply(), cuts in cuts()) {
        let body = sse_frame(&encode(&r));
        let payloads = sse_payloads(&split(&body, &cuts));
        let (events, err) = decode_checked(GeminiStream::new(None), &payloads)?;
        prop_assert_eq!(fold(&events, err)?, expected(&r));
    }

    /// Cut before the chunk with the finish reason, a valid stream is truncated.
    #[test]
    fn a_stream_cut_short_is_truncated(r in reply(), at in any::<Index>()) {
        let chunks = encode(&r);
        let keep = at.index(chunks.len());
        let (events, err) = decode_payloads(&mut GeminiStream::new(None), &chunks[..keep]);
        check_well_formed(&events, &err)?;
        prop_assert!(matches!(err, Some(cairn_llm::LlmError::Stream { kind: cairn_llm::StreamBreak::Truncated, .. })), "{:?}", err);
    }
}
