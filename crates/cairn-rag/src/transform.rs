//! Query transforms: multi-query (the model writes variants; their result lists are fused by
//! RRF), HyDE (the dense side searches with the embedding of a hypothetical answer), and a
//! rule-based router that picks the retrieval mode from the query's shape.

use cairn_llm::{ChatModel, ChatRequest, LlmError, Message, Role};

use crate::fusion::reciprocal_rank_fusion;
use crate::search::{Retriever, Scored, SearchError, SearchMode, SearchOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expand {
    #[default]
    None,
    Multi,
    Hyde,
}

/// One retrieval to run: the text BM25 sees and the text the dense side embeds.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    pub lexical: String,
    pub dense: String,
}

/// The variant queries in a reply: one per line, list markers and quotes stripped,
/// duplicates (of each other or of the question) dropped.
pub fn parse_variants(reply: &str, question: &str, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in reply.lines() {
        let t = line
            .trim()
            .trim_start_matches(|c: char| {
                c.is_ascii_digit() || matches!(c, '.' | ')' | '-' | '*' | '•')
            })
            .trim()
            .trim_matches('"')
            .trim();
        if t.len() < 3 || t.eq_ignore_ascii_case(question.trim()) {
            continue;
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(t)) {
            out.push(t.to_string());
        }
        if out.len() == n {
            break;
        }
    }
    out
}

pub fn multi_query_request(question: &str, n: usize) -> ChatRequest {
    let mut r = ChatRequest::new(vec![
        Message::system(
            "You write search queries. Reply with the queries only, one per line, no numbering.",
        ),
        Message::user(format!(
            "Write {n} different search queries that would find passages answering this question, \
             using different words and angles:\n{}",
            question.trim()
        )),
    ]);
    r.temperature = Some(0.3);
    r.max_output_tokens = Some(60 * n as u32);
    r
}

pub fn hyde_request(question: &str) -> ChatRequest {
    let mut r = ChatRequest::new(vec![
        Message::system("You write a short factual passage (3-4 sentences) that would answer the question, as it might appear in a reference document. No preamble."),
        Message::user(question.trim().to_string()),
    ]);
    r.temperature = Some(0.2);
    r.max_output_tokens = Some(200);
    r
}

/// The retrievals for a question under a transform. Multi-query keeps the question itself as
/// the first plan; HyDE keeps the question for BM25 and embeds the hypothetical answer.
pub async fn plan(
    model: &dyn ChatModel,
    question: &str,
    expand: Expand,
    variants: usize,
) -> Result<Vec<QueryPlan>, LlmError> {
    let q = question.trim().to_string();
    let mut plans = vec![QueryPlan {
        lexical: q.clone(),
        dense: q.clone(),
    }];
    match expand {
        Expand::None => {}
        Expand::Multi => {
            let reply = model.chat(&multi_query_request(&q, variants)).await?.text();
            for v in parse_variants(&reply, &q, variants) {
                plans.push(QueryPlan {
                    lexical: v.clone(),
                    dense: v,
                });
            }
        }
        Expand::Hyde => {
            let passage = model.chat(&hyde_request(&q)).await?.text();
            if !passage.trim().is_empty() {
                plans[0].dense = passage.trim().to_string();
            }
        }
    }
    Ok(plans)
}

/// Ranks every plan and fuses the lists by RRF (one list: returned as is).
pub fn rank_plans(
    retriever: &Retriever,
    plans: &[QueryPlan],
    opts: &SearchOptions,
) -> Result<Vec<Scored>, SearchError> {
    let mut lists = Vec::new();
    for p in plans {
        let qv = match opts.mode {
            SearchMode::Bm25 => None,
            _ => Some(retriever.embed_query(&p.dense)?),
        };
        lists.push(retriever.rank_with_vector(&p.lexical, qv.as_deref(), opts));
    }
    if lists.len() == 1 {
        return Ok(lists.pop().expect("one list"));
    }
    let pairs: Vec<Vec<(u32, f32)>> = lists
        .iter()
        .map(|l| l.iter().map(|s| (s.pos, s.score)).collect())
        .collect();
    let weighted: Vec<(f32, &[(u32, f32)])> = pairs.iter().map(|l| (1.0, l.as_slice())).collect();
    let mut by_pos = std::collections::HashMap::new();
    for l in &lists {
        for s in l {
            by_pos.entry(s.pos).or_insert_with(|| s.scores.clone());
        }
    }
    Ok(reciprocal_rank_fusion(&weighted, opts.rrf_k)
        .into_iter()
        .take(opts.k)
        .map(|(pos, score)| Scored {
            pos,
            score,
            scores: by_pos.remove(&pos).unwrap_or_default(),
        })
        .collect())
}

