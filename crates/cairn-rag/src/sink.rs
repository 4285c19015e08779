//! Where the ingest pipeline writes: the embedded index (one SQLite transaction per batch)
//! or any [`VectorStore`] (one `upsert` per batch). Both keep each document's content hash
//! and origin, so a rerun skips what is already there and `prune` finds removed files.

use std::collections::HashMap;

use cairn_core::{DocumentEntry, DocumentUpsert, VectorStore};
use cairn_store::{DocWrite, Index};

use crate::indexer::IngestError;

/// What the [`crate::Indexer`] needs of a target.
pub(crate) trait Sink {
    /// Content hashes by document id.
    fn hashes(&mut self) -> Result<HashMap<String, String>, IngestError>;
    /// Document ids by origin (the file they came from).
    fn by_origin(&mut self) -> Result<HashMap<String, Vec<String>>, IngestError>;
    /// Writes the batch (each document replacing its old chunks) and removes `delete`.
    fn write(&mut self, batch: Vec<DocWrite>, delete: &[String]) -> Result<(), IngestError>;
    /// The embedded index's generation after the writes; 0 for a store.
    fn generation(&mut self) -> Result<u64, IngestError>;
}

impl Sink for Index {
    fn hashes(&mut self) -> Result<HashMap<String, String>, IngestError> {
        Ok(self.doc_hashes()?)
    }
    fn by_origin(&mut self) -> Result<HashMap<String, Vec<String>>, IngestError> {
        Ok(self.docs_by_origin()?)
    }
    fn write(&mut self, batch: Vec<DocWrite>, delete: &[String]) -> Result<(), IngestError> {
        self.write_batch(&batch, delete)?;
        Ok(())
    }
    fn generation(&mut self) -> Result<u64, IngestError> {
        Ok(Index::generation(self)?)
    }
}

/// A store written from synchronous code through a runtime handle.
pub(crate) struct StoreSink<'a> {
    pub store: &'a dyn VectorStore,
    pub runtime: &'a tokio::runtime::Handle,
}

impl Sink for StoreSink<'_> {
    fn hashes(&mut self) -> Result<HashMap<String, String>, IngestError> {
        Ok(hashes(&self.runtime.block_on(self.store.documents())?))
    }
    fn by_origin(&mut self) -> Result<HashMap<String, Vec<String>>, IngestError> {
        Ok(by_origin(&self.runtime.block_on(self.store.documents())?))
    }
    fn write(&mut self, batch: Vec<DocWrite>, delete: &[String]) -> Result<(), IngestError> {
        let docs: Vec<DocumentUpsert> = batch
            .into_iter()
            .map(|w| {
                let mut u = DocumentUpsert::new(w.doc, w.chunks);
                u.content_hash = Some(w.hash);
                u.origin = Some(w.origin);
                u
            })
            .collect();
        self.runtime.block_on(async {
            for id in delete {
                self.store.delete_document(id).await?;
            }
            if !docs.is_empty() {
                self.store.upsert(docs).await?;
            }
            Ok::<_, cairn_core::VectorStoreError>(())
        })?;
        Ok(())
    }
    fn generation(&mut self) -> Result<u64, IngestError> {
        Ok(0)
    }
}

/// Content hashes by document id.
fn hashes(entries: &[DocumentEntry]) -> HashMap<String, String> {
    entries
        .iter()
        .filter_map(|e| Some((e.id.clone(), e.content_hash.clone()?)))
        .collect()
}

/// Document ids by origin (the file they came from).
fn by_origin(entries: &[DocumentEntry]) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for e in entries {
        if let Some(o) = &e.origin {
            m.entry(o.clone()).or_default().push(e.id.clone());
        }
    }
    m
}
