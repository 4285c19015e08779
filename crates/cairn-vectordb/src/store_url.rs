//! Where an index lives, as one string: the `--store` flag, `[store] url` in `cairn.toml`,
//! `CAIRN_STORE`. Every command opens its store through [`StoreUrl::open`], so moving an
//! index from the embedded default to a database changes that one line.
//!
//! | form | store |
//! |---|---|
//! | `./.cairn`, `embedded:./.cairn` | the embedded index in that folder |
//! | `postgres://user@host:5432/db?collection=docs` (or `postgresql://`) | Postgres with pgvector; `collection` names the schema (default `cairn`); the rest is the usual libpq URL, `PG*` variables fill what it leaves out |
//! | `chroma://host:8000/docs`, `chroma+https://host/docs` | a Chroma server, collection `docs` |
//! | `qdrant://host:6333/docs`, `qdrant+https://host/docs` | Qdrant, collection `docs` (`QDRANT_API_KEY`) |
//! | `pinecone://INDEX-HOST/namespace` | a Pinecone index's data-plane host, over HTTPS (`PINECONE_API_KEY`) |
//! | `weaviate://host:8080/Docs`, `weaviate+https://host/Docs` | Weaviate, class `Docs` (`WEAVIATE_API_KEY`) |
//!
//! Credentials in a URL are never printed: [`StoreUrl`]'s `Display` drops the password.

use cairn_core::{Classify, CollectionInfo, ErrorClass, VectorStore, VectorStoreError};
use std::fmt;
use std::path::PathBuf;

/// A parsed store location.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// The embedded index in a folder.
    Embedded { dir: PathBuf },
    /// Postgres: a libpq URL without cairn's own parameters, the collection, and the search
    /// settings given as `ef_search=N` (HNSW candidate list) and `exact_below=N` (chunks
    /// below which dense search scans exactly instead of building the HNSW index).
    Postgres {
        url: String,
        collection: String,
        ef_search: Option<usize>,
        exact_below: Option<usize>,
    },
    /// A REST service: its base URL (`http://host:port`, with any query kept) and the
    /// collection (Chroma collection, Qdrant collection, Pinecone namespace, Weaviate class).
    Rest {
        kind: RestKind,
        base: String,
        collection: String,
    },
}

/// The REST-backed services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestKind {
    Chroma,
    Qdrant,
    Pinecone,
    Weaviate,
}

impl RestKind {
    pub fn scheme(self) -> &'static str {
        match self {
            RestKind::Chroma => "chroma",
            RestKind::Qdrant => "qdrant",
            RestKind::Pinecone => "pinecone",
            RestKind::Weaviate => "weaviate",
        }
    }
}

/// A store location that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid store `{input}`: {message}")]
pub struct StoreUrlError {
    /// What was given, with any password removed.
    pub input: String,
    pub message: String,
}

impl Classify for StoreUrlError {
    fn class(&self) -> ErrorClass {
        ErrorClass::InvalidInput
    }
}

const FORMS: &str = "use a folder (./.cairn), postgres://host/db?collection=NAME, \
                     chroma://host:port/NAME, qdrant://host:port/NAME, pinecone://HOST/NAMESPACE \
                     or weaviate://host:port/CLASS";

