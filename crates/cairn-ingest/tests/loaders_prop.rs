//! Property tests of the loaders, which read untrusted bytes: whatever the bytes, every loader
//! returns documents or a `LoadError` naming the file, and never panics. Each loader gets raw
//! arbitrary bytes and inputs shaped like its format (so the parsers get past their first
//! check): tag soup for HTML, JSON-ish lines, CSV rows, zips holding arbitrary XML, and
//! valid PDFs with bytes overwritten.
//!
//! `PROPTEST_CASES=1000000 cargo test -p cairn-ingest --release --test loaders_prop` runs a
//! million cases per property (the default is proptest's 256).

use cairn_ingest::{load_bytes, LoadError, Loaded, LoaderOptions, Names};
use proptest::prelude::*;
use std::io::Write;

const NAMES: Names = Names {
    shown: "input",
    id: "input",
    source: "input",
};

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn opts() -> LoaderOptions {
    LoaderOptions {
        // Small caps, so the limits are exercised too.
        max_file_bytes: 64 * 1024,
        max_expanded_bytes: 256 * 1024,
        ..Default::default()
    }
}

/// Loads and checks the contract: documents carry the file's id as their prefix, problems
/// and errors name the file.
fn check(kind: &str, bytes: &[u8]) {
    let r: Result<Loaded, LoadError> = load_bytes(kind, bytes, &NAMES, None, None, &opts());
    match r {
        Ok(l) => {
            for d in &l.docs {
                assert!(d.id.starts_with("input"), "{kind}: id {}", d.id);
                assert_eq!(d.source, "input");
            }
            for p in &l.problems {
                assert_eq!(p.path(), "input", "{kind}: {p}");
            }
        }
        Err(e) => assert_eq!(e.path(), "input", "{kind}: {e}"),
    }
}

/// Bytes built from pieces of `tokens` and arbitrary bytes.
fn soup(tokens: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(tokens).prop_map(|t| t.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..4),
        ],
        0..64,
    )
    .prop_map(|parts| parts.concat())
}

const HTML: &[&str] = &[
    "<",
    ">",
    "/",
    "<div>",
    "</div>",
    "<p>",
    "<br/>",
    "<title>",
    "</title>",
    "<script>",
    "</script>",
    "<!--",
    "-->",
    "&amp;",
    "&#x41;",
    "&",
    ";",
    "text ",
    "\n",
    "é",
    "<b",
    "\"",
    "<table><tr><td>",
    "</td></tr></table>",
    "<!doctype html>",
];
const JSON: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"_id\"",
    "\"title\"",
    "\"text\"",
    "\"metadata\"",
    ":",
    ",",
    "\"x\"",
    "1",
    "-0.5e3",
    "null",
    "true",
    "\n",
    "\"\\u00e9\"",
    "\"\\ud800\"",
    " ",
    "\"",
];
const CSV: &[&str] = &[
    "a", "b", ",", "\n", "\r\n", "\"", "\"\"", "text", "title", " ", "é",
];
const MD: &[&str] = &[
    "#", "## ", "```", "~~~", "\n", "\n\n", "text ", "- ", "    ", "é", "|",
];
const XML: &[&str] = &[
    "<w:p>",
    "</w:p>",
    "<w:t>",
    "</w:t>",
    "<w:t xml:space=\"preserve\">",
    "<w:tab/>",
    "<w:br/>",
    "&amp;",
    "&#233;",
    "&#xZZ;",
    "&",
    ";",
    "<",
    ">",
    "text",
    "<w:p/>",
];

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o: zip::write::SimpleFileOptions = Default::default();
        for (name, data) in entries {
            z.start_file(*name, o).unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// A small valid PDF with one text page.
fn pdf() -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Tj", vec![Object::string_literal("Hello pages")]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
    let page_id = doc.add_object(
        dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content_id },
    );
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id,
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..512)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_never_panics(b in prop_oneof![any_bytes(), any::<String>().prop_map(String::into_bytes)]) {
        check("text", &b);
        check("code", &b);
    }

    #[test]
    fn markdown_never_panics(
        b in prop_oneof![any_bytes(), soup(MD), any::<String>().prop_map(String::into_bytes)]
    ) {
        check("markdown", &b);
    }

    #[test]
    fn html_never_panics(b in prop_oneof![any_bytes(), soup(HTML)]) {
        check("html", &b);
    }

    #[test]
    fn jsonl_never_panics(b in prop_oneof![any_bytes(), soup(JSON)]) {
        check("jsonl", &b);
    }

    #[test]
    fn json_never_panics(b in prop_oneof![any_bytes(), soup(JSON)]) {
        check("json", &b);
    }

    #[test]
    fn csv_never_panics(b in prop_oneof![any_bytes(), soup(CSV)]) {
        check("csv", &b);
    }

    #[test]
    fn docx_never_panics(
        raw in any_bytes(),
        xml in soup(XML),
        cut in any::<prop::sample::Index>(),
    ) {
        check("docx", &raw);
        let z = zip_of(&[("word/document.xml", &xml)]);
        check("docx", &z);
        // A zip cut short, or with its tail replaced.
        let at = cut.index(z.len() + 1);
        check("docx", &z[..at]);
        let mut tail = z.clone();
        tail.truncate(at);
        tail.extend_from_slice(&raw);
        check("docx", &tail);
    }

    #[test]
    fn pdf_never_panics(
        raw in any_bytes(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        check("pdf", &raw);
        let mut p = PDF.with(|p| p.clone());
        for (at, byte) in &edits {
            let i = at.index(p.len());
            p[i] = *byte;
        }
        check("pdf", &p);
        check("pdf", &p[..cut.index(p.len() + 1)]);
    }
}

thread_local! {
    static PDF: Vec<u8> = pdf();
}

#[test]
fn the_shaped_inputs_reach_the_parsers() {
    // The seeds the properties mutate are valid files, so mutations start from real input.
    let l = load_bytes("pdf", &pdf(), &NAMES, None, None, &opts()).unwrap();
    assert!(l.docs[0].text.contains("Hello pages"));
    assert_eq!(l.docs[0].id, "input#page=1");
    let z = zip_of(&[("word/document.xml", b"<w:p><w:t>Hi there</w:t></w:p>")]);
    let l = load_bytes("docx", &z, &NAMES, None, None, &opts()).unwrap();
    assert_eq!(l.docs[0].text, "Hi there");
}
