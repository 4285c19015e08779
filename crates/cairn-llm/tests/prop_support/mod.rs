//! Shared strategies and checks for the property tests of the parsers that read untrusted
//! bytes (`prop_*.rs`). Case counts: [`DEFAULT_CASES`] unless `PROPTEST_CASES` is set, e.g.
//! `PROPTEST_CASES=1000000 cargo test -p cairn-llm --release --test prop_sse`.

#![allow(dead_code)] // each test file uses a different part

use cairn_llm::providers::{decode_payloads, StreamDecoder};
use cairn_llm::transport::{NdjsonDecoder, SseDecoder};
use cairn_llm::{Accumulator, ChatEvent, ChatResponse, LlmError};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Map, Value};

/// Cases per property when `PROPTEST_CASES` is not set: well under a second each.
pub const DEFAULT_CASES: u32 = 1024;

/// proptest's configuration: `PROPTEST_CASES` cases (default [`DEFAULT_CASES`]), failures
/// not written next to the sources (a failing case is printed; regressions are pinned as
/// unit tests).
pub fn config() -> ProptestConfig {
    let mut c = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = DEFAULT_CASES;
    }
    c
}

/// Where to cut an input of `len` bytes into reads: sorted cut points, repeats allowed, so
/// empty reads happen too.
pub fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..12)
}

/// `bytes` cut at `cuts` (see [`cuts`]) into consecutive reads, empty ones included.
pub fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::with_capacity(at.len() + 1);
    let mut from = 0;
    for a in at {
        out.push(&bytes[from..a]);
        from = a;
    }
    out.push(&bytes[from..]);
    out
}

/// Bytes that are mostly the given tokens (framing characters, field names) and sometimes
/// anything at all, invalid UTF-8 included.
pub fn bytes_of(tokens: &'static [&'static [u8]], max: usize) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => prop::sample::select(tokens).prop_map(|t| t.to_vec()),
        3 => prop::collection::vec(any::<u8>(), 0..6),
        2 => "\\PC{0,6}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..max).prop_map(|v| v.concat())
}

/// SSE framed whatever way `cuts` says; the events, then whether a line was not UTF-8.
pub fn sse_decode(reads: &[&[u8]]) -> (Vec<cairn_llm::transport::SseEvent>, bool) {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    for r in reads {
        match d.feed(r) {
            Ok(evs) => out.extend(evs),
            Err(_) => return (out, true),
        }
    }
    match d.finish() {
        Ok(ev) => out.extend(ev),
        Err(_) => return (out, true),
    }
    (out, false)
}

/// NDJSON lines of these reads.
pub fn ndjson_decode(reads: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut d = NdjsonDecoder::new();
    let mut out = Vec::new();
    for r in reads {
        out.extend(d.feed(r));
    }
    out.extend(d.finish());
    out
}

/// Text that exercises escapes and multi-byte characters (no framing characters are special
/// inside JSON strings, but they are in SSE lines: the encoders keep JSON on one line).
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 .,!?]{0,12}",
        2 => "\\PC{0,8}",
        1 => prop::sample::select(SPECIAL).prop_map(str::to_string),
    ]
}

const SPECIAL: &[&str] = &[
    "",
    " ",
    "\n",
    "\r\n",
    "\"",
    "\\",
    "\u{e9}",
    "\u{1F600}",
    "data: x\n\n",
    "[DONE]",
];

/// Any JSON value, small.
pub fn json_value() -> impl Strategy<Value = Value> {
    json_tree(true)
}

/// A JSON value that survives text and back exactly: no floats (serde_json parses them
/// best-effort, within an ULP, unless `float_roundtrip` is on).
pub fn json_exact() -> impl Strategy<Value = Value> {
    json_tree(false)
}

fn json_tree(floats: bool) -> impl Strategy<Value = Value> {
    let float = any::<f64>()
        .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number));
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        if floats {
            float.boxed()
        } else {
            any::<u32>().prop_map(Value::from).boxed()
        },
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Object keys: mostly ones the providers' parsers look at.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-z_]{0,8}",
    ]
}

