//! Property tests of the Anthropic Messages stream parser (`AnthropicStream`): arbitrary,
//! mutated and damaged events never panic, always give a well-formed event sequence and keep
//! usage normalised; valid generated streams, SSE-framed and cut into arbitrary reads, fold
//! back into the response they encode.
//!
//! `PROPTEST_CASES=1000000 cargo test -p cairn-llm --release --test prop_anthropic`.

mod prop_support;

use cairn_llm::providers::anthropic::AnthropicStream;
use cairn_llm::providers::decode_payloads;
use cairn_llm::{ChatEvent, ChatResponse, ContentPart, FinishReason, ToolCall, Usage};
use prop_support::*;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

const STOP: &[(&str, FinishReason)] = &[
    ("end_turn", FinishReason::Stop),
    ("stop_sequence", FinishReason::Stop),
    ("max_tokens", FinishReason::Length),
    ("tool_use", FinishReason::ToolCalls),
    ("refusal", FinishReason::ContentFilter),
    ("pause_turn", FinishReason::Other),
];

fn usage_json() -> impl Strategy<Value = Value> {
    (count(), count(), count(), count()).prop_map(|(i, r, w, o)| {
        json!({"input_tokens": i, "cache_read_input_tokens": r, "cache_creation_input_tokens": w,
            "output_tokens": o})
    })
}

/// One event of any type the API sends, with generated contents.
fn valid_event() -> BoxedStrategy<Value> {
    prop_oneof![
        (text(), text(), usage_json()).prop_map(|(id, model, u)| json!({"type": "message_start",
            "message": {"id": id, "type": "message", "role": "assistant", "model": model, "content": [], "usage": u}})),
        (0u64..4, text()).prop_map(|(i, t)| json!({"type": "content_block_start", "index": i,
            "content_block": {"type": "text", "text": t}})),
        (0u64..4, text(), text()).prop_map(|(i, id, name)| json!({"type": "content_block_start", "index": i,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})),
        (0u64..4, text()).prop_map(|(i, t)| json!({"type": "content_block_delta", "index": i,
            "delta": {"type": "text_delta", "text": t}})),
        (0u64..4, text()).prop_map(|(i, p)| json!({"type": "content_block_delta", "index": i,
            "delta": {"type": "input_json_delta", "partial_json": p}})),
        (0u64..4).prop_map(|i| json!({"type": "content_block_stop", "index": i})),
        (prop::sample::select(STOP), prop::option::of(usage_json())).prop_map(|((s, _), u)| {
            let mut v = json!({"type": "message_delta", "delta": {"stop_reason": s, "stop_sequence": null},
                "usage": {"output_tokens": 7}});
            if let Some(u) = u { v["usage"] = u; }
            v
        }),
        Just(json!({"type": "message_stop"})),
        Just(json!({"type": "ping"})),
        (text(), text()).prop_map(|(t, m)| json!({"type": "error", "error": {"type": t, "message": m}})),
    ]
    .boxed()
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
    stop: usize,
    usage: (u64, u64, u64, u64),
    pings: Vec<Index>,
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
        (
            text(),
            text(),
            text(),
            prop::collection::vec(any::<Index>(), 0..5),
        ),
        prop::collection::vec(call, 0..3),
        0..STOP.len(),
        (count(), count(), count(), count()),
        prop::collection::vec(any::<Index>(), 0..3),
    )
        .prop_map(
            |((id, model, text, text_cuts), calls, stop, usage, pings)| Reply {
                id,
                model,
                text,
                text_cuts,
                calls,
                stop,
                usage,
                pings,
            },
        )
}

