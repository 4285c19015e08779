//! Metadata filters: one small language, parsed once (the CLI's `--filter`, the HTTP API's
//! JSON), evaluated here for the embedded index and compiled by each database adapter.
//!
//! Two spellings of the same tree:
//! - text, for the command line: `lang = en and (year >= 2020 or not exists draft)`,
//!   `kind in [markdown, pdf]`, `published < 2024-06-01` (the plain `key=value` of earlier
//!   versions is the same expression);
//! - JSON in the MongoDB style that Chroma, Pinecone and LangChain share:
//!   `{"$and": [{"lang": "en"}, {"year": {"$gte": 2020}}]}`.
//!
//! Semantics, the same on every store:
//! - `eq` / `in` compare typed values: strings exactly, numbers numerically (`2020` equals
//!   `2020.0`), booleans; a string never equals a number.
//! - `gt` / `gte` / `lt` / `lte` compare numbers with numbers, and dates with dates: a bound
//!   that reads as an ISO-8601 date (`2024-06-01`, `2024-06-01T12:00:00Z`) compares metadata
//!   strings that read as dates, by instant.
//! - A predicate on a key the metadata lacks is false, `ne` and `nin` included (they say
//!   "has the key, with another value"); `not` is plain negation, so `not lang = en` also
//!   matches chunks without `lang`.

use crate::types::Metadata;
use serde_json::Value;

/// A filter over chunk metadata. `Filter::default()` matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Filter {
    /// No condition.
    #[default]
    All,
    /// `key op value`.
    Cmp {
        key: String,
        op: CmpOp,
        value: FilterValue,
    },
    /// `key in [values]` (`negated`: `nin`, the key present with none of the values).
    In {
        key: String,
        values: Vec<FilterValue>,
        negated: bool,
    },
    /// The key is present (any value, `null` included).
    Exists {
        key: String,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    /// True for the range operators (`gt`, `gte`, `lt`, `lte`).
    pub fn is_range(self) -> bool {
        matches!(self, CmpOp::Gt | CmpOp::Gte | CmpOp::Lt | CmpOp::Lte)
    }

    /// The MongoDB-style name (`$eq`, `$gte`, ...), as Chroma and Pinecone spell it.
    pub fn mongo(self) -> &'static str {
        match self {
            CmpOp::Eq => "$eq",
            CmpOp::Ne => "$ne",
            CmpOp::Gt => "$gt",
            CmpOp::Gte => "$gte",
            CmpOp::Lt => "$lt",
            CmpOp::Lte => "$lte",
        }
    }

    /// The text-form symbol (`=`, `!=`, `>=`, ...).
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }

    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Gt => ord == Greater,
            CmpOp::Gte => ord != Less,
            CmpOp::Lt => ord == Less,
            CmpOp::Lte => ord != Greater,
        }
    }
}

/// A value in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Str(String),
    Num(f64),
    Bool(bool),
    /// An ISO-8601 date or date-time: `text` as written, `epoch` the instant in seconds since
    /// 1970-01-01T00:00:00Z (dates without a time are midnight UTC). Only range operators
    /// make a date; `eq` on a date string compares the string.
    Date {
        text: String,
        epoch: f64,
    },
}

impl FilterValue {
    /// The value as JSON, as a store holds it (dates as their text).
    pub fn to_json(&self) -> Value {
        match self {
            FilterValue::Str(s) | FilterValue::Date { text: s, .. } => Value::String(s.clone()),
            FilterValue::Num(n) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            FilterValue::Bool(b) => Value::Bool(*b),
        }
    }

    /// A range bound from JSON: a number, or a string that reads as a date.
    pub(crate) fn range_bound(v: &Value) -> Option<FilterValue> {
        match v {
            Value::Number(n) => n.as_f64().map(FilterValue::Num),
            Value::String(s) => parse_date(s).map(|epoch| FilterValue::Date {
                text: s.clone(),
                epoch,
            }),
            _ => None,
        }
    }

    /// An `eq`/`in` value from JSON (strings, numbers, booleans).
    pub(crate) fn scalar(v: &Value) -> Option<FilterValue> {
        match v {
            Value::String(s) => Some(FilterValue::Str(s.clone())),
            Value::Number(n) => n.as_f64().map(FilterValue::Num),
            Value::Bool(b) => Some(FilterValue::Bool(*b)),
            _ => None,
        }
    }

    /// How a stored value compares with this one, when the two are comparable.
    fn compare(&self, stored: &Value) -> Option<std::cmp::Ordering> {
        match (self, stored) {
            (FilterValue::Str(a), Value::String(b)) => Some(b.as_str().cmp(a.as_str())),
            (FilterValue::Num(a), Value::Number(b)) => b.as_f64()?.partial_cmp(a),
            (FilterValue::Bool(a), Value::Bool(b)) => Some(b.cmp(a)),
            (FilterValue::Date { epoch, .. }, Value::String(b)) => {
                parse_date(b)?.partial_cmp(epoch)
            }
            _ => None,
        }
    }
}

