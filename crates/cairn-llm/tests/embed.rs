//! Remote embedders: OpenAI against llmock, Gemini and Ollama against the scripted server.

mod support;

use std::sync::Arc;

use cairn_core::traits::Embedder;
use cairn_llm::embed::{EmbedProvider, RemoteEmbedder};
use cairn_llm::providers::Endpoint;
use cairn_llm::transport::Transport;
use serde_json::json;
use support::{FakeServer, Llmock, Reply};

fn endpoint(base: String) -> Endpoint {
    Endpoint {
        base_url: base,
        api_key: Some("k".into()),
        transport: Arc::new(Transport::new(Default::default())),
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_embeddings_batch_and_keep_order() {
    let mock = Llmock::start().await;
    let e = RemoteEmbedder::connect(
        EmbedProvider::OpenAi,
        endpoint(mock.base_for("openai")),
        "text-embedding-3-small",
    )
    .await
    .unwrap()
    .with_batch_size(3);
    assert_eq!(e.dim(), 1536);
    assert_eq!(e.model_id(), "openai:text-embedding-3-small");
    mock.reset().await;
    let texts: Vec<String> = (0..7).map(|i| format!("text number {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // The blocking trait method, called from inside a runtime.
    let vs = e.embed(&refs).unwrap();
    assert_eq!(vs.len(), 7);
    assert!(vs.iter().all(|v| (norm(v) - 1.0).abs() < 1e-4));
    let reqs = mock.requests().await;
    let sizes: Vec<usize> = reqs["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"]["input"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    // Order is kept: each text embedded alone gives the same vector.
    let one = e.embed_async(&[refs[4]]).await.unwrap();
    let cos: f32 = one[0].iter().zip(&vs[4]).map(|(a, b)| a * b).sum();
    assert!(cos > 0.9999, "{cos}");
    // Transient failures are retried.
    mock.scenario(json!([{"type": "fail", "status": 503, "times": 1}]))
        .await;
    e.embed_async(&["again"]).await.unwrap();
    mock.assert_clean("embeddings").await;
}

#[tokio::test]
async fn gemini_and_ollama_embedding_shapes() {
    let gemini = FakeServer::start(vec![
        Reply::json(200, &json!({"embeddings": [{"values": [3.0, 4.0]}]})),
        Reply::json(
            200,
            &json!({"embeddings": [{"values": [1.0, 0.0]}, {"values": [0.0, 2.0]}]}),
        ),
        Reply::json(200, &json!({"embeddings": [{"values": [1.0, 0.0]}]})),
    ])
    .await;
    let e = RemoteEmbedder::connect(
        EmbedProvider::Gemini,
        endpoint(gemini.base.clone()),
        "gemini-embedding-001",
    )
    .await
    .unwrap();
    assert_eq!(e.dim(), 2);
    let vs = e.embed_async(&["a", "b"]).await.unwrap();
    assert_eq!(vs, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    let r = &gemini.received()[1];
    assert_eq!(
        r.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(
        r.body["requests"][1]["model"],
        "models/gemini-embedding-001"
    );
    assert_eq!(r.body["requests"][1]["taskType"], "RETRIEVAL_DOCUMENT");
    assert_eq!(r.body["requests"][1]["content"]["parts"][0]["text"], "b");
    // A reply with the wrong number of vectors is an error, not a silent misalignment.
    assert!(e
        .embed_async(&["x", "y"])
        .await
        .unwrap_err()
        .to_string()
        .contains("asked for 2"));

    let ollama = FakeServer::start(vec![
        Reply::json(
            200,
            &json!({"model": "all-minilm", "embeddings": [[0.0, 5.0, 0.0]]}),
        ),
        Reply::json(
            200,
            &json!({"model": "all-minilm", "embeddings": [[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]}),
        ),
    ])
    .await;
    let e = RemoteEmbedder::connect(
        EmbedProvider::Ollama,
        endpoint(ollama.base.clone()),
        "all-minilm",
    )
    .await
    .unwrap();
    assert_eq!(e.dim(), 3);
    let vs = e.embed_async(&["a", "b"]).await.unwrap();
    assert_eq!(vs[0], vec![1.0, 0.0, 0.0]);
    let r = &ollama.received()[1];
    assert_eq!(r.path, "/api/embed");
    assert_eq!(r.body["input"], json!(["a", "b"]));
}
