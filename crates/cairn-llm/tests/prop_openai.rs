//! Property tests of the OpenAI Chat Completions stream parser (`OpenAiStream`): arbitrary,
//! mutated and damaged chunks never panic and always give a well-formed event sequence; valid
//! generated streams, SSE-framed and cut into arbitrary reads, fold back into the response
//! they encode.
//!
//! `PROPTEST_CASES=1000000 cargo test -p cairn-llm --release --test prop_openai`.

mod prop_support;

use cairn_llm::providers::decode_payloads;
use cairn_llm::providers::openai::OpenAiStream;
use cairn_llm::{ChatResponse, ContentPart, FinishReason, ToolCall, Usage};
use prop_support::*;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

const FINISH: &[(&str, FinishReason)] = &[
    ("stop", FinishReason::Stop),
    ("length", FinishReason::Length),
    ("tool_calls", FinishReason::ToolCalls),
    ("content_filter", FinishReason::ContentFilter),
];

/// One chunk of any kind the API sends, with generated contents.
fn valid_chunk() -> BoxedStrategy<Value> {
    prop_oneof![
        (text(), text()).prop_map(|(id, model)| json!({"id": id, "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]})),
        text().prop_map(|t| json!({"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]})),
        (0u64..4, text(), text()).prop_map(|(i, id, name)| json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}}]})),
        (0u64..4, text()).prop_map(|(i, a)| json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "function": {"arguments": a}}]}}]})),
        prop::sample::select(FINISH).prop_map(|(f, _)| json!({"choices": [{"index": 0, "delta": {}, "finish_reason": f}]})),
        (count(), count(), count()).prop_map(|(p, c, k)| json!({"choices": [], "usage": {"prompt_tokens": p,
            "completion_tokens": c, "prompt_tokens_details": {"cached_tokens": k}}})),
        (text(), text()).prop_map(|(c, m)| json!({"error": {"code": c, "message": m}})),
    ]
    .boxed()
}

fn any_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        12 => payload(valid_chunk()),
        1 => Just(b"[DONE]".to_vec()),
        1 => Just(b" [DONE] trailing".to_vec()),
    ]
}

#[derive(Debug, Clone)]
struct Call {
    id: String,
    name: String,
    args: Value,
    cuts: Vec<Index>,
}

#[derive(Debug, Clone)]
struct Reply {
    id: String,
    model: String,
    text: String,
    text_cuts: Vec<Index>,
    calls: Vec<Call>,
    finish: usize,
    usage: Option<(u64, u64, u64)>,
}

fn reply() -> impl Strategy<Value = Reply> {
    let call = (
        text(),
        text(),
        arguments(),
        prop::collection::vec(any::<Index>(), 0..5),
    )
        .prop_map(|(id, name, args, cuts)| Call {
            id,
            name,
            args,
            cuts,
        });
    (
        text(),
        text(),
        text(),
        prop::collection::vec(any::<Index>(), 0..5),
        prop::collection::vec(call, 0..3),
        0..FINISH.len(),
        prop::option::of((count(), count(), count())),
    )
        .prop_map(|(id, model, text, text_cuts, calls, finish, usage)| Reply {
            id,
            model,
            text,
            text_cuts,
            calls,
            finish,
            usage,
        })
}

/// The chunks the API streams for `r`, ending with `[DONE]`.
fn encode(r: &Reply) -> Vec<String> {
    let mut out = vec![
        json!({"id": r.id, "object": "chat.completion.chunk", "model": r.model,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
    ];
    for p in pieces(&r.text, &r.text_cuts) {
        out.push(json!({"id": r.id, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]}));
    }
    for (i, c) in r.calls.iter().enumerate() {
        out.push(json!({"id": r.id, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": i, "id": c.id,
            "type": "function", "function": {"name": c.name, "arguments": ""}}]}}]}));
        for a in pieces(&compact(&c.args), &c.cuts) {
            out.push(
                json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": i,
                "function": {"arguments": a}}]}}]}),
            );
        }
    }
    out.push(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": FINISH[r.finish].0}]}));
    if let Some((p, c, k)) = r.usage {
        out.push(
            json!({"choices": [], "usage": {"prompt_tokens": p, "completion_tokens": c,
            "total_tokens": 0, "prompt_tokens_details": {"cached_tokens": k}}}),
        );
    }
    let mut out: Vec<String> = out.iter().map(Value::to_string).collect();
    out.push("[DONE]".into());
    out
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
                id: c.id.clone(),
                name: c.name.clone(),
                arguments: c.args.clone(),
                signature: None,
            })
            .collect(),
        finish_reason: FINISH[r.finish].1,
        usage: r
            .usage
            .map(|(p, c, k)| Usage {
                input_tokens: p,
                cached_input_tokens: k,
                cache_write_tokens: 0,
                output_tokens: c,
            })
            .unwrap_or_default(),
        request_id: Some(r.id.clone()),
        model: Some(r.model.clone()),
        served: Default::default(),
    }
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, arbitrary JSON, mutated and damaged chunks: no panic, a well-formed
    /// event sequence, and an end marker ends it properly.
    #[test]
    fn arbitrary_chunks_never_panic(
        payloads in prop::collection::vec(any_payload(), 0..10),
        rid in prop::option::of("[a-z0-9-]{1,8}"),
    ) {
        let (events, err) = decode_checked(OpenAiStream::new(rid.clone()), &payloads)?;
        if let (Some(rid), Some(cairn_llm::ChatEvent::Start { request_id, .. })) = (&rid, events.first()) {
            prop_assert_eq!(request_id.as_ref(), Some(rid), "the header's id wins");
        }
        let done = payloads.iter().position(|p| std::str::from_utf8(p).is_ok_and(|t| t.trim_start().starts_with("[DONE]")));
        if err.is_none() {
            prop_assert!(done.is_some(), "only [DONE] ends a stream properly");
        }
    }

    /// Valid streams, SSE-framed and cut into arbitrary reads, fold into what they encode.
    #[test]
    fn valid_streams_round_trip(r in reply(), cuts in cuts()) {
        let body = sse_frame(&encode(&r));
        let payloads = sse_payloads(&split(&body, &cuts));
        let (events, err) = decode_checked(OpenAiStream::new(None), &payloads)?;
        prop_assert_eq!(fold(&events, err)?, expected(&r));
    }

    /// Cut anywhere before `[DONE]`, a valid stream is truncated: an error, never a reply.
    #[test]
    fn a_stream_cut_short_is_truncated(r in reply(), at in any::<Index>()) {
        let chunks = encode(&r);
        let keep = at.index(chunks.len());
        let (events, err) = decode_payloads(&mut OpenAiStream::new(None), &chunks[..keep]);
        check_well_formed(&events, &err)?;
        prop_assert!(matches!(err, Some(cairn_llm::LlmError::Stream { kind: cairn_llm::StreamBreak::Truncated, .. })), "{:?}", err);
    }
}
