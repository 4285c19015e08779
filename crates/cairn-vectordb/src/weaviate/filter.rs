//! cairn's [`Filter`] compiled to a Weaviate `where` filter (`operator` / `path` /
//! `valueText` / `valueNumber` / `valueBoolean`, `And` / `Or`, `Not` from Weaviate 1.33),
//! with exactly [`Filter::matches`] semantics.
//!
//! A Weaviate property has one type for the whole class, and its name must be a GraphQL
//! name, so the user's metadata cannot be properties as it is (one document's `year` a
//! number, another's the string `"2020"`; keys with spaces or `ü`). The adapter keeps the
//! metadata exactly as a JSON text property (`metadata`), and writes a typed view for
//! filters (see [`filter_properties`]), each metadata key named by `h`, the first 16 hex
//! digits of its SHA-256:
//!
//! | property | holds |
//! |---|---|
//! | `m<h>_s` (`text`, `field` tokenization) | a string value, between `\|` marks: `field` tokenization trims white space, the marks keep `" en"` from equalling `"en"` |
//! | `m<h>_n` (`number`) | a number |
//! | `m<h>_b` (`boolean`) | a boolean |
//! | `m<h>_d` (`number`) | seconds since 1970 (UTC) of a string that reads as an ISO-8601 date ([`cairn_core::parse_date`], the parser `Filter::matches` uses) |
//! | `cairnTypes` (`text[]`, `field`) | a tag per key: `s:<h>`, `n:<h>`, `b:<h>` or `o:<h>` (any other value, `null` included), plus `d:<h>` for a date |
//!
//! The typed properties are added to the class when a first value needs them; a filter on a
//! property the class does not have matches nothing (the adapter reads the schema again
//! before concluding so).
//!
//! | cairn | Weaviate |
//! |---|---|
//! | `k = v` | `Equal` on the typed property |
//! | `k != v` | `And [cairnTypes ContainsAny [T:<h>], NotEqual]`: present, of v's type, another value |
//! | `k > 1`, `k <= 2024-06-01` | `GreaterThan` ... on `m<h>_n`, or `m<h>_d` for a date bound |
//! | `k in [...]` | `Or` of the equalities |
//! | `k not in [...]` | `Or` over the stored type `T`: `And [cairnTypes ContainsAny [T:<h>], NotEqual ...]`, or `o:<h>` |
//! | `exists k` | `cairnTypes ContainsAny [s:<h>, n:<h>, b:<h>, o:<h>]` |
//! | `and` / `or` / `not` | `And` / `Or` / `Not` |
//!
//! Refused with [`VectorStoreError::Unsupported`] before any request: ranges with a string
//! or boolean bound, and, on servers older than 1.33 (no `Not` operator), `not` and `not in`
//! with a date value.

use cairn_core::{CmpOp, Filter, FilterValue, Metadata, VectorStoreError};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// The property listing each key's type tags.
pub const TYPES: &str = "cairnTypes";

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub enum WeaviateFilter {
    /// No condition.
    All,
    /// Nothing can match: the adapter answers without asking.
    Nothing,
    /// A `where` filter (as the REST API's JSON; [`graphql`] writes it for GraphQL).
    Where(Value),
}

/// What the compiler knows of the class.
pub struct Class<'a> {
    /// Its property names.
    pub properties: &'a HashSet<String>,
    /// Whether the server has the `Not` operator (1.33 and later).
    pub negation: bool,
}

enum Node {
    True,
    False,
    Expr(Value),
}

/// A compiled filter, and the typed properties it wanted that the class does not have
/// (treated as matching nothing; the store reads the schema again when there are any).
pub fn compile(
    store: &str,
    filter: &Filter,
    class: &Class<'_>,
) -> Result<(WeaviateFilter, Vec<String>), VectorStoreError> {
    let mut missing = Vec::new();
    let n = node(store, filter, class, &mut missing)?;
    Ok((
        match n {
            Node::True => WeaviateFilter::All,
            Node::False => WeaviateFilter::Nothing,
            Node::Expr(v) => WeaviateFilter::Where(v),
        },
        missing,
    ))
}

