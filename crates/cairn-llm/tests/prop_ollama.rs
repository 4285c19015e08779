//! Property tests of the Ollama `/api/chat` stream parser (`OllamaStream`): arbitrary,
//! mutated and damaged lines never panic and always give a well-formed event sequence; valid
//! generated streams, NDJSON-framed and cut into arbitrary reads, fold back into the response
//! they encode.
//!
//! `PROPTEST_CASES=1000000 cargo test -p cairn-llm --release --test prop_ollama`.

mod prop_support;

use cairn_llm::providers::decode_payloads;
use cairn_llm::providers::ollama::OllamaStream;
use cairn_llm::{ChatResponse, ContentPart, FinishReason, ToolCall, Usage};
use prop_support::*;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

const DONE: &[(&str, FinishReason)] = &[
    ("stop", FinishReason::Stop),
    ("length", FinishReason::Length),
    ("load", FinishReason::Other),
];

/// One line of any kind the API sends, with generated contents.
fn valid_line() -> BoxedStrategy<Value> {
    prop_oneof![
        (text(), text()).prop_map(|(m, t)| json!({"model": m, "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": t}, "done": false})),
        (text(), arguments(), prop::option::of(text())).prop_map(|(n, a, id)| {
            let mut c = json!({"function": {"name": n, "arguments": a}});
            if let Some(id) = id { c["id"] = json!(id); }
            json!({"model": "m", "message": {"role": "assistant", "content": "", "tool_calls": [c]}, "done": false})
        }),
        (prop::sample::select(DONE), count(), count()).prop_map(|((d, _), p, e)| json!({"model": "m",
            "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": d,
            "prompt_eval_count": p, "eval_count": e})),
        text().prop_map(|e| json!({"error": e})),
    ]
    .boxed()
}

#[derive(Debug, Clone)]
struct Call {
    id: Option<String>,
    name: String,
    args: Value,
}

#[derive(Debug, Clone)]
struct Reply {
    model: String,
    text: String,
    text_cuts: Vec<Index>,
    calls: Vec<Call>,
    done: usize,
    usage: (u64, u64),
}

fn reply() -> impl Strategy<Value = Reply> {
    let call = (prop::option::of(text()), text(), arguments()).prop_map(|(id, name, args)| Call {
        id,
        name,
        args,
    });
    (
        (text(), text(), prop::collection::vec(any::<Index>(), 0..5)),
        prop::collection::vec(call, 0..3),
        0..DONE.len(),
        (count(), count()),
    )
        .prop_map(|((model, text, text_cuts), calls, done, usage)| Reply {
            model,
            text,
            text_cuts,
            calls,
            done,
            usage,
        })
}

/// The lines the API streams for `r`, ending with `done: true`.
fn encode(r: &Reply) -> Vec<String> {
    let mut out = Vec::new();
    for p in pieces(&r.text, &r.text_cuts) {
        out.push(
            json!({"model": r.model, "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": p}, "done": false}),
        );
    }
    for c in &r.calls {
        let mut call = json!({"function": {"name": c.name, "arguments": c.args}});
        if let Some(id) = &c.id {
            call["id"] = json!(id);
        }
        out.push(
            json!({"model": r.model, "message": {"role": "assistant", "content": "",
            "tool_calls": [call]}, "done": false}),
        );
    }
    let (p, e) = r.usage;
    out.push(
        json!({"model": r.model, "message": {"role": "assistant", "content": ""}, "done": true,
        "done_reason": DONE[r.done].0, "prompt_eval_count": p, "eval_count": e}),
    );
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
            .enumerate()
            .map(|(i, c)| ToolCall {
                id: c.id.clone().unwrap_or_else(|| format!("call_{i}")),
                name: c.name.clone(),
                arguments: c.args.clone(),
                signature: None,
            })
            .collect(),
        finish_reason: if r.calls.is_empty() {
            DONE[r.done].1
        } else {
            FinishReason::ToolCalls
        },
        usage: Usage {
            input_tokens: r.usage.0,
            output_tokens: r.usage.1,
            ..Usage::default()
        },
        request_id: None,
        model: Some(r.model.clone()),
        served: Default::default(),
    }
}

/// NDJSON framing: LF or CRLF line ends, blank lines in between.
fn ndjson_frame(lines: &[String], crlf: bool, blanks: &[Index]) -> Vec<u8> {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if blanks.iter().any(|b| b.index(lines.len()) == i) {
            out.push_str(eol);
        }
        out.push_str(l);
        out.push_str(eol);
    }
    out.into_bytes()
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, arbitrary JSON, mutated and damaged lines: no panic and a well-formed
    /// event sequence.
    #[test]
    fn arbitrary_lines_never_panic(payloads in prop::collection::vec(payload(valid_line()), 0..10)) {
        let (_, err) = decode_checked(OllamaStream::new(None), &payloads)?;
        if err.is_none() {
            let ended = payloads.iter().any(|p| {
                serde_json::from_slice::<Value>(p).is_ok_and(|v| v.get("done") == Some(&json!(true)))
            });
            prop_assert!(ended, "only done:true ends a stream properly");
        }
    }

    /// Valid streams, NDJSON-framed and cut into arbitrary reads, fold into what they encode.
    #[test]
    fn valid_streams_round_trip(
        r in reply(),
        crlf in any::<bool>(),
        blanks in prop::collection::vec(any::<Index>(), 0..3),
        cuts in cuts(),
    ) {
        let body = ndjson_frame(&encode(&r), crlf, &blanks);
        let lines = ndjson_decode(&split(&body, &cuts));
        let (events, err) = decode_checked(OllamaStream::new(None), &lines)?;
        prop_assert_eq!(fold(&events, err)?, expected(&r));
    }

    /// Cut anywhere before `done: true`, a valid stream is truncated.
    #[test]
    fn a_stream_cut_short_is_truncated(r in reply(), at in any::<Index>()) {
        let lines = encode(&r);
        let keep = at.index(lines.len());
        let (events, err) = decode_payloads(&mut OllamaStream::new(None), &lines[..keep]);
        check_well_formed(&events, &err)?;
        prop_assert!(matches!(err, Some(cairn_llm::LlmError::Stream { kind: cairn_llm::StreamBreak::Truncated, .. })), "{:?}", err);
    }
}
