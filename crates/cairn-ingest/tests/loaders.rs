//! PDF, DOCX, CSV and JSON loaders on small files the test writes, including a corrupt PDF, an
//! encrypted one and a password-protected (OLE) Word file.

use std::io::Write;
use std::path::Path;

use cairn_ingest::{load_file, LoaderOptions};
use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};

fn pdf(pages: &[&str], encrypt: bool) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for text in pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 12.into()]),
                Operation::new("Td", vec![72.into(), 700.into()]),
                Operation::new("Tj", vec![Object::string_literal(*text)]),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(
            dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content_id },
        );
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    if encrypt {
        let enc = doc.add_object(dictionary! {
            "Filter" => "Standard", "V" => 1, "R" => 2,
            "O" => Object::string_literal(vec![7u8; 32]), "U" => Object::string_literal(vec![9u8; 32]), "P" => -4,
        });
        doc.trailer.set("Encrypt", enc);
        doc.trailer.set(
            "ID",
            vec![
                Object::string_literal(vec![1u8; 16]),
                Object::string_literal(vec![1u8; 16]),
            ],
        );
    }
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn docx(paragraphs: &[&str]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o: zip::write::SimpleFileOptions = Default::default();
        z.start_file("[Content_Types].xml", o).unwrap();
        z.write_all(b"<Types/>").unwrap();
        z.start_file("word/document.xml", o).unwrap();
        let body: String = paragraphs
            .iter()
            .map(|p| format!("<w:p><w:r><w:t>{p}</w:t></w:r></w:p>"))
            .collect();
        z.write_all(format!("<?xml version=\"1.0\"?><w:document xmlns:w=\"x\"><w:body>{body}</w:body></w:document>").as_bytes()).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

fn load(
    path: &Path,
    opts: &LoaderOptions,
) -> Result<cairn_ingest::Loaded, cairn_ingest::LoadError> {
    load_file(path, &path.display().to_string(), opts)
}

#[test]
fn pdf_pages_become_documents_with_page_numbers() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("report.pdf");
    std::fs::write(
        &p,
        pdf(
            &[
                "Revenue grew in the first quarter.",
                "Costs fell in the second quarter.",
            ],
            false,
        ),
    )
    .unwrap();
    let l = load(&p, &LoaderOptions::default()).unwrap();
    assert_eq!(l.docs.len(), 2);
    assert!(
        l.docs[0].text.contains("Revenue grew"),
        "{:?}",
        l.docs[0].text
    );
    assert!(l.docs[1].text.contains("Costs fell"));
    assert_eq!(l.docs[0].metadata["page"], 1);
    assert_eq!(l.docs[1].metadata["page"], 2);
    assert_eq!(l.docs[1].kind, "pdf");
    assert!(l.docs[1].id.ends_with("#page=2"));
}

#[test]
fn corrupt_and_encrypted_pdfs_are_named_and_explained() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("broken.pdf");
    std::fs::write(
        &bad,
        b"%PDF-1.5\n1 0 obj << /Type /Catalog >>\ngarbage\x00\x01 trailer <<>>",
    )
    .unwrap();
    let e = load(&bad, &LoaderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("broken.pdf") && e.contains("corrupt"), "{e}");
    let enc = d.path().join("secret.pdf");
    std::fs::write(&enc, pdf(&["Top secret."], true)).unwrap();
    let e = load(&enc, &LoaderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("secret.pdf") && e.contains("encrypted"), "{e}");
}

#[test]
fn docx_paragraphs_and_protected_word_files() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("memo.docx");
    std::fs::write(
        &p,
        docx(&[
            "Quarterly memo",
            "Ship the release on Friday &amp; tell support.",
        ]),
    )
    .unwrap();
    let l = load(&p, &LoaderOptions::default()).unwrap();
    assert_eq!(l.docs.len(), 1);
    assert_eq!(
        l.docs[0].text,
        "Quarterly memo\n\nShip the release on Friday & tell support."
    );
    assert_eq!(l.docs[0].title.as_deref(), Some("Quarterly memo"));
    let ole = d.path().join("locked.docx");
    std::fs::write(
        &ole,
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest-of-an-encrypted-package",
    )
    .unwrap();
    let e = load(&ole, &LoaderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("locked.docx") && e.contains("encrypted"), "{e}");
    let junk = d.path().join("junk.docx");
    std::fs::write(&junk, b"not a zip").unwrap();
    assert!(load(&junk, &LoaderOptions::default())
        .err()
        .unwrap()
        .to_string()
        .contains("corrupt"));
}

#[test]
fn csv_and_json_records_with_chosen_fields() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("products.csv");
    std::fs::write(&csv, "sku,name,description,price\nA1,Kettle,\"Boils water, fast\",30\nB2,Toaster,Browns bread,25\nC3,Broken\n").unwrap();
    let opts = LoaderOptions {
        text_fields: vec!["name".into(), "description".into()],
        id_field: Some("sku".into()),
        ..Default::default()
    };
    let l = load(&csv, &opts).unwrap();
    assert_eq!(l.docs.len(), 2);
    assert_eq!(
        l.docs[0].text,
        "name: Kettle\ndescription: Boils water, fast"
    );
    assert!(l.docs[0].id.ends_with("#A1"));
    assert_eq!(l.docs[0].metadata["price"], "30");
    assert_eq!(l.docs[0].title.as_deref(), Some("Kettle"));
    assert_eq!(l.problems.len(), 1, "the short row is reported");
    assert_eq!(l.problems[0].line(), Some(4));
    let bad_field = LoaderOptions {
        text_fields: vec!["colour".into()],
        ..Default::default()
    };
    let l = load(&csv, &bad_field).unwrap();
    assert!(l.docs.is_empty());
    assert!(
        l.problems[0].to_string().contains("colour")
            && l.problems[0].to_string().contains("--text-fields")
    );

    let json = d.path().join("faq.json");
    std::fs::write(&json, r#"{"items": [{"id": 7, "question": "How do I reset?", "answer": "Hold the button.", "tags": ["x"]}, {"id": 8, "question": "Warranty?", "answer": "Two years."}]}"#).unwrap();
    let opts = LoaderOptions {
        text_fields: vec!["question".into(), "answer".into()],
        id_field: Some("id".into()),
        ..Default::default()
    };
    let l = load(&json, &opts).unwrap();
    assert_eq!(l.docs.len(), 2);
    assert_eq!(l.docs[1].text, "question: Warranty?\nanswer: Two years.");
    assert!(l.docs[1].id.ends_with("#8"));
    // Without --text-fields every string field is indexed.
    let l = load(&json, &LoaderOptions::default()).unwrap();
    assert!(
        l.docs[0].text.contains("How do I reset?") && l.docs[0].text.contains("Hold the button.")
    );
    let broken = d.path().join("broken.json");
    std::fs::write(&broken, "{\"a\": [1,\n").unwrap();
    let e = load(&broken, &LoaderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("broken.json") && e.contains("not valid JSON"),
        "{e}"
    );
}
