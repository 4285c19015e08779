//! `cairn serve` end to end: the official `openai` SDK and `langchain-openai` as clients
//! (tests/python/, run with the test venv's Python), llmock as the provider behind it, the
//! sample corpus as the `rag:` collection; then keys, limits, bad input, replicas on one index
//! and graceful shutdown, over plain HTTP.

mod common;
#[path = "../../cairn-llm/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{json, Value};
use support::Llmock;

/// `cairn serve` on `index` with its keys (and ledger) beside `keys`, and llmock's OpenAI
/// route as its model when `mock` is given.
fn start_server(index: &Path, keys: &Path, mock: Option<&Llmock>, args: &[&str]) -> Server {
    let mut c = common::cairn_no_provider();
    c.env("CAIRN_KEYS", keys)
        .env("CAIRN_LEDGER", keys.with_extension("ledger.sqlite"))
        .arg("--index")
        .arg(index);
    let mut args = args.to_vec();
    if let Some(m) = mock {
        c.env("OPENAI_BASE_URL", m.base_for("openai"))
            .env("OPENAI_API_KEY", "sk-upstream-secret");
        args.extend(["--model", "openai:gpt-4o-mini"]);
    }
    Server::start(c, &args)
}

fn run_python(script: &str, args: &[&str]) -> Value {
    let path = common::repo_root()
        .join("crates/cairn-cli/tests/python")
        .join(script);
    let o = Command::new(common::python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/test makes the venv)",
                common::python().display()
            )
        });
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{script} failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    common::json(out.lines().last().unwrap_or(""))
}

fn sample_index(dir: &Path) -> PathBuf {
    let index = dir.join("idx");
    common::ingest(&common::samples(), &index, &[]);
    index
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_and_langchain_work_by_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample_index(dir.path());
    let mock = Llmock::start().await;
    let server = start_server(&index, &dir.path().join("keys.sqlite"), Some(&mock), &[]);
    let vectors = dir.path().join("vectors.json");
    let r = run_python(
        "openai_clients.py",
        &[&server.base, &mock.base, vectors.to_str().unwrap()],
    );
    let passed: Vec<&str> = r["passed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(passed.len(), 10, "{passed:?}");
    // What the SDK decoded equals the library's own vectors.
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&vectors).unwrap()).unwrap();
    let texts: Vec<&str> = got["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let local = cairn::embedded::default_embedder(None).unwrap();
    let want = cairn_core::Embedder::embed(local.embedder.as_ref(), &texts).unwrap();
    for key in ["float", "base64"] {
        for (v, w) in got[key].as_array().unwrap().iter().zip(&want) {
            let v: Vec<f32> = serde_json::from_value(v.clone()).unwrap();
            let diff = v
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-6, "{key}: {diff}");
        }
    }
    let single: Vec<f32> = serde_json::from_value(got["single"].clone()).unwrap();
    let diff = single
        .iter()
        .zip(&want[1])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-6, "single: {diff}");
    // The provider key the server holds never reaches its log.
    assert!(!server.log().contains("sk-upstream-secret"));
}

