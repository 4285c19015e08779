//! Hostile files: decompression bombs, links out of the ingest folder, pipes and devices.
//! Each is skipped with a reason naming the file, quickly and without reading it all.

use cairn_ingest::{load_file, walk_with, LoadError, LoaderOptions, WalkEntry, WalkOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file(name, o).unwrap();
        z.write_all(data).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

fn small_limits() -> LoaderOptions {
    LoaderOptions {
        max_file_bytes: 1024 * 1024,
        max_expanded_bytes: 4 * 1024 * 1024,
        ..Default::default()
    }
}

#[test]
fn a_docx_zip_bomb_is_refused_at_the_expansion_cap() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bomb.docx");
    // 64 MiB of one repeated run deflates to ~64 KiB.
    let run = b"<w:p><w:r><w:t>aaaaaaaaaaaaaaaa</w:t></w:r></w:p>";
    let xml: Vec<u8> = run.iter().copied().cycle().take(64 << 20).collect();
    let z = zip_of("word/document.xml", &xml);
    assert!(z.len() < 1024 * 1024, "{} bytes", z.len());
    std::fs::write(&p, &z).unwrap();
    let t = Instant::now();
    let e = load_file(&p, "bomb.docx", &small_limits()).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(matches!(e, LoadError::Expanded { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("bomb.docx") && msg.contains("word/document.xml") && msg.contains("4194304"),
        "{msg}"
    );
    // The same document under the cap loads.
    let ok = zip_of("word/document.xml", &xml[..run.len() * 1000]);
    std::fs::write(&p, &ok).unwrap();
    let l = load_file(&p, "bomb.docx", &small_limits()).unwrap();
    assert!(l.docs[0].text.starts_with("aaaa"));
}

#[test]
fn a_pdf_whose_page_stream_inflates_past_the_cap_is_refused() {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut ops = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Tj", vec![Object::string_literal("bomb")]),
            Operation::new("ET", vec![]),
        ],
    }
    .encode()
    .unwrap();
    ops.extend(std::iter::repeat_n(b' ', 16 << 20));
    let mut stream = Stream::new(dictionary! {}, ops);
    stream.compress().unwrap();
    let content_id = doc.add_object(stream);
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
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    assert!(bytes.len() < 1024 * 1024, "{} bytes", bytes.len());
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bomb.pdf");
    std::fs::write(&p, &bytes).unwrap();
    let e = load_file(&p, "bomb.pdf", &small_limits()).unwrap_err();
    assert!(matches!(e, LoadError::Expanded { .. }), "{e}");
    assert!(e.to_string().contains("page 1"), "{e}");
}

fn walked(dir: &Path, follow: bool) -> Vec<(String, Option<String>)> {
    walk_with(
        &[dir],
        &WalkOptions {
            follow_links: follow,
        },
    )
    .into_iter()
    .map(|e| match e {
        WalkEntry::File(p) => (p.file_name().unwrap().to_string_lossy().into_owned(), None),
        WalkEntry::Skipped { path, reason } => (
            path.file_name().unwrap().to_string_lossy().into_owned(),
            Some(reason),
        ),
    })
    .collect()
}

#[cfg(unix)]
fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[cfg(unix)]
#[test]
fn links_out_of_the_folder_pipes_and_devices_are_skipped_with_reasons() {
    use std::os::unix::fs::symlink;
    let d = tempfile::tempdir().unwrap();
    let docs = d.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("a.txt"), "inside").unwrap();
    std::fs::write(d.path().join("secret.txt"), "outside").unwrap();
    symlink(docs.join("a.txt"), docs.join("to-a.txt")).unwrap();
    symlink(d.path().join("secret.txt"), docs.join("to-secret.txt")).unwrap();
    symlink("/dev/zero", docs.join("zero.txt")).unwrap();
    mkfifo(&d.path().join("pipe"));
    symlink(d.path().join("pipe"), docs.join("to-pipe.txt")).unwrap();
    mkfifo(&docs.join("fifo.txt"));

    let got = walked(&docs, false);
    let reason = |name: &str| {
        got.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} not walked: {got:?}"))
            .1
            .clone()
    };
    assert_eq!(reason("a.txt"), None);
    assert_eq!(
        reason("to-a.txt"),
        None,
        "a link inside the folder is followed"
    );
    for name in ["to-secret.txt", "zero.txt", "to-pipe.txt"] {
        let r = reason(name).unwrap_or_else(|| panic!("{name} was not skipped"));
        assert!(
            r.contains("outside") && r.contains("--follow-links"),
            "{name}: {r}"
        );
    }
    assert!(reason("fifo.txt").unwrap().contains("named pipe"));

    // With --follow-links the walk hands them over, and the loader still refuses to read
    // anything but a regular file, without blocking on the pipe or reading /dev/zero.
    let got = walked(&docs, true);
    assert!(
        got.iter().any(|(n, r)| n == "to-secret.txt" && r.is_none()),
        "{got:?}"
    );
    let opts = LoaderOptions::default();
    let t = Instant::now();
    for name in ["zero.txt", "to-pipe.txt"] {
        let e = load_file(&docs.join(name), name, &opts).unwrap_err();
        assert!(matches!(e, LoadError::NotRegular { .. }), "{name}: {e}");
    }
    assert!(t.elapsed() < Duration::from_secs(5));
}
