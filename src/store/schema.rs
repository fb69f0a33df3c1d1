//! Schema migrations. Each entry runs once, in order, inside a transaction;
//! `PRAGMA user_version` records how many have run. Never edit a released
//! migration: append a new one.

pub const MIGRATIONS: &[&str] = &[
    // 1: users, indexes, projects, releases, files.
    r#"
    CREATE TABLE users (
        id        INTEGER PRIMARY KEY,
        name      TEXT NOT NULL UNIQUE,
        pwhash    TEXT,
        email     TEXT,
        created   INTEGER NOT NULL
    );
    CREATE TABLE indexes (
        id        INTEGER PRIMARY KEY,
        user_id   INTEGER NOT NULL REFERENCES users(id),
        name      TEXT NOT NULL,
        config    TEXT NOT NULL,
        created   INTEGER NOT NULL,
        UNIQUE (user_id, name)
    );
    CREATE TABLE projects (
        id        INTEGER PRIMARY KEY,
        index_id  INTEGER NOT NULL REFERENCES indexes(id),
        name      TEXT NOT NULL,
        display_name TEXT NOT NULL,
        created   INTEGER NOT NULL,
        UNIQUE (index_id, name)
    );
    CREATE TABLE releases (
        id        INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        version   TEXT NOT NULL,
        metadata  TEXT NOT NULL,
        created   INTEGER NOT NULL,
        UNIQUE (project_id, version)
    );
    CREATE TABLE files (
        id        INTEGER PRIMARY KEY,
        index_id  INTEGER NOT NULL REFERENCES indexes(id),
        release_id INTEGER NOT NULL REFERENCES releases(id),
        filename  TEXT NOT NULL,
        kind      TEXT NOT NULL,
        sha256    TEXT NOT NULL,
        size      INTEGER NOT NULL,
        requires_python TEXT,
        metadata_sha256 TEXT,
        yanked    TEXT,
        uploader  TEXT NOT NULL,
        created   INTEGER NOT NULL,
        UNIQUE (index_id, filename)
    );
    CREATE INDEX files_by_release ON files(release_id);
    CREATE INDEX files_by_sha ON files(sha256);
    CREATE INDEX files_by_metadata_sha ON files(metadata_sha256);
    "#,
    // 2: the append-only, hash-chained audit log (see src/audit/). The
    // triggers are defence in depth against mistakes and casual edits;
    // someone with write access to the file can drop them, which the hash
    // chain and an external anchor of its head are there to expose.
    r#"
    CREATE TABLE audit_log (
        seq        INTEGER PRIMARY KEY,
        time       INTEGER NOT NULL,
        actor      TEXT,
        cert_fingerprint TEXT,
        remote     TEXT,
        action     TEXT NOT NULL,
        target     TEXT NOT NULL,
        details    TEXT NOT NULL,
        prev_hash  TEXT NOT NULL,
        hash       TEXT NOT NULL
    );
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be changed');
    END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be deleted');
    END;
    "#,
];
