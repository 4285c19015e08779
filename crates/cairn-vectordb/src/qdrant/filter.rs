//! cairn's [`Filter`] compiled to a Qdrant filter (`must` / `should` / `must_not` over
//! `match`, `range` and `is_empty` conditions), with exactly [`Filter::matches`] semantics.
//!
//! Qdrant's conditions are looser than cairn's on the user's own payload: `match` on an array
//! matches when any element does, and nothing tells a string from a number for `!=`. So the
//! adapter writes, beside the metadata as given (`metadata`), a typed view of it that filters
//! read (`cairn_index`, see [`index_payload`]):
//!
//! | field | holds, for each metadata key |
//! |---|---|
//! | `cairn_index.s."key"` | the value, when it is a string |
//! | `cairn_index.n."key"` | the value as a 64-bit float, when it is a number |
//! | `cairn_index.b."key"` | the value, when it is a boolean |
//! | `cairn_index.d."key"` | seconds since 1970 (UTC), when it is a string that reads as an ISO-8601 date ([`cairn_core::parse_date`], the same parser `Filter::matches` uses) |
//! | `cairn_index.keys` | every key present (any value, `null` included) |
//!
//! With it every operator is exact:
//!
//! | cairn | Qdrant |
//! |---|---|
//! | `k = "s"` / `k = true` | `match` on `s."k"` / `b."k"` |
//! | `k = 2020` | `range {gte: 2020, lte: 2020}` on `n."k"` (integers and floats alike) |
//! | `k != v` | `must_not [is_empty k, k = v]` on the typed field: present, of v's type, another value |
//! | `k > 1`, `k <= 2024-06-01` | `range` on `n."k"`, or on `d."k"` for a date bound |
//! | `k in [...]` | `should` of the equalities (strings as one `match {any}`) |
//! | `k not in [...]` | `must [keys has k]`, `must_not` the equalities |
//! | `exists k` | `match` of `k` in `keys` |
//! | `and` / `or` / `not` | `must` / `should` / `must_not` |
//!
//! Dates compare as numbers on `d` rather than through Qdrant's `datetime_range`, so they
//! are exactly the instants `Filter::matches` reads, whatever date formats Qdrant parses.
//!
//! Refused with [`VectorStoreError::Unsupported`] before any request: a range with a string
//! or boolean bound (cairn orders strings and booleans there; Qdrant's `range` is numeric
//! only). A key holding `"` or `\` cannot be written in a Qdrant JSON path, so its typed
//! fields are named `~` and the first 32 hex digits of the key's SHA-256 instead (the same
//! rule on write and on filter).

use cairn_core::{CmpOp, Filter, FilterValue, Metadata, VectorStoreError};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The payload field holding the typed view of the metadata.
pub const INDEX: &str = "cairn_index";

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub enum QdrantFilter {
    /// No condition: send no `filter`.
    All,
    /// Nothing can match (`k in []`, and what contains it under `and`): the adapter answers
    /// without asking.
    Nothing,
    /// A Qdrant `Filter` object.
    Where(Value),
}

/// A condition, or a constant the combinators fold away.
enum Node {
    True,
    False,
    Cond(Value),
}

/// Compiles `filter`; `store` names the store in errors.
pub fn compile(store: &str, filter: &Filter) -> Result<QdrantFilter, VectorStoreError> {
    Ok(match node(store, filter)? {
        Node::True => QdrantFilter::All,
        Node::False => QdrantFilter::Nothing,
        Node::Cond(c) => QdrantFilter::Where(as_filter(c)),
    })
}

