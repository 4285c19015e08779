//! cairn's [`Filter`] compiled to a Chroma `where` clause with exactly [`Filter::matches`]
//! semantics, over the metadata layout [`super`] writes.
//!
//! What the Chroma 1.5 server does, checked against `chromadb==1.5.9` (the tests in
//! `tests/chroma.rs` run every operator against it):
//! - `$eq`, `$in` compare typed values: a string never equals a number, `true` is not `1`,
//!   and `2020` equals `2020.0`; a key the record lacks matches nothing.
//! - `$ne` and `$nin` are plain negations: they also match records without the key and
//!   records whose value has another type. cairn's `ne` / `nin` need the key present (with a
//!   value of the compared type, for `ne`), so they are compiled with a guard.
//! - `$gt` / `$gte` / `$lt` / `$lte` take numbers only, and a float bound against an integer
//!   value compares wrongly (an integer `1` is not `$lt: 1.5` there). So every number is
//!   also written to Chroma as a float (`f64`, as [`Filter::matches`] compares them), and
//!   bounds are sent as floats.
//! - There is no `$not` and no `$exists`; arrays of strings can be tested with `$contains`
//!   / `$not_contains` (the latter also matches records without the array).
//!
//! So each record carries, besides its values, the array `cairn:keys` of type tags, one per
//! metadata key: `s:KEY` (a string), `d:KEY` (a string that reads as an ISO-8601 date, with
//! its instant in `cairn:date:KEY`), `n:KEY` (a number), `b:KEY` (a boolean), `x:KEY` (null,
//! an array or an object, which Chroma cannot hold and no comparison matches). Negation is
//! pushed down to the atoms (De Morgan) and each atom has an exact positive and negative form:
//!
//! | cairn | Chroma (positive) | negated |
//! |---|---|---|
//! | `k = v` | `{k: {$eq: v}}` | `{k: {$ne: v}}` |
//! | `k != v` | `s:k` tag and `$ne` | no tag or `$eq` |
//! | `k > n` (number) | `{k: {$gt: n}}` | no `n:k` tag or `$lte` |
//! | `k > date` | `{cairn:date:k: {$gt: epoch}}` | no `d:k` tag or `$lte` |
//! | `k in [..]` | `$in` per value type, or-ed | `$nin` per type, and-ed |
//! | `k not in [..]` | a tag of `k` and `$nin` | no tag or `$in` |
//! | `exists k` | any tag of `k` (`$contains`) | none (`$not_contains`) |
//!
//! The one form left [`VectorStoreError::Unsupported`]: a range on a string or boolean
//! bound that is not a date (`k > "abc"`): Chroma orders numbers only. (The filter parser
//! only makes number and date bounds, so no parsed filter reaches it.)
//!
//! Keys Chroma cannot hold as they are (empty, starting with `#` or `$`, or with the
//! reserved prefixes `chroma:` and `cairn:`) are written and queried as `cairn:k:KEY`.

use cairn_core::{CmpOp, Filter, FilterValue, VectorStoreError};
use serde_json::{json, Value};
use std::cmp::Ordering;

/// The array of type tags.
pub(crate) const KEYS: &str = "cairn:keys";
/// The prefix of a date string's instant (seconds since the epoch, a float).
pub(crate) const DATE_PREFIX: &str = "cairn:date:";
/// The prefix of a user key Chroma cannot hold as it is.
pub(crate) const ESCAPED_PREFIX: &str = "cairn:k:";

/// The Chroma metadata key that holds the user's `key`.
pub(crate) fn field(key: &str) -> String {
    let reserved = key.is_empty()
        || key.starts_with('#')
        || key.starts_with('$')
        || key.starts_with("chroma:")
        || key.starts_with("cairn:");
    if reserved {
        format!("{ESCAPED_PREFIX}{key}")
    } else {
        key.to_string()
    }
}

pub(crate) fn date_field(key: &str) -> String {
    format!("{DATE_PREFIX}{key}")
}

/// The tag of `key` for a value of kind `kind` (`s`, `d`, `n`, `b`, `x`).
pub(crate) fn tag(kind: char, key: &str) -> String {
    format!("{kind}:{key}")
}

/// A number as Chroma is sent it: always a float, so that ranges compare correctly.
pub(crate) fn float(n: f64) -> Value {
    serde_json::Number::from_f64(n)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// A compiled (sub)filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Where {
    /// Matches every record.
    True,
    /// Matches none (the query need not be sent).
    False,
    Expr(Value),
}

