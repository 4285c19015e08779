//! Metadata filters: `key=value` pairs that must all hold.

use crate::types::Metadata;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub equals: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid filter `{input}`: expected key=value (for example kind=markdown)")]
pub struct FilterParseError {
    pub input: String,
}

impl crate::error::Classify for FilterParseError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::InvalidInput
    }
}

impl Filter {
    /// Parses `key=value` strings as given on the command line.
    pub fn parse<S: AsRef<str>>(pairs: &[S]) -> Result<Self, FilterParseError> {
        let mut equals = Vec::new();
        for p in pairs {
            let p = p.as_ref();
            match p.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    equals.push((k.trim().to_string(), v.to_string()))
                }
                _ => {
                    return Err(FilterParseError {
                        input: p.to_string(),
                    })
                }
            }
        }
        Ok(Filter { equals })
    }

    pub fn is_empty(&self) -> bool {
        self.equals.is_empty()
    }

    /// True when every pair matches. Strings compare exactly; other JSON values compare by
    /// their JSON text, so `year=2020` matches both `"2020"` and `2020`.
    pub fn matches(&self, meta: &Metadata) -> bool {
        self.equals.iter().all(|(k, v)| match meta.get(k) {
            Some(serde_json::Value::String(s)) => s == v,
            Some(other) => serde_json::to_string(other).is_ok_and(|s| s == *v),
            None => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let f = Filter::parse(&["kind=markdown", "year=2020"]).unwrap();
        let mut m = Metadata::new();
        m.insert("kind".into(), "markdown".into());
        m.insert("year".into(), 2020.into());
        assert!(f.matches(&m));
        m.insert("kind".into(), "text".into());
        assert!(!f.matches(&m));
    }

    #[test]
    fn rejects_pairs_without_equals() {
        let e = Filter::parse(&["kind"]).unwrap_err();
        assert!(e.to_string().contains("`kind`"));
        assert!(Filter::parse(&["=x"]).is_err());
    }

    #[test]
    fn a_parse_error_is_invalid_input() {
        use crate::error::{Classify, ErrorClass};
        let e = Filter::parse(&["no-equals"]).unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidInput);
    }

    #[test]
    fn missing_key_does_not_match() {
        let f = Filter::parse(&["lang=en"]).unwrap();
        assert!(!f.matches(&Metadata::new()));
    }
}
