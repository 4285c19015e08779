//! A small pool of read-only SQLite connections, so one [`crate::Searcher`] can serve many
//! threads: a `rusqlite::Connection` may move between threads but not be shared by them.
//!
//! A read takes an idle connection, or opens another (with the same [`ReadMode`] as the first)
//! while fewer than the cap are open, or waits for one to come back. Connections are kept
//! for the pool's life, so each keeps its prepared-statement cache.

use crate::db::{Index, ReadMode};
use crate::error::StoreError;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The most connections one pool opens: the machine's parallelism, between 2 and 16.
pub(crate) fn default_cap() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(4)
        .clamp(2, 16)
}

struct State {
    idle: Vec<Index>,
    /// Connections open: idle plus lent out (plus one being opened).
    open: usize,
}

pub(crate) struct ReadPool {
    dir: PathBuf,
    mode: ReadMode,
    cap: usize,
    state: Mutex<State>,
    returned: Condvar,
}

/// A connection lent out by the pool; it goes back when dropped.
pub(crate) struct Pooled<'a> {
    pool: &'a ReadPool,
    index: Option<Index>,
}

impl Deref for Pooled<'_> {
    type Target = Index;
    fn deref(&self) -> &Index {
        self.index
            .as_ref()
            .expect("a pooled connection is present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(index) = self.index.take() {
            self.pool.lock().idle.push(index);
            self.pool.returned.notify_one();
        }
    }
}

impl ReadPool {
    /// A pool whose first connection is `first` (opened by [`Index::open`], which chose the
    /// read mode); later connections are opened the same way.
    pub(crate) fn new(first: Index, cap: usize) -> Self {
        let mode = first.read_mode().unwrap_or(ReadMode::ReadOnly);
        ReadPool {
            dir: first.dir().to_path_buf(),
            mode,
            cap: cap.max(1),
            state: Mutex::new(State {
                idle: vec![first],
                open: 1,
            }),
            returned: Condvar::new(),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn mode(&self) -> ReadMode {
        self.mode
    }

    /// Connections open now (idle or in use).
    pub(crate) fn open_connections(&self) -> usize {
        self.lock().open
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    // No code panics while holding the lock, but a poisoned pool is still a usable pool.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lends a connection: an idle one, a new one while under the cap, or the next returned.
    pub(crate) fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let mut state = self.lock();
        loop {
            if let Some(index) = state.idle.pop() {
                return Ok(Pooled {
                    pool: self,
                    index: Some(index),
                });
            }
            if state.open < self.cap {
                state.open += 1;
                drop(state);
                // Opened outside the lock: other readers keep borrowing and returning.
                return match Index::connect_read(&self.dir, self.mode) {
                    Ok(index) => Ok(Pooled {
                        pool: self,
                        index: Some(index),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}
