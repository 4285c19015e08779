//! `cairn chat` and `cairn cost` end to end, against the llmock peer.

mod common;
#[path = "../../cairn-llm/tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use common::json;
use serde_json::{json, Value};
use support::Llmock;

/// A `cairn` command with only the given provider variables set, a private ledger and cache.
fn cairn(mock: &Llmock, ledger: &std::path::Path, vars: &[(&str, String)]) -> Command {
    let mut c = common::cairn_no_provider();
    c.env("CAIRN_LEDGER", ledger);
    c.env("CAIRN_CACHE_DIR", ledger.parent().unwrap().join("cache"));
    c.env("OPENAI_BASE_URL", mock.base_for("openai"));
    c.env("ANTHROPIC_BASE_URL", mock.base_for("anthropic"));
    c.env("GOOGLE_GEMINI_BASE_URL", mock.base_for("gemini"));
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

fn out(mut c: Command, stdin: Option<&str>) -> (i32, String, String) {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn chat(mock: &Llmock, ledger: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let mut c = cairn(mock, ledger, &[]);
    c.arg("chat").args(args);
    out(c, None)
}

#[test]
fn nothing_configured_answers_offline_and_says_how_to_configure() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::cairn_no_provider();
    c.env("CAIRN_LEDGER", dir.path().join("l.sqlite"))
        .current_dir(dir.path());
    let (code, out_text, err) = out(
        {
            c.args([
                "chat",
                "--max-tokens",
                "24",
                "What is the capital of France?",
            ]);
            c
        },
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out_text.trim().is_empty(), "no answer; stderr: {err}");
    // The footer names the model that answered, its token counts and its (zero) cost.
    assert!(err.contains("[local:smollm2-135m-instruct · "), "{err}");
    assert!(err.contains("$0.000000"), "{err}");
    assert!(err.contains("answered offline"), "{err}");
    for v in [
        "--model",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "OLLAMA_HOST",
        "cairn.toml",
    ] {
        assert!(err.contains(v), "{v} missing from: {err}");
    }
    // A bad spec names the flag.
    let mut c = common::cairn();
    c.env("CAIRN_LEDGER", dir.path().join("l.sqlite"));
    let (code, _, err) = out(
        {
            c.args(["chat", "--model", "gpt-4o", "hello"]);
            c
        },
        None,
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("--model") && err.contains("provider:name"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_prints_usage_and_the_ledger_adds_up() {
    let mock = Llmock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");

    // One-shot, streamed.
    let (code, stdout, stderr) = chat(
        &mock,
        &ledger,
        &["--model", "openai:gpt-4o-mini", "Tell me about caching."],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("gpt-4o-mini"), "{stdout}");
    assert!(
        stderr.contains("openai:gpt-4o-mini")
            && stderr.contains("out tokens")
            && stderr.contains('$'),
        "{stderr}"
    );
    mock.assert_clean("cli one-shot").await;

    // A scripted session per paid provider, with --json to read each call's usage; the
    // ledger's totals must equal the hand sum from the reference's prices.
    let prices: &[(&str, f64, f64)] = &[
        ("openai:gpt-4o-mini", 0.15, 0.60),
        ("anthropic:claude-haiku-4-5", 1.00, 5.00),
        ("gemini:gemini-2.5-flash", 0.30, 2.50),
    ];
    let mut expected_total = 0.0;
    let mut expected_calls = 1; // the one-shot above
    let first: Value = {
        let rows = json(
            &out(
                {
                    let mut c = cairn(&mock, &ledger, &[]);
                    c.args(["cost", "--json"]);
                    c
                },
                None,
            )
            .1,
        );
        expected_total += rows["total_cost_usd"].as_f64().unwrap();
        rows
    };
    assert_eq!(first["total_calls"], 1);
    for (spec, input, output) in prices {
        let mut session = 0.0;
        for prompt in ["What is a cache?", "And a ledger?", "Summarise both."] {
            let (code, stdout, stderr) = chat(&mock, &ledger, &["--model", spec, "--json", prompt]);
            assert_eq!(code, 0, "{spec}: {stderr}");
            let v = json(stdout.trim());
            assert_eq!(v["model"], *spec);
            let u = &v["usage"];
            let (i, o) = (
                u["input_tokens"].as_f64().unwrap(),
                u["output_tokens"].as_f64().unwrap(),
            );
            assert!(o > 0.0);
            let by_hand = (i * input + o * output) / 1e6;
            assert!((v["cost_usd"].as_f64().unwrap() - by_hand).abs() < 1e-12);
            session += by_hand;
            expected_calls += 1;
        }
        let rows = json(
            &out(
                {
                    let mut c = cairn(&mock, &ledger, &[]);
                    c.args(["cost", "--json", "--by", "model"]);
                    c
                },
                None,
            )
            .1,
        );
        let row = rows["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == *spec)
            .unwrap()
            .clone();
        assert!(row["calls"].as_u64().unwrap() >= 3);
        if *spec != "openai:gpt-4o-mini" {
            assert!(
                (row["cost_usd"].as_f64().unwrap() - session).abs() < 1e-12,
                "{spec}: {row} vs {session}"
            );
        }
        expected_total += session;
    }
    let total = json(
        &out(
            {
                let mut c = cairn(&mock, &ledger, &[]);
                c.args(["cost", "--json", "--by", "day", "--since", "2000-01-01"]);
                c
            },
            None,
        )
        .1,
    );
    assert_eq!(total["total_calls"], expected_calls);
    assert!((total["total_cost_usd"].as_f64().unwrap() - expected_total).abs() < 1e-12);
    let (code, table, _) = out(
        {
            let mut c = cairn(&mock, &ledger, &[]);
            c.args(["cost"]);
            c
        },
        None,
    );
    assert_eq!(code, 0);
    assert!(
        table.contains("anthropic:claude-haiku-4-5") && table.contains("total"),
        "{table}"
    );
    let (code, _, err) = out(
        {
            let mut c = cairn(&mock, &ledger, &[]);
            c.args(["cost", "--since", "yesterday"]);
            c
        },
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("--since"), "{err}");
    mock.assert_clean("cli sessions").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_interactive_schema_restart_cache_and_context_window() {
    let mock = Llmock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");

    // The prompt from stdin.
    let mut c = cairn(&mock, &ledger, &[("OPENAI_API_KEY", "k".into())]);
    c.args(["chat", "--no-stream"]);
    let (code, stdout, stderr) = out(c, Some("Piped prompt here"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Piped prompt here") || !stdout.trim().is_empty(),
        "{stdout}"
    );
    mock.reset().await;

    // An interactive session keeps its history.
    let mut c = cairn(&mock, &ledger, &[]);
    c.args([
        "chat",
        "-i",
        "--model",
        "anthropic:claude-haiku-4-5",
        "--system",
        "Be brief.",
    ]);
    let (code, stdout, stderr) = out(c, Some("First question\nSecond question\n/exit\n"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.matches("out tokens").count(), 2, "{stderr}");
    assert!(!stdout.trim().is_empty());
    let reqs = mock.requests().await;
    let bodies: Vec<&Value> = reqs["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["body"])
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[1]["messages"].as_array().unwrap().len(),
        3,
        "history not kept: {}",
        bodies[1]
    );
    assert_eq!(bodies[1]["system"][0]["text"], "Be brief.");
    mock.assert_clean("interactive").await;

    // Structured output from a schema file, validated.
    let schema = dir.path().join("film.json");
    std::fs::write(&schema, json!({"type":"object","properties":{"title":{"type":"string"},"year":{"type":"integer"}},"required":["title","year"],"additionalProperties":false}).to_string()).unwrap();
    for spec in [
        "openai:gpt-4o-mini",
        "anthropic:claude-haiku-4-5",
        "gemini:gemini-2.5-flash",
    ] {
        let (code, stdout, stderr) = chat(
            &mock,
            &ledger,
            &[
                "--model",
                spec,
                "--schema",
                schema.to_str().unwrap(),
                "Name a film.",
            ],
        );
        assert_eq!(code, 0, "{spec}: {stderr}");
        let v = json(&stdout);
        assert!(v["title"].is_string() && v["year"].is_i64(), "{spec}: {v}");
    }
    mock.assert_clean("schema").await;
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    let (code, _, err) = chat(
        &mock,
        &ledger,
        &[
            "--model",
            "openai:gpt-4o-mini",
            "--schema",
            bad.to_str().unwrap(),
            "x",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("bad.json") && err.contains("--schema"),
        "{err}"
    );
    let (code, _, err) = chat(
        &mock,
        &ledger,
        &[
            "--model",
            "openai:gpt-4o-mini",
            "--schema",
            "/nonexistent/s.json",
            "x",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/s.json"), "{err}");

    // A stream that breaks mid-way: the CLI says it restarted and prints the whole reply.
    let (_, clean, _) = chat(
        &mock,
        &ledger,
        &["--model", "gemini:gemini-2.5-flash", "Tell me a story."],
    );
    mock.reset().await;
    mock.scenario(json!([{"type": "stream_fault", "kind": "disconnect", "after_chunks": 3}]))
        .await;
    let (code, stdout, stderr) = chat(
        &mock,
        &ledger,
        &["--model", "gemini:gemini-2.5-flash", "Tell me a story."],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("restarting"), "{stderr}");
    assert!(
        stdout.trim_end().ends_with(clean.trim()),
        "{stdout:?} vs {clean:?}"
    );
    mock.assert_clean("cli restart").await;

    // --cache: the repeat is served from disk and not billed again.
    for _ in 0..2 {
        let (code, _, stderr) = chat(
            &mock,
            &ledger,
            &["--model", "openai:gpt-4o-mini", "--cache", "Cache me."],
        );
        assert_eq!(code, 0, "{stderr}");
    }
    assert_eq!(
        mock.requests().await["requests"].as_array().unwrap().len(),
        1
    );
    mock.reset().await;

    // A fallback chain from config: the primary is refused (401), the next model answers and
    // the ledger books the call under it.
    let fb = dir.path().join("fallback.toml");
    std::fs::write(
        &fb,
        "[llm]\nmodel = \"openai:gpt-4o-mini\"\nfallbacks = [\"anthropic:claude-haiku-4-5\"]\n",
    )
    .unwrap();
    let fb_ledger = dir.path().join("fb.sqlite");
    mock.scenario(json!([{"type": "fail", "status": 401, "match": {"provider": "openai"}}]))
        .await;
    let mut c = cairn(&mock, &fb_ledger, &[]);
    c.args([
        "--config",
        fb.to_str().unwrap(),
        "chat",
        "--no-stream",
        "Who answers?",
    ]);
    let (code, stdout, stderr) = out(c, None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("claude-haiku-4-5"), "{stdout}");
    assert!(
        stderr.contains("[anthropic:claude-haiku-4-5"),
        "the footer names the model that answered: {stderr}"
    );
    let rows = json(
        &out(
            {
                let mut c = cairn(&mock, &fb_ledger, &[]);
                c.args(["cost", "--json"]);
                c
            },
            None,
        )
        .1,
    );
    assert_eq!(rows["rows"].as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows["rows"][0]["key"], "anthropic:claude-haiku-4-5");
    mock.assert_clean("fallback").await;

    // Over the configured window: refused locally, nothing sent.
    let cfg = dir.path().join("cairn.toml");
    std::fs::write(&cfg, "[llm]\ncontext_window = 50\n").unwrap();
    let long = "word ".repeat(200);
    let (code, _, err) = chat(
        &mock,
        &ledger,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--model",
            "openai:gpt-4o-mini",
            &long,
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("context window of 50"), "{err}");
    assert!(mock.requests().await["requests"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// `[index] path` in cairn.toml names where the other commands keep the index; it must not
/// turn plain `cairn chat` into index chat. `[chat] index` (or `--index`) does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_uses_an_index_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");
    common::ingest(&common::samples(), &dir.path().join("idx"), &[]);
    std::fs::write(dir.path().join("cairn.toml"), "[index]\npath = \"idx\"\n").unwrap();
    let mock = Llmock::start().await;
    mock.scenario(json!([{"type": "reply", "text": "Hello there."}]))
        .await;
    let mut c = cairn(&mock, &ledger, &[]);
    c.current_dir(dir.path())
        .args(["chat", "--model", "openai:gpt-4o-mini", "what is BM25?"]);
    let (code, text, err) = out(c, None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(text.trim(), "Hello there.");
    let reqs = mock.requests().await;
    let body = reqs["requests"][0]["body"].to_string();
    assert!(
        !body.contains("Sources:"),
        "plain chat was sent sources: {body}"
    );
    assert!(!err.contains("citations"), "{err}");

    std::fs::write(
        dir.path().join("cairn.toml"),
        "[index]\npath = \"idx\"\n[chat]\nindex = \"idx\"\n",
    )
    .unwrap();
    mock.scenario(json!([{"type": "reply", "text": "BM25 needs no training [1]."}]))
        .await;
    let mut c = cairn(&mock, &ledger, &[]);
    c.current_dir(dir.path()).args([
        "chat",
        "--model",
        "openai:gpt-4o-mini",
        "why does BM25 still matter?",
    ]);
    let (code, text, err) = out(c, None);
    assert_eq!(code, 0, "{err}");
    assert!(text.starts_with("BM25 needs no training [1]."), "{text}");
    let reqs = mock.requests().await;
    let body = reqs["requests"].as_array().unwrap().last().unwrap()["body"].to_string();
    assert!(body.contains("Sources:"), "{body}");
    assert!(
        err.contains("the model's citations: 1 of 1 supported (lexical)"),
        "{err}"
    );
}

/// `chat -i --index` across an ingest by another process: the next turn reads the new
/// generation instead of failing on rows its snapshot no longer matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_chat_follows_an_ingest_by_another_process() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");
    let index = dir.path().join("idx");
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(
        docs.join("a.md"),
        "# Cairns\n\nHikers build cairns to mark a trail over bare rock.\n",
    )
    .unwrap();
    common::ingest(&docs, &index, &[]);
    let mock = Llmock::start().await;
    mock.scenario(json!([
        {"type": "reply", "text": "Hikers build cairns to mark a trail [1]."},
        {"type": "reply", "text": "How are knives kept sharp?"},
        {"type": "reply", "text": "Knives are honed before each use [1]."}
    ]))
    .await;
    let mut c = cairn(&mock, &ledger, &[]);
    c.arg("--index")
        .arg(&index)
        .args(["chat", "-i", "--model", "openai:gpt-4o-mini"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    stdin.write_all(b"how do hikers mark a trail?\n").unwrap();
    // Wait for the first turn's footer, then ingest a second document from another process.
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "chat ended early: {seen}"
        );
        seen.push_str(&line);
        if line.contains("the model's citations") {
            break;
        }
    }
    std::fs::write(
        docs.join("b.md"),
        "# Knives\n\nKnives are honed before each use to keep them sharp.\n",
    )
    .unwrap();
    common::ingest(&docs, &index, &[]);
    stdin.write_all(b"and knives?\n").unwrap();
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{seen}{rest}");
    assert!(
        rest.contains("[the index changed: now at generation"),
        "{rest}"
    );
    assert!(!rest.contains("error:"), "{rest}");
    assert!(
        out.contains("Knives are honed before each use [1]."),
        "{out}"
    );
    assert!(out.contains("b.md"), "the new document is cited: {out}");
}

/// A session that outgrows the model's window leaves out its oldest turns (and says so)
/// instead of failing; the newest message always goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_sessions_drop_their_oldest_turns_to_fit() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");
    std::fs::write(
        dir.path().join("cairn.toml"),
        "[llm]\ncontext_window = 60\n",
    )
    .unwrap();
    let mock = Llmock::start().await;
    let words = |w: &str| vec![w; 18].join(" ");
    mock.scenario(json!([
        {"type": "reply", "text": words("yes")},
        {"type": "reply", "text": "fine"}
    ]))
    .await;
    let mut c = cairn(&mock, &ledger, &[]);
    c.current_dir(dir.path()).args([
        "chat",
        "-i",
        "--model",
        "openai:gpt-4o-mini",
        "--max-tokens",
        "5",
    ]);
    let (code, _, err) = out(
        c,
        Some(&format!("{}\n{}\n", words("first"), words("second"))),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("[left out the 2 oldest messages to fit the model's context window]"),
        "{err}"
    );
    assert!(!err.contains("error:"), "{err}");
    let reqs = mock.requests().await;
    let last = reqs["requests"].as_array().unwrap().last().unwrap()["body"]["messages"].clone();
    assert_eq!(last.as_array().unwrap().len(), 1, "{last}");
    assert!(
        last[0]["content"].as_str().unwrap().starts_with("second"),
        "{last}"
    );
}

/// The footer of a plain chat turn: `[model · I in (…) / O out tokens · $cost …]`.
fn footer_facts(stderr: &str) -> (String, f64, f64, f64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with('[') && l.contains(" out tokens · "))
        .unwrap_or_else(|| panic!("no footer in: {stderr}"));
    let model = line[1..line.find(" · ").unwrap()].to_string();
    let num = |before: &str| -> f64 {
        let end = line.find(before).unwrap();
        let start = line[..end].rfind(' ').map_or(0, |i| i + 1);
        line[start..end]
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {before:?} in {line}"))
    };
    let cost: f64 = line[line.find(" · $").unwrap() + " · $".len()..]
        .split([' ', ']'])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: the cost in {line}"));
    (model, num(" in ("), num(" out tokens"), cost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chats_at_once_each_report_their_own_model_and_cost() {
    // Both processes book into one ledger while the other's stream is still running; each
    // footer must name its own model and price only its own tokens (the response carries
    // them; nothing is read back from the shared ledger).
    let mock = Llmock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");
    let specs = [
        ("openai:gpt-4o-mini", 0.15, 0.60),
        ("anthropic:claude-haiku-4-5", 1.00, 5.00),
    ];
    for round in 0..3 {
        let children: Vec<_> = specs
            .iter()
            .map(|(spec, _, _)| {
                let mut c = cairn(&mock, &ledger, &[]);
                c.args([
                    "chat",
                    "--model",
                    spec,
                    "Explain what a write-ahead log is.",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
                c.spawn().unwrap()
            })
            .collect();
        for (child, (spec, pin, pout)) in children.into_iter().zip(specs) {
            let o = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{spec}: {err}");
            let (model, i, out_tokens, cost) = footer_facts(&err);
            assert_eq!(model, spec, "round {round}: {err}");
            assert!(out_tokens > 0.0, "{err}");
            let by_hand = (i * pin + out_tokens * pout) / 1e6;
            // The footer prints six decimals.
            assert!(
                (cost - by_hand).abs() < 1e-6,
                "round {round} {spec}: footer ${cost} vs its own tokens ${by_hand:.6}: {err}"
            );
        }
    }
    // The ledger holds every call of both processes.
    let rows = json(
        &out(
            {
                let mut c = cairn(&mock, &ledger, &[]);
                c.args(["cost", "--json"]);
                c
            },
            None,
        )
        .1,
    );
    assert_eq!(rows["total_calls"], 6, "{rows}");
    mock.assert_clean("two chats at once").await;
}
