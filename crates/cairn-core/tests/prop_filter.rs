//! Property tests of `Filter::parse` (metadata filters from the command line and from
//! requests): it never panics, accepts exactly `key=value` with a non-blank key, and what it
//! parses round-trips and matches the metadata it describes.
//!
//! `PROPTEST_CASES=1000000 cargo test -p cairn-core --release --test prop_filter`.

use cairn_core::{Classify, ErrorClass, Filter, Metadata};
use proptest::prelude::*;

/// `PROPTEST_CASES` cases, 1024 when unset; failures are printed, not written to the tree.
fn config() -> ProptestConfig {
    let mut c = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 1024;
    }
    c
}

/// Strings rich in what the parser looks at: `=`, whitespace of every kind, multi-byte text.
fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(
            prop_oneof![
                Just("=".to_string()),
                Just(" ".to_string()),
                Just("\u{3000}".to_string()),
                Just("\t".to_string()),
                "[a-z]{1,4}",
                "\\PC{0,3}",
            ],
            0..6,
        )
        .prop_map(|v| v.concat()),
        1 => any::<String>(),
    ]
}

/// A key as a user writes it: no `=`, not blank, no surrounding whitespace.
fn key() -> impl Strategy<Value = String> {
    "[^=\\s]([^=]{0,6}[^=\\s])?"
}

proptest! {
    #![proptest_config(config())]

    /// Anything: no panic; accepted exactly when every argument has an `=` after a non-blank
    /// key, which comes back trimmed, the value verbatim; the error names the argument.
    #[test]
    fn parse_accepts_exactly_key_equals_value(args in prop::collection::vec(arg(), 0..5)) {
        let valid = |a: &String| a.split_once('=').is_some_and(|(k, _)| !k.trim().is_empty());
        match Filter::parse(&args) {
            Ok(f) => {
                prop_assert!(args.iter().all(valid));
                prop_assert_eq!(f.equals.len(), args.len());
                for ((k, v), a) in f.equals.iter().zip(&args) {
                    let (rk, rv) = a.split_once('=').expect("valid");
                    prop_assert_eq!(k.as_str(), rk.trim());
                    prop_assert_eq!(v.as_str(), rv);
                }
                prop_assert_eq!(f.is_empty(), args.is_empty());
            }
            Err(e) => {
                let bad = args.iter().find(|a| !valid(a)).expect("an invalid argument");
                prop_assert_eq!(&e.input, bad, "the first invalid argument is named");
                prop_assert!(e.to_string().contains(bad.as_str()));
                prop_assert_eq!(e.class(), ErrorClass::InvalidInput);
            }
        }
    }

    /// Generated filters printed as `key=value` parse back to themselves and match metadata
    /// holding those values (as strings, or as the JSON text of a number).
    #[test]
    fn filters_round_trip_and_match_their_metadata(
        pairs in prop::collection::btree_map(key(), ".{0,8}", 0..5),
        number in any::<i64>(),
    ) {
        let equals: Vec<(String, String)> = pairs.into_iter().collect();
        let args: Vec<String> = equals.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let f = Filter::parse(&args).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&f.equals, &equals);
        let mut meta = Metadata::new();
        for (k, v) in &equals {
            meta.insert(k.clone(), v.clone().into());
        }
        prop_assert!(f.matches(&meta));
        // A numeric value matches its JSON text.
        let n = Filter::parse(&[format!("n={number}")]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut m = Metadata::new();
        m.insert("n".into(), number.into());
        prop_assert!(n.matches(&m));
        // A value that differs does not match.
        if let Some((k, v)) = equals.first() {
            meta.insert(k.clone(), format!("{v}~").into());
            prop_assert!(!f.matches(&meta));
        }
    }
}
