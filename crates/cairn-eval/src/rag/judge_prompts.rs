//! What the judge metrics ask and the JSON they expect back. The instructions are cairn's own
//! wording of ragas's prompts (see `docs/eval-metrics.md`); each shows the exact reply shape and
//! one worked example, because small judges copy examples better than they follow prose.
//! Every request is deterministic (temperature 0, a fixed output cap), so the response cache
//! serves a rerun the same reply.

use cairn_llm::{ChatRequest, Message};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Statements (faithfulness) or claims (factual correctness) taken from a text.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Statements {
    /// Self-contained statements, each checkable on its own; empty when the text states nothing.
    pub statements: Vec<String>,
}

/// One verdict on one item (a statement, a passage, a sentence), reason first so the judge
/// thinks before it decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// One short sentence explaining the verdict.
    pub reason: String,
    /// 1 when the item passes the check, 0 when it does not.
    #[schemars(schema_with = "zero_or_one")]
    pub verdict: u8,
}

/// One verdict per item sent, in the order sent.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verdicts {
    /// Exactly one entry per numbered item, in the same order.
    pub verdicts: Vec<Verdict>,
}

/// Questions written back from an answer (answer relevancy).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Questions {
    /// Three different questions the answer responds to.
    pub questions: Vec<String>,
    /// 1 when the answer is evasive, vague or declines to answer; else 0.
    #[schemars(schema_with = "zero_or_one")]
    pub noncommittal: u8,
}

/// `0` or `1` only: an enum rather than an integer range, which every provider's structured
/// mode (OpenAI strict included) accepts.
fn zero_or_one(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({"type": "integer", "enum": [0, 1]})
}

const STATEMENTS: &str = "You split an answer into statements that can each be checked on their own. \
Given a question and an answer to it, rewrite every sentence of the answer as one or more short, \
self-contained statements: replace pronouns and vague references with the names they stand for, \
keep every fact the sentence states, and add nothing. Leave out what states no fact: greetings, \
remarks about the answer itself, and refusals such as \"I don't know\" or \"the sources do not say\". \
Reply with JSON only, in this shape: {\"statements\": [\"...\", \"...\"]}. The list is empty when \
the answer states no fact.

