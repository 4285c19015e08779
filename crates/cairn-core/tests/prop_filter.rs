//! Property tests of the filter language (metadata filters from the command line and from
//! requests): parsing never panics and every refusal is an invalid-input error naming the
//! input; any filter tree survives both spellings (text and JSON) unchanged; the old
//! `key=value` form keeps meaning equality; evaluation obeys the boolean laws.
//!
//! `PROPTEST_CASES=1000000 cargo test -p cairn-core --release --test prop_filter`.

use cairn_core::{parse_date, Classify, CmpOp, ErrorClass, Filter, FilterValue, Metadata};
use proptest::prelude::*;
use serde_json::json;

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

/// Strings rich in what the parser looks at: operators, brackets, quotes, keywords,
/// whitespace of every kind, multi-byte text.
fn input() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(
            prop_oneof![
                Just("=".to_string()),
                Just(" ".to_string()),
                Just("\u{3000}".to_string()),
                Just("(".to_string()),
                Just(")".to_string()),
                Just("[".to_string()),
                Just("]".to_string()),
                Just(",".to_string()),
                Just("\"".to_string()),
                Just(">=".to_string()),
                Just("!=".to_string()),
                Just(" and ".to_string()),
                Just(" or ".to_string()),
                Just("not ".to_string()),
                Just(" in ".to_string()),
                Just("exists ".to_string()),
                Just("{".to_string()),
                Just("2024-06-01".to_string()),
                "[a-z]{1,4}",
                "[0-9.]{1,4}",
                "\\PC{0,3}",
            ],
            0..8,
        )
        .prop_map(|v| v.concat()),
        1 => any::<String>(),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,5}",
        "[a-z]{1,3}\\.[a-z]{1,3}",
        "\\PC{1,6}".prop_filter("not blank, no operator", |k| !k.trim().is_empty()
            && !k.starts_with('$')),
    ]
}

fn scalar() -> impl Strategy<Value = FilterValue> {
    prop_oneof![
        "\\PC{0,6}".prop_map(FilterValue::Str),
        (-1000i64..1000).prop_map(|n| FilterValue::Num(n as f64 / 4.0)),
        any::<bool>().prop_map(FilterValue::Bool),
    ]
}

fn bound() -> impl Strategy<Value = FilterValue> {
    prop_oneof![
        (-1000i64..1000).prop_map(|n| FilterValue::Num(n as f64)),
        (1990i32..2030, 1u32..13, 1u32..29).prop_map(|(y, m, d)| {
            let text = format!("{y}-{m:02}-{d:02}");
            FilterValue::Date {
                epoch: parse_date(&text).expect("a valid date"),
                text,
            }
        }),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        (
            key(),
            prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne)],
            scalar()
        )
            .prop_map(|(key, op, value)| Filter::Cmp { key, op, value }),
        (
            key(),
            prop_oneof![
                Just(CmpOp::Gt),
                Just(CmpOp::Gte),
                Just(CmpOp::Lt),
                Just(CmpOp::Lte)
            ],
            bound()
        )
            .prop_map(|(key, op, value)| Filter::Cmp { key, op, value }),
        (key(), prop::collection::vec(scalar(), 1..4), any::<bool>()).prop_map(
            |(key, values, negated)| Filter::In {
                key,
                values,
                negated
            }
        ),
        key().prop_map(|key| Filter::Exists { key }),
    ]
}

fn tree() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

/// Metadata over a few keys the generated filters also use.
fn metadata() -> impl Strategy<Value = Metadata> {
    prop::collection::btree_map(
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("c".to_string())
        ],
        prop_oneof![
            (-10i64..10).prop_map(|n| json!(n)),
            prop_oneof![Just("x"), Just("y"), Just("2024-06-01")].prop_map(|s| json!(s)),
            any::<bool>().prop_map(|b| json!(b)),
        ],
        0..3,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn small_tree() -> impl Strategy<Value = Filter> {
    let k = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("c".to_string())
    ];
    let v = prop_oneof![
        (-10i64..10).prop_map(|n| FilterValue::Num(n as f64)),
        prop_oneof![Just("x"), Just("y")].prop_map(FilterValue::from),
        any::<bool>().prop_map(FilterValue::Bool),
    ];
    (
        k,
        v,
        prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne), Just(CmpOp::Gte)],
    )
        .prop_map(|(key, value, op)| Filter::Cmp { key, op, value })
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::Or),
                inner.prop_map(|f| Filter::Not(Box::new(f))),
            ]
        })
}

proptest! {
    #![proptest_config(config())]

    /// Anything: no panic; a refusal is invalid input and names what was given.
    #[test]
    fn parse_never_panics_and_errors_name_the_input(args in prop::collection::vec(input(), 0..4)) {
        match Filter::parse(&args) {
            Ok(f) => prop_assert_eq!(f.is_empty(), args.is_empty()),
            Err(e) => {
                prop_assert!(args.contains(&e.input), "the invalid argument is named");
                prop_assert_eq!(e.class(), ErrorClass::InvalidInput);
                prop_assert!(e.to_string().contains(e.input.as_str()));
            }
        }
    }

    /// A tree printed as text, or as JSON, reads back as itself.
    #[test]
    fn trees_round_trip_through_text_and_json(f in tree()) {
        let text = f.to_string();
        let back = Filter::parse_one(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&back, &f, "text form {}", text);
        let j = f.to_json();
        let back = Filter::from_json(&j).map_err(|e| TestCaseError::fail(format!("{j}: {e}")))?;
        prop_assert_eq!(&back, &f, "JSON form {}", j);
    }

    /// `key=value` with a plain key means equality with the value as it reads (a number,
    /// a boolean, else the text), and matches exactly the metadata holding that value.
    #[test]
    fn key_equals_value_is_equality(k in "[a-z][a-z0-9_]{0,5}", v in "[A-Za-z0-9_.:/-]{1,8}") {
        let f = Filter::parse(&[format!("{k}={v}")]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let stored = match &f {
            Filter::Cmp { key, op: CmpOp::Eq, value } if key == &k => value.to_json(),
            other => return Err(TestCaseError::fail(format!("{k}={v} parsed as {other:?}"))),
        };
        let mut m = Metadata::new();
        m.insert(k.clone(), stored);
        prop_assert!(f.matches(&m));
        m.insert(k.clone(), json!(format!("{v}~")));
        prop_assert!(!f.matches(&m));
        prop_assert!(!f.matches(&Metadata::new()), "an absent key never matches");
    }

    /// De Morgan, double negation, and `and`'s flattening keep what matches.
    #[test]
    fn evaluation_obeys_boolean_laws(a in small_tree(), b in small_tree(), m in metadata()) {
        let not = |f: &Filter| Filter::Not(Box::new(f.clone()));
        let and = Filter::And(vec![a.clone(), b.clone()]);
        let or = Filter::Or(vec![a.clone(), b.clone()]);
        prop_assert_eq!(not(&and).matches(&m), Filter::Or(vec![not(&a), not(&b)]).matches(&m));
        prop_assert_eq!(not(&or).matches(&m), Filter::And(vec![not(&a), not(&b)]).matches(&m));
        prop_assert_eq!(not(&not(&a)).matches(&m), a.matches(&m));
        prop_assert_eq!(Filter::and([a.clone(), Filter::All, and.clone()]).matches(&m), and.matches(&m));
        prop_assert_eq!(and.matches(&m), a.matches(&m) && b.matches(&m));
    }
}
