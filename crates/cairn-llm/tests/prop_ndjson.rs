//! Property tests of the NDJSON splitter (Ollama's stream framing): it never panics, its lines
//! do not depend on how the body was cut into reads and match a plain split on LF, and valid
//! streams round-trip.
//!
//! `PROPTEST_CASES=1000000 cargo test -p cairn-llm --release --test prop_ndjson` runs a
//! million cases per property.

mod prop_support;

use prop_support::{bytes_of, config, cuts, json_exact, ndjson_decode, split};
use proptest::prelude::*;

const NDJSON_TOKENS: &[&[u8]] = &[
    b"\n",
    b"\n",
    b"\r",
    b"\r\n",
    b" ",
    b"\t",
    b"{",
    b"}",
    b"{\"done\":true}",
    b"\"a\"",
    b"\xff",
    b"\xc3\xa9",
];

/// The specification, spelled out: lines end at LF, one CR before it is dropped, blank lines
/// (only ASCII whitespace) are skipped, a last line without LF counts.
fn reference(body: &[u8]) -> Vec<Vec<u8>> {
    body.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .map(<[u8]>::to_vec)
        .collect()
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes cut anywhere: no panic; the same lines as the reference, whether fed
    /// whole, byte by byte or in the generated reads.
    #[test]
    fn lines_are_independent_of_how_reads_split(
        body in bytes_of(NDJSON_TOKENS, 40),
        cuts in cuts(),
    ) {
        let want = reference(&body);
        prop_assert_eq!(&ndjson_decode(&[&body]), &want);
        let bytewise: Vec<&[u8]> = body.chunks(1).collect();
        prop_assert_eq!(&ndjson_decode(&bytewise), &want);
        prop_assert_eq!(&ndjson_decode(&split(&body, &cuts)), &want);
    }

    /// JSON values, one per line with LF or CRLF endings and blank lines in between, come back
    /// as the same values.
    #[test]
    fn valid_streams_round_trip(
        values in prop::collection::vec((json_exact(), 0usize..3, any::<bool>()), 0..6),
        trailing_newline in any::<bool>(),
        cuts in cuts(),
    ) {
        let mut body = Vec::new();
        for (i, (v, blanks, crlf)) in values.iter().enumerate() {
            let eol: &[u8] = if *crlf { b"\r\n" } else { b"\n" };
            for _ in 0..*blanks {
                body.extend_from_slice(b"  \t");
                body.extend_from_slice(eol);
            }
            body.extend_from_slice(v.to_string().as_bytes());
            if i + 1 < values.len() || trailing_newline {
                body.extend_from_slice(eol);
            }
        }
        let lines = ndjson_decode(&split(&body, &cuts));
        let got: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_slice(l))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let want: Vec<serde_json::Value> = values.into_iter().map(|(v, _, _)| v).collect();
        prop_assert_eq!(got, want);
    }
}
