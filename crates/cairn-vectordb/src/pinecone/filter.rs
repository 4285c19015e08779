//! cairn's [`Filter`] compiled to Pinecone's metadata filter (MongoDB-style `$eq $ne $gt $gte
//! $lt $lte $in $nin $and $or`), with exactly [`Filter::matches`] semantics where Pinecone
//! can express it, and [`VectorStoreError::Unsupported`] (naming the store and the operator,
//! before any request) where it cannot.
//!
//! Pinecone's metadata holds strings, numbers, booleans and lists of strings, and a filter
//! on a list matches when any element does, which is not cairn's equality. So the adapter
//! writes the user's metadata in three parts (see [`filter_fields`]):
//!
//! - every key whose value is a string, number or boolean, under its own name, as is (these
//!   are what filters compare; keys starting with `$`, which Pinecone refuses, or with
//!   `_cairn`, cairn's own, are left out);
//! - `_cairn_t`, a list of type tags, one per key: `s:key`, `n:key`, `b:key`, or `o:key` for
//!   any other value (`null`, a list, an object); plus `d:key` for a string that reads as an
//!   ISO-8601 date;
//! - `_cairn_d:key`: the instant of such a date, in seconds since 1970 (UTC), as parsed by
//!   [`cairn_core::parse_date`], the parser `Filter::matches` uses.
//!
//! The metadata itself, exactly as written, travels in the `_cairn` JSON string with the
//! chunk, so reading back never depends on these.
//!
//! | cairn | Pinecone |
//! |---|---|
//! | `k = v` (string, number, boolean) | `{k: {$eq: v}}` (typed: a string never equals a number) |
//! | `k != v` | `{$and: [{_cairn_t: "T:k"}, {k: {$ne: v}}]}`: present, of v's type T, another value |
//! | `k > 1` | `{$and: [{_cairn_t: "n:k"}, {k: {$gt: 1}}]}` (ranges are documented for numbers only, so the tag keeps other types out) |
//! | `k > 2024-06-01` | `{"_cairn_d:k": {$gt: 1717200000}}` |
//! | `k in [...]` | `$in` per type (booleans as `$eq`), under `$or` when mixed |
//! | `k not in [...]` | `$or` over the stored type: `{$and: [{_cairn_t: "s:k"}, {k: {$nin: strings}}]}`, likewise numbers and booleans, or `{_cairn_t: "o:k"}` |
//! | `exists k` | `{_cairn_t: {$in: ["s:k", "n:k", "b:k", "o:k"]}}` |
//! | `and` / `or` | `$and` / `$or` |
//!
//! Refused: `not` (Pinecone's language has no negation, and pushing one down would need
//! "field absent", which it cannot say; a `not` of a constant folds), ranges with a string
//! or boolean bound (Pinecone's ranges are numeric), `not in` with a date value, and any
//! filter on a key starting with `$` or `_cairn`.

use cairn_core::{CmpOp, Filter, FilterValue, Metadata, VectorStoreError};
use serde_json::{json, Map, Value};

/// The list of type tags.
pub const TAGS: &str = "_cairn_t";
/// The prefix of the date instants: `_cairn_d:key`.
pub const DATE_PREFIX: &str = "_cairn_d:";

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub enum PineconeFilter {
    /// No condition: send no `filter`.
    All,
    /// Nothing can match: the adapter answers without asking.
    Nothing,
    /// A Pinecone filter object.
    Where(Value),
}

enum Node {
    True,
    False,
    Expr(Value),
}

/// Compiles `filter`; `store` names the store in errors.
pub fn compile(store: &str, filter: &Filter) -> Result<PineconeFilter, VectorStoreError> {
    Ok(match node(store, filter)? {
        Node::True => PineconeFilter::All,
        Node::False => PineconeFilter::Nothing,
        Node::Expr(v) => PineconeFilter::Where(v),
    })
}

/// Whether a metadata key can be filtered on (and so is written at the top level).
pub fn filterable(key: &str) -> bool {
    !key.starts_with('$') && !key.starts_with("_cairn")
}

