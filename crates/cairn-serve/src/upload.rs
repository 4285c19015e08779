//! `POST /v1/collections/{name}/documents`: files uploaded as `multipart/form-data`, saved
//! beside the index and ingested exactly as `cairn ingest` ingests them (same loaders,
//! chunking, content hashes: an unchanged file is not re-embedded).
//!
//! A file's name is reduced to its last path component and refused if that is empty, hidden
//! (`.x`), `..`, or holds control characters, so no upload can write outside the uploads
//! folder. Each file is written to a temporary name and renamed into place only once it is
//! whole; a file the loaders cannot read is reported by name and removed again, so the folder
//! only holds what the index holds.

use std::path::{Path, PathBuf};

use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use cairn_rag::{IngestOptions, NoProgress, RetrieverSource};
use serde_json::{json, Value};

use crate::app::{AppState, Caller};
use crate::collections::{blocking, Collection};
use crate::error::ApiError;

/// The file name an upload may be saved under, or why not.
pub fn safe_name(raw: &str) -> Result<String, String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if last.is_empty() || last == "." || last == ".." {
        return Err(format!("the file name {raw:?} names no file"));
    }
    if last.starts_with('.') {
        return Err(format!(
            "the file name {raw:?} is hidden (starts with a dot)"
        ));
    }
    if last.chars().any(|c| c.is_control()) || last.len() > 255 {
        return Err(format!(
            "the file name {raw:?} holds control characters or is too long"
        ));
    }
    Ok(last.to_string())
}

/// Where a collection's uploads live, and the root document ids are relative to.
fn uploads_dir(c: &Collection) -> (PathBuf, PathBuf) {
    match &c.dir {
        Some(dir) => {
            let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            let root = cairn_rag::indexer::index_root(&abs);
            let name = abs
                .file_name()
                .map(|n| n.to_string_lossy().trim_start_matches('.').to_string())
                .unwrap_or_else(|| "index".into());
            (root.join(format!("{name}-uploads")), root)
        }
        None => {
            let root = cairn::cache_dir().join("uploads");
            (root.join(&c.name), root)
        }
    }
}

struct Saved {
    name: String,
    path: PathBuf,
}

fn random_suffix() -> String {
    let mut b = [0u8; 6];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

pub async fn upload(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlPath(name): UrlPath<String>,
    mut form: Multipart,
) -> Result<Json<Value>, ApiError> {
    let c = s.collection(Some(&name), &caller)?;
    let indexer = s.indexer.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server was built without an ingest pipeline",
        )
    })?;
    let (dir, root) = uploads_dir(&c);
    std::fs::create_dir_all(&dir).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("creating the uploads folder {}: {e}", dir.display()),
        )
    })?;
    let _one = c.writer.lock().await;
    let mut results: Vec<Value> = Vec::new();
    let mut saved: Vec<Saved> = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                for f in &saved {
                    let _ = std::fs::remove_file(&f.path);
                }
                return Err(multipart_error(e, s.limits.max_body));
            }
        };
        let Some(raw) = field.file_name().map(str::to_string) else {
            continue; // a plain form field, not a file
        };
        let name = match safe_name(&raw) {
            Ok(n) => n,
            Err(reason) => {
                results.push(json!({"name": raw, "status": "refused", "reason": reason}));
                continue;
            }
        };
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => {
                for f in &saved {
                    let _ = std::fs::remove_file(&f.path);
                }
                return Err(multipart_error(e, s.limits.max_body));
            }
        };
        let tmp = dir.join(format!(".{name}.{}.part", random_suffix()));
        let path = dir.join(&name);
        let written = std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            results.push(
                json!({"name": name, "status": "refused", "reason": format!("saving it: {e}")}),
            );
            continue;
        }
        saved.push(Saved { name, path });
    }
    if saved.is_empty() && results.is_empty() {
        return Err(ApiError::invalid(
            "file",
            "no file in the form: send multipart/form-data with one or more file fields",
        ));
    }
    let mut chunks = 0;
    if !saved.is_empty() {
        let paths: Vec<PathBuf> = saved.iter().map(|f| f.path.clone()).collect();
        let report = match (&c.source, &c.dir) {
            (RetrieverSource::Store(r), _) => {
                let store = r.store().clone();
                let rt = tokio::runtime::Handle::current();
                let (idx, p, rootc) = (indexer.clone(), paths.clone(), root.clone());
                let report = blocking(move || {
                    idx.ingest_store(
                        &p,
                        store.as_ref(),
                        &rootc,
                        &rt,
                        &IngestOptions::default(),
                        &NoProgress,
                    )
                    .map_err(|e| ApiError::from_class(&e))
                })
                .await;
                if report.is_ok() {
                    r.store()
                        .finish_writes()
                        .await
                        .map_err(|e| ApiError::from_class(&e))?;
                }
                report
            }
            (_, Some(index)) => {
                let (idx, p, index) = (indexer.clone(), paths.clone(), index.clone());
                blocking(move || {
                    idx.ingest(&p, &index, &IngestOptions::default(), &NoProgress)
                        .map_err(|e| ApiError::from_class(&e))
                })
                .await
            }
            _ => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the collection has no store",
            )),
        };
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                for f in &saved {
                    let _ = std::fs::remove_file(&f.path);
                }
                return Err(e);
            }
        };
        chunks = report.chunks;
        for f in &saved {
            let skipped = report
                .skipped
                .iter()
                .find(|k| Path::new(&k.path).file_name() == f.path.file_name());
            match skipped {
                Some(k) => {
                    let _ = std::fs::remove_file(&f.path);
                    results.push(json!({"name": f.name, "status": "skipped", "reason": k.reason}));
                }
                None => {
                    let id = f
                        .path
                        .strip_prefix(&root)
                        .unwrap_or(&f.path)
                        .display()
                        .to_string();
                    results.push(json!({"name": f.name, "status": "ingested", "document_id": id}));
                }
            }
        }
        if let RetrieverSource::Shared(sh) = &c.source {
            let sh = sh.clone();
            blocking(move || sh.refresh().map_err(ApiError::from)).await?;
        }
    }
    let ingested = results.iter().filter(|r| r["status"] == "ingested").count();
    if ingested == 0 {
        let mut e = ApiError::invalid(
            "file",
            format!(
                "no file was ingested: {}",
                results
                    .iter()
                    .map(|r| format!(
                        "{}: {}",
                        r["name"].as_str().unwrap_or(""),
                        r["reason"].as_str().unwrap_or("")
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        e.code = Some("no_file_ingested");
        return Err(e);
    }
    Ok(Json(
        json!({"object": "list", "collection": c.name, "data": results, "chunks": chunks}),
    ))
}

fn multipart_error(e: axum::extract::multipart::MultipartError, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_large("the upload", limit);
    }
    ApiError::invalid(
        "file",
        format!("the form could not be read: {}", e.body_text()),
    )
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn names_cannot_leave_the_uploads_folder() {
        assert_eq!(safe_name("notes.md").unwrap(), "notes.md");
        assert_eq!(safe_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(safe_name("..\\..\\boot.ini").unwrap(), "boot.ini");
        assert_eq!(safe_name("/abs/path/a.txt").unwrap(), "a.txt");
        for bad in ["..", "../", ".", "", "dir/.hidden", "a\u{0}b", "x/\n"] {
            assert!(safe_name(bad).is_err(), "{bad:?}");
        }
    }
}
