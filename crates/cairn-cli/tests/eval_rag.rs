//! `cairn eval rag`, `eval compare` and `eval calibrate` end to end: questions answered by
//! llmock through the `ask` pipeline on the sample corpus, scores checked against values
//! computed by hand, the run file, the report, `--fail-under`, and bad input.

mod common;
#[path = "../../cairn-eval/tests/judge_replies/mod.rs"]
mod judge_replies;
#[path = "../../cairn-llm/tests/support/mod.rs"]
mod support;

use std::path::Path;

use judge_replies::{json_reply, verdicts};
use serde_json::{json, Value};
use support::Llmock;

fn eval(mock: Option<&Llmock>, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = common::cairn_no_provider();
    c.env("CAIRN_LEDGER", dir.join("ledger.sqlite"))
        .env("CAIRN_CACHE_DIR", dir.join("cache"))
        .current_dir(dir);
    if let Some(m) = mock {
        c.env("OPENAI_BASE_URL", m.base_for("openai"));
    }
    c.arg("eval").args(args);
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn metric<'a>(sample: &'a Value, name: &str) -> &'a Value {
    &sample["metrics"][name]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_rag_asks_and_scores_with_hand_computed_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let index = d.join("idx");
    common::ingest(&common::samples(), &index, &[]);
    let ds = d.join("qa.jsonl");
    std::fs::write(
        &ds,
        concat!(
            "{\"id\":\"tyre\",\"question\":\"Who patented the pneumatic tyre?\",\"reference\":\"John Boyd Dunlop\",\"reference_doc_ids\":[\"history/bicycle.md\"]}\n",
            "{\"id\":\"bread\",\"question\":\"At what temperature is the basic sourdough loaf baked?\",\"reference\":\"250 °C\",\"reference_doc_ids\":[\"kitchen/sourdough.md\"]}\n",
            "{\"id\":\"cairn\",\"question\":\"What is a cairn?\"}\n",
        ),
    )
    .unwrap();
    let mock = Llmock::start().await;
    mock.scenario(json!([
        {"type": "reply", "text": "John Boyd Dunlop patented it [1]."},
        {"type": "reply", "text": "I don't know."},
        {"type": "reply", "text": "A cairn is a human-made pile of stones [1]."}
    ]))
    .await;
    let (run_file, report) = (d.join("run.json"), d.join("report.html"));
    let (code, out, err) = eval(
        Some(&mock),
        d,
        &[
            "rag",
            ds.to_str().unwrap(),
            "--index",
            index.to_str().unwrap(),
            "--model",
            "openai:gpt-4o-mini",
            "--concurrency",
            "1",
            "--out",
            run_file.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let run = common::json(&out);
    assert_eq!(
        run,
        common::json(&std::fs::read_to_string(&run_file).unwrap())
    );
    let s = run["samples"].as_array().unwrap();
    assert_eq!(s.len(), 3);
    // "John Boyd Dunlop patented it" vs "John Boyd Dunlop": 3 of 5 answer tokens, all 3
    // reference tokens: F1 = 2 · 0.6 · 1 / 1.6 = 0.75; not an exact match; contains it.
    assert_eq!(metric(&s[0], "exact_match")["value"], 0.0);
    assert!((metric(&s[0], "f1")["value"].as_f64().unwrap() - 0.75).abs() < 1e-12);
    assert_eq!(metric(&s[0], "contains")["value"], 1.0);
    assert_eq!(metric(&s[0], "refusal")["value"], 0.0);
    // The refusal scores 0 against its reference and counts as a refusal.
    assert_eq!(metric(&s[1], "f1")["value"], 0.0);
    assert_eq!(metric(&s[1], "refusal")["value"], 1.0);
    assert!(metric(&s[1], "citation_recall")["reason"]
        .as_str()
        .unwrap()
        .starts_with("refusal"));
    // No reference: the answer metrics say so instead of scoring.
    assert!(metric(&s[2], "f1")["reason"]
        .as_str()
        .unwrap()
        .starts_with("no reference"));
    let f1 = &run["summary"]["f1"];
    assert_eq!((f1["n"].as_u64(), f1["total"].as_u64()), (Some(2), Some(3)));
    assert_eq!(f1["skipped"]["no reference"], 1);
    assert!((f1["mean"].as_f64().unwrap() - 0.375).abs() < 1e-12);
    assert!((run["summary"]["refusal"]["mean"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    // Retrieval and citations read the sources the model was given.
    let contexts = s[0]["response"]["contexts"].as_array().unwrap();
    let rank = contexts
        .iter()
        .position(|c| {
            c["doc_id"]
                .as_str()
                .unwrap()
                .ends_with("history/bicycle.md")
        })
        .expect("the bicycle page is retrieved for the tyre question")
        + 1;
    assert_eq!(metric(&s[0], "retrieval_hit")["value"], 1.0);
    assert!(
        (metric(&s[0], "retrieval_mrr")["value"].as_f64().unwrap() - 1.0 / rank as f64).abs()
            < 1e-12
    );
    assert_eq!(s[0]["response"]["statements"][0]["cites"], json!([1]));
    let cited_right = f64::from(u8::from(rank == 1));
    assert_eq!(metric(&s[0], "citation_recall")["value"], cited_right);
    assert_eq!(metric(&s[0], "citation_precision")["value"], cited_right);
    // The report is one self-contained file holding every question.
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("<html") && html.contains("pneumatic tyre"),
        "{}",
        &html[..200]
    );
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));

    // --fail-under on answers read back from a file: no model is asked.
    let answers = d.join("answers.jsonl");
    let lines: Vec<String> = s
        .iter()
        .map(|x| {
            json!({"question": x["sample"]["question"], "reference": x["sample"]["reference"],
                "answer": x["response"]["answer"], "contexts": x["response"]["contexts"]})
            .to_string()
        })
        .collect();
    std::fs::write(&answers, lines.join("\n")).unwrap();
    let (code, out, err) = eval(
        None,
        d,
        &[
            "rag",
            "--answers",
            answers.to_str().unwrap(),
            "--fail-under",
            "f1=0.3",
            "--fail-under",
            "contains=0.9",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("contains 0.5000 < 0.9") && !err.contains("f1 "),
        "{err}"
    );
    assert!(
        out.contains("f1") && out.contains("0.3750") && out.contains("2/3"),
        "{out}"
    );
}

#[test]
fn eval_rag_bad_input_names_the_flag_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = eval(None, d, &["rag", "nope.jsonl", "--index", "nowhere"]);
    assert_ne!(code, 0);
    assert!(err.contains("nope.jsonl"), "{err}");
    let ds = d.join("qa.jsonl");
    std::fs::write(
        &ds,
        "{\"question\":\"q\",\"reference\":\"r\"}\n{\"reference\":\"r\"}\n",
    )
    .unwrap();
    let (code, _, err) = eval(None, d, &["rag", "--answers", ds.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("line 1") && err.contains("`answer`"), "{err}");
    let (code, _, err) = eval(
        None,
        d,
        &["rag", ds.to_str().unwrap(), "--metrics", "faithfulness"],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("--judge") && err.contains("faithfulness"),
        "{err}"
    );
    let (code, _, err) = eval(None, d, &["rag", ds.to_str().unwrap(), "--metrics", "em"]);
    assert_ne!(code, 0);
    assert!(err.contains("`em`") && err.contains("exact_match"), "{err}");
    let (code, _, err) = eval(
        None,
        d,
        &["rag", ds.to_str().unwrap(), "--fail-under", "f1=2"],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("--fail-under") && err.contains("0 to 1"),
        "{err}"
    );
    let (code, _, err) = eval(None, d, &["compare", "a.json", ds.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("a.json"), "{err}");
    let (code, _, err) = eval(None, d, &["calibrate", "--labels", ds.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("line 1") && err.contains("`response`"),
        "{err}"
    );
}

/// The offline faithfulness stand-in against people's labels (BEGIN dev): agreement is
/// reported, and the lexical check agrees with people beyond chance.
#[test]
fn eval_calibrate_measures_agreement_with_human_labels() {
    let dir = tempfile::tempdir().unwrap();
    let labels = common::repo_root().join("../shared/data/judgements/begin-dev");
    let (code, out, err) = eval(
        None,
        dir.path(),
        &["calibrate", "--labels", labels.to_str().unwrap(), "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let r = common::json(&out);
    let a = &r["agreement"];
    let n = a["n"].as_u64().unwrap();
    assert!(n > 1000, "{r}");
    let counts: u64 = ["tp", "fp", "fn_", "tn"]
        .iter()
        .map(|k| a[k].as_u64().unwrap())
        .sum();
    assert_eq!(counts, n);
    let kappa = a["kappa"].as_f64().unwrap();
    let spearman = a["spearman"].as_f64().unwrap();
    eprintln!("lexical faithfulness vs BEGIN dev: n {n} accuracy {} kappa {kappa:.3} spearman {spearman:.3}", a["accuracy"]);
    // Measured here: kappa 0.706, Spearman 0.684 on 1,229 labels.
    assert!(kappa > 0.6 && spearman > 0.55, "{r}");
}

fn answers(path: &Path, first: &str) {
    let rows = [
        json!({"id": "tyre", "question": "Who patented the pneumatic tyre?", "reference": "John Boyd Dunlop",
            "answer": first, "contexts": ["The pneumatic tyre was patented by John Boyd Dunlop in 1888."]}),
        json!({"id": "bread", "question": "How hot is the oven for sourdough?", "reference": "250 °C",
            "answer": "Bake it at 250 °C. The loaf is purple.", "contexts": ["Bake at 250 °C in a covered pot for 20 minutes."]}),
    ];
    let lines: Vec<String> = rows.iter().map(Value::to_string).collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// Judge metrics through the CLI: scores from scripted verdicts, every call booked, a rerun
/// served whole from the on-disk cache (no request, $0, the same numbers), and `eval compare`
/// naming the question that got worse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_rag_judge_is_cached_and_compare_finds_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mock = Llmock::start().await;
    let (a, b) = (d.join("a.jsonl"), d.join("b.jsonl"));
    answers(&a, "Dunlop patented the tyre in 1888.");
    answers(&b, "Dunlop patented the tyre in 1790.");
    let judged = |answers: &Path, out: &Path| {
        eval(
            Some(&mock),
            d,
            &[
                "rag",
                "--answers",
                answers.to_str().unwrap(),
                "--judge",
                "openai:judge-model",
                "--metrics",
                "faithfulness,f1",
                "--concurrency",
                "1",
                "--out",
                out.to_str().unwrap(),
                "--json",
            ],
        )
    };
    mock.scenario(json!([
        json_reply(json!({"statements": ["Dunlop patented the tyre in 1888."]})),
        verdicts(&[1]),
        json_reply(json!({"statements": ["The oven is at 250 °C.", "The loaf is purple."]})),
        verdicts(&[1, 0]),
    ]))
    .await;
    let (run_a, run_b) = (d.join("a.json"), d.join("b.json"));
    let (code, out, err) = judged(&a, &run_a);
    assert_eq!(code, 0, "{err}");
    let first = common::json(&out);
    let faith =
        |run: &Value, i: usize| run["samples"][i]["metrics"]["faithfulness"]["value"].as_f64();
    assert_eq!((faith(&first, 0), faith(&first, 1)), (Some(1.0), Some(0.5)));
    let details = &first["samples"][1]["metrics"]["faithfulness"]["details"];
    assert!(
        details.to_string().contains("The loaf is purple."),
        "{details}"
    );
    let cost = &first["judge_cost"]["faithfulness"];
    assert_eq!(
        (cost["calls"].as_u64(), cost["cached"].as_u64()),
        (Some(4), Some(0))
    );
    assert_eq!(first["judge"], "openai:judge-model");
    let sent = mock.requests().await["requests"].as_array().unwrap().len();
    assert_eq!(sent, 4);

    // The same run again: nothing reaches the model, the numbers are the same.
    let (code, out, err) = judged(&a, &d.join("a2.json"));
    assert_eq!(code, 0, "{err}");
    let again = common::json(&out);
    assert_eq!(
        mock.requests().await["requests"].as_array().unwrap().len(),
        sent
    );
    assert_eq!(again["summary"], first["summary"]);
    let cost = &again["judge_cost"]["faithfulness"];
    assert_eq!(
        (cost["calls"].as_u64(), cost["cached"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(cost["usd"].as_f64(), Some(0.0));

    // B changes the first answer only: two new calls; the second sample is cached.
    mock.scenario(json!([
        json_reply(json!({"statements": ["Dunlop patented the tyre in 1790."]})),
        verdicts(&[0]),
    ]))
    .await;
    let (code, out, err) = judged(&b, &run_b);
    assert_eq!(code, 0, "{err}");
    let second = common::json(&out);
    assert_eq!(
        (faith(&second, 0), faith(&second, 1)),
        (Some(0.0), Some(0.5))
    );
    let (code, out, err) = eval(
        None,
        d,
        &[
            "compare",
            run_a.to_str().unwrap(),
            run_b.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let c = common::json(&out);
    assert_eq!(c["pairs"], 2);
    let m = c["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "faithfulness")
        .unwrap();
    assert_eq!(
        (
            m["better"].as_u64(),
            m["worse"].as_u64(),
            m["same"].as_u64()
        ),
        (Some(0), Some(1), Some(1))
    );
    assert_eq!(m["delta"].as_f64(), Some(-0.5));
    assert_eq!(m["changes"][0]["id"], "tyre");
    let (code, out, _) = eval(
        None,
        d,
        &["compare", run_a.to_str().unwrap(), run_b.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("faithfulness") && out.contains("Who patented the pneumatic tyre?"),
        "{out}"
    );
}

/// Calibrating a judge: its faithfulness verdicts on labelled responses, agreement computed
/// from them (here the judge agrees on one of two labels).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_calibrate_scores_a_judge_against_labels() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let labels = d.join("labels.jsonl");
    std::fs::write(
        &labels,
        concat!(
            "{\"response\":\"Dunlop patented the tyre.\",\"context\":\"John Boyd Dunlop patented the pneumatic tyre in 1888.\",\"label\":true}\n",
            "{\"response\":\"Starley patented the tyre.\",\"context\":\"John Boyd Dunlop patented the pneumatic tyre in 1888.\",\"label\":false}\n",
        ),
    )
    .unwrap();
    let mock = Llmock::start().await;
    mock.scenario(json!([
        json_reply(json!({"statements": ["Dunlop patented the tyre."]})),
        verdicts(&[1]),
        json_reply(json!({"statements": ["Starley patented the tyre."]})),
        verdicts(&[1]),
    ]))
    .await;
    let (code, out, err) = eval(
        Some(&mock),
        d,
        &[
            "calibrate",
            "--labels",
            labels.to_str().unwrap(),
            "--judge",
            "openai:judge-model",
            "--concurrency",
            "1",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let r = common::json(&out);
    assert_eq!(r["scorer"], "faithfulness (judge openai:judge-model)");
    let a = &r["agreement"];
    assert_eq!(
        (a["tp"].as_u64(), a["fp"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(a["accuracy"].as_f64(), Some(0.5));
    assert_eq!(a["kappa"].as_f64(), Some(0.0));
    assert_eq!(r["cost"]["calls"], 4);
}

/// Answer relevancy with a remote embedding model (`--judge-embedder`): the mean cosine of the
/// judge's generated questions to the question, from the provider's own vectors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_relevancy_uses_the_judge_embedder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let q = "Who patented the pneumatic tyre?";
    let other = "When was the safety bicycle built?";
    let answers = d.join("a.jsonl");
    std::fs::write(
        &answers,
        json!({"question": q, "answer": "John Boyd Dunlop patented it.", "contexts": ["Dunlop patented the pneumatic tyre in 1888."]})
            .to_string(),
    )
    .unwrap();
    let mock = Llmock::start().await;
    // Only the judge's chat call gets the scripted reply (the embedder's calls are left to
    // llmock's own deterministic vectors).
    let mut r = json_reply(json!({"questions": [q, q, other], "noncommittal": 0}));
    r["match"] = json!({"model": "judge-model"});
    mock.scenario(json!([r])).await;
    let model = "text-embedding-3-small";
    let (code, out, err) = eval(
        Some(&mock),
        d,
        &[
            "rag",
            "--answers",
            answers.to_str().unwrap(),
            "--judge",
            "openai:judge-model",
            "--judge-embedder",
            &format!("openai:{model}"),
            "--metrics",
            "answer_relevancy",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let got = common::json(&out)["samples"][0]["metrics"]["answer_relevancy"]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("{out}"));
    // The provider's vectors for the question and the one different generated question.
    let v: Value = reqwest::Client::new()
        .post(format!("{}/embeddings", mock.base_for("openai")))
        .json(&json!({"model": model, "input": [q, other]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vec = |i: usize| -> Vec<f64> {
        v["data"][i]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (a, b) = (vec(0), vec(1));
    let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let cos = dot / (norm(&a) * norm(&b));
    let want = ((1.0 + 1.0 + cos) / 3.0).max(0.0);
    assert!(
        (got - want).abs() < 1e-4,
        "answer_relevancy {got}, by hand {want}: {out}"
    );
    let (code, _, err) = eval(
        None,
        d,
        &[
            "rag",
            "--answers",
            answers.to_str().unwrap(),
            "--judge-embedder",
            "openai:x",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("--judge"), "{err}");
}
