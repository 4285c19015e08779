//! What the recorded-exchange tests share: the replay server and the documents they write.

#![allow(dead_code)]

pub mod replay;

use cairn_core::{Chunk, ChunkVector, Document, DocumentUpsert, Metadata};
use serde_json::Value;

/// Metadata from a JSON object literal.
pub fn meta(v: Value) -> Metadata {
    v.as_object().cloned().expect("an object")
}

/// A document `id` whose chunks `{id}#{i}` carry `metadata` and the given vectors; chunk `i`
/// reads "chunk i of {id}", chunk 1 has a heading path and a context.
pub fn doc(id: &str, metadata: Metadata, vectors: Vec<Vec<f32>>) -> DocumentUpsert {
    let mut start = 0;
    let chunks = vectors
        .into_iter()
        .enumerate()
        .map(|(i, vector)| {
            let text = format!("chunk {i} of {id}");
            let end = start + text.len();
            let chunk = Chunk {
                id: format!("{id}#{i}"),
                doc_id: id.to_string(),
                ordinal: i as u32,
                text,
                start,
                end,
                heading_path: if i == 1 {
                    vec!["Intro".to_string()]
                } else {
                    Vec::new()
                },
                context: if i == 1 {
                    format!("{id} > Intro")
                } else {
                    String::new()
                },
                metadata: metadata.clone(),
            };
            start = end + 1;
            ChunkVector { chunk, vector }
        })
        .collect();
    DocumentUpsert {
        document: Document {
            id: id.to_string(),
            source: format!("{id}.txt"),
            title: Some(format!("Title of {id}")),
            kind: "text".into(),
            text: String::new(),
            metadata,
        },
        chunks,
        content_hash: Some(format!("hash-{id}")),
        origin: Some(format!("files/{id}")),
    }
}