/// The request that rewrites a follow-up into a standalone question, given the
/// conversation before it (system turns left out).
pub fn standalone_request(history: &[Message], question: &str) -> ChatRequest {
    let mut convo = String::new();
    for m in history.iter().filter(|m| m.role != Role::System) {
        let who = if m.role == Role::User {
            "User"
        } else {
            "Assistant"
        };
        convo.push_str(&format!("{who}: {}\n", m.text()));
    }
    let mut req = ChatRequest::new(vec![
        Message::system("Rewrite the follow-up question as a standalone question that can be understood without the conversation. Reply with the question only."),
        Message::user(format!("Conversation:\n{convo}\nFollow-up question: {question}\n\nStandalone question:")),
    ]);
    req.temperature = Some(0.0);
    req.max_output_tokens = Some(100);
    req
}

/// A follow-up rewritten as a standalone question using the conversation before it; the
/// question itself when there is no earlier user or assistant turn, or the reply is empty.
pub async fn standalone(
    model: &dyn ChatModel,
    history: &[Message],
    question: &str,
) -> Result<String, LlmError> {
    if history.iter().all(|m| m.role == Role::System) {
        return Ok(question.to_string());
    }
    let reply = model
        .chat(&standalone_request(history, question))
        .await?
        .text();
    // The question is the first line; small models add more after it.
    let r = reply
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .trim_matches('"')
        .trim();
    Ok(if r.is_empty() {
        question.to_string()
    } else {
        r.to_string()
    })
}

/// Picks a retrieval mode from the query's shape: exact-match signals (quoted phrases,
/// identifiers like `snake_case`, `CamelCase`, `a::b`, error codes such as `E0433`) go to
/// BM25, which matches them literally; everything else to hybrid.
pub fn route(query: &str) -> SearchMode {
    if query.contains('"') || query.contains("::") {
        return SearchMode::Bm25;
    }
    for w in query.split(|c: char| c.is_whitespace() || matches!(c, ',' | '?' | '(' | ')')) {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_');
        let snake = w.contains('_') && w.chars().any(|c| c.is_alphabetic());
        let camel = w.chars().skip(1).any(|c| c.is_uppercase())
            && w.chars().any(|c| c.is_lowercase())
            && !w.chars().all(|c| c.is_uppercase());
        let code = w.chars().filter(|c| c.is_ascii_digit()).count() >= 3
            && w.chars().any(|c| c.is_ascii_alphabetic());
        if snake || camel || code {
            return SearchMode::Bm25;
        }
    }
    SearchMode::Hybrid
}

/// Lets a model classify the query as keyword-like (→ BM25) or semantic (→ hybrid); an
/// unclear reply falls back to the rules.
pub async fn route_with_model(model: &dyn ChatModel, query: &str) -> Result<SearchMode, LlmError> {
    let mut r = ChatRequest::new(vec![
        Message::system("Classify the search query. Reply with one word: keyword (exact names, identifiers, error codes, quoted phrases) or semantic (questions or descriptions of meaning)."),
        Message::user(query.trim().to_string()),
    ]);
    r.temperature = Some(0.0);
    r.max_output_tokens = Some(5);
    let reply = model.chat(&r).await?.text().to_ascii_lowercase();
    Ok(parse_route(&reply).unwrap_or_else(|| route(query)))
}

/// One index a question can be routed to, with what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub name: String,
    pub description: String,
}

/// Routes by rules: the collection whose name and description share the most (stemmed)
/// content words with the query; the first one on a tie or when nothing matches.
pub fn route_collection(query: &str, collections: &[Collection]) -> usize {
    let q: std::collections::HashSet<String> =
        crate::cite::content_words(query).into_iter().collect();
    let mut best = (0usize, 0usize);
    for (i, c) in collections.iter().enumerate() {
        let words: std::collections::HashSet<String> =
            crate::cite::content_words(&format!("{} {}", c.name, c.description))
                .into_iter()
                .collect();
        let hits = q.intersection(&words).count();
        if hits > best.1 {
            best = (i, hits);
        }
    }
    best.0
}

