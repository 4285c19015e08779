//! `--store URL`: `ingest`, `search`, `ask` and `info` on Postgres (pgvector) and Chroma, the
//! real servers `scripts/test` starts (`CAIRN_TEST_PG_URL`, `CAIRN_TEST_CHROMA_URL`), give
//! what they give on the embedded index: the same documents and chunks, the same dense hits,
//! the same cited answer; a rerun skips everything; `--prune` removes a deleted file.

mod common;
#[path = "../../cairn-llm/tests/support/mod.rs"]
mod support;

use common::{cairn_no_provider, json, Server};
use serde_json::Value;
use support::Llmock;

fn env_url(var: &str, script: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: start the server with `scripts/peers/{script}.sh start DIR` and export the line it prints (scripts/test does)")
    })
}

/// The two database stores, each a fresh collection for this run.
fn stores(tag: &str) -> Vec<String> {
    let id = std::process::id();
    let pg = env_url("CAIRN_TEST_PG_URL", "postgres");
    let sep = if pg.contains('?') { '&' } else { '?' };
    let chroma = env_url("CAIRN_TEST_CHROMA_URL", "chroma");
    let host = chroma.trim_start_matches("http://").trim_end_matches('/');
    vec![
        format!("{pg}{sep}collection={tag}_{id}"),
        format!("chroma://{host}/{tag}_{id}"),
    ]
}