const KEYS: &[&str] = &[
    "type",
    "id",
    "model",
    "choices",
    "delta",
    "content",
    "tool_calls",
    "index",
    "function",
    "name",
    "arguments",
    "finish_reason",
    "usage",
    "error",
    "message",
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "cached_tokens",
    "content_block",
    "text",
    "partial_json",
    "stop_reason",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "candidates",
    "parts",
    "functionCall",
    "args",
    "thought",
    "thoughtSignature",
    "finishReason",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "promptFeedback",
    "blockReason",
    "done",
    "done_reason",
    "prompt_eval_count",
    "eval_count",
    "responseId",
    "modelVersion",
    "status",
    "role",
];

/// A valid value with some of its nodes replaced by arbitrary ones or removed: what a buggy
/// or hostile server sends that still parses as JSON.
pub fn mutated(valid: Value) -> impl Strategy<Value = Value> {
    prop::collection::vec((any::<Index>(), any::<bool>(), json_value()), 0..4).prop_map(
        move |ops| {
            let mut v = valid.clone();
            for (at, remove, with) in ops {
                let n = count_nodes(&v);
                let target = at.index(n);
                let mut seen = 0;
                mutate_at(&mut v, target, &mut seen, remove, with);
            }
            v
        },
    )
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(m) => m.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Replaces (or removes from its parent) the `target`-th node in pre-order.
fn mutate_at(v: &mut Value, target: usize, seen: &mut usize, remove: bool, with: Value) -> bool {
    if *seen == target {
        *v = with;
        return true;
    }
    *seen += 1;
    match v {
        Value::Array(a) => {
            for i in 0..a.len() {
                let before = *seen;
                if before + count_nodes(&a[i]) > target {
                    if before == target && remove {
                        a.remove(i);
                        return true;
                    }
                    return mutate_at(&mut a[i], target, seen, remove, with);
                }
                *seen += count_nodes(&a[i]);
            }
            false
        }
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let before = *seen;
                let n = count_nodes(&m[&k]);
                if before + n > target {
                    if before == target && remove {
                        m.remove(&k);
                        return true;
                    }
                    let child = m.get_mut(&k).expect("key just listed");
                    return mutate_at(child, target, seen, remove, with);
                }
                *seen += n;
            }
            false
        }
        _ => false,
    }
}

/// Serialized JSON, sometimes damaged at the byte level (cut short, a byte changed, bytes
/// inserted).
pub fn damaged(json: Value) -> impl Strategy<Value = Vec<u8>> {
    let text = json.to_string().into_bytes();
    (
        0u8..4,
        any::<Index>(),
        prop::collection::vec(any::<u8>(), 1..4),
    )
        .prop_map(move |(how, at, junk)| {
            let mut b = text.clone();
            let i = at.index(b.len() + 1);
            match how {
                0 => b.truncate(i),
                1 if i < b.len() => b[i] = junk[0],
                2 => {
                    b.splice(i..i, junk);
                }
                _ => {}
            }
            b
        })
}

/// One payload of a fuzzed stream: arbitrary bytes, arbitrary JSON, a mutated valid chunk,
/// or a byte-damaged valid chunk.
pub fn payload(valid: BoxedStrategy<Value>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..24),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        4 => valid.clone().prop_flat_map(mutated).prop_map(|v| v.to_string().into_bytes()),
        2 => valid.clone().prop_flat_map(damaged),
        3 => valid.prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// What every decoder's output must satisfy, whatever it was fed: one `Start`, first; a