impl From<&str> for FilterValue {
    fn from(s: &str) -> Self {
        FilterValue::Str(s.to_string())
    }
}
impl From<String> for FilterValue {
    fn from(s: String) -> Self {
        FilterValue::Str(s)
    }
}
impl From<f64> for FilterValue {
    fn from(n: f64) -> Self {
        FilterValue::Num(n)
    }
}
impl From<i64> for FilterValue {
    fn from(n: i64) -> Self {
        FilterValue::Num(n as f64)
    }
}
impl From<bool> for FilterValue {
    fn from(b: bool) -> Self {
        FilterValue::Bool(b)
    }
}

impl Filter {
    pub fn eq(key: impl Into<String>, value: impl Into<FilterValue>) -> Self {
        Filter::cmp(key, CmpOp::Eq, value)
    }

    pub fn cmp(key: impl Into<String>, op: CmpOp, value: impl Into<FilterValue>) -> Self {
        Filter::Cmp {
            key: key.into(),
            op,
            value: value.into(),
        }
    }

    pub fn exists(key: impl Into<String>) -> Self {
        Filter::Exists { key: key.into() }
    }

    /// `key in values`.
    pub fn any_of(key: impl Into<String>, values: Vec<FilterValue>) -> Self {
        Filter::In {
            key: key.into(),
            values,
            negated: false,
        }
    }

    /// Every filter holds; `All`s drop out, nested `And`s flatten, one filter stays itself.
    pub fn and(filters: impl IntoIterator<Item = Filter>) -> Self {
        let mut parts = Vec::new();
        for f in filters {
            match f {
                Filter::All => {}
                Filter::And(inner) => parts.extend(inner),
                f => parts.push(f),
            }
        }
        match parts.len() {
            0 => Filter::All,
            1 => parts.pop().expect("one"),
            _ => Filter::And(parts),
        }
    }

    /// True for the filter that matches everything.
    pub fn is_empty(&self) -> bool {
        matches!(self, Filter::All)
    }

    /// Whether chunk metadata satisfies the filter (the reference every store agrees with).
    pub fn matches(&self, meta: &Metadata) -> bool {
        match self {
            Filter::All => true,
            Filter::Cmp { key, op, value } => meta
                .get(key)
                .and_then(|v| value.compare(v))
                .is_some_and(|ord| op.holds(ord)),
            Filter::In {
                key,
                values,
                negated,
            } => match meta.get(key) {
                None => false,
                Some(v) => {
                    let hit = values
                        .iter()
                        .any(|x| x.compare(v) == Some(std::cmp::Ordering::Equal));
                    hit != *negated
                }
            },
            Filter::Exists { key } => meta.contains_key(key),
            Filter::And(fs) => fs.iter().all(|f| f.matches(meta)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(meta)),
            Filter::Not(f) => !f.matches(meta),
        }
    }

    /// Every metadata key the filter names, once each, in order of appearance.
    pub fn keys(&self) -> Vec<&str> {
        fn walk<'a>(f: &'a Filter, out: &mut Vec<&'a str>) {
            match f {
                Filter::All => {}
                Filter::Cmp { key, .. } | Filter::In { key, .. } | Filter::Exists { key } => {
                    if !out.contains(&key.as_str()) {
                        out.push(key)
                    }
                }
                Filter::And(fs) | Filter::Or(fs) => fs.iter().for_each(|f| walk(f, out)),
                Filter::Not(f) => walk(f, out),
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    /// The MongoDB-style JSON form ([`Filter::from_json`] reads it back).
    pub fn to_json(&self) -> Value {
        use serde_json::json;
        match self {
            Filter::All => json!({}),
            Filter::Cmp { key, op, value } => json!({ key: { op.mongo(): value.to_json() } }),
            Filter::In {
                key,
                values,
                negated,
            } => {
                let op = if *negated { "$nin" } else { "$in" };
                let vs: Vec<Value> = values.iter().map(FilterValue::to_json).collect();
                json!({ key: { op: vs } })
            }
            Filter::Exists { key } => json!({ key: { "$exists": true } }),
            Filter::And(fs) => {
                json!({ "$and": fs.iter().map(Filter::to_json).collect::<Vec<_>>() })
            }
            Filter::Or(fs) => json!({ "$or": fs.iter().map(Filter::to_json).collect::<Vec<_>>() }),
            Filter::Not(f) => json!({ "$not": f.to_json() }),
        }
    }
}

impl std::fmt::Display for Filter {
    /// The text form, which [`Filter::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn quote(s: &str) -> String {
            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
        }
        fn value(v: &FilterValue) -> String {
            match v {
                FilterValue::Str(s) => quote(s),
                FilterValue::Num(n) => format!("{n}"),
                FilterValue::Bool(b) => format!("{b}"),
                FilterValue::Date { text, .. } => text.clone(),
            }
        }
        fn key(k: &str) -> String {
            if crate::filter_parse::is_plain_key(k) {
                k.to_string()
            } else {
                quote(k)
            }
        }
        match self {
            Filter::All => write!(f, "all"),
            Filter::Cmp {
                key: k,
                op,
                value: v,
            } => {
                write!(f, "{} {} {}", key(k), op.symbol(), value(v))
            }
            Filter::In {
                key: k,
                values,
                negated,
            } => {
                let vs: Vec<String> = values.iter().map(value).collect();
                let op = if *negated { "not in" } else { "in" };
                write!(f, "{} {op} [{}]", key(k), vs.join(", "))
            }
            Filter::Exists { key: k } => write!(f, "exists {}", key(k)),
            Filter::And(fs) | Filter::Or(fs) => {
                let sep = if matches!(self, Filter::And(_)) {
                    " and "
                } else {
                    " or "
                };
                let parts: Vec<String> = fs.iter().map(|x| format!("({x})")).collect();
                write!(f, "{}", parts.join(sep))
            }
            Filter::Not(x) => write!(f, "not ({x})"),
        }
    }
}

