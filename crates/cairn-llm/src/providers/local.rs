//! The offline generator: a GGUF chat model run in-process on candle. It maps `ChatRequest` to
//! the model's chat template (ChatML, as SmolLM2 and Qwen use) and the generated text to
//! `ChatEvent`s; loading, tokenising and decoding live in `cairn-models`.
//!
//! Model names: `smollm2-135m-instruct` (the default), `qwen2.5-coder-0.5b`,
//! `qwen2.5-coder-1.5b` (each fetched through the model resolver), or a path to any llama- or
//! qwen2-architecture GGUF file with a ChatML template.
//!
//! The provider itself ([`Local`], [`shared`]) needs the `local` cargo feature (on by default),
//! which brings in `cairn-models` and candle; the names and the ChatML rendering do not.

#[cfg(feature = "local")]
pub use runtime::*;

use crate::types::{ChatRequest, Role};

/// The name of the bundled default.
pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";
/// `local:smollm2-135m-instruct`, what answers when no provider is configured.
pub const DEFAULT_SPEC: &str = "local:smollm2-135m-instruct";
/// What SmolLM2's own template puts in when a conversation has no system message.
const DEFAULT_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
/// What Qwen2.5's own template puts in when a conversation has no system message.
const QWEN_DEFAULT_SYSTEM: &str =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

/// The system turn a model's own chat template adds when the conversation has none, by the
/// GGUF architecture.
pub fn default_system(architecture: &str) -> &'static str {
    match architecture {
        "qwen2" => QWEN_DEFAULT_SYSTEM,
        _ => DEFAULT_SYSTEM,
    }
}
/// Output cap when the request sets none: small models ramble.
pub const DEFAULT_MAX_TOKENS: u32 = 512;
/// What a local model's profile budgets for retrieved sources: its prefill runs on a CPU.
pub const SOURCE_BUDGET: usize = crate::model::COMPACT_SOURCE_BUDGET;

