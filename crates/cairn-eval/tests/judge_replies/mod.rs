//! A judge's scripted llmock replies (`{"type": "reply", "text": …}` behaviours), shared by
//! cairn-eval's judge tests and cairn-cli's `eval` tests, which include this file by `#[path]`.
#![allow(dead_code)]

use serde_json::{json, Value};

/// A scripted reply whose text is `v` as JSON.
pub fn json_reply(v: Value) -> Value {
    text_reply(&v.to_string())
}

/// A scripted reply whose text is `t`, as it stands.
pub fn text_reply(t: &str) -> Value {
    json!({"type": "reply", "text": t})
}

/// A verdict list as the judge writes one: `{"reason": "reason N", "verdict": V}` per value.
pub fn verdicts(vs: &[u8]) -> Value {
    let list: Vec<Value> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"reason": format!("reason {}", i + 1), "verdict": v}))
        .collect();
    json_reply(json!({ "verdicts": list }))
}