impl StoreUrl {
    pub fn parse(input: &str) -> Result<StoreUrl, StoreUrlError> {
        let err = |message: String| StoreUrlError {
            input: redact(input),
            message,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err(format!("it is empty; {FORMS}")));
        }
        if let Some(dir) = s.strip_prefix("embedded:") {
            if dir.is_empty() {
                return Err(err(
                    "`embedded:` needs a folder, e.g. embedded:./.cairn".into()
                ));
            }
            return Ok(StoreUrl::Embedded {
                dir: PathBuf::from(dir),
            });
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            // No scheme: a folder (Windows drive letters included).
            return Ok(StoreUrl::Embedded {
                dir: PathBuf::from(s),
            });
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "postgres" || scheme == "postgresql" {
            let (url, mut ours) = split_params(s, &["collection", "ef_search", "exact_below"]);
            let mut number = |key: &str| -> Result<Option<usize>, StoreUrlError> {
                match ours.remove(key) {
                    None => Ok(None),
                    Some(v) => v
                        .parse()
                        .map(Some)
                        .map_err(|_| err(format!("`{key}={v}`: {key} takes a whole number"))),
                }
            };
            let (ef_search, exact_below) = (number("ef_search")?, number("exact_below")?);
            return Ok(StoreUrl::Postgres {
                url,
                collection: ours.remove("collection").unwrap_or_else(|| "cairn".into()),
                ef_search,
                exact_below,
            });
        }
        let (kind_name, tls) = match scheme.split_once('+') {
            Some((k, "https")) => (k.to_string(), true),
            Some((k, "http")) => (k.to_string(), false),
            Some((_, other)) => {
                return Err(err(format!(
                    "`+{other}` is not a transport; use +http or +https"
                )))
            }
            None => (scheme.clone(), false),
        };
        let kind = match kind_name.as_str() {
            "chroma" => RestKind::Chroma,
            "qdrant" => RestKind::Qdrant,
            "pinecone" => RestKind::Pinecone,
            "weaviate" => RestKind::Weaviate,
            "http" | "https" => {
                return Err(err(format!(
                    "an http URL does not say which service it is; write chroma://, \
                     qdrant://, pinecone:// or weaviate:// (with +https for TLS); {FORMS}"
                )))
            }
            other => return Err(err(format!("unknown store `{other}://`; {FORMS}"))),
        };
        // Pinecone's data plane is HTTPS only.
        let tls = tls || kind == RestKind::Pinecone;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err(err(format!("`{kind_name}://` needs a host; {FORMS}")));
        }
        let collection = path.trim_matches('/');
        if collection.is_empty() || collection.contains('/') {
            return Err(err(format!(
                "name the collection as the URL's path: {kind_name}://{host}/NAME"
            )));
        }
        let mut base = format!("{}://{host}", if tls { "https" } else { "http" });
        if let Some(q) = query {
            base.push('?');
            base.push_str(q);
        }
        Ok(StoreUrl::Rest {
            kind,
            base,
            collection: collection.to_string(),
        })
    }

    /// The collection name (`None` for the embedded index, whose folder is the collection).
    pub fn collection(&self) -> Option<&str> {
        match self {
            StoreUrl::Embedded { .. } => None,
            StoreUrl::Postgres { collection, .. } | StoreUrl::Rest { collection, .. } => {
                Some(collection)
            }
        }
    }

    /// Opens the store. `create: None` opens an existing index (reading); `Some(info)`
    /// opens it for writing, creating it with that model and dimension when it does not
    /// exist, and refusing one built with another.
    pub async fn open(
        &self,
        create: Option<&CollectionInfo>,
    ) -> Result<Box<dyn VectorStore>, VectorStoreError> {
        match self {
            StoreUrl::Embedded { dir } => open_embedded(dir.clone(), create.cloned()).await,
            StoreUrl::Postgres {
                url,
                collection,
                ef_search,
                exact_below,
            } => {
                #[cfg(feature = "postgres")]
                {
                    let mut o = crate::postgres::PgOptions::default();
                    if let Some(ef) = ef_search {
                        o.ef_search = *ef;
                        o.ef_search_filtered = o.ef_search_filtered.max(*ef);
                    }
                    if let Some(n) = exact_below {
                        o.hnsw_min_chunks = *n;
                    }
                    let s =
                        crate::postgres::PgStore::open_with(url, collection, create, &o).await?;
                    Ok(Box::new(s))
                }
                #[cfg(not(feature = "postgres"))]
                {
                    let _ = (url, create, ef_search, exact_below);
                    Err(disabled(&format!("postgres:{collection}"), "postgres"))
                }
            }
            StoreUrl::Rest {
                kind,
                base,
                collection,
            } => open_rest(*kind, base, collection, create).await,
        }
    }
}

