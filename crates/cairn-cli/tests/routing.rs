//! Routing a query among several indexes (`--among`), and parent-section expansion in `ask`
//! (with llmock as the model).

mod common;
#[path = "../../cairn-llm/tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};

#[test]
fn search_routes_among_indexes_by_their_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    let kitchen = dir.path().join("kitchen");
    let tech = dir.path().join("tech");
    common::ingest(&common::samples().join("kitchen"), &kitchen, &[]);
    common::ingest(&common::samples().join("tech"), &tech, &[]);
    let among = [
        format!(
            "kitchen={}:cooking, baking bread, coffee, knives",
            kitchen.display()
        ),
        format!(
            "tech={}:software, databases, http caching, search",
            tech.display()
        ),
    ];
    let search = |q: &str| {
        let (code, out, err) = common::run(&[
            "search", q, "--among", &among[0], "--among", &among[1], "--json", "-k", "3",
        ]);
        assert_eq!(code, 0, "{err}");
        (common::json(&out), err)
    };
    let (hits, err) = search("how should coffee beans be stored?");
    assert!(err.contains("[routed to kitchen"), "{err}");
    let hits = hits["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    for h in hits {
        assert!(
            h["chunk"]["doc_id"].as_str().unwrap().contains("/kitchen/"),
            "{h}"
        );
    }
    let (hits, err) = search("do databases block readers during a write?");
    assert!(err.contains("[routed to tech"), "{err}");
    let hits = hits["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    for h in hits {
        assert!(
            h["chunk"]["doc_id"].as_str().unwrap().contains("/tech/"),
            "{h}"
        );
    }
    // A folder without an index is named.
    let (code, _, err) = common::run(&["search", "x", "--among", "a=/nonexistent-cairn-index"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--among") && err.contains("holds no cairn index"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_widens_chunks_to_their_section() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    // One long section that the chunker cuts into several chunks, and a short one.
    let mut long = String::from("# Lighthouse keeping\n\n## Duties\n\n");
    for i in 0..24 {
        long.push_str(&format!(
            "Duty number {i} of the keeper was to trim the wick and polish the lens. "
        ));
    }
    long.push_str("The fog signal had to sound every thirty seconds in poor visibility.\n\n## Pay\n\nKeepers were paid monthly.\n");
    std::fs::write(docs.join("keepers.md"), &long).unwrap();
    let index = dir.path().join("idx");
    common::ingest(
        &docs,
        &index,
        &["--chunk-tokens", "48", "--chunk-overlap", "0"],
    );

    let mock = support::Llmock::start().await;
    mock.scenario(
        json!([{"type": "reply", "text": "It sounded every thirty seconds [1].", "times": 4}]),
    )
    .await;
    let ask = |extra: &[&str]| {
        let mut c = common::cairn_no_provider();
        c.env("OPENAI_BASE_URL", mock.base_for("openai"))
            .env("CAIRN_LEDGER", dir.path().join("ledger.sqlite"))
            .arg("--index")
            .arg(&index)
            .args([
                "ask",
                "How often did the fog signal sound?",
                "--model",
                "openai:gpt-4o-mini",
                "-k",
                "1",
                "--json",
            ])
            .args(extra);
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        common::json(&String::from_utf8_lossy(&o.stdout))
    };
    let plain: Value = ask(&[]);
    let widened: Value = ask(&["--parent-sections"]);
    let p = &plain["sources"][0];
    let w = &widened["sources"][0];
    assert_eq!(p["chunk_ids"].as_array().unwrap().len(), 1, "{p:#}");
    assert!(w["chunk_ids"].as_array().unwrap().len() > 2, "{w:#}");
    let wt = w["text"].as_str().unwrap();
    // The whole Duties section, and nothing of the next one.
    assert!(
        wt.contains("Duty number 0 ") && wt.contains("every thirty seconds"),
        "{wt}"
    );
    assert!(!wt.contains("paid monthly"), "{wt}");
    assert!(w["start"].as_u64().unwrap() <= p["start"].as_u64().unwrap());
    assert!(w["end"].as_u64().unwrap() >= p["end"].as_u64().unwrap());
    assert_eq!(w["heading_path"], p["heading_path"]);
}