/// The events the API streams for `r`, pings sprinkled in, ending with `message_stop`.
fn encode(r: &Reply) -> Vec<String> {
    let (i, rd, w, o) = r.usage;
    let mut out = vec![
        json!({"type": "message_start", "message": {"id": r.id, "type": "message",
        "role": "assistant", "model": r.model, "content": [], "stop_reason": null,
        "usage": {"input_tokens": i, "cache_read_input_tokens": rd, "cache_creation_input_tokens": w, "output_tokens": 1}}}),
    ];
    out.push(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
    for p in pieces(&r.text, &r.text_cuts) {
        out.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}));
    }
    out.push(json!({"type": "content_block_stop", "index": 0}));
    for (k, c) in r.calls.iter().enumerate() {
        let b = k + 1;
        out.push(
            json!({"type": "content_block_start", "index": b, "content_block": {"type": "tool_use",
            "id": c.id, "name": c.name, "input": {}}}),
        );
        for a in pieces(&compact(&c.args), &c.cuts) {
            out.push(json!({"type": "content_block_delta", "index": b, "delta": {"type": "input_json_delta", "partial_json": a}}));
        }
        out.push(json!({"type": "content_block_stop", "index": b}));
    }
    out.push(json!({"type": "message_delta", "delta": {"stop_reason": STOP[r.stop].0, "stop_sequence": null},
        "usage": {"output_tokens": o}}));
    for p in &r.pings {
        let at = 1 + p.index(out.len());
        out.insert(at, json!({"type": "ping"}));
    }
    out.push(json!({"type": "message_stop"}));
    out.iter().map(Value::to_string).collect()
}

fn expected(r: &Reply) -> ChatResponse {
    let (i, rd, w, o) = r.usage;
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
        finish_reason: STOP[r.stop].1,
        usage: Usage {
            input_tokens: i.saturating_add(rd).saturating_add(w),
            cached_input_tokens: rd,
            cache_write_tokens: w,
            output_tokens: o,
        },
        request_id: Some(r.id.clone()),
        model: Some(r.model.clone()),
        served: Default::default(),
    }
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, arbitrary JSON, mutated and damaged events: no panic, a well-formed
    /// event sequence, and usage that includes its cached parts whatever numbers arrive.
    #[test]
    fn arbitrary_events_never_panic(
        payloads in prop::collection::vec(payload(valid_event()), 0..10),
        rid in prop::option::of("[a-z0-9-]{1,8}"),
        structured in prop::option::of(prop::sample::select(&["Film", "x"][..])),
    ) {
        let (events, _) = decode_checked(AnthropicStream::new(rid.clone(), structured), &payloads)?;
        for e in &events {
            match e {
                ChatEvent::Usage { usage } => {
                    prop_assert!(usage.input_tokens >= usage.cached_input_tokens, "{:?}", usage);
                    prop_assert!(usage.input_tokens >= usage.cache_write_tokens, "{:?}", usage);
                }
                ChatEvent::Start { request_id, .. } if rid.is_some() => {
                    prop_assert_eq!(request_id, &rid, "the header's id wins");
                }
                _ => {}
            }
        }
    }

    /// Valid streams, SSE-framed and cut into arbitrary reads, fold into what they encode.
    #[test]
    fn valid_streams_round_trip(r in reply(), cuts in cuts()) {
        let body = sse_frame(&encode(&r));
        let payloads = sse_payloads(&split(&body, &cuts));
        let (events, err) = decode_checked(AnthropicStream::new(None, None), &payloads)?;
        prop_assert_eq!(fold(&events, err)?, expected(&r));
    }

    /// Cut anywhere before `message_stop`, a valid stream is truncated.
    #[test]
    fn a_stream_cut_short_is_truncated(r in reply(), at in any::<Index>()) {
        let chunks = encode(&r);
        let keep = at.index(chunks.len());
        let (events, err) = decode_payloads(&mut AnthropicStream::new(None, None), &chunks[..keep]);
        check_well_formed(&events, &err)?;
        prop_assert!(matches!(err, Some(cairn_llm::LlmError::Stream { kind: cairn_llm::StreamBreak::Truncated, .. })), "{:?}", err);
    }
}