async fn open_rest(
    kind: RestKind,
    base: &str,
    collection: &str,
    create: Option<&CollectionInfo>,
) -> Result<Box<dyn VectorStore>, VectorStoreError> {
    let _ = (base, create);
    let name = format!("{}:{collection}", kind.scheme());
    match kind {
        #[cfg(feature = "chroma")]
        RestKind::Chroma => Ok(Box::new(
            crate::chroma::ChromaStore::open(base, collection, create).await?,
        )),
        #[cfg(feature = "qdrant")]
        RestKind::Qdrant => Ok(Box::new(
            crate::qdrant::QdrantStore::open(base, collection, create).await?,
        )),
        #[cfg(feature = "pinecone")]
        RestKind::Pinecone => Ok(Box::new(
            crate::pinecone::PineconeStore::open(base, collection, create).await?,
        )),
        #[cfg(feature = "weaviate")]
        RestKind::Weaviate => Ok(Box::new(
            crate::weaviate::WeaviateStore::open(base, collection, create).await?,
        )),
        #[allow(unreachable_patterns)]
        other => Err(disabled(&name, other.scheme())),
    }
}

fn disabled(store: &str, feature: &str) -> VectorStoreError {
    VectorStoreError::unsupported(
        store,
        format!("this build (built without cairn-vectordb's `{feature}` feature)"),
    )
}

async fn open_embedded(
    dir: PathBuf,
    create: Option<CollectionInfo>,
) -> Result<Box<dyn VectorStore>, VectorStoreError> {
    let name = format!("embedded:{}", dir.display());
    let store = cairn_core::run_blocking(move || match &create {
        Some(info) => cairn_store::EmbeddedStore::open(&dir, &info.model, info.dim),
        None => cairn_store::EmbeddedStore::open_read_only(&dir),
    })
    .await
    .map_err(|e| match e {
        cairn_store::StoreError::ModelMismatch { found, wanted, .. } => {
            VectorStoreError::InvalidInput {
                store: name.clone(),
                message: format!(
                    "it was built with the embedding model {found}, not {wanted}; \
                     use another folder"
                ),
            }
        }
        e => VectorStoreError::backend(name.clone(), e),
    })?;
    // A model id fixes the dimension, so the model check above covers both.
    Ok(Box::new(store))
}

/// Splits cairn's own query parameters (`names`) off a Postgres URL.
fn split_params(url: &str, names: &[&str]) -> (String, std::collections::HashMap<String, String>) {
    let mut ours = std::collections::HashMap::new();
    let Some((head, query)) = url.split_once('?') else {
        return (url.to_string(), ours);
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.split_once('=') {
            Some((k, v)) if names.contains(&k) => {
                ours.insert(k.to_string(), v.to_string());
                false
            }
            _ => !kv.is_empty(),
        })
        .collect();
    let url = if kept.is_empty() {
        head.to_string()
    } else {
        format!("{head}?{}", kept.join("&"))
    };
    (url, ours)
}

/// `input` with the password of any `user:password@` and any `password=` value removed.
pub fn redact(input: &str) -> String {
    let out = match input.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let shown = match userinfo.split_once(':') {
                        Some((user, _)) => format!("{user}:***"),
                        None => userinfo.to_string(),
                    };
                    format!("{scheme}://{shown}@{host}{tail}")
                }
                None => input.to_string(),
            }
        }
        None => input.to_string(),
    };
    mask_param(out)
}

