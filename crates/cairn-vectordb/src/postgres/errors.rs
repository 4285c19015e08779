//! Client, pool and server errors as [`VectorStoreError`]s of the right class (SQLSTATE
//! codes, io errors behind a failed connection), naming the store and the server.

use cairn_core::{ClassifiedError, ErrorClass, VectorStoreError};
use deadpool_postgres::PoolError;

/// Maps client errors to [`VectorStoreError`]s naming the store and the server.
pub(super) struct Errors<'a> {
    pub(super) store: &'a str,
    pub(super) endpoint: &'a str,
}

impl Errors<'_> {
    fn unavailable(&self, why: impl std::fmt::Display) -> VectorStoreError {
        VectorStoreError::Unavailable {
            store: self.store.to_string(),
            message: format!(
                "cannot reach PostgreSQL at {} ({why}); is the server running at {}?",
                self.endpoint, self.endpoint
            ),
        }
    }

    fn backend(&self, class: ErrorClass, message: String) -> VectorStoreError {
        VectorStoreError::Backend {
            store: self.store.to_string(),
            error: ClassifiedError::with_class(class, message),
        }
    }

    pub(super) fn pool(&self, e: PoolError) -> VectorStoreError {
        match e {
            PoolError::Backend(e) => self.pg(e),
            PoolError::Timeout(_) => VectorStoreError::Unavailable {
                store: self.store.to_string(),
                message: format!(
                    "no connection to PostgreSQL at {} came free in time (the pool is busy, or \
                     connecting takes too long)",
                    self.endpoint
                ),
            },
            other => self.backend(ErrorClass::Internal, format!("connection pool: {other}")),
        }
    }

    pub(super) fn pg(&self, e: tokio_postgres::Error) -> VectorStoreError {
        let store = self.store.to_string();
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            let mut message = format!("{} (SQLSTATE {code})", db.message());
            if let Some(d) = db.detail() {
                message.push_str(&format!("; {d}"));
            }
            if let Some(h) = db.hint() {
                message.push_str(&format!("; hint: {h}"));
            }
            return match code {
                "28P01" | "28000" => VectorStoreError::Auth {
                    store,
                    message: format!(
                        "PostgreSQL at {} refused the credentials: {message}",
                        self.endpoint
                    ),
                },
                "42501" => VectorStoreError::Auth {
                    store,
                    message: format!("permission denied: {message}"),
                },
                "42P01" | "3F000" => VectorStoreError::NotFound {
                    store,
                    what: format!("the collection's tables at {} ({message})", self.endpoint),
                },
                "3D000" => VectorStoreError::NotFound {
                    store,
                    what: format!("the database at {} ({message})", self.endpoint),
                },
                c if c.starts_with("08")
                    || c.starts_with("53")
                    || c.starts_with("57P")
                    || c == "40001"
                    || c == "40P01"
                    || c == "55P03" =>
                {
                    VectorStoreError::Unavailable {
                        store,
                        message: format!("PostgreSQL at {}: {message}", self.endpoint),
                    }
                }
                c if c.starts_with("22") || c.starts_with("23") || c == "54000" => {
                    VectorStoreError::invalid(store, message)
                }
                _ => self.backend(ErrorClass::Internal, message),
            };
        }
        let text = e.to_string();
        if text.contains("password missing") {
            return VectorStoreError::Auth {
                store,
                message: format!(
                    "PostgreSQL at {} asks for a password; give one in the URL or PGPASSWORD",
                    self.endpoint
                ),
            };
        }
        // The io error behind a failed connection, if any.
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                if matches!(
                    io.kind(),
                    ConnectionRefused
                        | ConnectionReset
                        | ConnectionAborted
                        | NotConnected
                        | TimedOut
                        | AddrNotAvailable
                        | BrokenPipe
                        | UnexpectedEof
                        | NotFound
                ) {
                    return self.unavailable(io);
                }
            }
            source = s.source();
        }
        if e.is_closed() || text.contains("timeout") || text.contains("error connecting") {
            return self.unavailable(&text);
        }
        if text.contains("TLS") || text.contains("tls") {
            return self.backend(
                ErrorClass::Auth,
                format!("TLS with PostgreSQL at {} failed: {text}", self.endpoint),
            );
        }
        self.backend(ErrorClass::Internal, text)
    }
}
