//! API keys: created once and shown once, stored only as their SHA-256 (a key is 256 random
//! bits, so a fast hash is as safe as a slow one and costs nothing per request), each with an
//! optional budget in USD, a requests-per-minute limit and the collections it may use.
//! Spend is booked per key from what the cost ledger priced each call at.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the keys database {}: {source}", path.display())]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("a key named {0:?} exists: pick another name or revoke it first")]
    Exists(String),
    #[error("no key named {0:?} (see `cairn keys list`)")]
    Unknown(String),
    #[error("{param}: {message}")]
    Invalid {
        param: &'static str,
        message: String,
    },
    #[error("no random source: {0}")]
    Random(String),
}

impl cairn_core::Classify for KeyError {
    fn class(&self) -> cairn_core::ErrorClass {
        use cairn_core::ErrorClass as C;
        match self {
            KeyError::Db { .. } | KeyError::Random(_) => C::Internal,
            KeyError::Unknown(_) => C::NotFound,
            KeyError::Exists(_) | KeyError::Invalid { .. } => C::InvalidInput,
        }
    }
}

/// A key as listed: never the secret.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeyInfo {
    pub id: i64,
    pub name: String,
    /// The first characters of the secret, to tell keys apart.
    pub prefix: String,
    pub budget_usd: Option<f64>,
    pub rpm: Option<u32>,
    /// The collections the key may use (`None`: all).
    pub collections: Option<Vec<String>>,
    pub spent_usd: f64,
    pub created: String,
    pub revoked: Option<String>,
}

impl KeyInfo {
    pub fn may_use(&self, collection: &str) -> bool {
        self.collections
            .as_ref()
            .is_none_or(|c| c.iter().any(|n| n == collection))
    }
    pub fn over_budget(&self) -> bool {
        self.budget_usd.is_some_and(|b| self.spent_usd >= b)
    }
}

/// What a new key is allowed.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub name: String,
    pub budget_usd: Option<f64>,
    pub rpm: Option<u32>,
    pub collections: Option<Vec<String>>,
}