/// The first 16 hex digits of the SHA-256 of a metadata key.
pub fn key_hash(key: &str) -> String {
    let h = Sha256::digest(key.as_bytes());
    h.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The typed property of `key` for values of type `t` (`s`, `n`, `b`, `d`).
pub fn property(key: &str, t: &str) -> String {
    format!("m{}_{t}", key_hash(key))
}

/// A string value as the `_s` property holds it.
pub fn marked(s: &str) -> String {
    format!("|{s}|")
}

/// The typed properties of a chunk's metadata (with `cairnTypes`), and the schema of each
/// typed property it uses, for adding the ones the class lacks.
pub fn filter_properties(metadata: &Metadata) -> (Map<String, Value>, Vec<(String, Value)>) {
    let mut props = Map::new();
    let mut schema = Vec::new();
    let mut tags = Vec::new();
    let mut add = |props: &mut Map<String, Value>, key: &str, t: &str, v: Value| {
        let name = property(key, t);
        let (data_type, extra) = match t {
            "s" => (
                "text",
                json!({"tokenization": "field", "indexSearchable": false}),
            ),
            "b" => ("boolean", json!({})),
            _ => ("number", json!({})),
        };
        let kind = match t {
            "s" => "string",
            "n" => "number",
            "b" => "boolean",
            _ => "date instant",
        };
        let mut def = json!({
            "name": name,
            "dataType": [data_type],
            "description": format!("cairn: metadata key {key:?} ({kind})"),
            "indexFilterable": true,
        });
        if let (Value::Object(d), Value::Object(e)) = (&mut def, extra) {
            d.extend(e);
        }
        schema.push((name.clone(), def));
        props.insert(name, v);
    };
    for (k, v) in metadata {
        let h = key_hash(k);
        let t = match v {
            Value::String(s) => {
                add(&mut props, k, "s", json!(marked(s)));
                if let Some(epoch) = cairn_core::parse_date(s) {
                    add(&mut props, k, "d", json!(epoch));
                    tags.push(format!("d:{h}"));
                }
                "s"
            }
            Value::Number(x) => {
                if let Some(x) = x.as_f64() {
                    add(&mut props, k, "n", json!(x));
                }
                "n"
            }
            Value::Bool(b) => {
                add(&mut props, k, "b", json!(b));
                "b"
            }
            Value::Null | Value::Array(_) | Value::Object(_) => "o",
        };
        tags.push(format!("{t}:{h}"));
    }
    tags.sort();
    props.insert(TYPES.into(), json!(tags));
    (props, schema)
}

fn node(
    store: &str,
    f: &Filter,
    class: &Class<'_>,
    missing: &mut Vec<String>,
) -> Result<Node, VectorStoreError> {
    Ok(match f {
        Filter::All => Node::True,
        Filter::Cmp { key, op, value } => cmp(store, key, *op, value, class, missing)?,
        Filter::In {
            key,
            values,
            negated: false,
        } => {
            let parts = values
                .iter()
                .map(|v| cmp(store, key, CmpOp::Eq, v, class, missing))
                .collect::<Result<_, _>>()?;
            combine("Or", parts)
        }
        Filter::In {
            key,
            values,
            negated: true,
        } => not_in(store, key, values, class, missing)?,
        Filter::Exists { key } => exists(key),
        Filter::And(fs) => combine(
            "And",
            fs.iter()
                .map(|f| node(store, f, class, missing))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Or(fs) => combine(
            "Or",
            fs.iter()
                .map(|f| node(store, f, class, missing))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Not(inner) => match node(store, inner, class, missing)? {
            Node::True => Node::False,
            Node::False => Node::True,
            Node::Expr(e) => {
                if !class.negation {
                    return Err(needs_not(store, &format!("the filter `not ({inner})`")));
                }
                Node::Expr(json!({"operator": "Not", "operands": [e]}))
            }
        },
    })
}

fn needs_not(store: &str, what: &str) -> VectorStoreError {
    VectorStoreError::unsupported(
        store,
        format!(
            "{what} (it needs Weaviate's `Not` operator, which servers before 1.33 do not have)"
        ),
    )
}

fn combine(op: &str, parts: Vec<Node>) -> Node {
    let is_and = op == "And";
    let mut exprs = Vec::new();
    for p in parts {
        match p {
            Node::False if is_and => return Node::False,
            Node::True if !is_and => return Node::True,
            Node::True | Node::False => {}
            Node::Expr(e) => exprs.push(e),
        }
    }
    match exprs.len() {
        0 if is_and => Node::True,
        0 => Node::False,
        1 => Node::Expr(exprs.pop().expect("one")),
        _ => Node::Expr(json!({"operator": op, "operands": exprs})),
    }
}

fn has_tags(tags: Vec<String>) -> Value {
    json!({"operator": "ContainsAny", "path": [TYPES], "valueTextArray": tags})
}

fn exists(key: &str) -> Node {
    let h = key_hash(key);
    Node::Expr(has_tags(
        ["s", "n", "b", "o"]
            .iter()
            .map(|t| format!("{t}:{h}"))
            .collect(),
    ))
}

/// The typed property, type tag, value field and value a filter value compares with.
fn typed(key: &str, value: &FilterValue) -> (String, &'static str, &'static str, Value) {
    match value {
        FilterValue::Str(s) => (property(key, "s"), "s", "valueText", json!(marked(s))),
        FilterValue::Num(x) => (property(key, "n"), "n", "valueNumber", json!(x)),
        FilterValue::Bool(b) => (property(key, "b"), "b", "valueBoolean", json!(b)),
        FilterValue::Date { epoch, .. } => (property(key, "d"), "d", "valueNumber", json!(epoch)),
    }
}

fn condition(operator: &str, prop: &str, field: &str, v: Value) -> Value {
    json!({"operator": operator, "path": [prop], field: v})
}

fn cmp(
    store: &str,
    key: &str,
    op: CmpOp,
    value: &FilterValue,
    class: &Class<'_>,
    missing: &mut Vec<String>,
) -> Result<Node, VectorStoreError> {
    let (prop, t, field, v) = typed(key, value);
    if op.is_range() && matches!(t, "s" | "b") {
        return Err(VectorStoreError::unsupported(
            store,
            format!(
                "the filter `{}` (`{}` with a {} bound: cairn orders those, Weaviate's filters \
                 on them do not in the same way)",
                Filter::cmp(key, op, value.clone()),
                op.symbol(),
                if t == "s" { "string" } else { "boolean" }
            ),
        ));
    }
    if !class.properties.contains(&prop) {
        // No object has a value of this type under this key.
        missing.push(prop);
        return Ok(Node::False);
    }
    let operator = match op {
        CmpOp::Eq => "Equal",
        CmpOp::Ne => "NotEqual",
        CmpOp::Gt => "GreaterThan",
        CmpOp::Gte => "GreaterThanEqual",
        CmpOp::Lt => "LessThan",
        CmpOp::Lte => "LessThanEqual",
    };
    let c = condition(operator, &prop, field, v);
    Ok(Node::Expr(if op == CmpOp::Ne {
        json!({"operator": "And", "operands": [has_tags(vec![format!("{t}:{}", key_hash(key))]), c]})
    } else {
        c
    }))
}

/// Present, and equal to none of the values, by the stored value's type.
fn not_in(
    store: &str,
    key: &str,
    values: &[FilterValue],
    class: &Class<'_>,
    missing: &mut Vec<String>,
) -> Result<Node, VectorStoreError> {
    let h = key_hash(key);
    if values.iter().any(|v| matches!(v, FilterValue::Date { .. })) {
        // A string may or may not read as a date: say "none of these" with `Not`.
        let what = Filter::In {
            key: key.into(),
            values: values.to_vec(),
            negated: true,
        };
        if !class.negation {
            return Err(needs_not(store, &format!("the filter `{what}`")));
        }
        let eqs = values
            .iter()
            .map(|v| cmp(store, key, CmpOp::Eq, v, class, missing))
            .collect::<Result<_, _>>()?;
        let none = match combine("Or", eqs) {
            Node::True => Node::False,
            Node::False => Node::True,
            Node::Expr(e) => Node::Expr(json!({"operator": "Not", "operands": [e]})),
        };
        return Ok(combine("And", vec![exists(key), none]));
    }
    let mut branches = Vec::new();
    for t in ["s", "n", "b"] {
        let of_type: Vec<&FilterValue> = values.iter().filter(|v| typed(key, v).1 == t).collect();
        let mut parts = vec![Node::Expr(has_tags(vec![format!("{t}:{h}")]))];
        for v in of_type {
            let (prop, _, field, x) = typed(key, v);
            if !class.properties.contains(&prop) {
                // No object holds a value of this type: the type tag alone is false too.
                missing.push(prop);
                parts.push(Node::False);
            } else {
                parts.push(Node::Expr(condition("NotEqual", &prop, field, x)));
            }
        }
        branches.push(combine("And", parts));
    }
    branches.push(Node::Expr(has_tags(vec![format!("o:{h}")])));
    Ok(combine("Or", branches))
}

/// A `where` filter written as a GraphQL input value: `{operator: Equal, path: ["p"],
/// valueText: "x"}` (keys bare, the operator an enum, strings JSON-quoted).
pub fn graphql(v: &Value) -> String {
    let mut out = String::new();
    write_gql(v, &mut out);
    out
}

fn write_gql(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            // A fixed key order, whatever the map's.
            let rank = |k: &str| match k {
                "operator" => 0,
                "operands" => 1,
                "path" => 2,
                _ => 3,
            };
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                match (k.as_str(), &m[*k]) {
                    ("operator", Value::String(op)) => out.push_str(op),
                    (_, x) => write_gql(x, out),
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_gql(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{parse_date, Classify, ErrorClass};

    const S: &str = "weaviate:Docs";

    fn all_props(keys: &[&str]) -> HashSet<String> {
        keys.iter()
            .flat_map(|k| ["s", "n", "b", "d"].map(|t| property(k, t)))
            .collect()
    }

    fn w_with(f: &Filter, negation: bool) -> Value {
        let props = all_props(&["lang", "year", "flag", "score", "published", "extra", "k"]);
        let class = Class {
            properties: &props,
            negation,
        };
        match compile(S, f, &class).unwrap() {
            (WeaviateFilter::Where(v), missing) if missing.is_empty() => v,
            other => panic!("{f}: {other:?}"),
        }
    }

    fn w(f: &Filter) -> Value {
        w_with(f, true)
    }

    fn parse(s: &str) -> Filter {
        Filter::parse(&[s]).unwrap()
    }

    fn p(key: &str, t: &str) -> String {
        property(key, t)
    }

    fn tag(t: &str, key: &str) -> String {
        format!("{t}:{}", key_hash(key))
    }

    #[test]
    fn names_are_graphql_names() {
        let n = property("emoji 🎉 / ü", "s");
        assert!(
            n.starts_with('m') && n.ends_with("_s") && n.len() == 19,
            "{n}"
        );
        assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert_eq!(key_hash("lang"), key_hash("lang"));
        assert_ne!(key_hash("lang"), key_hash("Lang"));
    }

    #[test]
    fn eq_is_typed_and_marks_strings() {
        assert_eq!(
            w(&parse("lang = en")),
            json!({"operator": "Equal", "path": [p("lang", "s")], "valueText": "|en|"})
        );
        assert_eq!(
            w(&parse("year = 2020")),
            json!({"operator": "Equal", "path": [p("year", "n")], "valueNumber": 2020.0})
        );
        assert_eq!(
            w(&parse("year = \"2020\"")),
            json!({"operator": "Equal", "path": [p("year", "s")], "valueText": "|2020|"})
        );
        assert_eq!(
            w(&parse("flag = false")),
            json!({"operator": "Equal", "path": [p("flag", "b")], "valueBoolean": false})
        );
    }

    #[test]
    fn ne_is_guarded_by_the_type_tag() {
        assert_eq!(
            w(&parse("lang != en")),
            json!({"operator": "And", "operands": [
                {"operator": "ContainsAny", "path": ["cairnTypes"], "valueTextArray": [tag("s", "lang")]},
                {"operator": "NotEqual", "path": [p("lang", "s")], "valueText": "|en|"}
            ]})
        );
    }

    #[test]
    fn each_range_operator_on_numbers_and_dates() {
        for (op, name) in [
            (CmpOp::Gt, "GreaterThan"),
            (CmpOp::Gte, "GreaterThanEqual"),
            (CmpOp::Lt, "LessThan"),
            (CmpOp::Lte, "LessThanEqual"),
        ] {
            assert_eq!(
                w(&Filter::cmp("score", op, 0.5)),
                json!({"operator": name, "path": [p("score", "n")], "valueNumber": 0.5})
            );
        }
        assert_eq!(
            w(&parse("published > 2024-06-01")),
            json!({"operator": "GreaterThan", "path": [p("published", "d")], "valueNumber": 1717200000.0})
        );
    }

    #[test]
    fn in_is_an_or_of_equalities() {
        assert_eq!(
            w(&parse("lang in [en, fr]")),
            json!({"operator": "Or", "operands": [
                {"operator": "Equal", "path": [p("lang", "s")], "valueText": "|en|"},
                {"operator": "Equal", "path": [p("lang", "s")], "valueText": "|fr|"}
            ]})
        );
    }

    #[test]
    fn nin_branches_on_the_stored_type() {
        let f = Filter::In {
            key: "lang".into(),
            values: vec!["en".into(), 3.0.into()],
            negated: true,
        };
        assert_eq!(
            w(&f),
            json!({"operator": "Or", "operands": [
                {"operator": "And", "operands": [
                    {"operator": "ContainsAny", "path": ["cairnTypes"], "valueTextArray": [tag("s", "lang")]},
                    {"operator": "NotEqual", "path": [p("lang", "s")], "valueText": "|en|"}
                ]},
                {"operator": "And", "operands": [
                    {"operator": "ContainsAny", "path": ["cairnTypes"], "valueTextArray": [tag("n", "lang")]},
                    {"operator": "NotEqual", "path": [p("lang", "n")], "valueNumber": 3.0}
                ]},
                {"operator": "ContainsAny", "path": ["cairnTypes"], "valueTextArray": [tag("b", "lang")]},
                {"operator": "ContainsAny", "path": ["cairnTypes"], "valueTextArray": [tag("o", "lang")]}
            ]})
        );
    }

    #[test]
    fn exists_reads_the_type_tags() {
        assert_eq!(
            w(&parse("exists extra")),
            json!({"operator": "ContainsAny", "path": ["cairnTypes"],
                   "valueTextArray": [tag("s", "extra"), tag("n", "extra"), tag("b", "extra"), tag("o", "extra")]})
        );
    }

    #[test]
    fn and_or_not() {
        let f = parse("(lang = en or lang = de) and not (flag = true)");
        assert_eq!(
            w(&f),
            json!({"operator": "And", "operands": [
                {"operator": "Or", "operands": [
                    {"operator": "Equal", "path": [p("lang", "s")], "valueText": "|en|"},
                    {"operator": "Equal", "path": [p("lang", "s")], "valueText": "|de|"}
                ]},
                {"operator": "Not", "operands": [
                    {"operator": "Equal", "path": [p("flag", "b")], "valueBoolean": true}
                ]}
            ]})
        );
    }

    #[test]
    fn not_needs_weaviate_1_33() {
        let props = HashSet::new();
        let old = Class {
            properties: &props,
            negation: false,
        };
        let e = compile(S, &parse("not exists extra"), &old).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Unsupported);
        assert!(
            e.to_string().starts_with("weaviate:Docs: ") && e.to_string().contains("1.33"),
            "{e}"
        );
        // The rest works on older servers.
        assert!(compile(S, &parse("lang != en"), &old).is_ok());
        assert!(compile(S, &parse("lang not in [en]"), &old).is_ok());
    }

    #[test]
    fn properties_the_class_lacks_match_nothing() {
        let props = HashSet::new();
        let class = Class {
            properties: &props,
            negation: true,
        };
        let (f, missing) = compile(S, &parse("lang = en"), &class).unwrap();
        assert_eq!(f, WeaviateFilter::Nothing);
        assert_eq!(missing, [property("lang", "s")]);
        let (f, _) = compile(S, &parse("not lang = en"), &class).unwrap();
        assert_eq!(f, WeaviateFilter::All);
        // `not in` without the typed property is just "present".
        let (f, _) = compile(S, &parse("lang not in [en]"), &class).unwrap();
        assert_eq!(
            f,
            WeaviateFilter::Where(json!({"operator": "Or", "operands": [
                {"operator": "ContainsAny", "path": ["cairnTypes"], "valueTextArray": [tag("n", "lang")]},
                {"operator": "ContainsAny", "path": ["cairnTypes"], "valueTextArray": [tag("b", "lang")]},
                {"operator": "ContainsAny", "path": ["cairnTypes"], "valueTextArray": [tag("o", "lang")]}
            ]}))
        );
    }

    #[test]
    fn nin_with_a_date_uses_not() {
        let d = FilterValue::Date {
            text: "2024-06-01".into(),
            epoch: parse_date("2024-06-01").unwrap(),
        };
        let f = Filter::In {
            key: "published".into(),
            values: vec![d],
            negated: true,
        };
        let got = w(&f);
        assert_eq!(got["operator"], "And");
        assert_eq!(got["operands"][1]["operator"], "Not");
        let props = all_props(&["published"]);
        let old = Class {
            properties: &props,
            negation: false,
        };
        assert_eq!(
            compile(S, &f, &old).unwrap_err().class(),
            ErrorClass::Unsupported
        );
    }

    #[test]
    fn string_and_boolean_ranges_are_unsupported() {
        let props = all_props(&["lang", "flag"]);
        let class = Class {
            properties: &props,
            negation: true,
        };
        for f in [
            Filter::cmp("lang", CmpOp::Gt, "de"),
            Filter::cmp("flag", CmpOp::Lte, true),
        ] {
            let e = compile(S, &f, &class).unwrap_err();
            assert_eq!(e.class(), ErrorClass::Unsupported, "{f}");
            assert!(e.to_string().starts_with("weaviate:Docs: "), "{e}");
        }
    }

    #[test]
    fn graphql_rendering() {
        let f = w(&parse("lang = \"a \\\"q\\\"\" or score >= 1"));
        let g = graphql(&f);
        assert_eq!(
            g,
            format!(
                "{{operator: Or, operands: [{{operator: Equal, path: [\"{}\"], valueText: \"|a \\\"q\\\"|\"}}, \
                 {{operator: GreaterThanEqual, path: [\"{}\"], valueNumber: 1.0}}]}}",
                p("lang", "s"),
                p("score", "n")
            )
        );
    }

    #[test]
    fn filter_properties_type_every_value() {
        let m: Metadata = serde_json::from_value(json!({
            "lang": " en", "year": 2020, "flag": true, "tags": ["a"], "published": "2024-06-01"
        }))
        .unwrap();
        let (props, schema) = filter_properties(&m);
        assert_eq!(props[&p("lang", "s")], "| en|");
        assert_eq!(props[&p("year", "n")], 2020.0);
        assert_eq!(props[&p("flag", "b")], true);
        assert_eq!(props[&p("published", "d")], 1717200000.0);
        assert!(!props.contains_key(&p("tags", "s")));
        let mut tags = vec![
            tag("s", "lang"),
            tag("n", "year"),
            tag("b", "flag"),
            tag("o", "tags"),
            tag("s", "published"),
            tag("d", "published"),
        ];
        tags.sort();
        assert_eq!(props[TYPES], json!(tags));
        let names: Vec<&str> = schema.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), 5);
        let s = schema.iter().find(|(n, _)| *n == p("lang", "s")).unwrap();
        assert_eq!(s.1["tokenization"], "field");
        assert_eq!(s.1["dataType"], json!(["text"]));
    }
}
