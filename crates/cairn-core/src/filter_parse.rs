//! Reading [`Filter`]s: the text form of the command line and the MongoDB-style JSON of the
//! HTTP API. Both end in the same tree, so a store compiles one thing.
//!
//! Text grammar (keywords are case-insensitive):
//! ```text
//! expr  := and ("or" and)*
//! and   := unary ("and" unary)*
//! unary := "not" unary | "(" expr ")" | "exists" key | key op value | key ["not"] "in" list
//! op    := "=" | "==" | "!=" | ">" | ">=" | "<" | "<="
//! list  := "[" value ("," value)* "]"
//! value := "quoted" | 'quoted' | number | true | false | bare word
//! ```
//! A bare value that reads as a number is a number, `true`/`false` a boolean, anything else
//! a string; quote it to keep it a string (`"2020"`). After a range operator a value that
//! reads as an ISO-8601 date is a date. One exception keeps the old `key=value` form
//! working for values with spaces or symbols: an input that does not parse as an expression
//! but has a plain key before its first `=` is `key = "everything after it"`.

use crate::filter::{parse_date, CmpOp, Filter, FilterValue};
use serde_json::Value;

/// A filter that does not parse: the input and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid filter `{input}`: {message}")]
pub struct FilterParseError {
    pub input: String,
    pub message: String,
}

impl crate::error::Classify for FilterParseError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::InvalidInput
    }
}

const HINT: &str = "write key=value, an expression such as `lang = en and year >= 2020`, \
                    or MongoDB-style JSON such as {\"year\": {\"$gte\": 2020}}";

/// A key that needs no quotes: letters, digits and `_ . - / :`, and not a keyword.
pub(crate) fn is_plain_key(k: &str) -> bool {
    plain_chars(k) && !is_keyword(k)
}

/// A key the old `key=value` form accepts: anything not blank without the characters the
/// expression form gives meaning to (so `year >= soon` stays an error, not a key `year >`).
fn legacy_key(k: &str) -> bool {
    !k.is_empty() && !k.contains(|c: char| "()[]\"'<>!=,".contains(c))
}

fn plain_chars(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':'))
}

fn is_keyword(w: &str) -> bool {
    ["and", "or", "not", "in", "exists"]
        .iter()
        .any(|k| w.eq_ignore_ascii_case(k))
}

impl Filter {
    /// Parses filters as given on the command line (one per `--filter`, all of which must
    /// hold): each is the text form or, when it starts with `{`, the JSON form.
    pub fn parse<S: AsRef<str>>(inputs: &[S]) -> Result<Self, FilterParseError> {
        let mut parts = Vec::new();
        for input in inputs {
            parts.push(Filter::parse_one(input.as_ref())?);
        }
        Ok(Filter::and(parts))
    }

    /// Parses one filter, text or JSON.
    pub fn parse_one(input: &str) -> Result<Self, FilterParseError> {
        let err = |message: String| FilterParseError {
            input: input.to_string(),
            message,
        };
        if input.trim_start().starts_with('{') {
            let v: Value = serde_json::from_str(input)
                .map_err(|e| err(format!("not valid JSON ({e}); {HINT}")))?;
            return Filter::from_json(&v).map_err(|m| err(m.message));
        }
        if input.trim().is_empty() {
            return Err(err(format!("it is empty; {HINT}")));
        }
        match Parser::new(input).and_then(|mut p| p.all()) {
            Ok(f) => Ok(f),
            Err(message) => match input.split_once('=') {
                // The old form: `title=Hello, World!`, `in=x`, `my key=x` are one equality.
                Some((k, v)) if legacy_key(k.trim()) && !v.starts_with('=') => Ok(Filter::Cmp {
                    key: k.trim().to_string(),
                    op: CmpOp::Eq,
                    value: bare_value(v, false),
                }),
                _ => Err(err(format!("{message}; {HINT}"))),
            },
        }
    }

    /// Reads the MongoDB-style JSON form: `{"key": value}` (equality), `{"key": {"$op": v}}`
    /// with `$eq $ne $gt $gte $lt $lte $in $nin $exists`, and `$and` / `$or` (arrays) and
    /// `$not` (one filter). Several keys in one object must all hold.
    pub fn from_json(v: &Value) -> Result<Self, FilterParseError> {
        json_filter(v).map_err(|message| FilterParseError {
            input: v.to_string(),
            message,
        })
    }
}