/// The typed view of `metadata` written under [`INDEX`].
pub fn index_payload(metadata: &Metadata) -> Value {
    let (mut s, mut n, mut b, mut d) = (Map::new(), Map::new(), Map::new(), Map::new());
    for (k, v) in metadata {
        let name = field_name(k);
        match v {
            Value::String(text) => {
                s.insert(name.clone(), Value::String(text.clone()));
                if let Some(epoch) = cairn_core::parse_date(text) {
                    d.insert(name, json!(epoch));
                }
            }
            Value::Number(x) => {
                if let Some(x) = x.as_f64() {
                    n.insert(name, json!(x));
                }
            }
            Value::Bool(x) => {
                b.insert(name, Value::Bool(*x));
            }
            Value::Null | Value::Array(_) | Value::Object(_) => {}
        }
    }
    let mut keys: Vec<&String> = metadata.keys().collect();
    keys.sort();
    json!({"s": s, "n": n, "b": b, "d": d, "keys": keys})
}

/// The name of a key inside the typed maps.
fn field_name(key: &str) -> String {
    if key.contains(['"', '\\']) {
        let h = Sha256::digest(key.as_bytes());
        let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("~{hex}")
    } else {
        key.to_string()
    }
}

/// The JSON path of a typed field: `cairn_index.s."lang"`.
fn path(kind: &str, key: &str) -> String {
    format!("{INDEX}.{kind}.\"{}\"", field_name(key))
}

/// A condition as a `Filter` object (a bare field condition goes in `must`).
fn as_filter(c: Value) -> Value {
    let is_filter = c.as_object().is_some_and(|o| {
        !o.is_empty()
            && o.keys()
                .all(|k| matches!(k.as_str(), "must" | "should" | "must_not"))
    });
    if is_filter {
        c
    } else {
        json!({ "must": [c] })
    }
}

fn node(store: &str, f: &Filter) -> Result<Node, VectorStoreError> {
    Ok(match f {
        Filter::All => Node::True,
        Filter::Cmp { key, op, value } => cmp(store, key, *op, value)?,
        Filter::In {
            key,
            values,
            negated,
        } => {
            let eqs = equalities(key, values);
            if *negated {
                let mut must_not = eqs;
                if must_not.is_empty() {
                    exists(key)
                } else {
                    let mut f = Map::new();
                    f.insert("must".into(), json!([present(key)]));
                    f.insert(
                        "must_not".into(),
                        Value::Array(std::mem::take(&mut must_not)),
                    );
                    Node::Cond(Value::Object(f))
                }
            } else {
                or(eqs.into_iter().map(Node::Cond).collect())
            }
        }
        Filter::Exists { key } => exists(key),
        Filter::And(fs) => and(fs
            .iter()
            .map(|f| node(store, f))
            .collect::<Result<_, _>>()?),
        Filter::Or(fs) => or(fs
            .iter()
            .map(|f| node(store, f))
            .collect::<Result<_, _>>()?),
        Filter::Not(f) => match node(store, f)? {
            Node::True => Node::False,
            Node::False => Node::True,
            Node::Cond(c) => Node::Cond(json!({ "must_not": [c] })),
        },
    })
}

fn and(parts: Vec<Node>) -> Node {
    let mut conds = Vec::new();
    for p in parts {
        match p {
            Node::False => return Node::False,
            Node::True => {}
            Node::Cond(c) => conds.push(c),
        }
    }
    match conds.len() {
        0 => Node::True,
        1 => Node::Cond(conds.pop().expect("one")),
        _ => Node::Cond(json!({ "must": conds })),
    }
}

fn or(parts: Vec<Node>) -> Node {
    let mut conds = Vec::new();
    for p in parts {
        match p {
            Node::True => return Node::True,
            Node::False => {}
            Node::Cond(c) => conds.push(c),
        }
    }
    match conds.len() {
        0 => Node::False,
        1 => Node::Cond(conds.pop().expect("one")),
        _ => Node::Cond(json!({ "should": conds })),
    }
}

/// `key` is present, with any value.
fn present(key: &str) -> Value {
    json!({"key": format!("{INDEX}.keys"), "match": {"value": key}})
}

fn exists(key: &str) -> Node {
    Node::Cond(present(key))
}

/// The typed field a value is compared on, and the value as Qdrant compares it.
enum Typed {
    Match(String, Value),
    Number(String, f64),
}

