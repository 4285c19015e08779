//! One retriever for many threads: [`SharedRetriever`] hands each query an `Arc` of the
//! snapshot to run on, and moves to a new generation when a writer has committed one.
//!
//! A query takes [`SharedRetriever::current`] once and does all its work (rank, read hits,
//! expand sections) on that `Arc<Retriever>`: positions are only meaningful within the
//! snapshot that produced them. Taking a new snapshot never disturbs a query holding the old
//! one; the old snapshot's memory goes when its last holder drops it.
//!
//! **Staleness check.** `current()` asks SQLite for its generation (one indexed row of `meta`,
//! read through the searcher's connection pool: microseconds, no file is opened) at most once
//! per [`SharedOptions::check_every`] (100 ms by default; zero checks on every call). Between
//! checks it is one atomic load and a read lock. So a commit is picked up by `current()` within
//! `check_every` of being made; [`SharedRetriever::refresh`] checks at once.
//!
//! **Moving to a new generation.** The caller whose check finds the index moved opens the new
//! snapshot off to the side (loading `derived.bin`, or rebuilding it from SQLite) and swaps it
//! in under a write lock held only for the pointer swap. Only one caller does this at a time;
//! the others keep getting the old snapshot meanwhile instead of waiting.

use crate::search::{Retriever, SearchError, SearchOptions};
use cairn_core::{Embedder, Hit};
use cairn_store::{Searcher, SearcherOptions, StoreError};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How often `current()` looks at the generation on disk when nobody asks it to.
pub const DEFAULT_CHECK_EVERY: Duration = Duration::from_millis(100);

/// How a [`SharedRetriever`] opens and follows an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedOptions {
    /// How each snapshot is opened.
    pub searcher: SearcherOptions,
    /// `current()` checks the generation on disk at most this often (zero: on every call).
    pub check_every: Duration,
}

impl Default for SharedOptions {
    fn default() -> Self {
        SharedOptions {
            searcher: SearcherOptions::default(),
            check_every: DEFAULT_CHECK_EVERY,
        }
    }
}

/// A retriever shared by many threads (`Send + Sync`; put it in an `Arc`), following the
/// index's generations as a writer commits them. See the module docs.
pub struct SharedRetriever {
    embedder: Option<Arc<dyn Embedder>>,
    check_every: Duration,
    snapshot: RwLock<Arc<Retriever>>,
    /// When the generation was last checked, in nanoseconds since `born`.
    checked: AtomicU64,
    born: Instant,
    /// Held by whoever is checking and reopening, so only one caller opens a new snapshot.
    moving: Mutex<()>,
}

const _: () = {
    fn assert<T: Send + Sync>() {}
    let _ = assert::<Retriever>;
    let _ = assert::<SharedRetriever>;
    let _ = assert::<Arc<Retriever>>;
};

impl SharedRetriever {
    /// Opens the index in `dir` with the default options. The embedder is needed for dense
    /// and hybrid search and must be the model the index was built with.
    pub fn open(dir: &Path, embedder: Option<Arc<dyn Embedder>>) -> Result<Self, SearchError> {
        Self::open_with(dir, embedder, SharedOptions::default())
    }

    pub fn open_with(
        dir: &Path,
        embedder: Option<Arc<dyn Embedder>>,
        options: SharedOptions,
    ) -> Result<Self, SearchError> {
        let searcher = Searcher::open_with_options(dir, options.searcher)?;
        let retriever = Retriever::new(searcher, embedder.clone())?;
        Ok(Self::from_parts(retriever, embedder, options.check_every))
    }

    /// Shares a retriever already open (its embedder must be `embedder`: new snapshots are
    /// opened with it).
    pub fn from_retriever(
        retriever: Retriever,
        embedder: Option<Arc<dyn Embedder>>,
        check_every: Duration,
    ) -> Self {
        Self::from_parts(retriever, embedder, check_every)
    }

    fn from_parts(
        retriever: Retriever,
        embedder: Option<Arc<dyn Embedder>>,
        check_every: Duration,
    ) -> Self {
        SharedRetriever {
            embedder,
            check_every,
            snapshot: RwLock::new(Arc::new(retriever)),
            checked: AtomicU64::new(0),
            born: Instant::now(),
            moving: Mutex::new(()),
        }
    }

    /// The snapshot to run one query on, moved to the generation on disk first when the
    /// periodic check (at most once per `check_every`) finds it has changed. Fails only when
    /// that check or the reopen fails; [`Self::snapshot`] never does.
    pub fn current(&self) -> Result<Arc<Retriever>, SearchError> {
        if self.due() {
            // Whoever is already checking will swap in what it finds; don't wait for it.
            if let Ok(guard) = self.moving.try_lock() {
                self.move_on(&guard)?;
            }
        }
        Ok(self.snapshot())
    }

    /// The snapshot held now, without looking at the disk.
    pub fn snapshot(&self) -> Arc<Retriever> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Checks the generation on disk now and moves to it when it differs (waiting for a
    /// check already under way): true when a new snapshot was swapped in.
    pub fn refresh(&self) -> Result<bool, SearchError> {
        let guard = self.moving.lock().unwrap_or_else(|e| e.into_inner());
        self.move_on(&guard)
    }

    /// The generation of the snapshot held now.
    pub fn generation(&self) -> u64 {
        self.snapshot().searcher.generation()
    }

    pub fn check_every(&self) -> Duration {
        self.check_every
    }

    /// Searches on the current snapshot. If a document was rewritten after the snapshot was
    /// taken (`StoreError::Changed`), moves to the new generation and runs the query once more.
    pub fn search(&self, query: &str, opts: &SearchOptions) -> Result<Vec<Hit>, SearchError> {
        match self.current()?.search(query, opts) {
            Err(SearchError::Store(StoreError::Changed { .. })) => {
                self.refresh()?;
                self.snapshot().search(query, opts)
            }
            other => other,
        }
    }

    /// True when the last check is at least `check_every` old; claims the check for this
    /// caller, so concurrent callers do not all check at once.
    fn due(&self) -> bool {
        let now = self.born.elapsed().as_nanos() as u64;
        let last = self.checked.load(Ordering::Relaxed);
        let every = self.check_every.as_nanos() as u64;
        if last != 0 && now.saturating_sub(last) < every {
            return false;
        }
        self.checked
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Moves to the generation on disk if it differs. The caller holds `moving`.
    fn move_on(&self, _moving: &std::sync::MutexGuard<'_, ()>) -> Result<bool, SearchError> {
        self.checked.store(
            (self.born.elapsed().as_nanos() as u64).max(1),
            Ordering::Relaxed,
        );
        let old = self.snapshot();
        if !old.searcher.is_stale()? {
            return Ok(false);
        }
        // Opened off to the side, sharing the old snapshot's connection pool.
        let searcher = old.searcher.reopen()?;
        if searcher.generation() == old.searcher.generation() {
            return Ok(false);
        }
        let fresh = Arc::new(Retriever::new(searcher, self.embedder.clone())?);
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(true)
    }
}
