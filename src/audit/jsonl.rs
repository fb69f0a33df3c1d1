//! `airlock serve --audit-jsonl PATH`: a copy of the audit log as JSON
//! lines, appended after each write transaction commits. Best effort: a
//! failure is logged and retried on the next commit; the database stays
//! the record that [`super::verify`] checks.
//!
//! The export resumes after the last entry already in the file, so a
//! restart neither repeats nor skips entries.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{entries_after, AuditError};
use crate::store::Db;

/// Entries read per round trip to the database.
const BATCH: usize = 500;
/// How much of the file's end is read to find the last exported entry
/// (an entry line is at most about 66 KiB: details are capped at 64 KiB).
const TAIL_BYTES: u64 = 256 * 1024;

pub struct JsonlExport {
    db: Arc<Db>,
    path: PathBuf,
    /// The last sequence number written to the file.
    last: Mutex<i64>,
}

impl JsonlExport {
    /// Prepare exporting to `path`, resuming after the last entry it holds.
    pub fn open(db: Arc<Db>, path: &Path) -> Result<Arc<Self>, AuditError> {
        let last = last_exported(path)?;
        end_with_newline(path)?;
        Ok(Arc::new(Self {
            db,
            path: path.to_path_buf(),
            last: Mutex::new(last),
        }))
    }

    /// Append every entry not yet in the file; returns how many were written.
    pub fn export_new(&self) -> Result<u64, AuditError> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let mut written = 0u64;
        loop {
            let after = *last;
            let batch = self
                .db
                .read_blocking(move |c| entries_after(c, after, BATCH).map_err(Into::into))?;
            let mut buf = Vec::new();
            for e in &batch {
                serde_json::to_writer(&mut buf, e).map_err(std::io::Error::other)?;
                buf.push(b'\n');
            }
            file.write_all(&buf)?;
            file.sync_data()?;
            if let Some(e) = batch.last() {
                *last = e.seq;
            }
            written += batch.len() as u64;
            if batch.len() < BATCH {
                return Ok(written);
            }
        }
    }

    /// Export now and after every committed write, until the runtime stops.
    pub fn spawn(self: &Arc<Self>) {
        let me = Arc::clone(self);
        let mut commits = me.db.subscribe_commits();
        tokio::spawn(async move {
            loop {
                let job = Arc::clone(&me);
                match tokio::task::spawn_blocking(move || job.export_new()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(path = %me.path.display(), error = %e,
                        "appending to the audit JSON-lines export failed; retrying after the next change"),
                    Err(e) => tracing::error!(error = %e, "audit export task failed"),
                }
                if commits.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}

/// A line torn by a crash is left as it is, but the next entry starts on
/// a line of its own.
fn end_with_newline(path: &Path) -> Result<(), AuditError> {
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// The `seq` of the last complete line of the export at `path` (0 if the
/// file is missing or empty).
fn last_exported(path: &Path) -> Result<i64, AuditError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut tail = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut tail)?;
    let seq = tail
        .split(|b| *b == b'\n')
        .rev()
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .find_map(|v| v.get("seq").and_then(serde_json::Value::as_i64));
    match seq {
        Some(s) => Ok(s),
        None if len == 0 => Ok(0),
        None => Err(AuditError::Io(std::io::Error::other(format!(
            "{} is not an airlock audit export (no JSON line with a seq near its end); \
             give --audit-jsonl a new file",
            path.display()
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{append, Action, NewEntry};
    use crate::store::StoreError;

    fn add(db: &Db, n: usize) {
        for i in 0..n {
            db.write_blocking(|tx| {
                append(tx, NewEntry::new(Action::Upload, format!("root/dev/p/{i}")))
                    .map_err(StoreError::from)
            })
            .unwrap();
        }
    }

    fn seqs(path: &Path) -> Vec<i64> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn exports_each_entry_once_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("airlock.sqlite3")).unwrap();
        let out = dir.path().join("audit.jsonl");
        add(&db, 3);
        let export = JsonlExport::open(Arc::clone(&db), &out).unwrap();
        assert_eq!(export.export_new().unwrap(), 3);
        assert_eq!(export.export_new().unwrap(), 0, "nothing new");
        add(&db, 2);
        // a restart resumes after the file's last line
        let export = JsonlExport::open(Arc::clone(&db), &out).unwrap();
        assert_eq!(export.export_new().unwrap(), 2);
        assert_eq!(seqs(&out), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn resumes_after_a_torn_last_line_and_refuses_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let torn = dir.path().join("torn.jsonl");
        std::fs::write(&torn, "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3,\"acti").unwrap();
        assert_eq!(last_exported(&torn).unwrap(), 2);
        end_with_newline(&torn).unwrap();
        assert!(std::fs::read_to_string(&torn).unwrap().ends_with("acti\n"));
        end_with_newline(&torn).unwrap();
        assert!(
            !std::fs::read_to_string(&torn).unwrap().ends_with("\n\n"),
            "added once"
        );
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(last_exported(&empty).unwrap(), 0);
        assert_eq!(last_exported(&dir.path().join("missing")).unwrap(), 0);
        let foreign = dir.path().join("notes.txt");
        std::fs::write(&foreign, "remember the milk\n").unwrap();
        assert!(last_exported(&foreign).is_err());
    }
}