fn create_key(keys: &Path, args: &[&str]) -> String {
    let o = common::cairn()
        .env("CAIRN_KEYS", keys)
        .args(["keys", "create"])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_guard_every_route_and_limits_hold() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample_index(dir.path());
    let keys = dir.path().join("keys.sqlite");
    let live = create_key(&keys, &["--name", "live"]);
    let revoked = create_key(&keys, &["--name", "gone"]);
    let broke = create_key(&keys, &["--name", "broke", "--budget-usd", "0"]);
    let scoped = create_key(&keys, &["--name", "scoped", "--collections", "other"]);
    let slow = create_key(&keys, &["--name", "slow", "--rpm", "2"]);
    let o = common::cairn()
        .env("CAIRN_KEYS", &keys)
        .args(["keys", "revoke", "gone"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = common::cairn()
        .env("CAIRN_KEYS", &keys)
        .args(["keys", "list", "--json"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&o.stdout);
    assert!(
        !listed.contains(&live) && listed.contains("\"revoked\":\"20"),
        "{listed}"
    );

    let mock = Llmock::start().await;
    let idx = index.display().to_string();
    let mut server = start_server(
        &index,
        &keys,
        Some(&mock),
        &[
            "--collection",
            &format!("default={idx}"),
            "--collection",
            &format!("other={idx}"),
            "--max-body-mb",
            "1",
        ],
    );
    let http = reqwest::Client::new();
    let get = |path: &str, key: Option<&str>| {
        let mut r = http.get(server.url(path));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send()
    };
    // No key: 401 everywhere but /health (and the page's static files).
    assert_eq!(get("/health", None).await.unwrap().status(), 200);
    assert_eq!(get("/", None).await.unwrap().status(), 200);
    for path in [
        "/v1/models",
        "/v1/collections",
        "/metrics",
        "/v1/collections/default/documents",
    ] {
        let r = get(path, None).await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["type"], "authentication_error");
    }
    for path in [
        "/v1/search",
        "/v1/ask",
        "/v1/chat/completions",
        "/v1/embeddings",
    ] {
        let r = http
            .post(server.url(path))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    assert_eq!(get("/v1/models", Some(&live)).await.unwrap().status(), 200);
    assert_eq!(
        get("/v1/models", Some(&revoked)).await.unwrap().status(),
        401
    );

    // The SDK's own exception types.
    run_python(
        "openai_keys.py",
        &[&server.base, &live, &revoked, &broke, &scoped],
    );

    // A key limited to one collection cannot search another.
    let search = |key: &str, body: Value| {
        http.post(server.url("/v1/search"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let q = |c: &str| json!({"collection": c, "query": "trail markers", "k": 2});
    assert_eq!(search(&scoped, q("default")).await.unwrap().status(), 403);
    assert_eq!(search(&scoped, q("other")).await.unwrap().status(), 200);
    assert_eq!(search(&live, q("nope")).await.unwrap().status(), 404);

    // Requests per minute: the third within a minute gets 429 with Retry-After.
    for _ in 0..2 {
        assert_eq!(get("/v1/models", Some(&slow)).await.unwrap().status(), 200);
    }
    let r = get("/v1/models", Some(&slow)).await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");

    // Malformed JSON and wrong fields: 400 naming the field.
    let r = http
        .post(server.url("/v1/search"))
        .bearer_auth(&live)
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "body");
    for (body, param) in [
        (json!({"query": 7}), "query"),
        (json!({"query": "x", "k": 0}), "k"),
        (json!({"query": "x", "mode": "fuzzy"}), "mode"),
        (json!({"query": "x", "filter": "year >"}), "filter"),
        (json!({"query": "x", "kk": 1}), "kk"),
    ] {
        let mut body = body;
        body["collection"] = json!("default");
        let r = search(&live, body.clone()).await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["param"],
            param,
            "{body}"
        );
    }

    // 100 MB, declared or streamed without a length: 413, and the server never holds it.
    let before = server.rss_kib();
    let live2 = live.clone();
    // Declared: answered from the headers alone, before any of the body is read.
    let addr = server.base.trim_start_matches("http://").to_string();
    let status = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        write!(
            c,
            "POST /v1/embeddings HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {live2}\r\n\
            content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            100 << 20
        )
        .unwrap();
        let mut buf = [0u8; 64];
        let n = c.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    let chunks =
        futures::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1 << 20])));
    let r = http
        .post(server.url("/v1/embeddings"))
        .bearer_auth(&live)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    // The server may answer 413 and close before the client has sent everything.
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    let grown = server.rss_kib().saturating_sub(before);
    assert!(
        grown < 30 * 1024,
        "the server grew by {grown} KiB on a refused 100 MB body"
    );

    // /metrics counts what happened, by route, status and error class.
    let m = get("/metrics", Some(&live))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("cairn_requests_total{route=\"/v1/search\",status=\"403\"} 1"),
        "{m}"
    );
    assert!(m.contains("cairn_errors_total{class=\"auth\"}"), "{m}");
    assert!(
        m.contains("cairn_request_duration_seconds_bucket{route=\"/v1/models\""),
        "{m}"
    );

    assert!(server.stop().success());
    // No secret ever reaches the log.
    let log = server.log();
    for k in [&live, &revoked, &broke, &scoped, &slow] {
        assert!(!log.contains(k.as_str()), "a key is in the log:\n{log}");
    }
    assert!(!log.contains("sk-upstream-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_only_loopback_and_bad_flags_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample_index(dir.path());
    let o = common::cairn_no_provider()
        .env("CAIRN_KEYS", dir.path().join("keys.sqlite"))
        .arg("--index")
        .arg(&index)
        .args(["serve", "--bind", "0.0.0.0", "--port", "0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("without API keys") && err.contains("cairn keys create"),
        "{err}"
    );
    for (args, named) in [
        (vec!["--collection", "docs"], "--collection docs"),
        (vec!["--bind", "localhost:x"], "--bind"),
        (
            vec!["--collection", "docs=/nonexistent/index"],
            "collection \"docs\"",
        ),
    ] {
        let o = common::cairn_no_provider()
            .env("CAIRN_KEYS", dir.path().join("keys.sqlite"))
            .args(["serve", "--port", "0"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(named), "{args:?}: {err}");
    }
}

async fn search_sources(http: &reqwest::Client, s: &Server, q: &str) -> Vec<String> {
    let r: Value = http
        .post(s.url("/v1/search"))
        .json(&json!({"query": q, "k": 10, "mode": "bm25"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|h| h["source"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_index_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(
        corpus.join("a.md"),
        "# Lighthouses\n\nA lighthouse warns ships of rocks.\n",
    )
    .unwrap();
    let index = dir.path().join("idx");
    common::ingest(&corpus, &index, &[]);
    let keys = dir.path().join("keys.sqlite");
    let a = start_server(&index, &keys, None, &[]);
    let b = start_server(&index, &keys, None, &[]);
    let http = reqwest::Client::new();
    assert!(search_sources(&http, &b, "glacier moraine")
        .await
        .is_empty());
    // A writer commits (here `cairn ingest`); both replicas answer from the new generation.
    std::fs::write(
        corpus.join("b.md"),
        "# Glaciers\n\nA glacier leaves a moraine of rock.\n",
    )
    .unwrap();
    common::ingest(&corpus, &index, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for s in [&a, &b] {
        let hits = search_sources(&http, s, "glacier moraine").await;
        assert!(hits.iter().any(|h| h.ends_with("b.md")), "{hits:?}");
    }
    // An upload through one replica is searchable through the other once committed; its
    // name cannot lead outside the uploads folder, and bad files are reported by name.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::text("# Basalt\n\nBasalt cools into hexagonal columns.\n")
                .file_name("basalt.md"),
        )
        .part(
            "file",
            reqwest::multipart::Part::text("# Escape\n\nAn escape attempt about fjords.\n")
                .file_name("../../escape.md"),
        )
        .part(
            "file",
            reqwest::multipart::Part::text("x").file_name(".hidden"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"%PDF-1.4 broken".to_vec()).file_name("broken.pdf"),
        );
    let r = http
        .post(a.url("/v1/collections/default/documents"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let up: Value = r.json().await.unwrap();
    let status = |n: &str| {
        up["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == n)
            .map(|f| f["status"].clone())
    };
    assert_eq!(status("basalt.md"), Some(json!("ingested")), "{up}");
    assert_eq!(status("escape.md"), Some(json!("ingested")), "{up}");
    assert_eq!(status(".hidden"), Some(json!("refused")), "{up}");
    assert_eq!(status("broken.pdf"), Some(json!("skipped")), "{up}");
    assert!(
        !dir.path().join("escape.md").exists()
            && !dir.path().parent().unwrap().join("escape.md").exists()
    );
    assert!(dir.path().join("idx-uploads/escape.md").exists());
    assert!(!dir.path().join("idx-uploads/broken.pdf").exists());
    // The replica that took the upload answers from it at once; the other within its check.
    let hits = search_sources(&http, &a, "basalt hexagonal columns").await;
    assert!(
        hits.iter().any(|h| h.ends_with("idx-uploads/basalt.md")),
        "{hits:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for s in [&a, &b] {
        let hits = search_sources(&http, s, "basalt hexagonal columns").await;
        let docs = http
            .get(s.url("/v1/collections/default/documents"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            hits.iter().any(|h| h.ends_with("idx-uploads/basalt.md")),
            "{hits:?} {up} {docs}"
        );
    }

    // A deletion through one replica is seen by the other.
    let docs: Value = http
        .get(a.url("/v1/collections/default/documents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = docs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .find(|id| id.ends_with("b.md"))
        .unwrap();
    let r = http
        .delete(a.url(&format!("/v1/collections/default/documents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = search_sources(&http, &b, "glacier moraine").await;
    assert!(!hits.iter().any(|h| h.ends_with("b.md")), "{hits:?}");
    let r = http
        .delete(b.url(&format!("/v1/collections/default/documents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_stream_finish() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample_index(dir.path());
    let mock = Llmock::start().await;
    let words = vec!["stone"; 60].join(" ");
    mock.scenario(json!([{"type": "reply", "text": words}]))
        .await;
    let mut server = start_server(&index, &dir.path().join("keys.sqlite"), Some(&mock), &[]);
    let http = reqwest::Client::new();
    let r = http
        .post(server.url("/v1/chat/completions"))
        .json(&json!({"model": "openai:gpt-4o-mini", "stream": true,
            "messages": [{"role": "user", "content": "talk"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    use futures::StreamExt;
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    let start = Instant::now();
    server.sigterm();
    let mut text = String::from_utf8_lossy(&first).into_owned();
    while let Some(c) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&c.unwrap()));
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let streamed: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(streamed, words);
    let status = server.wait();
    assert!(status.success(), "{status:?} after {:?}", start.elapsed());
    // New connections are refused once it has stopped.
    assert!(http.get(server.url("/health")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_page_streams_an_answer_and_shows_the_cited_passage() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample_index(dir.path());
    let mock = Llmock::start().await;
    mock.scenario(json!([{"type": "reply",
        "text": "Trails are marked with cairns, stacked stones [1].", "times": 3}]))
        .await;
    let server = start_server(&index, &dir.path().join("keys.sqlite"), Some(&mock), &[]);
    // The screenshot is kept as a test artifact beside the build.
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-web");
    std::fs::create_dir_all(&artifacts).unwrap();
    let r = run_python("web_page.py", &[&server.base, artifacts.to_str().unwrap()]);
    assert_eq!(
        r["answer"], "Trails are marked with cairns, stacked stones [1].",
        "{r}"
    );
    assert_eq!(r["cited"], "1");
    // The passage shown is source 1's text, with its location.
    let shown = r["passage"].as_str().unwrap();
    let hits: Value = reqwest::Client::new()
        .post(server.url("/v1/ask"))
        .json(&json!({"question": "How are trails marked?"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &hits["sources"][0];
    assert_eq!(
        shown.split_whitespace().collect::<Vec<_>>(),
        first["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        "{r}"
    );
    let source = first["source"].as_str().unwrap();
    assert!(r["where"].as_str().unwrap().contains(source), "{r}");
    assert!(r["listed"].as_str().unwrap().starts_with(source), "{r}");
    assert!(
        r["facts"]
            .as_str()
            .unwrap()
            .starts_with("answered by openai:gpt-4o-mini"),
        "{r}"
    );
    assert!(r["phone_scroll_width"].as_u64().unwrap() <= 390, "{r}");
    let png = std::fs::read(r["screenshot"].as_str().unwrap()).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
}

/// `event:`/`data:` pairs of an SSE body.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut kind = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(k) = line.strip_prefix("event:") {
                    kind = Some(k.trim().to_string());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            Some((kind?, serde_json::from_str(&data).ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_answer_at_once_and_ask_streams_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample_index(dir.path());
    let mock = Llmock::start().await;
    let reply = "Trails are marked with cairns, stacked stones [1].";
    mock.scenario(json!([{"type": "reply", "text": reply, "times": null}]))
        .await;
    let keys = dir.path().join("keys.sqlite");
    let server = start_server(&index, &keys, Some(&mock), &["--concurrency", "1"]);
    let http = reqwest::Client::new();

    // SSE /v1/ask: the sources first, then the text in deltas, then the checked answer.
    let body = http
        .post(server.url("/v1/ask"))
        .json(&json!({"question": "How are trails marked?", "stream": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_events(&body);
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"sources"), "{body}");
    assert_eq!(kinds.last(), Some(&"done"), "{body}");
    assert!(
        kinds[1..kinds.len() - 1].iter().all(|k| *k == "text_delta"),
        "{kinds:?}"
    );
    let streamed: String = events
        .iter()
        .filter(|(k, _)| k == "text_delta")
        .map(|(_, v)| v["text"].as_str().unwrap().to_string())
        .collect();
    let done = &events.last().unwrap().1;
    assert_eq!(
        streamed.trim(),
        done["answer"].as_str().unwrap().trim(),
        "{body}"
    );
    assert_eq!(done["citations"]["cited"], json!([1]), "{done}");
    let listed = &events[0].1["sources"];
    assert_eq!(listed[0]["source"], done["sources"][0]["source"], "{body}");

    // With one request allowed at once, a second one while the first waits on a slow model is
    // refused at once with 503 and Retry-After, and the first still completes.
    mock.scenario(json!([{"type": "delay", "seconds": 2, "times": 1},
        {"type": "reply", "text": reply, "times": null}]))
        .await;
    let chat = json!({"model": "openai:gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello"}]});
    let slow = tokio::spawn({
        let (http, url, chat) = (
            http.clone(),
            server.url("/v1/chat/completions"),
            chat.clone(),
        );
        async move { http.post(url).json(&chat).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = http
        .post(server.url("/v1/chat/completions"))
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "overloaded", "{e}");
    assert_eq!(slow.await.unwrap(), 200);
    // Its permit is back: a whole (non-streamed) answer releases it when it is sent.
    let r = http
        .post(server.url("/v1/chat/completions"))
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("content-length"));

    // A remote embedding model from config is served by its name, with the provider's vectors.
    let config = dir.path().join("cairn.toml");
    std::fs::write(
        &config,
        "[server]\nrequest_timeout_secs = 1\nembedding_models = [\"openai:text-embedding-3-small\"]\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let quick = start_server(&index, &keys, Some(&mock), &["--config", cfg]);
    let input = json!(["cairns mark trails", "stacked stones"]);
    let ours: Value = http
        .post(quick.url("/v1/embeddings"))
        .json(&json!({"model": "text-embedding-3-small", "input": input}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let theirs: Value = http
        .post(format!("{}/embeddings", mock.base_for("openai")))
        .bearer_auth("sk-upstream-secret")
        .json(&json!({"model": "text-embedding-3-small", "input": input}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vec_of = |v: &Value| -> Vec<f32> {
        v["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    for i in 0..2 {
        let (a, b) = (vec_of(&ours["data"][i]), vec_of(&theirs["data"][i]));
        assert_eq!(a.len(), 1536, "{ours}");
        let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let nb: f32 = b.iter().map(|y| y * y).sum::<f32>().sqrt();
        assert!(
            (dot / nb - 1.0).abs() < 1e-4,
            "input {i}: cosine {}",
            dot / nb
        );
    }
    let models: Value = http
        .get(quick.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "openai:text-embedding-3-small"),
        "{models}"
    );
    // An embedding provider that has none is refused at startup, naming the setting.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nembedding_models = [\"anthropic:claude\"]\n",
    )
    .unwrap();
    let out = common::cairn_no_provider()
        .env("CAIRN_KEYS", &keys)
        .arg("--index")
        .arg(&index)
        .args(["--config", bad.to_str().unwrap(), "serve", "--port", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("[server] embedding_models") && err.contains("anthropic"),
        "{err}"
    );

    // A model slower than the request timeout gets 504 naming the setting.
    mock.scenario(json!([{"type": "delay", "seconds": 3, "times": 1}]))
        .await;
    let r = http
        .post(quick.url("/v1/chat/completions"))
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "timeout", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request_timeout_secs"),
        "{e}"
    );
}