/// Renders a conversation in ChatML, ending with the opened assistant turn; `default_system`
/// is the system turn when the conversation has none (see [`default_system`]).
pub fn render_chatml(req: &ChatRequest, default_system: &str) -> String {
    let mut out = String::new();
    let mut turn = |role: &str, text: &str| {
        out.push_str("<|im_start|>");
        out.push_str(role);
        out.push('\n');
        out.push_str(text.trim_end());
        out.push_str("<|im_end|>\n");
    };
    let mut system: Vec<String> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.text())
        .collect();
    if let Some(f) = &req.response_format {
        system.push(format!(
            "Reply with only a JSON value that matches this JSON schema, nothing else:\n{}",
            f.schema
        ));
    }
    if system.is_empty() {
        turn("system", default_system);
    } else {
        turn("system", &system.join("\n\n"));
    }
    for m in &req.messages {
        match m.role {
            Role::System => {}
            Role::User => turn("user", &m.text()),
            Role::Assistant => turn("assistant", &m.text()),
            Role::Tool => turn(
                "user",
                &format!(
                    "Result of tool {}: {}",
                    m.tool_name.as_deref().unwrap_or("call"),
                    m.text()
                ),
            ),
        }
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

/// The provider, over `cairn-models`' GGUF runtime.
#[cfg(feature = "local")]
mod runtime {
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use cairn_core::error::{Classify, ErrorClass};
    use cairn_models::{GenerateParams, GgufChat, GgufError, Requantize, Resolver, Stop};
    use tokio::sync::mpsc;

    use super::{default_system, render_chatml, DEFAULT_MAX_TOKENS, SOURCE_BUDGET};
    use crate::error::LlmError;
    use crate::model::{ChatModel, ChatStream, ModelId, ModelProfile, PromptKind, TokenCount};
    use crate::types::{
        ChatEvent, ChatRequest, ChatResponse, ContentPart, FinishReason, Served, ToolChoice, Usage,
    };

    pub struct Local {
        name: String,
    }

    impl Local {
        pub fn new(name: impl Into<String>) -> Self {
            Local { name: name.into() }
        }

        /// Loads the model on first use, off the async runtime.
        pub async fn loaded(&self) -> Result<Arc<GgufChat>, LlmError> {
            let name = self.name.clone();
            tokio::task::spawn_blocking(move || shared(&name))
                .await
                .map_err(|e| LlmError::Local {
                    message: format!("the loader crashed: {e}"),
                    class: ErrorClass::Internal,
                })?
        }
    }

    static LOADED: Mutex<Vec<(String, Arc<GgufChat>)>> = Mutex::new(Vec::new());

    /// The model of this name if it is loaded already (never loads it).
    fn loaded_now(name: &str) -> Option<Arc<GgufChat>> {
        let loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        loaded
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.clone())
    }

    /// The loaded model of this name, shared by the process: the provider, the context-budget
    /// counter (which needs the model's own tokenizer) and rerankers use one copy.
    pub fn shared(name: &str) -> Result<Arc<GgufChat>, LlmError> {
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, m)) = loaded.iter().find(|(n, _)| n == name) {
            return Ok(m.clone());
        }
        let m = load(name)?;
        loaded.push((name.to_string(), m.clone()));
        Ok(m)
    }

    fn load(name: &str) -> Result<Arc<GgufChat>, LlmError> {
        let path = if let Some(known) = cairn_models::local_chat_model(name) {
            // The generator's own resolver: `CAIRN_MODEL_DIR` names the embedder's folder.
            let resolver = Resolver::from_env_with_dir_var(None);
            let got = resolver.resolve(known.spec).map_err(|e| LlmError::Local {
                message: e.to_string(),
                class: e.class(),
            })?;
            if got.source != cairn_models::Source::Cache {
                eprintln!(
                    "fetched {} from the {} into {}",
                    known.spec.name,
                    got.source,
                    got.dir.display()
                );
            }
            got.file(known.file)
        } else if name.ends_with(".gguf") {
            PathBuf::from(name)
        } else {
            let names: Vec<String> = cairn_models::LOCAL_CHAT_MODELS
                .iter()
                .map(|m| format!("local:{}", m.name))
                .collect();
            return Err(LlmError::InvalidRequest(format!(
                "model local:{name}: unknown local model; use one of {} or \
                 local:/path/to/model.gguf",
                names.join(", ")
            )));
        };
        GgufChat::load(&path, Requantize::from_env())
            .map(Arc::new)
            .map_err(local_error)
    }

    fn local_error(e: GgufError) -> LlmError {
        LlmError::Local {
            message: e.to_string(),
            class: e.class(),
        }
    }

    /// The runtime's errors, with a context overflow as the one typed error every model gives.
    fn generation_error(model: &str, e: GgufError) -> LlmError {
        match e {
            GgufError::ContextTooLong { prompt, window } => LlmError::ContextTooLong {
                model: format!("local:{model}"),
                tokens: prompt as u64,
                limit: window as u64,
                output: 0,
                estimated: false,
            },
            e => local_error(e),
        }
    }

    impl Local {
        fn check(&self, req: &ChatRequest) -> Result<(), LlmError> {
            if !req.tools.is_empty() && req.tool_choice != ToolChoice::None {
                return Err(LlmError::InvalidRequest(format!(
                    "local:{} does not call tools; use a provider model (--model openai:..., \
                 anthropic:..., gemini:..., ollama:...) for tool calling",
                    self.name
                )));
            }
            Ok(())
        }

        /// The rendered prompt's tokens, refused up front when they leave no room for output
        /// (generation then caps the output to what fits).
        fn prompt_ids(&self, model: &GgufChat, req: &ChatRequest) -> Result<Vec<u32>, LlmError> {
            let prompt = render_chatml(req, default_system(&model.architecture));
            let ids = model.encode(&prompt).map_err(local_error)?;
            model
                .check_fits(ids.len())
                .map_err(|e| generation_error(&self.name, e))?;
            Ok(ids)
        }

        fn params(req: &ChatRequest) -> GenerateParams {
            GenerateParams {
                max_tokens: req.max_output_tokens.unwrap_or(DEFAULT_MAX_TOKENS) as usize,
                temperature: req.temperature.map(f64::from),
                stop: req.stop.clone(),
                ..GenerateParams::default()
            }
        }
    }

    fn finish_reason(stop: Stop) -> FinishReason {
        match stop {
            Stop::EndOfTurn | Stop::StopString | Stop::Cancelled => FinishReason::Stop,
            Stop::Length => FinishReason::Length,
        }
    }

    #[async_trait]
    impl ChatModel for Local {
        fn id(&self) -> ModelId {
            ModelId::new("local", self.name.clone())
        }

        /// Compact prompts and a 700-token source budget; the window is the loaded model's real
        /// one, or the runtime's cap before the file is loaded.
        fn profile(&self) -> ModelProfile {
            let id = self.id();
            let context_window = match loaded_now(&self.name) {
                Some(m) => Some(m.context_window() as u64),
                None => crate::tokens::context_window(&id),
            };
            ModelProfile {
                id,
                context_window,
                prompt: PromptKind::Compact,
                source_budget: SOURCE_BUDGET,
            }
        }

        async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
            self.check(req)?;
            let model = self.loaded().await?;
            let ids = self.prompt_ids(&model, req)?;
            let params = Self::params(req);
            let (text, stats) = tokio::task::spawn_blocking(move || {
                let mut text = String::new();
                let stats = model.generate_ids(&ids, &params, &mut |piece| {
                    text.push_str(piece);
                    true
                });
                stats.map(|s| (text, s))
            })
            .await
            .map_err(|e| LlmError::Local {
                message: format!("generation crashed: {e}"),
                class: ErrorClass::Internal,
            })?
            .map_err(|e| generation_error(&self.name, e))?;
            Ok(ChatResponse {
                content: vec![ContentPart::Text { text }],
                tool_calls: Vec::new(),
                finish_reason: finish_reason(stats.stop),
                usage: Usage {
                    input_tokens: stats.prompt_tokens as u64,
                    output_tokens: stats.output_tokens as u64,
                    ..Usage::default()
                },
                request_id: None,
                model: Some(self.name.clone()),
                served: Served {
                    model: self.id().to_string(),
                    ..Served::default()
                },
            })
        }

        async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
            self.check(req)?;
            let model = self.loaded().await?;
            let ids = self.prompt_ids(&model, req)?;
            let params = Self::params(req);
            let name = self.name.clone();
            let (tx, mut rx) = mpsc::channel::<Result<ChatEvent, LlmError>>(64);
            tokio::task::spawn_blocking(move || {
                let _ = tx.blocking_send(Ok(ChatEvent::Start {
                    request_id: None,
                    model: Some(name.clone()),
                }));
                let result = model.generate_ids(&ids, &params, &mut |piece| {
                    tx.blocking_send(Ok(ChatEvent::TextDelta {
                        text: piece.to_string(),
                    }))
                    .is_ok()
                });
                let tail = match result {
                    Ok(stats) => vec![
                        Ok(ChatEvent::Usage {
                            usage: Usage {
                                input_tokens: stats.prompt_tokens as u64,
                                output_tokens: stats.output_tokens as u64,
                                ..Usage::default()
                            },
                        }),
                        Ok(ChatEvent::Finish {
                            reason: finish_reason(stats.stop),
                        }),
                    ],
                    Err(e) => vec![Err(generation_error(&name, e))],
                };
                for ev in tail {
                    if tx.blocking_send(ev).is_err() {
                        break;
                    }
                }
            });
            let events = async_stream::stream! {
                while let Some(ev) = rx.recv().await {
                    yield ev;
                }
            };
            Ok(Box::pin(events))
        }

        async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
            let model = self.loaded().await?;
            let prompt = render_chatml(req, default_system(&model.architecture));
            let ids = model.encode(&prompt).map_err(local_error)?;
            Ok(TokenCount {
                tokens: ids.len() as u64,
                exact: true,
            })
        }

        /// The loaded model's real window: `llama.context_length` capped by what candle holds.
        async fn context_window(&self) -> Result<Option<u64>, LlmError> {
            let model = self.loaded().await?;
            Ok(Some(model.context_window() as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    #[test]
    fn chatml_has_the_default_system_turn_and_opens_the_assistant_turn() {
        let req = ChatRequest::new(vec![
            Message::user("Hi"),
            Message::assistant("Hello."),
            Message::user("Why?"),
        ]);
        assert_eq!(
            render_chatml(&req, DEFAULT_SYSTEM),
            format!(
                "<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
                 <|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n\
                 <|im_start|>assistant\n"
            )
        );
        let req = ChatRequest::prompt(Some("Be brief."), "Q");
        assert!(render_chatml(&req, DEFAULT_SYSTEM)
            .starts_with("<|im_start|>system\nBe brief.<|im_end|>\n"));
        assert!(
            render_chatml(&ChatRequest::prompt(None, "Q"), default_system("qwen2"))
                .starts_with("<|im_start|>system\nYou are Qwen")
        );
    }

    #[cfg(feature = "local")]
    #[tokio::test]
    async fn tools_are_refused_and_unknown_names_are_named() {
        use crate::model::ChatModel;
        let mut req = ChatRequest::prompt(None, "x");
        req.tools.push(crate::types::Tool {
            name: "t".into(),
            description: String::new(),
            parameters: serde_json::json!({"type": "object"}),
        });
        let e = Local::new("m.gguf").chat(&req).await.unwrap_err();
        assert!(e.to_string().contains("does not call tools"), "{e}");
        let e = Local::new("gpt-9")
            .chat(&ChatRequest::prompt(None, "x"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("model local:gpt-9"), "{e}");
        assert!(e.to_string().contains("local:qwen2.5-coder-1.5b"), "{e}");
    }
}