/// cairn with `--store` (or the index folder) and `args`, in `cwd`; (code, stdout, stderr).
fn cairn_at(
    cwd: &std::path::Path,
    target: &[&str],
    env: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, String) {
    let mut c = cairn_no_provider();
    c.current_dir(cwd).args(target).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok_json(r: (i32, String, String), what: &str) -> Value {
    assert_eq!(r.0, 0, "{what}: {}", r.2);
    json(&r.1)
}

fn chunk_ids(search: &Value) -> Vec<String> {
    search["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["chunk"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// Starts `cairn serve` with the store as collection `docs`, runs one dense `/v1/search`
/// and returns the chunk ids it answered, after a SIGTERM that must end the server cleanly.
async fn serve_search(cwd: &std::path::Path, url: &str, q: &str) -> Vec<String> {
    let mut c = cairn_no_provider();
    c.current_dir(cwd)
        .env("CAIRN_KEYS", cwd.join("keys.sqlite"))
        .env("CAIRN_LEDGER", cwd.join("ledger.sqlite"));
    let mut server = Server::start(c, &["--collection", &format!("docs={url}")]);
    let r: Value = reqwest::Client::new()
        .post(server.url("/v1/search"))
        .json(&serde_json::json!({"collection": "docs", "query": q, "mode": "dense", "k": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(server.stop().success(), "{url}: serve did not stop cleanly");
    assert_eq!(r["collection"], "docs", "{r}");
    r["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{url}: {r}"))
        .iter()
        .map(|h| h["chunk_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_search_ask_and_info_work_the_same_on_every_store() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    copy_dir(&common::samples(), &work.join("corpus"));
    let embedded = work.join(".cairn");
    let emb = ["--index", embedded.to_str().unwrap()];
    let base = ok_json(
        cairn_at(work, &emb, &[], &["ingest", "corpus", "-q", "--json"]),
        "embedded ingest",
    );
    let docs = base["added"].as_u64().unwrap();
    let chunks = base["chunks"].as_u64().unwrap();
    assert!(docs > 5 && chunks >= docs, "{base}");
    let q = "How does hybrid search combine results?";
    let want = chunk_ids(&ok_json(
        cairn_at(
            work,
            &emb,
            &[],
            &["search", q, "--mode", "dense", "-k", "5", "--json"],
        ),
        "embedded search",
    ));
    assert_eq!(want.len(), 5);

    let mock = Llmock::start().await;
    let reply = "Hybrid search fuses dense and BM25 rankings [1].";
    mock.scenario(serde_json::json!([{"type": "reply", "text": reply, "times": 3}]))
        .await;
    let base_url = mock.base_for("openai");
    let llm = [
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("OPENAI_API_KEY", "sk-test"),
    ];
    let ask = [
        "ask",
        q,
        "--model",
        "openai:gpt-4o-mini",
        "--mode",
        "dense",
        "--json",
    ];
    let emb_answer = ok_json(cairn_at(work, &emb, &llm, &ask), "embedded ask");
    let emb_sources: Vec<Value> = emb_answer["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].clone())
        .collect();
    assert!(!emb_sources.is_empty(), "{emb_answer}");

    for url in stores("cli") {
        let st = ["--store", url.as_str()];
        let r = ok_json(
            cairn_at(work, &st, &[], &["ingest", "corpus", "-q", "--json"]),
            &url,
        );
        assert_eq!(r["added"], docs, "{url}: {r}");
        assert_eq!(r["chunks"], chunks, "{url}: {r}");
        // A rerun finds every document unchanged by its stored content hash.
        let again = ok_json(
            cairn_at(work, &st, &[], &["ingest", "corpus", "-q", "--json"]),
            &url,
        );
        assert_eq!(
            (again["added"].as_u64(), again["unchanged"].as_u64()),
            (Some(0), Some(docs)),
            "{url}: {again}"
        );
        let info = ok_json(cairn_at(work, &st, &[], &["info", "--json"]), &url);
        assert_eq!(
            (info["documents"].as_u64(), info["chunks"].as_u64()),
            (Some(docs), Some(chunks)),
            "{url}: {info}"
        );
        assert_eq!(info["dim"], 384, "{info}");

        // The same vectors, searched exactly at this size: the same five chunks, in order.
        let got = chunk_ids(&ok_json(
            cairn_at(
                work,
                &st,
                &[],
                &["search", q, "--mode", "dense", "-k", "5", "--json"],
            ),
            &url,
        ));
        assert_eq!(got, want, "{url}");

        let a = ok_json(cairn_at(work, &st, &llm, &ask), &url);
        assert_eq!(a["answer"], emb_answer["answer"], "{url}: {a}");
        let sources: Vec<Value> = a["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["source"].clone())
            .collect();
        assert_eq!(
            sources, emb_sources,
            "{url}: the model read the same passages"
        );
        assert_eq!(a["citations"], emb_answer["citations"], "{url}: {a}");

        // `cairn serve` over the same store answers /v1/search with the same chunks.
        let served = serve_search(work, &url, q).await;
        assert_eq!(served, want, "{url}: cairn serve --collection docs=URL");

        // Hybrid runs in Postgres; Chroma has no ranked full text and says so.
        let hybrid = cairn_at(work, &st, &[], &["search", q, "--mode", "hybrid", "--json"]);
        // Without --mode, the default (hybrid) becomes dense on Chroma, with a note.
        let (code, out, err) = cairn_at(work, &st, &[], &["search", q, "--json"]);
        assert_eq!(code, 0, "{err}");
        if url.starts_with("chroma") {
            assert_ne!(hybrid.0, 0);
            assert!(hybrid.2.contains("no full-text search"), "{}", hybrid.2);
            assert_eq!(json(&out)["mode"], "dense");
            assert!(err.contains("searching dense"), "{err}");
        } else {
            assert_eq!(json(&out)["mode"], "hybrid");
            let h = ok_json(hybrid, &url);
            assert!(h["hits"][0]["scores"]["fused"].is_number(), "{h}");
        }

        // A file removed from the folder leaves the store on --prune.
        let gone = work.join("corpus/kitchen");
        let moved = work.join("kitchen.bak");
        std::fs::rename(&gone, &moved).unwrap();
        let p = ok_json(
            cairn_at(
                work,
                &st,
                &[],
                &["ingest", "corpus", "--prune", "-q", "--json"],
            ),
            &url,
        );
        std::fs::rename(&moved, &gone).unwrap();
        let removed = p["removed"].as_u64().unwrap();
        assert!(removed >= 1, "{url}: {p}");
        let info = ok_json(cairn_at(work, &st, &[], &["info", "--json"]), &url);
        assert_eq!(
            info["documents"].as_u64(),
            Some(docs - removed),
            "{url}: {info}"
        );
    }
}

#[test]
fn a_store_that_cannot_be_reached_is_named_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens on port 9 of the loopback.
    for url in [
        "chroma://127.0.0.1:9/docs",
        "postgres://cairn@127.0.0.1:9/db?collection=docs",
    ] {
        let (code, _, err) = cairn_at(
            tmp.path(),
            &["--store", url],
            &[],
            &["ingest", common::samples().to_str().unwrap(), "-q"],
        );
        assert_ne!(code, 0, "{url}");
        assert!(
            err.contains("--store") && err.contains("127.0.0.1:9"),
            "{url}: {err}"
        );
        assert!(!tmp.path().join(".cairn").exists());
    }
    let (code, _, err) = cairn_at(tmp.path(), &["--store", "mongodb://x/y"], &[], &["info"]);
    assert_ne!(code, 0);
    assert!(err.contains("--store") && err.contains("mongodb"), "{err}");
}