fn typed(key: &str, value: &FilterValue) -> Typed {
    match value {
        FilterValue::Str(s) => Typed::Match(path("s", key), Value::String(s.clone())),
        FilterValue::Bool(b) => Typed::Match(path("b", key), Value::Bool(*b)),
        FilterValue::Num(x) => Typed::Number(path("n", key), *x),
        FilterValue::Date { epoch, .. } => Typed::Number(path("d", key), *epoch),
    }
}

/// `key = value`, typed.
fn equality(key: &str, value: &FilterValue) -> Value {
    match typed(key, value) {
        Typed::Match(p, v) => json!({"key": p, "match": {"value": v}}),
        Typed::Number(p, x) => json!({"key": p, "range": {"gte": x, "lte": x}}),
    }
}

/// One condition per value (the strings together as one `match {any}`).
fn equalities(key: &str, values: &[FilterValue]) -> Vec<Value> {
    let mut strings: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for v in values {
        match v {
            FilterValue::Str(s) => {
                if !strings.contains(&s.as_str()) {
                    strings.push(s)
                }
            }
            other => out.push(equality(key, other)),
        }
    }
    match strings.len() {
        0 => {}
        1 => out.insert(0, equality(key, &FilterValue::Str(strings[0].to_string()))),
        _ => out.insert(0, json!({"key": path("s", key), "match": {"any": strings}})),
    }
    out
}

