//! Structured output: a JSON schema (from a file or a Rust type via schemars), the provider's
//! native mode (OpenAI `json_schema`, strict when the schema allows it; Gemini
//! `responseJsonSchema`; Anthropic tool forcing; Ollama `format`), the reply validated, one
//! repair round that sends the validation errors back, then a typed error holding the reply.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::LlmError;
use crate::model::ChatModel;
use crate::types::{ChatRequest, ChatResponse, JsonSchemaFormat, Message};

/// A schema ready to send: its name, and whether OpenAI's strict mode accepts it.
pub fn format_for(name: &str, schema: Value) -> JsonSchemaFormat {
    let strict = strict_compatible(&schema);
    JsonSchemaFormat {
        name: name.to_string(),
        schema,
        strict,
    }
}

/// The schema of a Rust type.
pub fn format_of<T: schemars::JsonSchema>() -> JsonSchemaFormat {
    let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
    let name = T::schema_name().to_string();
    format_for(&name, schema)
}

/// OpenAI strict mode needs every object closed (`additionalProperties: false`) with every
/// property required; other schemas go non-strict rather than being rejected.
pub fn strict_compatible(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => {
            let is_object = m.get("type") == Some(&Value::String("object".into()))
                || m.contains_key("properties");
            if is_object {
                if m.get("additionalProperties") != Some(&Value::Bool(false)) {
                    return false;
                }
                let props: Vec<&String> = m
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().collect())
                    .unwrap_or_default();
                let required: Vec<&str> = m
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if props.iter().any(|p| !required.contains(&p.as_str())) {
                    return false;
                }
            }
            m.values().all(strict_compatible)
        }
        Value::Array(a) => a.iter().all(strict_compatible),
        _ => true,
    }
}

/// The JSON in a reply: the whole text, or the body of a ```json fence around it.
pub fn extract_json(text: &str) -> Result<Value, String> {
    let t = text.trim();
    let inner = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|s| s.trim_end().strip_suffix("```"))
        .unwrap_or(t);
    serde_json::from_str(inner.trim()).map_err(|e| format!("the reply is not JSON: {e}"))
}

/// Every way `value` breaks `schema`, one line each; empty when it conforms.
pub fn validate(schema: &Value, value: &Value) -> Result<Vec<String>, LlmError> {
    let v = jsonschema::validator_for(schema)
        .map_err(|e| LlmError::InvalidRequest(format!("the JSON schema is invalid: {e}")))?;
    Ok(v.iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("at {at}: {e}")
            }
        })
        .collect())
}

fn check(format: &JsonSchemaFormat, resp: &ChatResponse) -> Result<Value, String> {
    let value = extract_json(&resp.text())?;
    let errors = validate(&format.schema, &value).map_err(|e| e.to_string())?;
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors.join("; "))
    }
}

/// Asks for JSON matching `format` and returns it with the final response. On a mismatch the
/// model sees its reply and the errors once; a second mismatch is `SchemaMismatch`.
pub async fn generate_json(
    model: &dyn ChatModel,
    req: &ChatRequest,
    format: &JsonSchemaFormat,
) -> Result<(Value, ChatResponse), LlmError> {
    // Fail on a broken schema before spending a call.
    validate(&format.schema, &Value::Null)?;
    let mut req = req.clone();
    req.response_format = Some(format.clone());
    let first = model.chat(&req).await?;
    let errors = match check(format, &first) {
        Ok(v) => return Ok((v, first)),
        Err(e) => e,
    };
    tracing::info!(schema = %format.name, errors = %errors, "reply does not match the schema; one repair round");
    req.messages.push(Message::assistant(first.text()));
    req.messages.push(Message::user(format!(
        "That reply does not match the JSON schema `{}`: {errors}. Reply again with only the corrected JSON.",
        format.name
    )));
    let second = model.chat(&req).await?;
    match check(format, &second) {
        Ok(v) => Ok((v, second)),
        Err(errors) => Err(LlmError::SchemaMismatch {
            schema_name: format.name.clone(),
            errors,
            reply: second.text(),
        }),
    }
}

/// `generate_json` into a Rust type whose schema comes from schemars.
pub async fn generate<T: schemars::JsonSchema + DeserializeOwned>(
    model: &dyn ChatModel,
    req: &ChatRequest,
) -> Result<T, LlmError> {
    let format = format_of::<T>();
    let (v, resp) = generate_json(model, req, &format).await?;
    serde_json::from_value(v).map_err(|e| LlmError::SchemaMismatch {
        schema_name: format.name,
        errors: e.to_string(),
        reply: resp.text(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strictness_detection() {
        let closed = json!({"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false});
        assert!(strict_compatible(&closed));
        let open = json!({"type":"object","properties":{"a":{"type":"string"}},"required":["a"]});
        assert!(!strict_compatible(&open));
        let optional = json!({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["a"],"additionalProperties":false});
        assert!(!strict_compatible(&optional));
    }

    #[test]
    fn validation_names_the_field() {
        let s = json!({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]});
        assert!(validate(&s, &json!({"n": 3})).unwrap().is_empty());
        let errs = validate(&s, &json!({"n": "x"})).unwrap();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("/n"), "{errs:?}");
        assert!(!validate(&s, &json!({})).unwrap().is_empty());
        assert_eq!(
            extract_json("```json\n{\"n\":1}\n```").unwrap(),
            json!({"n":1})
        );
    }
}