/// `Finish` exactly when the stream ended properly, last; tool-call indexes handed out
/// 0, 1, 2, … and only used once started; the events fold into a response.
pub fn check_well_formed(
    events: &[ChatEvent],
    err: &Option<LlmError>,
) -> Result<(), TestCaseError> {
    let starts = events
        .iter()
        .filter(|e| matches!(e, ChatEvent::Start { .. }))
        .count();
    prop_assert!(starts <= 1, "{events:?}");
    if starts == 1 {
        prop_assert!(matches!(events[0], ChatEvent::Start { .. }), "{events:?}");
    }
    let finishes = events
        .iter()
        .filter(|e| matches!(e, ChatEvent::Finish { .. }))
        .count();
    match err {
        None => {
            prop_assert_eq!(finishes, 1, "{:?}", events);
            prop_assert!(
                matches!(events.last(), Some(ChatEvent::Finish { .. })),
                "{events:?}"
            );
        }
        Some(e) => {
            prop_assert_eq!(finishes, 0, "{:?} then {}", events, e);
            // A broken stream is a stream error (transient: the retry layer restarts it).
            prop_assert!(matches!(e, LlmError::Stream { .. }), "{e:?}");
            prop_assert!(e.is_retryable());
        }
    }
    let mut started = 0usize;
    for e in events {
        match e {
            ChatEvent::ToolCallStart { index, .. } => {
                prop_assert_eq!(*index, started, "{:?}", events);
                started += 1;
            }
            ChatEvent::ToolCallDelta { index, .. } | ChatEvent::ToolCallEnd { index } => {
                prop_assert!(*index < started, "{events:?}");
            }
            ChatEvent::Restart { .. } => prop_assert!(false, "a decoder never restarts"),
            _ => {}
        }
    }
    let mut acc = Accumulator::default();
    for e in events {
        acc.push(e);
    }
    let _ = acc.response();
    Ok(())
}

/// Decodes payloads with a fresh decoder, checking the output is well formed.
pub fn decode_checked<D: StreamDecoder>(
    mut dec: D,
    payloads: &[Vec<u8>],
) -> Result<(Vec<ChatEvent>, Option<LlmError>), TestCaseError> {
    let (events, err) = decode_payloads(&mut dec, payloads);
    check_well_formed(&events, &err)?;
    Ok((events, err))
}

/// SSE framing of JSON payloads: one `data:` line each (JSON has no raw line breaks).
pub fn sse_frame(payloads: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(p.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out
}

/// The payloads SSE framing yields from these reads.
pub fn sse_payloads(reads: &[&[u8]]) -> Vec<Vec<u8>> {
    let (events, bad) = sse_decode(reads);
    assert!(!bad, "framing of valid JSON is UTF-8");
    events.into_iter().map(|e| e.data.into_bytes()).collect()
}

/// The folded response of a stream that must have ended properly.
pub fn fold(events: &[ChatEvent], err: Option<LlmError>) -> Result<ChatResponse, TestCaseError> {
    if let Some(e) = err {
        return Err(TestCaseError::fail(format!(
            "valid stream failed: {e}; {events:?}"
        )));
    }
    let mut acc = Accumulator::default();
    for e in events {
        acc.push(e);
    }
    Ok(acc.response())
}

/// Tool-call arguments: JSON objects (what models produce), nesting included.
pub fn arguments() -> impl Strategy<Value = Value> {
    prop::collection::vec(("[a-z]{1,6}", json_exact()), 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

/// `s` cut into `n` or fewer pieces at character boundaries (how providers stream deltas).
pub fn pieces(s: &str, cuts: &[Index]) -> Vec<String> {
    let bounds: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
    let mut at: Vec<usize> = cuts.iter().map(|c| bounds[c.index(bounds.len())]).collect();
    at.sort_unstable();
    at.dedup();
    let mut out = Vec::new();
    let mut from = 0;
    for a in at {
        if a > from {
            out.push(s[from..a].to_string());
            from = a;
        }
    }
    if from < s.len() || out.is_empty() {
        out.push(s[from..].to_string());
    }
    out
}

/// Token counts as servers send them: usually small, sometimes anything a u64 holds.
pub fn count() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..100_000, 1 => any::<u64>()]
}

/// `v` as compact JSON text: what a server streams and the accumulator parses back.
pub fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| json!({}).to_string())
}
