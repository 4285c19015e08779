//! Binary document formats: PDF (one document per page, the page number in metadata so
//! citations point at pages) via lopdf, and DOCX (the paragraphs of `word/document.xml`).
//! Corrupt and encrypted files are reported and skipped like any bad input. Each format is a
//! feature (`pdf`, `office`); a build without one reports such files as `LoadError::Disabled`.
#![cfg_attr(
    not(all(feature = "pdf", feature = "office")),
    allow(unused_imports, dead_code)
)]

use cairn_core::{Document, Metadata};

use crate::load::{LoadError, Loaded, LoaderOptions, Names};

fn base_meta(source: &str, kind: &str, modified: Option<u64>, opts: &LoaderOptions) -> Metadata {
    let mut m = Metadata::new();
    m.insert("path".into(), source.into());
    m.insert("kind".into(), kind.into());
    if let Some(t) = modified {
        m.insert("modified".into(), t.into());
    }
    for (k, v) in &opts.extra_meta {
        m.insert(k.clone(), v.clone());
    }
    m
}

fn stem(shown: &str) -> Option<String> {
    std::path::Path::new(shown)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
}

/// Text of each page; pages without text (scans) are skipped and counted.
#[cfg(feature = "pdf")]
pub fn load_pdf(
    bytes: &[u8],
    names: &Names,
    modified: Option<u64>,
    opts: &LoaderOptions,
) -> Result<Loaded, LoadError> {
    let Names {
        shown,
        id: file_id,
        source,
    } = *names;
    let limit = usize::try_from(opts.max_expanded_bytes).unwrap_or(usize::MAX);
    let expanded = |what: &str| LoadError::Expanded {
        path: shown.into(),
        part: what.into(),
        limit: opts.max_expanded_bytes,
    };
    let encrypted_err = || LoadError::Unreadable {
        path: shown.into(),
        reason: "encrypted (password-protected) PDF; save a decrypted copy to ingest it".into(),
    };
    let declares_encryption = bytes.windows(8).any(|w| w == b"/Encrypt");
    let load_opts = lopdf::LoadOptions {
        max_decompressed_size: Some(limit),
        ..Default::default()
    };
    let doc = match lopdf::Document::load_mem_with_options(bytes, load_opts) {
        Ok(d) => d,
        Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })) => {
            return Err(expanded("an object stream"))
        }
        Err(_) if declares_encryption => return Err(encrypted_err()),
        Err(e) => {
            return Err(LoadError::Unreadable {
                path: shown.into(),
                reason: format!("corrupt or unreadable PDF ({e})"),
            })
        }
    };
    if doc.is_encrypted() {
        return Err(encrypted_err());
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(LoadError::Unreadable {
            path: shown.into(),
            reason: "corrupt PDF: no pages".into(),
        });
    }
    let title = doc
        .trailer
        .get(b"Info")
        .and_then(|i| i.as_reference())
        .and_then(|r| doc.get_dictionary(r))
        .and_then(|d| d.get(b"Title"))
        .ok()
        .and_then(|t| t.as_str().ok())
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| stem(source));
    let mut loaded = Loaded::default();
    let mut failed = 0;
    let mut too_big = Vec::new();
    for (&n, _) in pages.iter() {
        let text = match doc.extract_text_with_limit(&[n], limit) {
            Ok(t) => t,
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                ..
            })) => {
                too_big.push(n);
                continue;
            }
            Err(_) => {
                failed += 1;
                continue;
            }
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let mut metadata = base_meta(source, "pdf", modified, opts);
        metadata.insert("page".into(), n.into());
        if let Some(t) = &title {
            metadata.insert("title".into(), t.clone().into());
        }
        loaded.docs.push(Document {
            id: format!("{file_id}#page={n}"),
            source: source.into(),
            title: title.clone(),
            kind: "pdf".into(),
            text: text.to_string(),
            metadata,
        });
    }
    if let Some(&first) = too_big.first() {
        let what = if too_big.len() == 1 {
            format!("page {first}")
        } else {
            format!("{} pages (first: page {first})", too_big.len())
        };
        if loaded.docs.is_empty() {
            return Err(expanded(&what));
        }
        loaded.problems.push(expanded(&what));
    }
    if loaded.docs.is_empty() {
        return Err(LoadError::Unreadable {
            path: shown.into(),
            reason: if failed > 0 {
                "corrupt PDF: no page's text could be extracted".into()
            } else {
                "the PDF has no extractable text (scanned pages need OCR first)".into()
            },
        });
    }
    if failed > 0 {
        loaded.problems.push(LoadError::Unreadable {
            path: shown.into(),
            reason: format!("{failed} page(s) could not be read and were skipped"),
        });
    }
    Ok(loaded)
}

