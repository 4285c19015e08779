//! Connection settings: a `postgres://` URL or libpq `key=value` string, the `PG*`
//! environment filling the gaps, `sslmode` and `sslrootcert`, and the pool they make.

use super::tls;
use super::PgOptions;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::config::{Host, SslMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ssl {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A parsed connection: the client's settings, the TLS mode, and the server for messages.
pub(super) struct ConnInfo {
    config: tokio_postgres::Config,
    ssl: Ssl,
    root_cert: Option<PathBuf>,
    pub(super) endpoint: String,
}

impl ConnInfo {
    /// A `postgres://` URL or `key=value` string, with the `PG*` variables filling the gaps.
    pub(super) fn parse(url: &str) -> Result<ConnInfo, String> {
        Self::parse_with_env(url, |k| std::env::var(k).ok())
    }

    fn parse_with_env(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<ConnInfo, String> {
        let url = url.trim();
        let (rest, ssl_params) = split_ssl_params(url)?;
        let mut config = if rest.is_empty() {
            tokio_postgres::Config::new()
        } else {
            tokio_postgres::Config::from_str(&rest)
                .map_err(|e| format!("the PostgreSQL connection string does not parse: {e}"))?
        };
        let get = |k: &str| ssl_params.get(k).cloned().or_else(|| env(k_env(k)));
        for k in ssl_params.keys() {
            if matches!(k.as_str(), "sslcert" | "sslkey" | "sslpassword" | "sslcrl") {
                return Err(format!(
                    "{k}: client certificates are not supported by cairn's Postgres store"
                ));
            }
        }
        if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
            match env("PGHOST").filter(|h| !h.is_empty()) {
                Some(hosts) => {
                    for h in hosts.split(',') {
                        if h.starts_with('/') {
                            config.host_path(h);
                        } else {
                            config.host(h);
                        }
                    }
                }
                None => {
                    config.host("localhost");
                }
            }
        }
        if config.get_ports().is_empty() {
            if let Some(p) = env("PGPORT").filter(|p| !p.is_empty()) {
                let port = p
                    .parse()
                    .map_err(|_| format!("PGPORT={p:?} is not a port number"))?;
                config.port(port);
            }
        }
        if config.get_user().is_none() {
            let user = env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".into());
            config.user(&user);
        }
        if config.get_password().is_none() {
            if let Some(p) = env("PGPASSWORD") {
                config.password(p);
            }
        }
        if config.get_dbname().is_none() {
            if let Some(d) = env("PGDATABASE").filter(|d| !d.is_empty()) {
                config.dbname(&d);
            }
        }
        if config.get_connect_timeout().is_none() {
            let secs = env("PGCONNECT_TIMEOUT")
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|&s| s > 0)
                .unwrap_or(10);
            config.connect_timeout(Duration::from_secs(secs));
        }
        if config.get_application_name().is_none() {
            config.application_name("cairn");
        }
        let ssl = match get("sslmode").as_deref().unwrap_or("prefer") {
            "disable" | "allow" => Ssl::Disable,
            "prefer" => Ssl::Prefer,
            "require" => Ssl::Require,
            "verify-ca" => Ssl::VerifyCa,
            "verify-full" => Ssl::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other:?}: use disable, prefer, require, verify-ca or verify-full"
                ))
            }
        };
        let root_cert = get("sslrootcert")
            .filter(|p| !p.is_empty() && p != "system")
            .map(PathBuf::from);
        let local = config.get_hosts().iter().all(|h| match h {
            Host::Unix(_) => true,
            Host::Tcp(h) => is_loopback(h),
        }) && config.get_hostaddrs().iter().all(|a| a.is_loopback());
        let ssl = if ssl == Ssl::Prefer && local {
            Ssl::Disable
        } else {
            ssl
        };
        config.ssl_mode(match ssl {
            Ssl::Disable => SslMode::Disable,
            Ssl::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let endpoint = match (config.get_hosts().first(), config.get_hostaddrs().first()) {
            (Some(Host::Tcp(h)), _) if h.contains(':') => format!("[{h}]:{port}"),
            (Some(Host::Tcp(h)), _) => format!("{h}:{port}"),
            (Some(Host::Unix(p)), _) => format!("{}/.s.PGSQL.{port}", p.display()),
            (None, Some(a)) => format!("{a}:{port}"),
            (None, None) => format!("localhost:{port}"),
        };
        Ok(ConnInfo {
            config,
            ssl,
            root_cert,
            endpoint,
        })
    }

    pub(super) fn pool(&self, options: &PgOptions) -> Result<Pool, String> {
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match self.ssl {
            Ssl::Disable => {
                Manager::from_config(self.config.clone(), tokio_postgres::NoTls, manager_config)
            }
            _ => Manager::from_config(
                self.config.clone(),
                tokio_postgres_rustls::MakeRustlsConnect::new(self.tls()?),
                manager_config,
            ),
        };
        Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.wait_timeout))
            .build()
            .map_err(|e| format!("connection pool: {e}"))
    }

    fn tls(&self) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let roots = || -> Result<rustls::RootCertStore, String> {
            let mut roots = rustls::RootCertStore::empty();
            match &self.root_cert {
                Some(path) => {
                    use rustls::pki_types::pem::PemObject;
                    let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                        .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                    for c in certs {
                        let c = c.map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                        roots
                            .add(c)
                            .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            Ok(roots)
        };
        let verifier = |roots: rustls::RootCertStore| {
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("TLS: {e}"))
        };
        let config = match (self.ssl, &self.root_cert) {
            (Ssl::VerifyFull, _) => builder.with_root_certificates(roots()?),
            // As libpq: `require` with a root certificate checks the chain like verify-ca.
            (Ssl::VerifyCa, _) | (Ssl::Require, Some(_)) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(tls::ChainOnly(verifier(roots()?)?))),
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(tls::EncryptOnly(provider.clone()))),
        };
        Ok(config.with_no_client_auth())
    }
}