/// Routes by asking the model which collection should answer; an unclear reply falls back
/// to the rules.
pub async fn route_collection_with_model(
    model: &dyn ChatModel,
    query: &str,
    collections: &[Collection],
) -> Result<usize, LlmError> {
    let list: Vec<String> = collections
        .iter()
        .map(|c| format!("- {}: {}", c.name, c.description))
        .collect();
    let mut r = ChatRequest::new(vec![
        Message::system(format!(
            "Pick the collection that can answer the question. Reply with its name only.\n\nCollections:\n{}",
            list.join("\n")
        )),
        Message::user(query.trim().to_string()),
    ]);
    r.temperature = Some(0.0);
    r.max_output_tokens = Some(10);
    let reply = model.chat(&r).await?.text();
    Ok(parse_collection(&reply, collections)
        .unwrap_or_else(|| route_collection(query, collections)))
}

/// The one collection a reply names (whole word, any case); `None` for none or several.
pub fn parse_collection(reply: &str, collections: &[Collection]) -> Option<usize> {
    let words: Vec<String> = reply
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .map(str::to_lowercase)
        .collect();
    let named: Vec<usize> = (0..collections.len())
        .filter(|&i| words.contains(&collections[i].name.to_lowercase()))
        .collect();
    (named.len() == 1).then(|| named[0])
}

/// `keyword` → BM25, `semantic` → hybrid, anything else → `None`.
pub fn parse_route(reply: &str) -> Option<SearchMode> {
    let r = reply.to_ascii_lowercase();
    match (r.contains("keyword"), r.contains("semantic")) {
        (true, false) => Some(SearchMode::Bm25),
        (false, true) => Some(SearchMode::Hybrid),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_cleaned_and_deduplicated() {
        let reply = "1. how are retries spaced\n2) Retry backoff timing\n- \"how are retries spaced\"\n\nHow are retries spaced?\n* jitter in retry delays";
        assert_eq!(
            parse_variants(reply, "How are retries spaced?", 5),
            vec![
                "how are retries spaced",
                "Retry backoff timing",
                "jitter in retry delays"
            ]
        );
        assert_eq!(parse_variants(reply, "q", 1).len(), 1);
    }

    #[test]
    fn collections_are_routed_by_shared_words_or_by_the_model_reply() {
        let cols = vec![
            Collection {
                name: "recipes".into(),
                description: "cooking, baking bread, kitchen knives".into(),
            },
            Collection {
                name: "code".into(),
                description: "source code: Rust functions, retries, backoff".into(),
            },
        ];
        assert_eq!(route_collection("how do I bake sourdough bread?", &cols), 0);
        assert_eq!(
            route_collection("where is the retry backoff function?", &cols),
            1
        );
        // Nothing in common: the first collection.
        assert_eq!(route_collection("tides and the moon", &cols), 0);
        assert_eq!(parse_collection("Code", &cols), Some(1));
        assert_eq!(parse_collection("The answer is: recipes.", &cols), Some(0));
        assert_eq!(parse_collection("recipes or code", &cols), None);
        assert_eq!(parse_collection("unsure", &cols), None);
    }

    #[test]
    fn model_route_replies() {
        assert_eq!(parse_route("Keyword"), Some(SearchMode::Bm25));
        assert_eq!(parse_route("semantic."), Some(SearchMode::Hybrid));
        assert_eq!(parse_route("keyword or semantic"), None);
        assert_eq!(parse_route("?"), None);
    }

    #[test]
    fn router_rules() {
        assert_eq!(route("what does parse_spec return"), SearchMode::Bm25);
        assert_eq!(route("where is ChatModel defined"), SearchMode::Bm25);
        assert_eq!(route("error E0433 when building"), SearchMode::Bm25);
        assert_eq!(route("\"exact phrase\" search"), SearchMode::Bm25);
        assert_eq!(
            route("how do transformers handle long documents?"),
            SearchMode::Hybrid
        );
        assert_eq!(route("What is BM25 good at?"), SearchMode::Hybrid);
    }
}
