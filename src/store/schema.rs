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
    // 2: client certificates pinned to users (mutual TLS identities).
    r#"
    CREATE TABLE user_certs (
        fingerprint TEXT PRIMARY KEY,
        user_id   INTEGER NOT NULL REFERENCES users(id),
        subject   TEXT NOT NULL,
        not_after INTEGER NOT NULL,
        added     INTEGER NOT NULL
    );
    CREATE INDEX user_certs_by_user ON user_certs(user_id);
    "#,
    // 3: typosquat allow/deny rules set by admins ("" scope = every index).
    r#"
    CREATE TABLE typo_rules (
        scope     TEXT NOT NULL,
        name      TEXT NOT NULL,
        verdict   TEXT NOT NULL CHECK (verdict IN ('allow', 'deny')),
        set_by    TEXT NOT NULL,
        created   INTEGER NOT NULL,
        PRIMARY KEY (scope, name)
    );
    "#,
    // 4: mirror caches. A mirrored project page (or the memory that upstream
    // does not have the project) and the files it lists, keyed by the
    // sha256 upstream advertised. Whether a file's bytes are cached is the
    // blob store's business (content-addressed, verified before commit).
    r#"
    CREATE TABLE mirror_pages (
        index_id  INTEGER NOT NULL REFERENCES indexes(id) ON DELETE CASCADE,
        project   TEXT NOT NULL,
        display_name TEXT NOT NULL,
        found     INTEGER NOT NULL,
        etag      TEXT,
        last_modified TEXT,
        serial    INTEGER,
        versions  TEXT NOT NULL,
        fetched   INTEGER NOT NULL,
        PRIMARY KEY (index_id, project)
    );
    CREATE TABLE mirror_files (
        id        INTEGER PRIMARY KEY,
        index_id  INTEGER NOT NULL REFERENCES indexes(id) ON DELETE CASCADE,
        project   TEXT NOT NULL,
        filename  TEXT NOT NULL,
        url       TEXT NOT NULL,
        sha256    TEXT NOT NULL,
        requires_python TEXT,
        yanked    TEXT,
        size      INTEGER,
        upload_time INTEGER,
        metadata_sha256 TEXT,
        UNIQUE (index_id, project, filename)
    );
    CREATE INDEX mirror_files_by_name ON mirror_files(index_id, filename);
    CREATE INDEX mirror_files_by_sha ON mirror_files(sha256);
    CREATE INDEX mirror_files_by_metadata_sha ON mirror_files(metadata_sha256);
    "#,
    // 5: provenance of every stored file: the uploads and pushes (and, for
    // files that came from a mirror, the upstream URL and digest) that
    // brought it to its index, as a JSON list of hops.
    r#"
    ALTER TABLE files ADD COLUMN provenance TEXT NOT NULL DEFAULT '[]';
    "#,
    // 6: security alerts (dependency-confusion attempts and the like),
    // one row per distinct finding.
    r#"
    CREATE TABLE security_alerts (
        id        INTEGER PRIMARY KEY,
        created   INTEGER NOT NULL,
        kind      TEXT NOT NULL,
        severity  TEXT NOT NULL,
        index_path TEXT NOT NULL,
        project   TEXT NOT NULL,
        message   TEXT NOT NULL,
        detail    TEXT NOT NULL,
        dedupe    TEXT NOT NULL UNIQUE
    );
    "#,
    // 7: the append-only, hash-chained audit log (see src/audit/). The
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
    // 8: pushes waiting for approvals (and what became of them).
    r#"
    CREATE TABLE pending_pushes (
        id        INTEGER PRIMARY KEY,
        created   INTEGER NOT NULL,
        source    TEXT NOT NULL,
        target    TEXT NOT NULL,
        project   TEXT NOT NULL,
        version   TEXT NOT NULL,
        pusher    TEXT NOT NULL,
        pusher_cert TEXT,
        review    TEXT NOT NULL,
        status    TEXT NOT NULL CHECK (status IN ('pending', 'landed', 'rejected', 'failed')),
        approvals TEXT NOT NULL DEFAULT '[]',
        decided   INTEGER,
        reason    TEXT
    );
    CREATE INDEX pending_pushes_by_status ON pending_pushes(status);
    "#,
    // 9: test results posted to release files (`devpi test`) and
    // documentation zips of releases. Both go with what they belong to.
    r#"
    CREATE TABLE toxresults (
        id        INTEGER PRIMARY KEY,
        file_id   INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        sha256    TEXT NOT NULL,
        summary   TEXT NOT NULL,
        uploader  TEXT,
        created   INTEGER NOT NULL
    );
    CREATE INDEX toxresults_by_file ON toxresults(file_id);
    CREATE INDEX toxresults_by_sha ON toxresults(sha256);
    CREATE TABLE doczips (
        release_id INTEGER PRIMARY KEY REFERENCES releases(id) ON DELETE CASCADE,
        sha256    TEXT NOT NULL,
        size      INTEGER NOT NULL,
        uploader  TEXT NOT NULL,
        created   INTEGER NOT NULL
    );
    CREATE INDEX doczips_by_sha ON doczips(sha256);
    "#,
    // 10: the typosquat index of this server's project names (see
    // src/typo/probe.rs), kept here rather than in memory. Derived from the
    // projects of stage indexes: triggers queue every project name added or
    // removed, and the server works the queue off (store/typo_index.rs);
    // rebuilt when `keys_version` changes.
    r#"
    CREATE INDEX projects_by_name ON projects(name);
    CREATE TABLE typo_queue (
        name      TEXT PRIMARY KEY
    ) WITHOUT ROWID;
    CREATE TRIGGER typo_queue_project_added AFTER INSERT ON projects
    BEGIN
        INSERT OR IGNORE INTO typo_queue (name) VALUES (NEW.name);
    END;
    CREATE TRIGGER typo_queue_project_removed AFTER DELETE ON projects
    BEGIN
        INSERT OR IGNORE INTO typo_queue (name) VALUES (OLD.name);
    END;
    INSERT OR IGNORE INTO typo_queue (name) SELECT name FROM projects;
    CREATE TABLE typo_names (
        id        INTEGER PRIMARY KEY,
        name      TEXT NOT NULL UNIQUE
    );
    CREATE TABLE typo_keys (
        key       INTEGER NOT NULL,
        name_id   INTEGER NOT NULL,
        PRIMARY KEY (key, name_id)
    ) WITHOUT ROWID;
    CREATE TABLE typo_words (
        word      TEXT PRIMARY KEY,
        uses      INTEGER NOT NULL,
        families  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE typo_index_state (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        keys_version INTEGER NOT NULL
    );
    "#,
    // 11: acknowledging security alerts (`airlock alerts ack ID --note ...`):
    // an acknowledged alert stays, with who, when and why.
    r#"
    ALTER TABLE security_alerts ADD COLUMN acked INTEGER;
    ALTER TABLE security_alerts ADD COLUMN acked_by TEXT;
    ALTER TABLE security_alerts ADD COLUMN ack_note TEXT;
    "#,
    // 12: who posted a test result also by client certificate, so that a
    // policy can trust results from a certificate identity (tests_passed_by).
    r#"
    ALTER TABLE toxresults ADD COLUMN uploader_cert TEXT;
    "#,
    // 13: files a mirrored page lists without a usable sha256, kept only
    // under --mirror-unverified-files (devpi's mirroring model). Apart from
    // `mirror_files` so that a `mirror_files.sha256` is always a digest
    // upstream declared. `pinned_sha256` is the digest of the bytes first
    // downloaded (trust on first use); later bytes must match it.
    // `malformed_sha256`: upstream declared something that is not a sha256
    // (listed like devpi does, never downloadable).
    r#"
    CREATE TABLE mirror_links (
        id        INTEGER PRIMARY KEY,
        index_id  INTEGER NOT NULL REFERENCES indexes(id) ON DELETE CASCADE,
        project   TEXT NOT NULL,
        filename  TEXT NOT NULL,
        url       TEXT NOT NULL,
        malformed_sha256 TEXT,
        pinned_sha256 TEXT,
        pinned_at INTEGER,
        requires_python TEXT,
        yanked    TEXT,
        size      INTEGER,
        upload_time INTEGER,
        UNIQUE (index_id, project, filename)
    );
    CREATE INDEX mirror_links_by_name ON mirror_links(index_id, filename);
    CREATE INDEX mirror_links_by_pin ON mirror_links(pinned_sha256);
    "#,
    // 14: release descriptions (READMEs), rendered once when a release is
    // stored (src/render) and kept with the renderer's version (rendered
    // again when read by another). Content-addressed: `key` is the sha256 of
    // content type and source, so a pushed release shares its source's row.
    // Small text, kept here rather than in the blob store (the source is cut
    // at 512 KiB, `truncated` says so). A row goes when the last release naming it does.
    r#"
    CREATE TABLE descriptions (
        key          TEXT PRIMARY KEY,
        source       TEXT NOT NULL,
        content_type TEXT,
        truncated    INTEGER NOT NULL,
        html         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        renderer     TEXT NOT NULL,
        rendered_at  INTEGER NOT NULL
    );
    ALTER TABLE releases ADD COLUMN description_key TEXT REFERENCES descriptions(key);
    CREATE INDEX releases_by_description ON releases(description_key);
    CREATE TRIGGER descriptions_release_deleted AFTER DELETE ON releases
    WHEN OLD.description_key IS NOT NULL
    BEGIN
        DELETE FROM descriptions WHERE key = OLD.description_key
          AND NOT EXISTS (SELECT 1 FROM releases WHERE description_key = OLD.description_key);
    END;
    CREATE TRIGGER descriptions_release_changed AFTER UPDATE OF description_key ON releases
    WHEN OLD.description_key IS NOT NULL AND OLD.description_key IS NOT NEW.description_key
    BEGIN
        DELETE FROM descriptions WHERE key = OLD.description_key
          AND NOT EXISTS (SELECT 1 FROM releases WHERE description_key = OLD.description_key);
    END;
    "#,
    // 15: full-text search (see src/search/, store/search.rs).
    // `search_entries` holds one row per release of a stage index (name,
    // summary, keywords, classifiers from the release metadata; description
    // and documentation text, which exist nowhere else in the database, set
    // by airlock in the transaction that stores them) and one per cached
    // mirror project (name only). `search_fts` is an external-content FTS5
    // index over it, kept in step by the triggers on `search_entries`, so
    // snippets read the text from one place and the index can be rebuilt
    // with `INSERT INTO search_fts(search_fts) VALUES('rebuild')`. Releases
    // and mirror pages feed `search_entries` through triggers, so every
    // insert, metadata replacement and delete of theirs changes the index in
    // its own transaction.
    r#"
    CREATE TABLE search_entries (
        id        INTEGER PRIMARY KEY,
        index_id  INTEGER NOT NULL,
        project   TEXT NOT NULL,
        release_id INTEGER UNIQUE,
        version   TEXT,
        name      TEXT NOT NULL,
        summary   TEXT NOT NULL DEFAULT '',
        keywords  TEXT NOT NULL DEFAULT '',
        classifiers TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        docs      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX search_entries_by_project ON search_entries(project, index_id);
    CREATE VIRTUAL TABLE search_fts USING fts5(
        name, summary, keywords, classifiers, description, docs,
        content='search_entries', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER search_entries_added AFTER INSERT ON search_entries
    BEGIN
        INSERT INTO search_fts (rowid, name, summary, keywords, classifiers, description, docs)
        VALUES (NEW.id, NEW.name, NEW.summary, NEW.keywords, NEW.classifiers, NEW.description,
                NEW.docs);
    END;
    CREATE TRIGGER search_entries_removed AFTER DELETE ON search_entries
    BEGIN
        INSERT INTO search_fts (search_fts, rowid, name, summary, keywords, classifiers,
                                description, docs)
        VALUES ('delete', OLD.id, OLD.name, OLD.summary, OLD.keywords, OLD.classifiers,
                OLD.description, OLD.docs);
    END;
    CREATE TRIGGER search_entries_changed AFTER UPDATE ON search_entries
    BEGIN
        INSERT INTO search_fts (search_fts, rowid, name, summary, keywords, classifiers,
                                description, docs)
        VALUES ('delete', OLD.id, OLD.name, OLD.summary, OLD.keywords, OLD.classifiers,
                OLD.description, OLD.docs);
        INSERT INTO search_fts (rowid, name, summary, keywords, classifiers, description, docs)
        VALUES (NEW.id, NEW.name, NEW.summary, NEW.keywords, NEW.classifiers, NEW.description,
                NEW.docs);
    END;
    CREATE TRIGGER search_release_added AFTER INSERT ON releases
    BEGIN
        INSERT INTO search_entries (index_id, project, release_id, version, name, summary,
                                    keywords, classifiers)
        SELECT p.index_id, p.name, NEW.id, NEW.version, p.display_name,
               CASE WHEN json_valid(NEW.metadata)
                    THEN coalesce(json_extract(NEW.metadata, '$.summary'), '') ELSE '' END,
               CASE WHEN json_valid(NEW.metadata)
                    THEN coalesce(json_extract(NEW.metadata, '$.keywords'), '') ELSE '' END,
               coalesce((SELECT group_concat(value, char(10)) FROM json_each(
                   CASE WHEN json_valid(NEW.metadata) THEN NEW.metadata ELSE '{}' END,
                   '$.classifiers')), '')
        FROM projects p WHERE p.id = NEW.project_id;
    END;
    CREATE TRIGGER search_release_metadata AFTER UPDATE OF metadata ON releases
    BEGIN
        UPDATE search_entries SET
            summary = CASE WHEN json_valid(NEW.metadata)
                THEN coalesce(json_extract(NEW.metadata, '$.summary'), '') ELSE '' END,
            keywords = CASE WHEN json_valid(NEW.metadata)
                THEN coalesce(json_extract(NEW.metadata, '$.keywords'), '') ELSE '' END,
            classifiers = coalesce((SELECT group_concat(value, char(10)) FROM json_each(
                CASE WHEN json_valid(NEW.metadata) THEN NEW.metadata ELSE '{}' END,
                '$.classifiers')), '')
        WHERE release_id = NEW.id;
    END;
    CREATE TRIGGER search_release_removed AFTER DELETE ON releases
    BEGIN
        DELETE FROM search_entries WHERE release_id = OLD.id;
    END;
    CREATE TRIGGER search_mirror_added AFTER INSERT ON mirror_pages WHEN NEW.found = 1
    BEGIN
        INSERT INTO search_entries (index_id, project, name)
        VALUES (NEW.index_id, NEW.project, NEW.display_name);
    END;
    CREATE TRIGGER search_mirror_changed AFTER UPDATE OF found, display_name ON mirror_pages
    WHEN OLD.found IS NOT NEW.found OR OLD.display_name IS NOT NEW.display_name
    BEGIN
        DELETE FROM search_entries
        WHERE index_id = OLD.index_id AND project = OLD.project AND release_id IS NULL;
        INSERT INTO search_entries (index_id, project, name)
        SELECT NEW.index_id, NEW.project, NEW.display_name WHERE NEW.found = 1;
    END;
    CREATE TRIGGER search_mirror_removed AFTER DELETE ON mirror_pages
    BEGIN
        DELETE FROM search_entries
        WHERE index_id = OLD.index_id AND project = OLD.project AND release_id IS NULL;
    END;
    CREATE TRIGGER search_index_removed AFTER DELETE ON indexes
    BEGIN
        DELETE FROM search_entries WHERE index_id = OLD.id;
    END;
    INSERT INTO search_entries (index_id, project, release_id, version, name, summary, keywords,
                                classifiers)
    SELECT p.index_id, p.name, r.id, r.version, p.display_name,
           CASE WHEN json_valid(r.metadata)
                THEN coalesce(json_extract(r.metadata, '$.summary'), '') ELSE '' END,
           CASE WHEN json_valid(r.metadata)
                THEN coalesce(json_extract(r.metadata, '$.keywords'), '') ELSE '' END,
           coalesce((SELECT group_concat(value, char(10)) FROM json_each(
               CASE WHEN json_valid(r.metadata) THEN r.metadata ELSE '{}' END,
               '$.classifiers')), '')
    FROM releases r JOIN projects p ON p.id = r.project_id;
    INSERT INTO search_entries (index_id, project, name)
    SELECT index_id, project, display_name FROM mirror_pages WHERE found = 1;
    "#,
    // 16: browser sessions of the web UI. Only a digest of the cookie is
    // kept; `pw_fingerprint` is the password's at login, so a password
    // change ends every session of the user (as it revokes login tokens).
    r#"
    CREATE TABLE web_sessions (
        id_hash   TEXT PRIMARY KEY,
        user      TEXT NOT NULL,
        pw_fingerprint TEXT NOT NULL,
        created   INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        remote    TEXT
    ) WITHOUT ROWID;
    CREATE INDEX web_sessions_by_user ON web_sessions(user);
    "#,
    // 17: webhooks. `webhooks` are the subscriptions of an index (by path,
    // not by id: the index.deleted event is enqueued as the index goes).
    // `webhook_outbox` holds one row per event and subscription, written in
    // the transaction of the change (with the audit entry), carrying what
    // its delivery needs (URL, secret, body), so it survives the
    // subscription or index going away. `webhook_deliveries`: one row per
    // attempt.
    r#"
    CREATE TABLE webhooks (
        id          INTEGER PRIMARY KEY,
        index_path  TEXT NOT NULL,
        kind        TEXT NOT NULL,
        url         TEXT NOT NULL,
        events      TEXT NOT NULL,
        secret      TEXT NOT NULL,
        created     INTEGER NOT NULL,
        created_by  TEXT
    );
    CREATE INDEX webhooks_by_index ON webhooks(index_path);
    CREATE TABLE webhook_outbox (
        id              INTEGER PRIMARY KEY,
        event_id        TEXT NOT NULL,
        webhook_id      INTEGER NOT NULL,
        index_path      TEXT NOT NULL,
        event_type      TEXT NOT NULL,
        url             TEXT NOT NULL,
        secret          TEXT NOT NULL,
        body            TEXT NOT NULL,
        created         INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'delivered', 'failed')),
        last_error      TEXT
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_attempt_ms);
    CREATE INDEX webhook_outbox_by_webhook ON webhook_outbox(webhook_id);
    CREATE TABLE webhook_deliveries (
        id          INTEGER PRIMARY KEY,
        outbox_id   INTEGER NOT NULL,
        webhook_id  INTEGER NOT NULL,
        index_path  TEXT NOT NULL,
        event_id    TEXT NOT NULL,
        event_type  TEXT NOT NULL,
        attempt     INTEGER NOT NULL,
        time        INTEGER NOT NULL,
        status      INTEGER,
        error       TEXT,
        duration_ms INTEGER NOT NULL
    );
    CREATE INDEX webhook_deliveries_by_index ON webhook_deliveries(index_path, id);
    "#,
    // 18: a small second FTS5 index over the short fields only (name,
    // summary, keywords) of `search_entries`, so the name and summary tiers
    // of the ranking (`crate::search::rank`) read short doclists instead of
    // the description and documentation text; with prefix indexes for 2 and
    // 3 characters (a short last word of a query is a prefix); and
    // `search_fts` again with the same prefix indexes (without them a
    // two-letter prefix merges the doclists of every word it starts, 0.2 s
    // at 100k projects), rebuilt from `search_entries` (its triggers name
    // the table, so they stay). Kept in step
    // by its own triggers, in the same transaction as every change of
    // `search_entries`; built here from the stored rows, so an existing data
    // folder is searchable by the new tiers as soon as it is opened.
    r#"
    CREATE VIRTUAL TABLE search_head USING fts5(
        name, summary, keywords,
        content='search_entries', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3'
    );
    CREATE TRIGGER search_head_added AFTER INSERT ON search_entries
    BEGIN
        INSERT INTO search_head (rowid, name, summary, keywords)
        VALUES (NEW.id, NEW.name, NEW.summary, NEW.keywords);
    END;
    CREATE TRIGGER search_head_removed AFTER DELETE ON search_entries
    BEGIN
        INSERT INTO search_head (search_head, rowid, name, summary, keywords)
        VALUES ('delete', OLD.id, OLD.name, OLD.summary, OLD.keywords);
    END;
    CREATE TRIGGER search_head_changed AFTER UPDATE OF id, name, summary, keywords
    ON search_entries
    BEGIN
        INSERT INTO search_head (search_head, rowid, name, summary, keywords)
        VALUES ('delete', OLD.id, OLD.name, OLD.summary, OLD.keywords);
        INSERT INTO search_head (rowid, name, summary, keywords)
        VALUES (NEW.id, NEW.name, NEW.summary, NEW.keywords);
    END;
    INSERT INTO search_head (search_head) VALUES ('rebuild');
    DROP TABLE search_fts;
    CREATE VIRTUAL TABLE search_fts USING fts5(
        name, summary, keywords, classifiers, description, docs,
        content='search_entries', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3'
    );
    INSERT INTO search_fts (search_fts) VALUES ('rebuild');
    "#,
    // 19: the front proxy's groups of a pusher, kept until approvals land the push
    r#"
    ALTER TABLE pending_pushes ADD COLUMN pusher_groups TEXT NOT NULL DEFAULT '';
    "#,
    // 20: when each cached mirror blob was last used (mirror cache retention);
    // not a reference: a row here never keeps a blob stored
    r#"
    CREATE TABLE mirror_blob_use (
        sha256 TEXT PRIMARY KEY,
        last_used INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
];

#[cfg(test)]
mod tests {
    /// Every migration is one well-formed SQL batch that applies in order
    /// on an empty database (a merge once glued two together).
    #[test]
    fn migrations_apply_in_order_on_an_empty_database() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for (i, sql) in super::MIGRATIONS.iter().enumerate() {
            assert!(
                !sql.contains("r#\""),
                "migration {} swallowed the next one",
                i + 1
            );
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("migration {} fails: {e}", i + 1));
        }
    }
}
