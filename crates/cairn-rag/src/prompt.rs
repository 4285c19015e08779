//! The prompts that ask for an answer with numbered citations (and for "I don't know" when
//! the sources do not hold it), in two styles: full instructions for provider models, and a
//! compact prompt with a worked example for small local models.

use cairn_llm::{ChatRequest, Message, PromptKind};

use crate::context::{render, Source};

/// Prompts differ by what the model can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptStyle {
    /// Full instructions, sources with their locations: for provider models.
    #[default]
    Full,
    /// For small local models (SmolLM2-135M): short instructions, bare numbered passages (a
    /// location line makes them list locations), one paragraph asked for and enforced with
    /// stop sequences (they go on to recite every source otherwise).
    Compact,
}

impl From<PromptKind> for PromptStyle {
    fn from(k: PromptKind) -> Self {
        match k {
            PromptKind::Full => PromptStyle::Full,
            PromptKind::Compact => PromptStyle::Compact,
        }
    }
}

pub const SYSTEM_PROMPT: &str = "You answer questions using only the numbered sources you are given. \
After each sentence, cite the sources that support it by number in square brackets, like [1] or [2, 3]. \
Cite only sources that appear in the list. If the sources do not contain the answer, reply exactly: \
I don't know based on the provided sources.";

pub const DO_NOT_KNOW: &str = "I don't know based on the provided sources.";

const COMPACT_SYSTEM_PROMPT: &str = "Answer the question by copying the sentence from the \
sources that answers it, then write its source number in square brackets.";
/// One worked example: a 135M model copies a demonstrated answer shape far more reliably than it
/// follows an instruction.
const COMPACT_EXAMPLE: (&str, &str) = (
    "Sources:\n[1] Bees collect nectar from flowers and turn it into honey in the hive.\n[2] Wasps do \
     not make honey.\n\nQuestion: Where does honey come from?",
    "Bees collect nectar from flowers and turn it into honey in the hive [1].",
);
/// Sentences a compact answer keeps: small models repeat themselves after that.
pub const COMPACT_SENTENCES: usize = 2;

/// The chat request for a question over numbered sources.
pub fn prompt(question: &str, sources: &[Source]) -> ChatRequest {
    prompt_styled(question, sources, PromptStyle::Full)
}

pub fn prompt_styled(question: &str, sources: &[Source], style: PromptStyle) -> ChatRequest {
    if style == PromptStyle::Compact {
        let passages: Vec<String> = sources
            .iter()
            .map(|s| {
                format!(
                    "[{}] {}",
                    s.n,
                    s.passage
                        .text
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })
            .collect();
        let mut req = ChatRequest::new(vec![
            Message::system(COMPACT_SYSTEM_PROMPT),
            Message::user(COMPACT_EXAMPLE.0),
            Message::assistant(COMPACT_EXAMPLE.1),
            Message::user(format!(
                "Sources:\n{}\n\nQuestion: {}",
                passages.join("\n"),
                question.trim()
            )),
        ]);
        req.stop = vec!["\n[".into(), "\n\n".into(), "\nQuestion:".into()];
        req.max_output_tokens = Some(96);
        // Greedy: sampling only adds noise to a model this small.
        req.temperature = Some(0.0);
        return req;
    }
    ChatRequest::new(vec![
        Message::system(SYSTEM_PROMPT),
        Message::user(format!(
            "Sources:\n\n{}\nQuestion: {}\n\nAnswer with citations:",
            render(sources),
            question.trim()
        )),
    ])
}
