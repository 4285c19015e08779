//! Property tests of the SSE decoder (untrusted bytes off the network): it never panics, its
//! events do not depend on how the body was cut into reads, and valid streams round-trip.
//!
//! `PROPTEST_CASES=1000000 cargo test -p cairn-llm --release --test prop_sse` runs a million
//! cases per property.

mod prop_support;

use cairn_llm::transport::SseEvent;
use prop_support::{bytes_of, config, cuts, split, sse_decode};
use proptest::prelude::*;

const SSE_TOKENS: &[&[u8]] = &[
    b"data:",
    b"data: ",
    b"event:",
    b"event: ",
    b"id: 1",
    b"retry: 5",
    b":",
    b": ping",
    b"\n",
    b"\n",
    b"\r",
    b"\r\n",
    b"\r\n",
    b" ",
    b"x",
    b"{\"a\":1}",
    b"[DONE]",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b"\xff",
    b"\xc3",
];

/// One event to encode: its type (none = the default), its data lines, and what else goes in
/// the block (comments, ignored fields).
#[derive(Debug, Clone)]
struct Block {
    event: Option<String>,
    data: Vec<String>,
    noise: Vec<(usize, String)>,
}

fn line_text() -> impl Strategy<Value = String> {
    // Anything without a line break: SSE values cannot hold one.
    "[^\r\n]{0,10}"
}

fn block() -> impl Strategy<Value = Block> {
    (
        prop::option::of(line_text()),
        prop::collection::vec(line_text(), 1..4),
        prop::collection::vec(
            (
                0usize..4,
                prop_oneof![
                    line_text().prop_map(|c| format!(":{c}")),
                    line_text().prop_map(|v| format!("id: {v}")),
                    Just("retry: 100".to_string()),
                    "[a-z]{1,5}".prop_map(|f| format!("{f}: ignored")),
                ],
            ),
            0..3,
        ),
    )
        .prop_filter(
            "an unknown field named data or event is not noise",
            |(_, _, n)| {
                n.iter()
                    .all(|(_, l)| !l.starts_with("data") && !l.starts_with("event"))
            },
        )
        .prop_map(|(event, data, noise)| Block { event, data, noise })
}

/// Encodes blocks with one line ending throughout (a CR line followed by an LF-terminated
/// blank line would read as one CRLF: the spec's own ambiguity), leaving off the last blank
/// line when asked (servers that do are handled at end of input).
fn encode(blocks: &[Block], eol: &str, last_blank: bool) -> Vec<u8> {
    let mut out = String::new();
    for (i, b) in blocks.iter().enumerate() {
        let mut lines: Vec<String> = Vec::new();
        if let Some(e) = &b.event {
            lines.push(format!("event: {e}"));
        }
        for d in &b.data {
            lines.push(format!("data: {d}"));
        }
        for (at, n) in &b.noise {
            let at = (*at).min(lines.len());
            lines.insert(at, n.clone());
        }
        for l in lines {
            out.push_str(&l);
            out.push_str(eol);
        }
        if i + 1 < blocks.len() || last_blank {
            out.push_str(eol);
        }
    }
    out.into_bytes()
}

fn expected(blocks: &[Block]) -> Vec<SseEvent> {
    blocks
        .iter()
        .map(|b| SseEvent {
            event: b.event.clone(),
            data: b.data.join("\n"),
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, cut anywhere: no panic, and the same events (or the same failure)
    /// whether fed whole, byte by byte, or in the generated reads.
    #[test]
    fn framing_is_independent_of_how_reads_split(
        body in bytes_of(SSE_TOKENS, 40),
        cuts in cuts(),
    ) {
        let whole = sse_decode(&[&body]);
        let bytewise: Vec<&[u8]> = body.chunks(1).collect();
        let one_by_one = sse_decode(&bytewise);
        let reads = sse_decode(&split(&body, &cuts));
        prop_assert_eq!(whole.1, one_by_one.1);
        prop_assert_eq!(whole.1, reads.1);
        if whole.1 {
            // Reads before the bad line have dispatched a prefix of the events.
            prop_assert!(one_by_one.0.starts_with(&reads.0), "{:?} vs {:?}", one_by_one.0, reads.0);
            prop_assert!(one_by_one.0.starts_with(&whole.0), "{:?} vs {:?}", one_by_one.0, whole.0);
        } else {
            prop_assert_eq!(&whole.0, &one_by_one.0);
            prop_assert_eq!(&whole.0, &reads.0);
        }
    }

    /// Generated streams decode to the events they encode, whatever the line ending, the
    /// comments and ignored fields in between, and the reads they arrive in.
    #[test]
    fn valid_streams_round_trip(
        blocks in prop::collection::vec(block(), 0..5),
        eol in prop::sample::select(&["\n", "\r\n", "\r"][..]),
        last_blank in any::<bool>(),
        cuts in cuts(),
    ) {
        let body = encode(&blocks, eol, last_blank);
        let (events, bad) = sse_decode(&split(&body, &cuts));
        prop_assert!(!bad);
        prop_assert_eq!(events, expected(&blocks));
    }
}