/// Replaces the value of every `password=` (URL query or key=value conninfo).
fn mask_param(mut s: String) -> String {
    let mut from = 0;
    while let Some(i) = s[from..].find("password=").map(|i| from + i) {
        let start = i + "password=".len();
        let end = s[start..].find(['&', ' ']).map_or(s.len(), |e| start + e);
        s.replace_range(start..end, "***");
        from = start + 3;
    }
    s
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Embedded { dir } => write!(f, "embedded:{}", dir.display()),
            StoreUrl::Postgres {
                url,
                collection,
                ef_search,
                exact_below,
            } => {
                let r = redact(url);
                let sep = if r.contains('?') { '&' } else { '?' };
                write!(f, "{r}{sep}collection={collection}")?;
                if let Some(ef) = ef_search {
                    write!(f, "&ef_search={ef}")?;
                }
                if let Some(n) = exact_below {
                    write!(f, "&exact_below={n}")?;
                }
                Ok(())
            }
            StoreUrl::Rest {
                kind,
                base,
                collection,
            } => {
                let tls = if base.starts_with("https://") && *kind != RestKind::Pinecone {
                    "+https"
                } else {
                    ""
                };
                let rest = base.split_once("://").map_or(base.as_str(), |(_, r)| r);
                let (host, query) = rest
                    .split_once('?')
                    .map_or((rest, None), |(h, q)| (h, Some(q)));
                write!(f, "{}{tls}://{host}/{collection}", kind.scheme())?;
                if let Some(q) = query {
                    write!(f, "?{}", mask_param(q.to_string()))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse() {
        assert_eq!(
            StoreUrl::parse("./.cairn").unwrap(),
            StoreUrl::Embedded {
                dir: "./.cairn".into()
            }
        );
        assert_eq!(
            StoreUrl::parse("embedded:/srv/idx").unwrap(),
            StoreUrl::Embedded {
                dir: "/srv/idx".into()
            }
        );
        assert_eq!(
            StoreUrl::parse("postgres://u:pw@h:5432/db?sslmode=require&collection=docs").unwrap(),
            StoreUrl::Postgres {
                url: "postgres://u:pw@h:5432/db?sslmode=require".into(),
                collection: "docs".into(),
                ef_search: None,
                exact_below: None,
            }
        );
        assert_eq!(
            StoreUrl::parse("postgresql:///db").unwrap().collection(),
            Some("cairn")
        );
        assert_eq!(
            StoreUrl::parse("chroma://127.0.0.1:8000/docs").unwrap(),
            StoreUrl::Rest {
                kind: RestKind::Chroma,
                base: "http://127.0.0.1:8000".into(),
                collection: "docs".into()
            }
        );
        assert_eq!(
            StoreUrl::parse("qdrant+https://q.example:6333/docs?x=1").unwrap(),
            StoreUrl::Rest {
                kind: RestKind::Qdrant,
                base: "https://q.example:6333?x=1".into(),
                collection: "docs".into()
            }
        );
        let StoreUrl::Rest { base, .. } = StoreUrl::parse("pinecone://idx-abc.svc.io/ns").unwrap()
        else {
            panic!()
        };
        assert_eq!(base, "https://idx-abc.svc.io");
    }

    #[test]
    fn bad_forms_say_what_to_write() {
        for (input, needle) in [
            ("", "empty"),
            ("mysql://h/db", "unknown store `mysql://`"),
            ("http://h:8000/docs", "does not say which service"),
            ("chroma://h:8000", "name the collection"),
            ("chroma://h:8000/a/b", "name the collection"),
            ("chroma+ftp://h/x", "not a transport"),
            ("weaviate:///Docs", "needs a host"),
            ("embedded:", "needs a folder"),
            ("postgres://h/db?ef_search=many", "takes a whole number"),
        ] {
            let e = StoreUrl::parse(input).unwrap_err();
            assert!(e.to_string().contains(needle), "{input}: {e}");
            assert_eq!(e.class(), ErrorClass::InvalidInput);
        }
    }

    #[test]
    fn passwords_are_never_shown() {
        let u = StoreUrl::parse("postgres://me:s3cret@h/db?collection=c").unwrap();
        assert!(!u.to_string().contains("s3cret"), "{u}");
        assert!(!format!("{u:?}").contains("s3cret"));
        assert!(u.to_string().contains("me:***@h"));
        let e = StoreUrl::parse("nope://me:s3cret@h/x").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert_eq!(redact("host=h password=abc&x=1"), "host=h password=***&x=1");
        let q = StoreUrl::parse("postgres://h/db?password=zz&collection=c").unwrap();
        assert!(!q.to_string().contains("zz"), "{q}");
    }

    #[test]
    fn display_reads_back() {
        for s in [
            "embedded:/srv/idx",
            "chroma://127.0.0.1:8000/docs",
            "qdrant+https://q.example/docs",
            "pinecone://idx.svc.io/ns",
            "postgres://h/db?collection=c&ef_search=400&exact_below=100000",
        ] {
            let u = StoreUrl::parse(s).unwrap();
            assert_eq!(u.to_string(), s);
            assert_eq!(StoreUrl::parse(&u.to_string()).unwrap(), u);
        }
    }
}