pub struct KeyStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const PREFIX: &str = "sk-cairn-";

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl KeyStore {
    /// Opens (creating) the keys database at `path`.
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let db = |source| KeyError::Db {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS keys (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                prefix TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE,
                budget_usd REAL,
                rpm INTEGER,
                collections TEXT,
                spent_usd REAL NOT NULL DEFAULT 0,
                created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
                revoked TEXT
             );",
        )
        .map_err(db)?;
        Ok(KeyStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn db(&self, source: rusqlite::Error) -> KeyError {
        KeyError::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// Creates a key; the secret is returned here and nowhere else, ever.
    pub fn create(&self, new: &NewKey) -> Result<(String, KeyInfo), KeyError> {
        if new.name.trim().is_empty() {
            return Err(KeyError::Invalid {
                param: "name",
                message: "the key needs a name".into(),
            });
        }
        if new.budget_usd.is_some_and(|b| !b.is_finite() || b < 0.0) {
            return Err(KeyError::Invalid {
                param: "budget_usd",
                message: "the budget must be a non-negative number of dollars".into(),
            });
        }
        if new.rpm == Some(0) {
            return Err(KeyError::Invalid {
                param: "rpm",
                message: "0 requests per minute allows nothing: leave it out for no limit".into(),
            });
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        let secret = format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let collections = new
            .collections
            .as_ref()
            .map(|c| serde_json::to_string(c).expect("strings serialize"));
        let conn = self.conn.lock().expect("keys lock");
        let r = conn.execute(
            "INSERT INTO keys (name, prefix, hash, budget_usd, rpm, collections) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![new.name, &secret[..PREFIX.len() + 6], hash(&secret), new.budget_usd, new.rpm, collections],
        );
        match r {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(KeyError::Exists(new.name.clone()))
            }
            r => r.map_err(|e| self.db(e))?,
        };
        drop(conn);
        let info = self.by_name(&new.name)?;
        Ok((secret, info))
    }

    fn row(r: &rusqlite::Row) -> rusqlite::Result<KeyInfo> {
        let collections: Option<String> = r.get(6)?;
        Ok(KeyInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            prefix: r.get(2)?,
            budget_usd: r.get(3)?,
            rpm: r.get(4)?,
            collections: collections.and_then(|c| serde_json::from_str(&c).ok()),
            spent_usd: r.get(7)?,
            created: r.get(8)?,
            revoked: r.get(9)?,
        })
    }

    const COLUMNS: &'static str =
        "id, name, prefix, budget_usd, rpm, hash, collections, spent_usd, created, revoked";

    fn by_name(&self, name: &str) -> Result<KeyInfo, KeyError> {
        let conn = self.conn.lock().expect("keys lock");
        conn.query_row(
            &format!("SELECT {} FROM keys WHERE name = ?1", Self::COLUMNS),
            [name],
            Self::row,
        )
        .optional()
        .map_err(|e| self.db(e))?
        .ok_or_else(|| KeyError::Unknown(name.to_string()))
    }

    /// Every key, revoked ones included, oldest first.
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let conn = self.conn.lock().expect("keys lock");
        let mut st = conn
            .prepare(&format!("SELECT {} FROM keys ORDER BY id", Self::COLUMNS))
            .map_err(|e| self.db(e))?;
        let rows = st
            .query_map([], Self::row)
            .map_err(|e| self.db(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.db(e))?;
        Ok(rows)
    }

    /// Whether any key was ever created: then every request must carry one.
    pub fn any(&self) -> Result<bool, KeyError> {
        Ok(!self.list()?.is_empty())
    }

    pub fn revoke(&self, name: &str) -> Result<KeyInfo, KeyError> {
        let conn = self.conn.lock().expect("keys lock");
        let n = conn
            .execute(
                "UPDATE keys SET revoked = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE name = ?1 AND revoked IS NULL",
                [name],
            )
            .map_err(|e| self.db(e))?;
        drop(conn);
        let info = self.by_name(name)?;
        if n == 0 && info.revoked.is_none() {
            return Err(KeyError::Unknown(name.to_string()));
        }
        Ok(info)
    }

    /// The live (unrevoked) key this secret is, if any.
    pub fn verify(&self, secret: &str) -> Result<Option<KeyInfo>, KeyError> {
        let conn = self.conn.lock().expect("keys lock");
        conn.query_row(
            &format!(
                "SELECT {} FROM keys WHERE hash = ?1 AND revoked IS NULL",
                Self::COLUMNS
            ),
            [hash(secret)],
            Self::row,
        )
        .optional()
        .map_err(|e| self.db(e))
    }

    /// Books `usd` to the key.
    pub fn spend(&self, id: i64, usd: f64) -> Result<(), KeyError> {
        if !(usd.is_finite() && usd > 0.0) {
            return Ok(());
        }
        let conn = self.conn.lock().expect("keys lock");
        conn.execute(
            "UPDATE keys SET spent_usd = spent_usd + ?1 WHERE id = ?2",
            params![usd, id],
        )
        .map_err(|e| self.db(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hashed_verified_limited_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.sqlite");
        let ks = KeyStore::open(&path).unwrap();
        assert!(!ks.any().unwrap());
        let new = NewKey {
            name: "ci".into(),
            budget_usd: Some(0.01),
            rpm: Some(5),
            collections: Some(vec!["docs".into()]),
        };
        let (secret, info) = ks.create(&new).unwrap();
        assert!(secret.starts_with(PREFIX) && secret.len() > 40);
        assert!(secret.starts_with(&info.prefix) && info.prefix.len() < secret.len());
        assert!(matches!(ks.create(&new), Err(KeyError::Exists(_))));
        // Only the hash is stored: the secret is nowhere in the file.
        drop(ks);
        let bytes = std::fs::read(&path).unwrap();
        let wal = std::fs::read(path.with_extension("sqlite-wal")).unwrap_or_default();
        for b in [&bytes, &wal] {
            assert!(!b.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
        let ks = KeyStore::open(&path).unwrap();
        let k = ks.verify(&secret).unwrap().unwrap();
        assert!(k.may_use("docs") && !k.may_use("other") && !k.over_budget());
        assert!(ks.verify("sk-cairn-nope").unwrap().is_none());
        ks.spend(k.id, 0.02).unwrap();
        assert!(ks.verify(&secret).unwrap().unwrap().over_budget());
        ks.revoke("ci").unwrap();
        assert!(ks.verify(&secret).unwrap().is_none());
        assert!(ks.any().unwrap());
        assert!(matches!(ks.revoke("nobody"), Err(KeyError::Unknown(_))));
        let bad = NewKey {
            name: "x".into(),
            rpm: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            ks.create(&bad),
            Err(KeyError::Invalid { param: "rpm", .. })
        ));
    }
}