impl Where {
    fn and(parts: Vec<Where>) -> Where {
        let mut exprs = Vec::new();
        for p in parts {
            match p {
                Where::False => return Where::False,
                Where::True => {}
                Where::Expr(v) => exprs.push(v),
            }
        }
        match exprs.len() {
            0 => Where::True,
            1 => Where::Expr(exprs.pop().expect("one")),
            _ => Where::Expr(json!({ "$and": exprs })),
        }
    }

    fn or(parts: Vec<Where>) -> Where {
        let mut exprs = Vec::new();
        for p in parts {
            match p {
                Where::True => return Where::True,
                Where::False => {}
                Where::Expr(v) => exprs.push(v),
            }
        }
        match exprs.len() {
            0 => Where::False,
            1 => Where::Expr(exprs.pop().expect("one")),
            _ => Where::Expr(json!({ "$or": exprs })),
        }
    }

    fn op(field: &str, op: &str, value: Value) -> Where {
        Where::Expr(json!({ field: { op: value } }))
    }
}

/// Compiles `filter` for the store named `store` (for messages); nothing is sent.
pub(crate) fn compile(store: &str, filter: &Filter) -> Result<Where, VectorStoreError> {
    Compiler { store }.node(filter, false)
}

struct Compiler<'a> {
    store: &'a str,
}

/// Whether `op` holds for `ord` (the stored value compared with the bound).
fn holds(op: CmpOp, ord: Ordering) -> bool {
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Gte => ord != Ordering::Less,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Lte => ord != Ordering::Greater,
    }
}

/// The range operator true exactly where `op` is false (on comparable values).
fn negate_range(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Gt => CmpOp::Lte,
        CmpOp::Gte => CmpOp::Lt,
        CmpOp::Lt => CmpOp::Gte,
        CmpOp::Lte => CmpOp::Gt,
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
    }
}

