//! Where the metadata lives (`--database`): the embedded SQLite file in
//! the data folder, or a PostgreSQL database shared by several nodes.
//!
//! The URL names the server, user and database; the password never comes
//! from the command line (where `ps` and shell histories show it): it is
//! read from `AIRLOCK_DATABASE_PASSWORD` or the file named by
//! `AIRLOCK_DATABASE_PASSWORD_FILE`, and a URL that carries one is refused.

use std::fmt;
use std::str::FromStr;

/// The environment variable holding the database password.
pub const PASSWORD_ENV: &str = "AIRLOCK_DATABASE_PASSWORD";
/// The environment variable naming a file that holds it.
pub const PASSWORD_FILE_ENV: &str = "AIRLOCK_DATABASE_PASSWORD_FILE";

/// The file in a data folder that records that its metadata is in
/// PostgreSQL (tools that open the SQLite file directly refuse such a
/// folder, and a server started on it without `--database` too).
pub const LOCATION_FILE: &str = "database.location";

#[derive(Debug, Clone, Default)]
pub enum DatabaseLocation {
    /// `<data>/airlock.sqlite3` (the default).
    #[default]
    Local,
    Postgres(Box<PgLocation>),
}

/// A PostgreSQL database: its connection settings without a password.
#[derive(Clone)]
pub struct PgLocation {
    config: tokio_postgres::Config,
    shown: String,
    /// `sslmode=require`: TLS, the server's certificate verified.
    tls: bool,
}

impl PgLocation {
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Whether connections use TLS (and verify the server).
    pub fn tls(&self) -> bool {
        self.tls
    }
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl FromStr for PgLocation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let config = tokio_postgres::Config::from_str(s).map_err(|e| {
            format!("--database: not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE): {e}")
        })?;
        if config.get_password().is_some() {
            // the message does not repeat the URL: it holds the password
            return Err(format!(
                "--database: the URL carries a password; give it in {PASSWORD_ENV} or a file \
                 named by {PASSWORD_FILE_ENV} instead (command lines are visible to every user \
                 of the machine)"
            ));
        }
        // `require`: TLS with the certificate verified (store::db::tls);
        // anything else: plain text, never a silent fallback
        let tls = config.get_ssl_mode() == tokio_postgres::config::SslMode::Require;
        let mut config = config;
        if !tls {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        }
        if config.get_hosts().is_empty() {
            return Err("--database: the URL names no host (postgres://USER@HOST/DATABASE)".into());
        }
        if config.get_user().is_none() {
            return Err("--database: the URL names no user (postgres://USER@HOST/DATABASE)".into());
        }
        let shown = show(&config, tls);
        Ok(Self { config, shown, tls })
    }
}

/// `postgres://user@host:port/dbname`, rebuilt from the parsed settings
/// (so nothing else the URL held is ever printed).
fn show(config: &tokio_postgres::Config, tls: bool) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = config
                .get_ports()
                .get(i)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    format!(
        "postgres://{}@{}/{}{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        config.get_dbname().unwrap_or(""),
        if tls { "?sslmode=require" } else { "" }
    )
}

impl FromStr for DatabaseLocation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "local" || s.is_empty() {
            return Ok(Self::Local);
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return s.parse().map(|l| Self::Postgres(Box::new(l)));
        }
        Err(
            "--database takes 'local' or 'postgres://USER@HOST:PORT/DATABASE' (the password in \
             AIRLOCK_DATABASE_PASSWORD)"
                .into(),
        )
    }
}

impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("local"),
            Self::Postgres(l) => l.fmt(f),
        }
    }
}

/// The database password from the environment: `AIRLOCK_DATABASE_PASSWORD`,
/// or the first line of the file `AIRLOCK_DATABASE_PASSWORD_FILE` names.
pub fn password_from_env() -> Result<Option<String>, String> {
    if let Some(p) = std::env::var_os(PASSWORD_ENV) {
        return p
            .into_string()
            .map(Some)
            .map_err(|_| format!("{PASSWORD_ENV} is not valid UTF-8"));
    }
    let Some(path) = std::env::var_os(PASSWORD_FILE_ENV) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{PASSWORD_FILE_ENV}: reading {}: {e}",
            std::path::Path::new(&path).display()
        )
    })?;
    Ok(Some(text.lines().next().unwrap_or("").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_show_without_secrets() {
        let l: DatabaseLocation = "postgres://airlock@db.internal:5433/airlock?connect_timeout=3"
            .parse()
            .unwrap();
        assert_eq!(l.to_string(), "postgres://airlock@db.internal:5433/airlock");
        assert!(matches!(
            "local".parse::<DatabaseLocation>(),
            Ok(DatabaseLocation::Local)
        ));
        let l: DatabaseLocation = "postgresql://u@h/d".parse().unwrap();
        assert_eq!(l.to_string(), "postgres://u@h:5432/d");
        let DatabaseLocation::Postgres(l) = "postgres://u@h/d?sslmode=require".parse().unwrap()
        else {
            panic!("postgres")
        };
        assert!(l.tls());
        assert_eq!(l.to_string(), "postgres://u@h:5432/d?sslmode=require");
        let DatabaseLocation::Postgres(l) = "postgres://u@h/d?sslmode=prefer".parse().unwrap()
        else {
            panic!("postgres")
        };
        assert!(
            !l.tls(),
            "prefer is plain text, said so, never a silent fallback"
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_echoing_it() {
        for url in [
            "postgres://airlock:hunter2@db/airlock",
            "postgres://airlock@db/airlock?password=hunter2",
        ] {
            let e = url.parse::<DatabaseLocation>().unwrap_err();
            assert!(e.contains(PASSWORD_ENV), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn other_urls_are_refused_clearly() {
        for (url, want) in [
            ("mysql://u@h/d", "takes 'local' or"),
            ("postgres://db/airlock", "no user"),
            ("postgres://u@h/d?nonsense=1", "not a PostgreSQL URL"),
        ] {
            let e = url.parse::<DatabaseLocation>().unwrap_err();
            assert!(e.contains(want), "{url}: {e}");
        }
    }
}