/// Decodes the five XML entities and numeric character references.
pub(crate) fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let ent = &tail[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Paragraph texts of WordprocessingML: `<w:t>` runs joined, `<w:tab/>` as a tab,
/// `<w:br/>` as a line break, one line per `<w:p>`.
pub fn docx_text(xml: &str) -> String {
    let mut out = String::new();
    let mut para = String::new();
    let mut i = 0;
    while let Some(off) = xml[i..].find('<') {
        let start = i + off;
        let Some(close) = xml[start..].find('>') else {
            break;
        };
        let tag = &xml[start + 1..start + close];
        let name = tag.trim_end_matches('/').split(' ').next().unwrap_or("");
        let self_closing = tag.ends_with('/');
        i = start + close + 1;
        match name {
            "w:t" if !self_closing => {
                let Some(end) = xml[i..].find("</w:t>") else {
                    // No run closes after this one: none of the rest is text.
                    break;
                };
                para.push_str(&xml_unescape(&xml[i..i + end]));
                i += end + "</w:t>".len();
            }
            "w:tab" => para.push('\t'),
            "w:br" | "w:cr" => para.push('\n'),
            "/w:p" => {
                let p = para.trim_end();
                if !p.is_empty() {
                    out.push_str(p);
                    out.push_str("\n\n");
                }
                para.clear();
            }
            _ => {}
        }
    }
    if !para.trim().is_empty() {
        out.push_str(para.trim_end());
    }
    out.trim_end().to_string()
}

#[cfg(feature = "office")]
pub fn load_docx(
    bytes: &[u8],
    names: &Names,
    modified: Option<u64>,
    opts: &LoaderOptions,
) -> Result<Loaded, LoadError> {
    let Names {
        shown,
        id: file_id,
        source,
    } = *names;
    let corrupt = |why: String| LoadError::Unreadable {
        path: shown.into(),
        reason: format!("corrupt or unreadable DOCX ({why})"),
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
        if bytes.starts_with(b"\xD0\xCF\x11\xE0") {
            LoadError::Unreadable {
                path: shown.into(),
                reason: "encrypted (password-protected) or legacy .doc file; save it as an unprotected .docx".into(),
            }
        } else {
            corrupt(e.to_string())
        }
    })?;
    let xml = {
        let f = zip
            .by_name("word/document.xml")
            .map_err(|_| corrupt("no word/document.xml".into()))?;
        // The declared size may lie: the cap is on the bytes inflated.
        let bytes = crate::read::read_expanded(f, opts.max_expanded_bytes)
            .map_err(|e| corrupt(e.to_string()))?
            .map_err(|()| LoadError::Expanded {
                path: shown.into(),
                part: "word/document.xml".into(),
                limit: opts.max_expanded_bytes,
            })?;
        String::from_utf8(bytes).map_err(|e| corrupt(format!("word/document.xml: {e}")))?
    };
    let text = docx_text(&xml);
    if text.trim().is_empty() {
        return Err(LoadError::Empty { path: shown.into() });
    }
    let title = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().chars().take(120).collect::<String>())
        .or_else(|| stem(source));
    let mut metadata = base_meta(source, "docx", modified, opts);
    if let Some(t) = &title {
        metadata.insert("title".into(), t.clone().into());
    }
    Ok(Loaded {
        docs: vec![Document {
            id: file_id.to_string(),
            source: source.into(),
            title,
            kind: "docx".into(),
            text,
            metadata,
        }],
        problems: Vec::new(),
    })
}

#[cfg(all(test, feature = "pdf", feature = "office"))]
mod tests {
    use super::*;

    #[test]
    fn docx_paragraphs_runs_and_entities() {
        let xml = r#"<w:document><w:body><w:p><w:r><w:t>Hello</w:t></w:r><w:r><w:t xml:space="preserve"> world &amp; co</w:t></w:r></w:p><w:p/><w:p><w:r><w:t>A</w:t><w:tab/><w:t>B&#233;</w:t><w:br/><w:t>C</w:t></w:r></w:p></w:body></w:document>"#;
        assert_eq!(docx_text(xml), "Hello world & co\n\nA\tBé\nC");
    }
}