Example.
Question: Who was Ada Lovelace and what is she known for?
Answer: She was an English mathematician. She wrote the first published algorithm for Babbage's \
Analytical Engine, and she saw that it could do more than arithmetic.
Reply: {\"statements\": [\"Ada Lovelace was an English mathematician.\", \"Ada Lovelace wrote the \
first published algorithm for Babbage's Analytical Engine.\", \"Ada Lovelace saw that the \
Analytical Engine could do more than arithmetic.\"]}";

const CLAIMS: &str = "You break a text into claims that can each be verified independently. \
Turn each sentence into one or more standalone claims: name what each pronoun refers to, keep \
every fact the sentence states (a fact may stay with related facts of the same subject), and add \
nothing. Leave out what states no fact, such as \"I don't know\". Reply with JSON only, in this \
shape: {\"statements\": [\"...\", \"...\"]}. The list is empty when the text states no fact.

Example.
Text: Charles Babbage was a French mathematician, philosopher, and food critic. He designed the \
Analytical Engine.
Reply: {\"statements\": [\"Charles Babbage was a French mathematician, philosopher, and food \
critic.\", \"Charles Babbage designed the Analytical Engine.\"]}";

const SUPPORTED: &str = "You judge whether statements follow from a context. For each numbered \
statement, in order, give verdict 1 if the context states it or it can be directly inferred from \
the context, and 0 if it cannot: the context contradicts it, says nothing about it, or differs in \
a number, a name or a date. Judge only against the context, never from what you know. Reply with \
JSON only, in this shape: {\"verdicts\": [{\"reason\": \"...\", \"verdict\": 1}, ...]}, exactly one \
entry per statement, in the order given.

Example.
Context: Maya studies computer science at Leeds. This term she takes algorithms and databases, \
and she often works late in the library.
Statements:
1. Maya studies biology.
2. Maya is a diligent student.
3. Maya has a part-time job.
Reply: {\"verdicts\": [{\"reason\": \"The context says she studies computer science.\", \"verdict\": 0}, \
{\"reason\": \"Working late in the library implies diligence.\", \"verdict\": 1}, \
{\"reason\": \"The context says nothing about a job.\", \"verdict\": 0}]}";

const QUESTIONS_PROMPT: &str = "You write the questions an answer responds to, and say whether the \
answer is noncommittal. Write 3 different questions that the given answer would answer, each \
answerable from the answer alone. Set noncommittal to 1 if the answer is evasive, vague or \
ambiguous, or declines to answer (\"I don't know\", \"I'm not sure\", \"the sources do not say\"), \
and to 0 if it commits to an answer. Reply with JSON only, in this shape: {\"questions\": [\"...\", \
\"...\", \"...\"], \"noncommittal\": 0}.

Example.
Answer: Albert Einstein was born in Ulm, Germany.
Reply: {\"questions\": [\"Where was Albert Einstein born?\", \"In which city was Albert Einstein \
born?\", \"What is Albert Einstein's birthplace?\"], \"noncommittal\": 0}

Example.
Answer: I don't know which feature the 2023 phone introduced; my information ends in 2022.
Reply: {\"questions\": [\"Which feature did the 2023 phone introduce?\", \"What was new in the 2023 \
phone?\", \"What did the phone released in 2023 add?\"], \"noncommittal\": 1}";

const USEFUL: &str = "You judge which retrieved passages were useful for reaching an answer to a \
question. For each numbered passage, in order, give verdict 1 if it holds information that helps \
arrive at the given answer, and 0 if it does not. Judge each passage on its own merits, whatever \
the others hold. Reply with JSON only, in this shape: {\"verdicts\": [{\"reason\": \"...\", \
\"verdict\": 1}, ...]}, exactly one entry per passage, in the order given.

Example.
Question: What is the tallest mountain in the world?
Answer: Mount Everest.
Passages:
[1] Mount Everest, at 8,849 metres, is Earth's highest mountain above sea level.
[2] The Andes is the longest continental mountain range in the world.
Reply: {\"verdicts\": [{\"reason\": \"It names Everest as the highest mountain.\", \"verdict\": 1}, \
{\"reason\": \"It is about the Andes, not the tallest mountain.\", \"verdict\": 0}]}";

const ATTRIBUTED: &str = "You check which sentences of a reference answer can be attributed to a \
context. For each numbered sentence, in order, give verdict 1 if what it states is found in the \
context or directly follows from it, and 0 if it is not. Judge only against the context, never \
from what you know. Reply with JSON only, in this shape: {\"verdicts\": [{\"reason\": \"...\", \
\"verdict\": 1}, ...]}, exactly one entry per sentence, in the order given.

Example.
Question: What do we know about Albert Einstein?
Context: Albert Einstein (14 March 1879 - 18 April 1955) was a German-born theoretical physicist. \
He received the 1921 Nobel Prize in Physics.
Sentences:
1. Albert Einstein, born on 14 March 1879, was a German-born theoretical physicist.
2. He received the 1921 Nobel Prize in Physics.
3. He published 4 papers in 1905.
Reply: {\"verdicts\": [{\"reason\": \"The birth date and profession are in the context.\", \
\"verdict\": 1}, {\"reason\": \"The context states it.\", \"verdict\": 1}, {\"reason\": \"The \
context does not mention his papers.\", \"verdict\": 0}]}";

/// A deterministic request: the instruction as the system message, the inputs as the user's.
fn request(system: &str, user: String, max_output_tokens: u32) -> ChatRequest {
    let mut req = ChatRequest::new(vec![Message::system(system), Message::user(user)]);
    req.temperature = Some(0.0);
    req.max_output_tokens = Some(max_output_tokens);
    req
}

/// `1. first\n2. second`.
pub fn numbered(items: &[String]) -> String {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {}", i + 1, s.trim()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Faithfulness, step 1: the answer's statements.
pub fn statements(question: &str, answer: &str) -> ChatRequest {
    request(
        STATEMENTS,
        format!("Question: {}\nAnswer: {}", question.trim(), answer),
        1024,
    )
}

/// Factual correctness: the claims of a text (the answer, or the reference).
pub fn claims(text: &str) -> ChatRequest {
    request(CLAIMS, format!("Text: {text}"), 1024)
}

/// Faithfulness step 2 and factual correctness: every statement checked against one context,
/// all in one call.
pub fn supported(context: &str, statements: &[String]) -> ChatRequest {
    request(
        SUPPORTED,
        format!("Context: {context}\nStatements:\n{}", numbered(statements)),
        2048,
    )
}

/// Answer relevancy: questions written back from the answer, and the noncommittal flag.
pub fn questions(answer: &str) -> ChatRequest {
    request(QUESTIONS_PROMPT, format!("Answer: {answer}"), 400)
}

/// Context precision: every context, in rank order, judged useful for reaching `answer`.
pub fn useful(question: &str, answer: &str, contexts: &[&str]) -> ChatRequest {
    let passages: Vec<String> = contexts
        .iter()
        .enumerate()
        .map(|(i, c)| format!("[{}] {}", i + 1, c))
        .collect();
    request(
        USEFUL,
        format!(
            "Question: {}\nAnswer: {answer}\nPassages:\n{}",
            question.trim(),
            passages.join("\n\n")
        ),
        2048,
    )
}

/// Context recall: each reference sentence judged attributable to the joined contexts.
pub fn attributed(question: &str, context: &str, sentences: &[String]) -> ChatRequest {
    request(
        ATTRIBUTED,
        format!(
            "Question: {}\nContext: {context}\nSentences:\n{}",
            question.trim(),
            numbered(sentences)
        ),
        2048,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_llm::structured::{format_of, strict_compatible, validate};
    use serde_json::json;

    #[test]
    fn schemas_are_strict_and_hold_verdicts_to_zero_or_one() {
        let f = format_of::<Verdicts>();
        assert!(strict_compatible(&f.schema), "{}", f.schema);
        let ok = json!({"verdicts": [{"reason": "stated", "verdict": 1}]});
        assert!(validate(&f.schema, &ok).unwrap().is_empty());
        let parsed: Verdicts = serde_json::from_value(ok).unwrap();
        assert_eq!(parsed.verdicts[0].verdict, 1);
        let two = json!({"verdicts": [{"reason": "stated", "verdict": 2}]});
        assert_eq!(validate(&f.schema, &two).unwrap().len(), 1);
        let missing = json!({"verdicts": [{"verdict": 1}]});
        let errs = validate(&f.schema, &missing).unwrap();
        assert!(errs.iter().any(|e| e.contains("reason")), "{errs:?}");
        let extra = json!({"verdicts": [{"reason": "r", "verdict": 0, "statement": "s"}]});
        assert!(!validate(&f.schema, &extra).unwrap().is_empty());
        let q = format_of::<Questions>();
        assert!(strict_compatible(&q.schema));
        let no_flag = json!({"questions": ["Where?"]});
        assert!(!validate(&q.schema, &no_flag).unwrap().is_empty());
        let s = format_of::<Statements>();
        assert!(strict_compatible(&s.schema));
        assert!(validate(&s.schema, &json!({"statements": []}))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn prompts_are_deterministic_and_number_their_items() {
        let items = vec![
            "A cairn marks a trail.".to_string(),
            " Cairns are old. ".to_string(),
        ];
        assert_eq!(
            numbered(&items),
            "1. A cairn marks a trail.\n2. Cairns are old."
        );
        for req in [
            statements("Q?", "A."),
            supported("ctx", &items),
            questions("A."),
            useful("Q?", "A.", &["one", "two"]),
            attributed("Q?", "ctx", &items),
            claims("A."),
        ] {
            assert_eq!(req.temperature, Some(0.0));
            assert!(req.max_output_tokens.is_some());
            assert_eq!(req.messages.len(), 2);
        }
        let u = useful("Q?", "A.", &["one", "two"]).messages[1].text();
        assert!(u.ends_with("Passages:\n[1] one\n\n[2] two"), "{u}");
    }
}
