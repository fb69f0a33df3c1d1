//! What an import carried over and what it could not, item by item.

use std::fmt;

/// The outcome of a finished import (fatal errors are `DevpiImportError`s).
#[derive(Debug, Default)]
pub struct Report {
    pub server_version: String,
    pub users: usize,
    /// Users whose devpi password hash airlock checks at their first login.
    pub users_with_password: usize,
    pub indexes: usize,
    pub release_files: usize,
    pub doc_zips: usize,
    pub tox_results: usize,
    /// What was not carried over, or only in part: (item, why).
    pub left_out: Vec<(String, String)>,
    /// Changes made to fit airlock's rules: (item, what changed).
    pub changed: Vec<(String, String)>,
}

impl Report {
    pub fn leave_out(&mut self, item: impl Into<String>, why: impl Into<String>) {
        self.left_out.push((item.into(), why.into()));
    }

    pub fn change(&mut self, item: impl Into<String>, what: impl Into<String>) {
        self.changed.push((item.into(), what.into()));
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "imported from devpi-server {}:", self.server_version)?;
        writeln!(
            f,
            "  users: {} ({} with their devpi password, re-hashed at first login)",
            self.users, self.users_with_password
        )?;
        writeln!(f, "  indexes: {}", self.indexes)?;
        writeln!(
            f,
            "  release files: {} (sha256 checked)",
            self.release_files
        )?;
        writeln!(f, "  doc zips: {}", self.doc_zips)?;
        writeln!(f, "  tox results: {}", self.tox_results)?;
        if !self.changed.is_empty() {
            writeln!(f, "changed to fit airlock ({}):", self.changed.len())?;
            for (item, what) in &self.changed {
                writeln!(f, "  {item}: {what}")?;
            }
        }
        if self.left_out.is_empty() {
            writeln!(f, "nothing was left out")?;
        } else {
            writeln!(f, "NOT carried over ({}):", self.left_out.len())?;
            for (item, why) in &self.left_out {
                writeln!(f, "  {item}: {why}")?;
            }
        }
        Ok(())
    }
}
