//! Rerank APIs (Cohere, Voyage, Jina) against the scripted server, shaped as the reference's
//! §8 documents them, and the listwise LLM reranker over an OpenAI-format model.

#[path = "../../cairn-llm/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use cairn_llm::providers::{openai::OpenAi, Endpoint};
use cairn_llm::transport::Transport;
use cairn_rag::rerank::{ApiReranker, LlmReranker, RerankApi, Reranker};
use serde_json::json;
use support::{FakeServer, Reply};

fn endpoint(base: &str) -> Endpoint {
    Endpoint {
        base_url: base.into(),
        api_key: Some("rk".into()),
        transport: Arc::new(Transport::new(Default::default())),
    }
}

const DOCS: [&str; 3] = ["about cats", "about rust", "about dogs"];

#[tokio::test]
async fn rerank_apis_map_requests_and_results() {
    let cases = [
        (
            RerankApi::Cohere,
            "/v2/rerank",
            json!({"id":"x","results":[{"index":1,"relevance_score":0.93},{"index":2,"relevance_score":0.2}],"meta":{"billed_units":{"search_units":1}}}),
        ),
        (
            RerankApi::Voyage,
            "/v1/rerank",
            json!({"object":"list","data":[{"index":1,"relevance_score":0.87},{"index":0,"relevance_score":0.5},{"index":2,"relevance_score":0.1}],"model":"rerank-2.5","usage":{"total_tokens":15}}),
        ),
        (
            RerankApi::Jina,
            "/v1/rerank",
            json!({"model":"j","usage":{"total_tokens":9},"results":[{"index":1,"relevance_score":0.88,"document":{"text":"about rust"}},{"index":2,"relevance_score":0.3,"document":"about dogs"},{"index":0,"relevance_score":0.1}]}),
        ),
    ];
    for (api, path, reply) in cases {
        let server = FakeServer::start(vec![
            Reply::json(503, &json!({"message": "busy"})),
            Reply::json(200, &reply),
        ])
        .await;
        let mut r = ApiReranker::new(api, endpoint(&server.base), None);
        r.retry.base_delay = std::time::Duration::from_millis(10);
        let out = r.rerank("which is about rust?", &DOCS).await.unwrap();
        let order: Vec<usize> = out.iter().map(|x| x.0).collect();
        assert_eq!(order[0], 1, "{api:?}");
        assert_eq!(order.len(), 3, "{api:?}: every document once");
        let got = server.received();
        assert_eq!(got.len(), 2, "{api:?}: the 503 was retried");
        assert_eq!(got[1].path, path);
        assert_eq!(got[1].body["documents"], json!(DOCS));
        assert_eq!(got[1].body["query"], "which is about rust?");
        assert_eq!(got[1].body["model"], api.default_model());
        assert!(got[1]
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer rk"));
    }
    // Cohere left document 0 out: it follows the ranked ones.
    let server = FakeServer::start(vec![Reply::json(
        200,
        &json!({"results":[{"index":2,"relevance_score":0.9},{"index":1,"relevance_score":0.8}]}),
    )])
    .await;
    let out = ApiReranker::new(RerankApi::Cohere, endpoint(&server.base), None)
        .rerank("q", &DOCS)
        .await
        .unwrap();
    assert_eq!(out.iter().map(|x| x.0).collect::<Vec<_>>(), vec![2, 1, 0]);
    // A 401 is not retried and names the provider.
    let server = FakeServer::start(vec![Reply::json(
        401,
        &json!({"message": "invalid api token"}),
    )])
    .await;
    let e = ApiReranker::new(RerankApi::Cohere, endpoint(&server.base), None)
        .rerank("q", &DOCS)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("cohere") && e.to_string().contains("invalid api token"),
        "{e}"
    );
    assert_eq!(server.received().len(), 1);
    // No key for the vendor's own host: a clear error naming the variable.
    let none = |_: &str| None;
    let e = ApiReranker::from_env(
        RerankApi::Voyage,
        &none,
        Arc::new(Transport::new(Default::default())),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("VOYAGE_API_KEY"), "{e}");
}

#[tokio::test]
async fn llm_listwise_reranker() {
    let server = FakeServer::start(vec![Reply::json(
        200,
        &json!({"choices":[{"message":{"content":"2 > 3"},"finish_reason":"stop"}]}),
    )])
    .await;
    let model = Arc::new(OpenAi::new(endpoint(&server.base), "gpt-4o-mini"));
    let r = LlmReranker::new(model);
    let out = r.rerank("which is about rust?", &DOCS).await.unwrap();
    assert_eq!(out.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2, 0]);
    let prompt = server.received()[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.contains("[1] about cats\n[2] about rust\n[3] about dogs"),
        "{prompt}"
    );
}