/// The `PG*` variable behind a connection parameter.
fn k_env(k: &str) -> &'static str {
    match k {
        "sslmode" => "PGSSLMODE",
        "sslrootcert" => "PGSSLROOTCERT",
        _ => "",
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// Takes the `ssl*` parameters out of a URL's query or a `key=value` string (the client
/// library knows only some of them) and returns the rest.
fn split_ssl_params(url: &str) -> Result<(String, HashMap<String, String>), String> {
    let mut ssl = HashMap::new();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_string(), ssl));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k.starts_with("ssl") && k != "sslnegotiation" {
                ssl.insert(k.to_string(), percent_decode(v)?);
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, ssl));
    }
    let mut kept = Vec::new();
    for (k, v) in parse_key_values(url)? {
        if k.starts_with("ssl") && k != "sslnegotiation" {
            ssl.insert(k, v);
        } else {
            let quoted = v.replace('\\', "\\\\").replace('\'', "\\'");
            kept.push(format!("{k}='{quoted}'"));
        }
    }
    Ok((kept.join(" "), ssl))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "a bad %-escape in the connection URL".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the connection URL is not UTF-8".to_string())
}

/// libpq's `key=value` syntax: values bare or single-quoted, `\` escaping the next character.
fn parse_key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "the connection string has `{key}` without `=value` (use a postgres:// URL or \
                 key=value pairs)"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(format!("an unterminated quoted value for `{key}`")),
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn urls_key_values_and_the_environment() {
        let c = ConnInfo::parse_with_env(
            "postgres://u:secret@db.example:6543/rag?sslmode=verify-full&application_name=x",
            env(&[]),
        )
        .unwrap();
        assert_eq!(c.ssl, Ssl::VerifyFull);
        assert_eq!(c.endpoint, "db.example:6543");
        assert_eq!(c.config.get_dbname(), Some("rag"));
        assert_eq!(c.config.get_password(), Some(&b"secret"[..]));

        let c = ConnInfo::parse_with_env(
            "host=127.0.0.1 port=5433 user='a b' password='it\\'s' sslmode=prefer",
            env(&[]),
        )
        .unwrap();
        assert_eq!(c.ssl, Ssl::Disable, "prefer on loopback is plain");
        assert_eq!(c.config.get_user(), Some("a b"));
        assert_eq!(c.config.get_password(), Some(&b"it's"[..]));

        let c = ConnInfo::parse_with_env(
            "",
            env(&[
                ("PGHOST", "pg.internal"),
                ("PGPORT", "5999"),
                ("PGUSER", "me"),
                ("PGPASSWORD", "pw"),
                ("PGDATABASE", "d"),
                ("PGSSLMODE", "require"),
            ]),
        )
        .unwrap();
        assert_eq!(c.endpoint, "pg.internal:5999");
        assert_eq!(c.ssl, Ssl::Require);
        assert_eq!(c.config.get_user(), Some("me"));
        assert_eq!(c.config.get_dbname(), Some("d"));
        assert!(c.tls().is_ok());

        assert!(ConnInfo::parse_with_env("postgres://x/?sslmode=bogus", env(&[])).is_err());
        assert!(ConnInfo::parse_with_env("host", env(&[])).is_err());
        assert!(
            ConnInfo::parse_with_env("postgres://x/?sslcert=/a.pem", env(&[])).is_err(),
            "client certificates are refused, not ignored"
        );
    }
}