impl Compiler<'_> {
    /// `f`, or its negation when `neg`.
    fn node(&self, f: &Filter, neg: bool) -> Result<Where, VectorStoreError> {
        Ok(match f {
            Filter::All => {
                if neg {
                    Where::False
                } else {
                    Where::True
                }
            }
            Filter::Not(inner) => self.node(inner, !neg)?,
            Filter::And(fs) | Filter::Or(fs) => {
                let parts = fs
                    .iter()
                    .map(|x| self.node(x, neg))
                    .collect::<Result<Vec<_>, _>>()?;
                // De Morgan: a negated `and` is an `or` of negations.
                if matches!(f, Filter::And(_)) != neg {
                    Where::and(parts)
                } else {
                    Where::or(parts)
                }
            }
            Filter::Exists { key } => self.exists(key, neg),
            Filter::In {
                key,
                values,
                negated,
            } => {
                if *negated {
                    // `nin`: the key present and none of the values.
                    if neg {
                        Where::or(vec![
                            self.exists(key, true),
                            self.any_of(key, values, false),
                        ])
                    } else {
                        Where::and(vec![
                            self.exists(key, false),
                            self.any_of(key, values, true),
                        ])
                    }
                } else {
                    self.any_of(key, values, neg)
                }
            }
            Filter::Cmp { key, op, value } => self.cmp(key, *op, value, neg)?,
        })
    }

    /// Some tag of `key` (`neg`: none).
    fn exists(&self, key: &str, neg: bool) -> Where {
        let tags = ['s', 'n', 'b', 'x'];
        if neg {
            Where::and(
                tags.iter()
                    .map(|&t| Where::op(KEYS, "$not_contains", json!(tag(t, key))))
                    .collect(),
            )
        } else {
            Where::or(
                tags.iter()
                    .map(|&t| Where::op(KEYS, "$contains", json!(tag(t, key))))
                    .collect(),
            )
        }
    }

    /// The value of `key` has the kind `kind` (`neg`: the key is absent or of another kind).
    fn is_kind(&self, kind: char, key: &str, neg: bool) -> Where {
        let op = if neg { "$not_contains" } else { "$contains" };
        Where::op(KEYS, op, json!(tag(kind, key)))
    }

    /// `key` equals one of `values` (`neg`: it does not, or is absent).
    fn any_of(&self, key: &str, values: &[FilterValue], neg: bool) -> Where {
        // Chroma's `$in` wants one type per list.
        let (mut strs, mut nums, mut bools, mut dates) = (vec![], vec![], vec![], vec![]);
        for v in values {
            match v {
                FilterValue::Str(s) => strs.push(json!(s)),
                // No stored number is NaN or infinite: such a value equals nothing.
                FilterValue::Num(n) if n.is_finite() => nums.push(float(*n)),
                FilterValue::Num(_) => {}
                FilterValue::Bool(b) => bools.push(json!(b)),
                FilterValue::Date { epoch, .. } => dates.push(float(*epoch)),
            }
        }
        let f = field(key);
        let df = date_field(key);
        let op = if neg { "$nin" } else { "$in" };
        let parts: Vec<Where> = [(&f, strs), (&f, nums), (&f, bools), (&df, dates)]
            .into_iter()
            .filter(|(_, vs)| !vs.is_empty())
            .map(|(field, vs)| Where::op(field, op, Value::Array(vs)))
            .collect();
        if neg {
            Where::and(parts)
        } else {
            Where::or(parts)
        }
    }

    fn cmp(
        &self,
        key: &str,
        op: CmpOp,
        value: &FilterValue,
        neg: bool,
    ) -> Result<Where, VectorStoreError> {
        let f = field(key);
        Ok(match (op, value) {
            (CmpOp::Eq, FilterValue::Str(s)) => {
                Where::op(&f, if neg { "$ne" } else { "$eq" }, json!(s))
            }
            (CmpOp::Eq, FilterValue::Bool(b)) => {
                Where::op(&f, if neg { "$ne" } else { "$eq" }, json!(b))
            }
            (CmpOp::Eq, FilterValue::Date { epoch, .. }) => Where::op(
                &date_field(key),
                if neg { "$ne" } else { "$eq" },
                float(*epoch),
            ),
            (CmpOp::Eq, FilterValue::Num(n)) if n.is_finite() => {
                Where::op(&f, if neg { "$ne" } else { "$eq" }, float(*n))
            }
            // Ne: a value of the same kind, and not equal.
            (CmpOp::Ne, v) if !matches!(v, FilterValue::Num(n) if !n.is_finite()) => {
                let kind = match v {
                    FilterValue::Str(_) => 's',
                    FilterValue::Num(_) => 'n',
                    FilterValue::Bool(_) => 'b',
                    FilterValue::Date { .. } => 'd',
                };
                let eq = self.cmp(key, CmpOp::Eq, v, !neg)?;
                if neg {
                    Where::or(vec![self.is_kind(kind, key, true), eq])
                } else {
                    Where::and(vec![self.is_kind(kind, key, false), eq])
                }
            }
            // A NaN or infinite number: every stored number compares the same way with it
            // (NaN with none).
            (op, FilterValue::Num(n)) if !n.is_finite() => {
                let ord = if n.is_nan() {
                    None
                } else if *n > 0.0 {
                    Some(Ordering::Less)
                } else {
                    Some(Ordering::Greater)
                };
                match ord {
                    Some(o) if holds(op, o) => self.is_kind('n', key, neg),
                    _ if neg => Where::True,
                    _ => Where::False,
                }
            }
            (op, FilterValue::Num(n)) => {
                debug_assert!(op.is_range());
                self.range('n', &f, op, float(*n), key, neg)
            }
            (op, FilterValue::Date { epoch, .. }) => {
                self.range('d', &date_field(key), op, float(*epoch), key, neg)
            }
            (op, FilterValue::Bool(b)) => {
                // Booleans order false < true: the range is a set of booleans.
                let set: Vec<Value> = [false, true]
                    .into_iter()
                    .filter(|x| holds(op, x.cmp(b)))
                    .map(Value::Bool)
                    .collect();
                if set.is_empty() {
                    if neg {
                        Where::True
                    } else {
                        Where::False
                    }
                } else {
                    Where::op(&f, if neg { "$nin" } else { "$in" }, Value::Array(set))
                }
            }
            (op, FilterValue::Str(_)) => {
                return Err(VectorStoreError::unsupported(
                    self.store,
                    format!(
                        "the filter `{}` (Chroma orders only numbers; a range on a string \
                         works when the bound is an ISO-8601 date)",
                        Filter::Cmp {
                            key: key.to_string(),
                            op,
                            value: value.clone(),
                        }
                    ),
                ))
            }
        })
    }

    /// A range on the float `field`; `kind` is the tag a comparable value has.
    fn range(
        &self,
        kind: char,
        field: &str,
        op: CmpOp,
        bound: Value,
        key: &str,
        neg: bool,
    ) -> Where {
        if neg {
            Where::or(vec![
                self.is_kind(kind, key, true),
                Where::op(field, negate_range(op).mongo(), bound),
            ])
        } else {
            Where::op(field, op.mongo(), bound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(f: &str) -> Where {
        compile("chroma:t", &Filter::parse(&[f]).unwrap()).unwrap()
    }

    #[test]
    fn plain_forms() {
        assert_eq!(c("lang = en"), Where::Expr(json!({"lang": {"$eq": "en"}})));
        assert_eq!(
            c("year = 2020"),
            Where::Expr(json!({"year": {"$eq": 2020.0}}))
        );
        assert_eq!(
            c("year > 2020"),
            Where::Expr(json!({"year": {"$gt": 2020.0}}))
        );
        assert_eq!(
            c("not lang = en"),
            Where::Expr(json!({"lang": {"$ne": "en"}}))
        );
        assert_eq!(
            c("lang != en"),
            Where::Expr(json!({"$and": [
                {"cairn:keys": {"$contains": "s:lang"}},
                {"lang": {"$ne": "en"}}
            ]}))
        );
        assert_eq!(
            c("p > 2021-03-01"),
            Where::Expr(json!({"cairn:date:p": {"$gt": 1614556800.0}}))
        );
        assert_eq!(
            compile("s", &Filter::All).unwrap(),
            Where::True,
            "no where clause at all"
        );
    }

    #[test]
    fn negation_goes_down_to_the_atoms() {
        assert_eq!(
            c("not (year > 2020)"),
            Where::Expr(json!({"$or": [
                {"cairn:keys": {"$not_contains": "n:year"}},
                {"year": {"$lte": 2020.0}}
            ]}))
        );
        assert_eq!(
            c("not (a = x and b = y)"),
            Where::Expr(json!({"$or": [{"a": {"$ne": "x"}}, {"b": {"$ne": "y"}}]}))
        );
        let Where::Expr(v) = c("not exists extra") else {
            panic!()
        };
        assert_eq!(v["$and"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn mixed_in_lists_split_by_type() {
        let f = Filter::any_of("k", vec!["a".into(), 1.0.into(), true.into()]);
        let Where::Expr(v) = compile("s", &f).unwrap() else {
            panic!()
        };
        assert_eq!(
            v,
            json!({"$or": [
                {"k": {"$in": ["a"]}},
                {"k": {"$in": [1.0]}},
                {"k": {"$in": [true]}}
            ]})
        );
        assert_eq!(
            compile("s", &Filter::any_of("k", vec![])).unwrap(),
            Where::False
        );
    }

    #[test]
    fn constants_fold() {
        let nan = Filter::cmp("k", CmpOp::Eq, f64::NAN);
        assert_eq!(compile("s", &nan).unwrap(), Where::False);
        assert_eq!(
            compile("s", &Filter::Not(Box::new(nan))).unwrap(),
            Where::True
        );
        let below_inf = Filter::cmp("k", CmpOp::Lt, f64::INFINITY);
        assert_eq!(
            compile("s", &below_inf).unwrap(),
            Where::Expr(json!({"cairn:keys": {"$contains": "n:k"}}))
        );
        assert_eq!(
            compile("s", &Filter::cmp("k", CmpOp::Gt, true)).unwrap(),
            Where::False
        );
        assert_eq!(
            compile("s", &Filter::Or(vec![])).unwrap(),
            Where::False,
            "an empty or matches nothing, as Filter::matches says"
        );
    }

    #[test]
    fn string_ranges_are_unsupported_and_name_the_store() {
        let e = compile("chroma:docs", &Filter::cmp("lang", CmpOp::Gt, "en")).unwrap_err();
        assert!(matches!(e, VectorStoreError::Unsupported { .. }));
        assert!(e.to_string().starts_with("chroma:docs: "), "{e}");
        assert!(e.to_string().contains("lang > \"en\""), "{e}");
    }

    #[test]
    fn reserved_keys_are_escaped() {
        assert_eq!(field("lang"), "lang");
        assert_eq!(field(""), "cairn:k:");
        assert_eq!(field("$x"), "cairn:k:$x");
        assert_eq!(field("#document"), "cairn:k:#document");
        assert_eq!(field("chroma:x"), "cairn:k:chroma:x");
        assert_eq!(field("cairn:doc_id"), "cairn:k:cairn:doc_id");
    }
}