fn json_filter(v: &Value) -> Result<Filter, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("expected a JSON object, found {v}"))?;
    let mut parts = Vec::new();
    for (k, val) in obj {
        parts.push(match k.as_str() {
            "$and" | "$or" => {
                let arr = val
                    .as_array()
                    .ok_or_else(|| format!("`{k}` takes an array of filters"))?;
                if arr.is_empty() {
                    return Err(format!("`{k}` has no filters"));
                }
                let fs = arr.iter().map(json_filter).collect::<Result<Vec<_>, _>>()?;
                if k == "$and" {
                    Filter::And(fs)
                } else {
                    Filter::Or(fs)
                }
            }
            "$not" => Filter::Not(Box::new(json_filter(val)?)),
            op if op.starts_with('$') => {
                return Err(format!(
                    "unknown operator `{op}` at the top level (use $and, $or, $not)"
                ))
            }
            key => json_condition(key, val)?,
        });
    }
    Ok(match parts.len() {
        1 => parts.pop().expect("one"),
        _ => Filter::and(parts),
    })
}

fn json_condition(key: &str, val: &Value) -> Result<Filter, String> {
    let Some(ops) = val.as_object() else {
        let value = FilterValue::scalar(val)
            .ok_or_else(|| format!("`{key}`: {val} is not a string, number or boolean"))?;
        return Ok(Filter::Cmp {
            key: key.into(),
            op: CmpOp::Eq,
            value,
        });
    };
    if ops.is_empty() {
        return Err(format!("`{key}` has an empty condition"));
    }
    let mut parts = Vec::new();
    for (op, arg) in ops {
        let cmp = match op.as_str() {
            "$eq" => Some(CmpOp::Eq),
            "$ne" => Some(CmpOp::Ne),
            "$gt" => Some(CmpOp::Gt),
            "$gte" => Some(CmpOp::Gte),
            "$lt" => Some(CmpOp::Lt),
            "$lte" => Some(CmpOp::Lte),
            _ => None,
        };
        parts.push(match (cmp, op.as_str()) {
            (Some(c), _) if c.is_range() => Filter::Cmp {
                key: key.into(),
                op: c,
                value: FilterValue::range_bound(arg).ok_or_else(|| {
                    format!("`{key}`: `{op}` compares numbers or ISO-8601 dates, not {arg}")
                })?,
            },
            (Some(c), _) => Filter::Cmp {
                key: key.into(),
                op: c,
                value: FilterValue::scalar(arg)
                    .ok_or_else(|| format!("`{key}`: {arg} is not a string, number or boolean"))?,
            },
            (None, "$in" | "$nin") => {
                let arr = arg
                    .as_array()
                    .ok_or_else(|| format!("`{key}`: `{op}` takes an array of values"))?;
                let values = arr
                    .iter()
                    .map(|x| {
                        FilterValue::scalar(x).ok_or_else(|| {
                            format!("`{key}`: {x} is not a string, number or boolean")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if values.is_empty() {
                    return Err(format!("`{key}`: `{op}` has no values"));
                }
                Filter::In {
                    key: key.into(),
                    values,
                    negated: op == "$nin",
                }
            }
            (None, "$exists") => match arg {
                Value::Bool(true) => Filter::exists(key),
                Value::Bool(false) => Filter::Not(Box::new(Filter::exists(key))),
                _ => return Err(format!("`{key}`: `$exists` takes true or false")),
            },
            (None, other) => {
                return Err(format!(
                    "`{key}`: unknown operator `{other}` (use $eq $ne $gt $gte $lt $lte $in \
                     $nin $exists)"
                ))
            }
        });
    }
    Ok(Filter::and(parts))
}

// ---- the text form -------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Op(CmpOp),
    Open,
    Close,
    LBracket,
    RBracket,
    Comma,
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn new(input: &str) -> Result<Self, String> {
        Ok(Parser {
            toks: lex(input)?,
            at: 0,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn all(&mut self) -> Result<Filter, String> {
        let f = self.or()?;
        match self.peek() {
            None => Ok(f),
            Some(t) => Err(format!("unexpected {} after a complete filter", show(t))),
        }
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            Filter::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut parts = vec![self.unary()?];
        while self.keyword("and") {
            self.at += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            Filter::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.keyword("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.keyword("exists") {
            self.at += 1;
            return Ok(Filter::exists(self.key()?));
        }
        if self.peek() == Some(&Tok::Open) {
            self.at += 1;
            let f = self.or()?;
            return match self.next() {
                Some(Tok::Close) => Ok(f),
                _ => Err("a `(` is not closed".into()),
            };
        }
        let key = self.key()?;
        match self.next() {
            Some(Tok::Op(op)) => {
                let value = self.value(op.is_range())?;
                if op.is_range() && !matches!(value, FilterValue::Num(_) | FilterValue::Date { .. })
                {
                    return Err(format!(
                        "`{key} {}` compares numbers or ISO-8601 dates (2024-06-01)",
                        op.symbol()
                    ));
                }
                Ok(Filter::Cmp { key, op, value })
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => self.list(key, false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") && self.keyword("in") => {
                self.at += 1;
                self.list(key, true)
            }
            Some(t) => Err(format!(
                "expected an operator (= != > >= < <= in) after `{key}`, found {}",
                show(&t)
            )),
            None => Err(format!(
                "expected an operator (= != > >= < <= in) after `{key}`"
            )),
        }
    }

    fn key(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) if !is_keyword(&w) => Ok(w),
            Some(Tok::Quoted(q)) if !q.is_empty() => Ok(q),
            Some(t) => Err(format!("expected a metadata key, found {}", show(&t))),
            None => Err("expected a metadata key at the end".into()),
        }
    }

    fn value(&mut self, range: bool) -> Result<FilterValue, String> {
        match self.next() {
            Some(Tok::Quoted(q)) => Ok(FilterValue::Str(q)),
            Some(Tok::Word(w)) => Ok(bare_value(&w, range)),
            Some(t) => Err(format!("expected a value, found {}", show(&t))),
            None => Err("expected a value at the end".into()),
        }
    }

    fn list(&mut self, key: String, negated: bool) -> Result<Filter, String> {
        if self.next() != Some(Tok::LBracket) {
            return Err(format!("`{key} in` takes a list such as [a, b]"));
        }
        let mut values = Vec::new();
        loop {
            values.push(self.value(false)?);
            match self.next() {
                Some(Tok::Comma) => continue,
                Some(Tok::RBracket) => break,
                _ => return Err(format!("the list after `{key} in` is not closed with `]`")),
            }
        }
        Ok(Filter::In {
            key,
            values,
            negated,
        })
    }
}

fn bare_value(w: &str, range: bool) -> FilterValue {
    if w.eq_ignore_ascii_case("true") {
        return FilterValue::Bool(true);
    }
    if w.eq_ignore_ascii_case("false") {
        return FilterValue::Bool(false);
    }
    if let Ok(n) = w.parse::<f64>() {
        if n.is_finite() && !w.contains(|c: char| c.is_ascii_alphabetic()) {
            return FilterValue::Num(n);
        }
    }
    if range {
        if let Some(epoch) = parse_date(w) {
            return FilterValue::Date {
                text: w.to_string(),
                epoch,
            };
        }
    }
    FilterValue::Str(w.to_string())
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Quoted(q) => format!("{q:?}"),
        Tok::Op(op) => format!("`{}`", op.symbol()),
        Tok::Open => "`(`".into(),
        Tok::Close => "`)`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::Comma => "`,`".into(),
    }
}

fn lex(input: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut it = input.char_indices().peekable();
    while let Some(&(_, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        let single = match c {
            '(' => Some(Tok::Open),
            ')' => Some(Tok::Close),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = single {
            it.next();
            toks.push(t);
            continue;
        }
        match c {
            '"' | '\'' => {
                it.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, d)) = it.next() {
                    match d {
                        '\\' => match it.next() {
                            Some((_, e)) => s.push(e),
                            None => break,
                        },
                        d if d == c => {
                            closed = true;
                            break;
                        }
                        d => s.push(d),
                    }
                }
                if !closed {
                    return Err(format!("a quoted string starting with {c} is not closed"));
                }
                toks.push(Tok::Quoted(s));
            }
            '=' | '!' | '<' | '>' => {
                it.next();
                let eq_next = it.peek().is_some_and(|&(_, d)| d == '=');
                let op = match (c, eq_next) {
                    ('=', _) => CmpOp::Eq,
                    ('!', true) => CmpOp::Ne,
                    ('!', false) => return Err("`!` must be followed by `=`".into()),
                    ('<', true) => CmpOp::Lte,
                    ('<', false) => CmpOp::Lt,
                    (_, true) => CmpOp::Gte,
                    (_, false) => CmpOp::Gt,
                };
                if eq_next {
                    it.next();
                }
                toks.push(Tok::Op(op));
            }
            _ => {
                let mut w = String::new();
                while let Some(&(_, d)) = it.peek() {
                    if d.is_whitespace() || "()[],=!<>\"'".contains(d) {
                        break;
                    }
                    w.push(d);
                    it.next();
                }
                toks.push(Tok::Word(w));
            }
        }
    }
    Ok(toks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Metadata;
    use serde_json::json;

    fn meta(v: Value) -> Metadata {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_old_form_still_parses() {
        assert_eq!(
            Filter::parse(&["kind=markdown"]).unwrap(),
            Filter::eq("kind", "markdown")
        );
        assert_eq!(
            Filter::parse(&["year=2020"]).unwrap(),
            Filter::eq("year", 2020.0)
        );
        assert_eq!(
            Filter::parse(&["title=Hello, World!"]).unwrap(),
            Filter::eq("title", "Hello, World!")
        );
        let two = Filter::parse(&["a=1", "b=x"]).unwrap();
        assert_eq!(
            two,
            Filter::And(vec![Filter::eq("a", 1.0), Filter::eq("b", "x")])
        );
        assert_eq!(Filter::parse::<&str>(&[]).unwrap(), Filter::All);
    }

    #[test]
    fn expressions_parse_with_precedence() {
        let f = Filter::parse_one("lang = en and (year >= 2020 or not exists draft)").unwrap();
        let m = meta(json!({"lang": "en", "year": 2019}));
        assert!(f.matches(&m));
        let m2 = meta(json!({"lang": "en", "year": 2019, "draft": true}));
        assert!(!f.matches(&m2));
        let g = Filter::parse_one("a = 1 or b = 2 and c = 3").unwrap();
        assert!(matches!(&g, Filter::Or(v) if v.len() == 2));
        let h = Filter::parse_one("kind not in [pdf, 'docx'] AND published < 2024-06-01").unwrap();
        assert!(h.matches(&meta(json!({"kind": "md", "published": "2023-01-01"}))));
        assert!(!h.matches(&meta(json!({"kind": "pdf", "published": "2023-01-01"}))));
    }

    #[test]
    fn json_form_reads_and_round_trips() {
        let v = json!({"$and": [{"lang": "en"}, {"year": {"$gte": 2020, "$lt": 2030}},
                                {"$not": {"kind": {"$in": ["pdf"]}}}, {"tag": {"$exists": true}}]});
        let f = Filter::from_json(&v).unwrap();
        let m = meta(json!({"lang": "en", "year": 2021, "kind": "md", "tag": null}));
        assert!(f.matches(&m));
        assert_eq!(Filter::from_json(&f.to_json()).unwrap(), f);
        let text = Filter::parse_one(&f.to_string()).unwrap();
        assert_eq!(text, f);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (input, needle) in [
            ("kind", "expected an operator"),
            ("=x", "expected a metadata key"),
            ("year >= soon", "compares numbers or ISO-8601 dates"),
            ("(a = 1", "not closed"),
            ("a in [1, 2", "not closed"),
            ("{\"a\": {\"$regex\": \"x\"}}", "unknown operator `$regex`"),
            ("{\"a\": [1]}", "not a string, number or boolean"),
            ("{oops", "not valid JSON"),
            ("", "empty"),
        ] {
            let e = Filter::parse(&[input]).unwrap_err();
            assert!(e.to_string().contains(needle), "{input}: {e}");
            assert_eq!(e.input, input);
        }
    }

    #[test]
    fn quoting_keeps_strings() {
        assert_eq!(
            Filter::parse_one("n = \"2020\"").unwrap(),
            Filter::eq("n", "2020")
        );
        assert_eq!(
            Filter::parse_one("\"my key\" = 'it\\'s'").unwrap(),
            Filter::eq("my key", "it's")
        );
    }
}