fn cmp(store: &str, key: &str, op: CmpOp, value: &FilterValue) -> Result<Node, VectorStoreError> {
    if op.is_range() {
        let (p, x) = match typed(key, value) {
            Typed::Number(p, x) => (p, x),
            Typed::Match(..) => {
                let what = if matches!(value, FilterValue::Bool(_)) {
                    "a boolean"
                } else {
                    "a string"
                };
                return Err(VectorStoreError::unsupported(
                    store,
                    format!(
                        "the filter `{}` (`{}` with {what}: Qdrant's `range` compares numbers and \
                         dates only)",
                        Filter::cmp(key, op, value.clone()),
                        op.symbol()
                    ),
                ));
            }
        };
        let bound = match op {
            CmpOp::Gt => "gt",
            CmpOp::Gte => "gte",
            CmpOp::Lt => "lt",
            _ => "lte",
        };
        return Ok(Node::Cond(json!({"key": p, "range": { bound: x }})));
    }
    let eq = equality(key, value);
    Ok(Node::Cond(match op {
        CmpOp::Eq => eq,
        _ => {
            // Present with a value of the same type, and another one.
            let p = match typed(key, value) {
                Typed::Match(p, _) | Typed::Number(p, _) => p,
            };
            json!({"must_not": [{"is_empty": {"key": p}}, eq]})
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{parse_date, Classify, ErrorClass};

    fn c(f: &Filter) -> QdrantFilter {
        compile("qdrant:docs", f).unwrap()
    }

    fn w(f: &Filter) -> Value {
        match c(f) {
            QdrantFilter::Where(v) => v,
            other => panic!("{f}: {other:?}"),
        }
    }

    fn parse(s: &str) -> Filter {
        Filter::parse(&[s]).unwrap()
    }

    fn date(s: &str) -> FilterValue {
        FilterValue::Date {
            text: s.into(),
            epoch: parse_date(s).unwrap(),
        }
    }

    #[test]
    fn all_sends_no_filter() {
        assert_eq!(c(&Filter::All), QdrantFilter::All);
    }

    #[test]
    fn eq_string_matches_the_string_field() {
        assert_eq!(
            w(&Filter::eq("lang", "en")),
            json!({"must": [{"key": "cairn_index.s.\"lang\"", "match": {"value": "en"}}]})
        );
    }

    #[test]
    fn eq_number_is_a_closed_range_on_the_number_field() {
        assert_eq!(
            w(&Filter::eq("year", 2020.0)),
            json!({"must": [{"key": "cairn_index.n.\"year\"", "range": {"gte": 2020.0, "lte": 2020.0}}]})
        );
    }

    #[test]
    fn eq_bool_matches_the_bool_field() {
        assert_eq!(
            w(&Filter::eq("flag", true)),
            json!({"must": [{"key": "cairn_index.b.\"flag\"", "match": {"value": true}}]})
        );
    }

    #[test]
    fn a_string_that_looks_like_a_number_stays_a_string() {
        assert_eq!(
            w(&parse("year = \"2020\"")),
            json!({"must": [{"key": "cairn_index.s.\"year\"", "match": {"value": "2020"}}]})
        );
    }

    #[test]
    fn ne_needs_the_key_with_the_same_type() {
        assert_eq!(
            w(&parse("lang != en")),
            json!({"must_not": [
                {"is_empty": {"key": "cairn_index.s.\"lang\""}},
                {"key": "cairn_index.s.\"lang\"", "match": {"value": "en"}}
            ]})
        );
        assert_eq!(
            w(&Filter::cmp("n", CmpOp::Ne, 3.0)),
            json!({"must_not": [
                {"is_empty": {"key": "cairn_index.n.\"n\""}},
                {"key": "cairn_index.n.\"n\"", "range": {"gte": 3.0, "lte": 3.0}}
            ]})
        );
    }

    #[test]
    fn each_range_operator() {
        for (op, name) in [
            (CmpOp::Gt, "gt"),
            (CmpOp::Gte, "gte"),
            (CmpOp::Lt, "lt"),
            (CmpOp::Lte, "lte"),
        ] {
            assert_eq!(
                w(&Filter::cmp("score", op, 0.5)),
                json!({"must": [{"key": "cairn_index.n.\"score\"", "range": {name: 0.5}}]}),
                "{op:?}"
            );
        }
    }

    #[test]
    fn date_ranges_compare_instants_on_the_date_field() {
        let f = Filter::cmp("published", CmpOp::Gt, date("2021-03-01"));
        assert_eq!(
            w(&f),
            json!({"must": [{"key": "cairn_index.d.\"published\"", "range": {"gt": 1614556800.0}}]})
        );
        let f = parse("published <= 2021-03-01T12:00:00+01:00");
        assert_eq!(
            w(&f),
            json!({"must": [{"key": "cairn_index.d.\"published\"", "range": {"lte": 1614596400.0}}]})
        );
    }

    #[test]
    fn in_groups_strings_and_keeps_other_types() {
        assert_eq!(
            w(&parse("lang in [en, fr]")),
            json!({"must": [{"key": "cairn_index.s.\"lang\"", "match": {"any": ["en", "fr"]}}]})
        );
        let f = Filter::any_of("year", vec![2021.0.into(), "x".into(), true.into()]);
        assert_eq!(
            w(&f),
            json!({"should": [
                {"key": "cairn_index.s.\"year\"", "match": {"value": "x"}},
                {"key": "cairn_index.n.\"year\"", "range": {"gte": 2021.0, "lte": 2021.0}},
                {"key": "cairn_index.b.\"year\"", "match": {"value": true}}
            ]})
        );
    }

    #[test]
    fn in_nothing_matches_nothing_and_nin_nothing_is_exists() {
        assert_eq!(c(&Filter::any_of("k", vec![])), QdrantFilter::Nothing);
        let nin = Filter::In {
            key: "k".into(),
            values: vec![],
            negated: true,
        };
        assert_eq!(c(&nin), c(&Filter::exists("k")));
    }

    #[test]
    fn nin_needs_the_key() {
        assert_eq!(
            w(&parse("lang not in [en, fr]")),
            json!({
                "must": [{"key": "cairn_index.keys", "match": {"value": "lang"}}],
                "must_not": [{"key": "cairn_index.s.\"lang\"", "match": {"any": ["en", "fr"]}}]
            })
        );
    }

    #[test]
    fn exists_looks_in_the_key_list() {
        assert_eq!(
            w(&parse("exists extra")),
            json!({"must": [{"key": "cairn_index.keys", "match": {"value": "extra"}}]})
        );
    }

    #[test]
    fn and_or_not_nest() {
        let f = parse("(lang = en or lang = de) and not (flag = true)");
        assert_eq!(
            w(&f),
            json!({"must": [
                {"should": [
                    {"key": "cairn_index.s.\"lang\"", "match": {"value": "en"}},
                    {"key": "cairn_index.s.\"lang\"", "match": {"value": "de"}}
                ]},
                {"must_not": [{"key": "cairn_index.b.\"flag\"", "match": {"value": true}}]}
            ]})
        );
        assert_eq!(
            w(&parse("not exists extra")),
            json!({"must_not": [{"key": "cairn_index.keys", "match": {"value": "extra"}}]})
        );
    }

    #[test]
    fn constants_fold() {
        let nothing = Filter::any_of("k", vec![]);
        assert_eq!(
            c(&Filter::Not(Box::new(nothing.clone()))),
            QdrantFilter::All
        );
        assert_eq!(
            c(&Filter::Or(vec![nothing.clone(), Filter::eq("a", "b")])),
            c(&Filter::eq("a", "b"))
        );
        assert_eq!(
            c(&Filter::And(vec![nothing, Filter::eq("a", "b")])),
            QdrantFilter::Nothing
        );
    }

    #[test]
    fn unicode_and_awkward_keys_are_quoted_or_hashed() {
        assert_eq!(
            w(&Filter::eq("emoji 🎉.x[0]", "ja")),
            json!({"must": [{"key": "cairn_index.s.\"emoji 🎉.x[0]\"", "match": {"value": "ja"}}]})
        );
        let key = "with \"quotes\"";
        let Value::Object(m) = w(&Filter::eq(key, "v")) else {
            panic!()
        };
        let p = m["must"][0]["key"].as_str().unwrap().to_string();
        assert!(
            p.starts_with("cairn_index.s.\"~") && p.len() == "cairn_index.s.\"~\"".len() + 32,
            "{p}"
        );
        // The write side names it the same way.
        let idx = index_payload(&serde_json::from_value(json!({ key: "v" })).unwrap());
        let name = p
            .trim_start_matches("cairn_index.s.\"")
            .trim_end_matches('"');
        assert_eq!(idx["s"][name], "v");
    }

    #[test]
    fn string_and_boolean_ranges_are_unsupported_naming_the_store() {
        for f in [
            Filter::cmp("lang", CmpOp::Gt, "de"),
            Filter::cmp("flag", CmpOp::Lte, true),
            Filter::And(vec![
                Filter::eq("a", "b"),
                Filter::cmp("lang", CmpOp::Lt, "x"),
            ]),
        ] {
            let e = compile("qdrant:docs", &f).unwrap_err();
            assert_eq!(e.class(), ErrorClass::Unsupported, "{f}");
            assert!(e.to_string().starts_with("qdrant:docs: "), "{e}");
            assert!(e.to_string().contains("range"), "{e}");
        }
    }

    #[test]
    fn the_index_payload_types_every_value() {
        let m: Metadata = serde_json::from_value(json!({
            "lang": "en", "year": 2020, "score": 0.5, "flag": false,
            "published": "2021-01-02T01:30:00+01:00", "tags": ["a"], "nothing": null
        }))
        .unwrap();
        let idx = index_payload(&m);
        assert_eq!(
            idx["s"],
            json!({"lang": "en", "published": "2021-01-02T01:30:00+01:00"})
        );
        assert_eq!(idx["n"], json!({"year": 2020.0, "score": 0.5}));
        assert_eq!(idx["b"], json!({"flag": false}));
        assert_eq!(idx["d"], json!({"published": 1609547400.0}));
        let mut keys: Vec<&str> = idx["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "flag",
                "lang",
                "nothing",
                "published",
                "score",
                "tags",
                "year"
            ]
        );
    }
}