/// The filterable top-level metadata of a chunk whose metadata is `metadata`: its scalar
/// values, the type tags and the date instants.
pub fn filter_fields(metadata: &Metadata) -> Map<String, Value> {
    let mut out = Map::new();
    let mut tags = Vec::new();
    for (k, v) in metadata {
        if !filterable(k) {
            continue;
        }
        let t = match v {
            Value::String(s) => {
                if let Some(epoch) = cairn_core::parse_date(s) {
                    out.insert(format!("{DATE_PREFIX}{k}"), json!(epoch));
                    tags.push(format!("d:{k}"));
                }
                "s"
            }
            Value::Number(_) => "n",
            Value::Bool(_) => "b",
            Value::Null | Value::Array(_) | Value::Object(_) => "o",
        };
        if t != "o" {
            out.insert(k.clone(), v.clone());
        }
        tags.push(format!("{t}:{k}"));
    }
    tags.sort();
    if !tags.is_empty() {
        out.insert(TAGS.into(), json!(tags));
    }
    out
}

fn node(store: &str, f: &Filter) -> Result<Node, VectorStoreError> {
    Ok(match f {
        Filter::All => Node::True,
        Filter::Cmp { key, op, value } => {
            check_key(store, key)?;
            cmp(store, key, *op, value)?
        }
        Filter::In {
            key,
            values,
            negated,
        } => {
            check_key(store, key)?;
            if *negated {
                not_in(store, key, values)?
            } else {
                any_of(key, values)
            }
        }
        Filter::Exists { key } => {
            check_key(store, key)?;
            exists(key)
        }
        Filter::And(fs) => combine(
            "$and",
            fs.iter()
                .map(|f| node(store, f))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Or(fs) => combine(
            "$or",
            fs.iter()
                .map(|f| node(store, f))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Not(inner) => match &**inner {
            Filter::Not(f) => node(store, f)?,
            other => match node(store, other)? {
                Node::True => Node::False,
                Node::False => Node::True,
                Node::Expr(_) => {
                    return Err(VectorStoreError::unsupported(
                        store,
                        format!(
                            "the filter `not ({other})` (Pinecone's filter language has no \
                             negation, `$not`)"
                        ),
                    ))
                }
            },
        },
    })
}

fn check_key(store: &str, key: &str) -> Result<(), VectorStoreError> {
    if filterable(key) {
        return Ok(());
    }
    Err(VectorStoreError::unsupported(
        store,
        format!(
            "a filter on the key `{key}` (keys starting with `$` or `_cairn` are not kept in \
             Pinecone's filterable metadata)"
        ),
    ))
}

/// `$and` / `$or` of the parts, constants folded.
fn combine(op: &str, parts: Vec<Node>) -> Node {
    // Under `$or` a true part makes the whole true; under `$and` a false one makes it false.
    let (absorbing, neutral_is_true) = if op == "$and" {
        (false, true)
    } else {
        (true, false)
    };
    let mut exprs = Vec::new();
    for p in parts {
        match p {
            Node::True if absorbing => return Node::True,
            Node::False if !absorbing => return Node::False,
            Node::True | Node::False => {}
            Node::Expr(v) => exprs.push(v),
        }
    }
    match exprs.len() {
        0 if neutral_is_true => Node::True,
        0 => Node::False,
        1 => Node::Expr(exprs.pop().expect("one")),
        _ => Node::Expr(json!({ op: exprs })),
    }
}

fn tag(t: &str, key: &str) -> Value {
    json!({ TAGS: {"$eq": format!("{t}:{key}")} })
}

fn exists(key: &str) -> Node {
    let all: Vec<String> = ["s", "n", "b", "o"]
        .iter()
        .map(|t| format!("{t}:{key}"))
        .collect();
    Node::Expr(json!({ TAGS: {"$in": all} }))
}

fn date_key(key: &str) -> String {
    format!("{DATE_PREFIX}{key}")
}

/// The field a value compares on, its type tag, and the value as Pinecone holds it.
fn field(key: &str, value: &FilterValue) -> (String, &'static str, Value) {
    match value {
        FilterValue::Str(s) => (key.to_string(), "s", json!(s)),
        FilterValue::Num(x) => (key.to_string(), "n", json!(x)),
        FilterValue::Bool(b) => (key.to_string(), "b", json!(b)),
        FilterValue::Date { epoch, .. } => (date_key(key), "d", json!(epoch)),
    }
}

fn cmp(store: &str, key: &str, op: CmpOp, value: &FilterValue) -> Result<Node, VectorStoreError> {
    let (f, t, v) = field(key, value);
    Ok(Node::Expr(match op {
        CmpOp::Eq => json!({ f: {"$eq": v} }),
        CmpOp::Ne => json!({"$and": [tag(t, key), { f: {"$ne": v} }]}),
        _ => {
            if matches!(value, FilterValue::Str(_) | FilterValue::Bool(_)) {
                return Err(VectorStoreError::unsupported(
                    store,
                    format!(
                        "the filter `{}` (`{}` with a {} bound: Pinecone's ranges compare \
                         numbers only)",
                        Filter::cmp(key, op, value.clone()),
                        op.symbol(),
                        if t == "s" { "string" } else { "boolean" }
                    ),
                ));
            }
            let range = json!({ f: { op.mongo(): v } });
            if t == "n" {
                // Pinecone documents ranges for numbers only; the tag keeps a boolean or a
                // string under the same key out whatever the engine does with them.
                json!({"$and": [tag("n", key), range]})
            } else {
                // Only dates have a `_cairn_d:` field.
                range
            }
        }
    }))
}

/// The values of an `in` list by type.
#[derive(Default)]
struct ByType {
    strings: Vec<Value>,
    numbers: Vec<Value>,
    bools: Vec<bool>,
    dates: Vec<Value>,
}

fn by_type(values: &[FilterValue]) -> ByType {
    let mut t = ByType::default();
    for v in values {
        match v {
            FilterValue::Str(s) => t.strings.push(json!(s)),
            FilterValue::Num(x) => t.numbers.push(json!(x)),
            FilterValue::Bool(b) => {
                if !t.bools.contains(b) {
                    t.bools.push(*b)
                }
            }
            FilterValue::Date { epoch, .. } => t.dates.push(json!(epoch)),
        }
    }
    t
}

fn any_of(key: &str, values: &[FilterValue]) -> Node {
    let t = by_type(values);
    let mut parts = Vec::new();
    if !t.strings.is_empty() {
        parts.push(Node::Expr(json!({ key: {"$in": t.strings} })));
    }
    if !t.numbers.is_empty() {
        parts.push(Node::Expr(json!({ key: {"$in": t.numbers} })));
    }
    for b in t.bools {
        parts.push(Node::Expr(json!({ key: {"$eq": b} })));
    }
    if !t.dates.is_empty() {
        parts.push(Node::Expr(json!({ date_key(key): {"$in": t.dates} })));
    }
    combine("$or", parts)
}

/// Present, and equal to none of the values: by the stored value's type.
fn not_in(store: &str, key: &str, values: &[FilterValue]) -> Result<Node, VectorStoreError> {
    let t = by_type(values);
    if !t.dates.is_empty() {
        return Err(VectorStoreError::unsupported(
            store,
            format!(
                "the filter `{}` (`not in` with a date value: Pinecone cannot say a string is \
                 not a date)",
                Filter::In {
                    key: key.into(),
                    values: values.to_vec(),
                    negated: true
                }
            ),
        ));
    }
    let branch = |tag_name: &str, cond: Option<Value>| match cond {
        None => Node::Expr(tag(tag_name, key)),
        Some(c) => Node::Expr(json!({"$and": [tag(tag_name, key), c]})),
    };
    let strings = (!t.strings.is_empty()).then(|| json!({ key: {"$nin": t.strings} }));
    let numbers = (!t.numbers.is_empty()).then(|| json!({ key: {"$nin": t.numbers} }));
    let bools = match t.bools.as_slice() {
        [] => branch("b", None),
        [b] => branch("b", Some(json!({ key: {"$eq": !b} }))),
        _ => Node::False,
    };
    Ok(combine(
        "$or",
        vec![
            branch("s", strings),
            branch("n", numbers),
            bools,
            branch("o", None),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{parse_date, Classify, ErrorClass};

    const S: &str = "pinecone:docs";

    fn w(f: &Filter) -> Value {
        match compile(S, f).unwrap() {
            PineconeFilter::Where(v) => v,
            other => panic!("{f}: {other:?}"),
        }
    }

    fn parse(s: &str) -> Filter {
        Filter::parse(&[s]).unwrap()
    }

    fn unsupported(f: &Filter) -> String {
        let e = compile(S, f).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Unsupported, "{f}: {e}");
        let m = e.to_string();
        assert!(m.starts_with("pinecone:docs: "), "{m}");
        m
    }

    #[test]
    fn all_sends_no_filter() {
        assert_eq!(compile(S, &Filter::All).unwrap(), PineconeFilter::All);
    }

    #[test]
    fn eq_is_typed() {
        assert_eq!(w(&parse("lang = en")), json!({"lang": {"$eq": "en"}}));
        assert_eq!(w(&parse("year = 2020")), json!({"year": {"$eq": 2020.0}}));
        assert_eq!(
            w(&parse("year = \"2020\"")),
            json!({"year": {"$eq": "2020"}})
        );
        assert_eq!(w(&parse("flag = true")), json!({"flag": {"$eq": true}}));
    }

    #[test]
    fn ne_is_guarded_by_the_type_tag() {
        assert_eq!(
            w(&parse("lang != en")),
            json!({"$and": [{"_cairn_t": {"$eq": "s:lang"}}, {"lang": {"$ne": "en"}}]})
        );
        assert_eq!(
            w(&Filter::cmp("year", CmpOp::Ne, 2020.0)),
            json!({"$and": [{"_cairn_t": {"$eq": "n:year"}}, {"year": {"$ne": 2020.0}}]})
        );
    }

    #[test]
    fn each_numeric_range() {
        for (op, name) in [
            (CmpOp::Gt, "$gt"),
            (CmpOp::Gte, "$gte"),
            (CmpOp::Lt, "$lt"),
            (CmpOp::Lte, "$lte"),
        ] {
            assert_eq!(
                w(&Filter::cmp("score", op, 0.5)),
                json!({"$and": [{"_cairn_t": {"$eq": "n:score"}}, {"score": { name: 0.5 }}]})
            );
        }
    }

    #[test]
    fn date_ranges_use_the_instant_field() {
        assert_eq!(
            w(&parse("published > 2024-06-01")),
            json!({"_cairn_d:published": {"$gt": 1717200000.0}})
        );
        let d = FilterValue::Date {
            text: "2024-06-01".into(),
            epoch: parse_date("2024-06-01").unwrap(),
        };
        assert_eq!(
            w(&Filter::cmp("published", CmpOp::Ne, d)),
            json!({"$and": [
                {"_cairn_t": {"$eq": "d:published"}},
                {"_cairn_d:published": {"$ne": 1717200000.0}}
            ]})
        );
    }

    #[test]
    fn in_splits_by_type() {
        assert_eq!(
            w(&parse("lang in [en, fr]")),
            json!({"lang": {"$in": ["en", "fr"]}})
        );
        let f = Filter::any_of("y", vec![2021.0.into(), "x".into(), true.into()]);
        assert_eq!(
            w(&f),
            json!({"$or": [
                {"y": {"$in": ["x"]}},
                {"y": {"$in": [2021.0]}},
                {"y": {"$eq": true}}
            ]})
        );
        assert_eq!(
            compile(S, &Filter::any_of("y", vec![])).unwrap(),
            PineconeFilter::Nothing
        );
    }

    #[test]
    fn nin_needs_the_key_and_compares_within_its_type() {
        assert_eq!(
            w(&parse("lang not in [en, fr]")),
            json!({"$or": [
                {"$and": [{"_cairn_t": {"$eq": "s:lang"}}, {"lang": {"$nin": ["en", "fr"]}}]},
                {"_cairn_t": {"$eq": "n:lang"}},
                {"_cairn_t": {"$eq": "b:lang"}},
                {"_cairn_t": {"$eq": "o:lang"}}
            ]})
        );
        let f = Filter::In {
            key: "f".into(),
            values: vec![true.into(), 1.0.into()],
            negated: true,
        };
        assert_eq!(
            w(&f),
            json!({"$or": [
                {"_cairn_t": {"$eq": "s:f"}},
                {"$and": [{"_cairn_t": {"$eq": "n:f"}}, {"f": {"$nin": [1.0]}}]},
                {"$and": [{"_cairn_t": {"$eq": "b:f"}}, {"f": {"$eq": false}}]},
                {"_cairn_t": {"$eq": "o:f"}}
            ]})
        );
    }

    #[test]
    fn exists_reads_the_type_tags() {
        assert_eq!(
            w(&parse("exists extra")),
            json!({"_cairn_t": {"$in": ["s:extra", "n:extra", "b:extra", "o:extra"]}})
        );
    }

    #[test]
    fn and_or_combine() {
        assert_eq!(
            w(&parse("lang = en or flag = true")),
            json!({"$or": [{"lang": {"$eq": "en"}}, {"flag": {"$eq": true}}]})
        );
        assert_eq!(
            w(&Filter::parse(&["lang = en", "year >= 2021"]).unwrap()),
            json!({"$and": [
                {"lang": {"$eq": "en"}},
                {"$and": [{"_cairn_t": {"$eq": "n:year"}}, {"year": {"$gte": 2021.0}}]}
            ]})
        );
    }

    #[test]
    fn not_is_unsupported_unless_it_folds() {
        let m = unsupported(&parse("not lang = en"));
        assert!(m.contains("not"), "{m}");
        unsupported(&parse("not exists extra"));
        unsupported(&parse("(lang = en or lang = de) and not (flag = true)"));
        let nothing = Filter::any_of("k", vec![]);
        assert_eq!(
            compile(S, &Filter::Not(Box::new(nothing))).unwrap(),
            PineconeFilter::All
        );
        assert_eq!(
            compile(
                S,
                &Filter::Not(Box::new(Filter::Not(Box::new(Filter::eq("a", "b")))))
            )
            .unwrap(),
            compile(S, &Filter::eq("a", "b")).unwrap()
        );
    }

    #[test]
    fn string_and_boolean_ranges_are_unsupported() {
        let m = unsupported(&Filter::cmp("lang", CmpOp::Gt, "de"));
        assert!(m.contains("numbers only"), "{m}");
        unsupported(&Filter::cmp("flag", CmpOp::Lt, true));
    }

    #[test]
    fn reserved_keys_and_nin_with_dates_are_unsupported() {
        unsupported(&Filter::eq("_cairn", "x"));
        unsupported(&Filter::exists("$weird"));
        let d = FilterValue::Date {
            text: "2024-06-01".into(),
            epoch: parse_date("2024-06-01").unwrap(),
        };
        unsupported(&Filter::In {
            key: "p".into(),
            values: vec![d],
            negated: true,
        });
    }

    #[test]
    fn filter_fields_keep_scalars_and_tag_every_key() {
        let m: Metadata = serde_json::from_value(json!({
            "lang": "en", "year": 2020, "flag": false, "tags": ["a"], "none": null,
            "published": "2024-06-01", "$bad": 1, "_cairn_x": "y"
        }))
        .unwrap();
        let f = filter_fields(&m);
        assert_eq!(
            Value::Object(f),
            json!({
                "lang": "en", "year": 2020, "flag": false, "published": "2024-06-01",
                "_cairn_d:published": 1717200000.0,
                "_cairn_t": ["b:flag", "d:published", "n:year", "o:none", "o:tags", "s:lang",
                             "s:published"]
            })
        );
    }
}