/// Seconds since the epoch of an ISO-8601 date (`YYYY-MM-DD`) or date-time
/// (`YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z`, `±HH:MM` or nothing for UTC; a space may stand for
/// the `T`). `None` for anything else.
pub fn parse_date(s: &str) -> Option<f64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) as f64 * 86_400.0;
    if b.len() == 10 {
        return Some(secs);
    }
    if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
        return None;
    }
    if b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (hh, mm) = (num(11..13)?, num(14..16)?);
    if hh > 23 || mm > 59 {
        return None;
    }
    secs += (hh * 3600 + mm * 60) as f64;
    let mut i = 16;
    if b.get(i) == Some(&b':') {
        let ss = num(i + 1..i + 3)?;
        if ss > 60 {
            return None;
        }
        secs += ss as f64;
        i += 3;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut j = start;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            if j == start {
                return None;
            }
            let frac: f64 = format!("0.{}", std::str::from_utf8(&b[start..j]).ok()?)
                .parse()
                .ok()?;
            secs += frac;
            i = j;
        }
    }
    match b.get(i) {
        None => Some(secs),
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => Some(secs),
        Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 3600 + om * 60) as f64;
            Some(if sign == b'+' { secs - off } else { secs + off })
        }
        _ => None,
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: Value) -> Metadata {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn typed_equality() {
        let m = meta(json!({"lang": "en", "year": 2020, "draft": false, "n": "2020"}));
        assert!(Filter::eq("lang", "en").matches(&m));
        assert!(Filter::eq("year", 2020.0).matches(&m));
        assert!(
            !Filter::eq("n", 2020.0).matches(&m),
            "a string is not a number"
        );
        assert!(Filter::eq("draft", false).matches(&m));
        assert!(!Filter::eq("lang", "de").matches(&m));
        assert!(!Filter::eq("missing", "x").matches(&m));
    }

    #[test]
    fn ne_and_nin_need_the_key_but_not_does_not() {
        let m = meta(json!({"lang": "en"}));
        assert!(!Filter::cmp("other", CmpOp::Ne, "x").matches(&m));
        assert!(Filter::cmp("lang", CmpOp::Ne, "de").matches(&m));
        let nin = Filter::In {
            key: "other".into(),
            values: vec!["x".into()],
            negated: true,
        };
        assert!(!nin.matches(&m));
        assert!(Filter::Not(Box::new(Filter::eq("other", "x"))).matches(&m));
    }

    #[test]
    fn ranges_on_numbers_and_dates() {
        let m = meta(json!({"year": 2021, "published": "2024-06-01T10:00:00+02:00"}));
        assert!(Filter::cmp("year", CmpOp::Gte, 2021.0).matches(&m));
        assert!(!Filter::cmp("year", CmpOp::Gt, 2021.0).matches(&m));
        let d = |s: &str| FilterValue::Date {
            text: s.into(),
            epoch: parse_date(s).unwrap(),
        };
        // 10:00+02:00 is 08:00Z.
        assert!(Filter::cmp("published", CmpOp::Lt, d("2024-06-01T09:00:00Z")).matches(&m));
        assert!(Filter::cmp("published", CmpOp::Gt, d("2024-06-01")).matches(&m));
        assert!(!Filter::cmp("year", CmpOp::Gt, d("2020-01-01")).matches(&m));
    }

    #[test]
    fn dates_parse_to_the_right_instant() {
        assert_eq!(parse_date("1970-01-01"), Some(0.0));
        assert_eq!(parse_date("2000-03-01"), Some(951_868_800.0));
        assert_eq!(parse_date("2024-02-29T00:00:01Z"), Some(1_709_164_801.0));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0.0));
        assert_eq!(parse_date("1970-01-01 00:00:00.5"), Some(0.5));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "20240101",
            "2024-01-01T",
            "x",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn and_flattens_and_drops_all() {
        let f = Filter::and([Filter::All, Filter::eq("a", "1")]);
        assert_eq!(f, Filter::eq("a", "1"));
        assert_eq!(Filter::and([]), Filter::All);
        let g = Filter::and([f.clone(), Filter::and([f.clone(), Filter::exists("b")])]);
        assert!(matches!(g, Filter::And(ref v) if v.len() == 3));
        assert_eq!(g.keys(), vec!["a", "b"]);
    }
}
