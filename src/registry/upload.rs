//! Uploads: validate a distribution file completely, then store it
//! atomically (blob first, then one database transaction; a failure at any
//! step removes what that step added).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Actor, Registry, RegistryError, Result};
use crate::audit::{self, Action, NewEntry};
use crate::digest::{FormDigests, Sha256};
use crate::dist::{self, CoreMetadata, DistKind, InspectedDist};
use crate::echo::echo;
use crate::names::{IndexPath, ProjectName};
use crate::store::descriptions::{self, DescriptionRow};
use crate::store::releases::{self, FileRow, NewFile};
use crate::store::{StoreError, TempBlob};

/// The form fields of an upload that airlock checks against the file.
#[derive(Debug, Default, Clone)]
pub struct UploadForm {
    pub action: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub sha256_digest: Option<String>,
    pub md5_digest: Option<String>,
    pub blake2_256_digest: Option<String>,
}

impl UploadForm {
    /// Record one form field (unknown fields are ignored: the metadata that
    /// counts is read from the file itself).
    pub fn set(&mut self, field: &str, value: String) {
        match field {
            ":action" => self.action = Some(value),
            "name" => self.name = Some(value),
            "version" => self.version = Some(value),
            "sha256_digest" => self.sha256_digest = Some(value),
            "md5_digest" => self.md5_digest = Some(value),
            "blake2_256_digest" => self.blake2_256_digest = Some(value),
            _ => {}
        }
    }
}

/// The result of a stored upload.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub project: ProjectName,
    pub version: String,
    pub sha256: Sha256,
    /// The name the file is stored and served under (canonical; for an
    /// unchanged upload, the name it already had).
    pub filename: String,
    /// Identical bytes were already stored in this release's slot.
    pub unchanged: bool,
}

fn blocking_failed(e: tokio::task::JoinError) -> RegistryError {
    RegistryError::Store(StoreError::Internal(format!("background task failed: {e}")))
}

impl Registry {
    /// May `actor` upload to `path` at all? Asked before the request body
    /// is read, so a refused client sends nothing more. A refusal (no
    /// uploads on the index, a missing credential, not in `acl_upload`,
    /// anonymous) is recorded in the audit log with who, from where and
    /// why. Returns the identity the upload will be attributed to.
    /// A project new to the stage index `index_id` (`path`) must not be a
    /// look-alike of a popular or private one: the typosquat gate for an
    /// upload (a release file or documentation). Returns whether it is new.
    pub(super) async fn gate_new_project(
        self: &Arc<Self>,
        by: &Actor,
        index_id: i64,
        path: &IndexPath,
        project: &ProjectName,
    ) -> Result<bool> {
        let name = project.as_str().to_string();
        let is_new = self
            .store
            .db
            .read(move |c| releases::project(c, index_id, &name))
            .await?
            .is_none();
        if is_new {
            if let super::Gate::Warned(v) = self.typo_gate_for(by, path, project, "upload").await? {
                tracing::warn!(target: "security", index = %path, project = %project, reason = %v.reason, "upload of a suspicious name allowed by warn mode");
            }
        }
        Ok(is_new)
    }

    pub async fn admit_upload(
        &self,
        actor: &Actor,
        path: &IndexPath,
    ) -> Result<crate::auth::Identity> {
        let admitted = self
            .check_upload_allowed(actor.identity(), path)
            .and_then(|()| {
                // `:ANONYMOUS:` may be in acl_upload, but every upload is
                // still attributed to someone.
                actor.identity().cloned().ok_or_else(|| {
                    RegistryError::Unauthenticated(format!(
                        "log in to upload to {path}: anonymous uploads are not accepted"
                    ))
                })
            });
        if let Err(e) = &admitted {
            crate::metrics::count_upload(crate::metrics::Outcome::Refused);
            self.audit_refused(
                actor,
                Action::BlockedUpload,
                path.to_string(),
                json!({
                    "index": path.to_string(),
                    "reason": e.to_string(),
                    "credentials": presented(actor.identity()),
                }),
            )
            .await;
        }
        admitted
    }

    pub async fn upload_file(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        form: UploadForm,
        filename: &str,
        temp: TempBlob,
    ) -> Result<Uploaded> {
        let result = self.store_upload(by, path, form, filename, temp).await;
        crate::metrics::count_upload(match &result {
            Ok(_) => crate::metrics::Outcome::Accepted,
            Err(_) => crate::metrics::Outcome::Refused,
        });
        result
    }

    async fn store_upload(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        form: UploadForm,
        filename: &str,
        temp: TempBlob,
    ) -> Result<Uploaded> {
        let Some(actor) = by.identity() else {
            return Err(RegistryError::Unauthenticated(format!(
                "log in to upload to index {path}"
            )));
        };
        self.check_upload_allowed(Some(actor), path)?;
        let index = self.writable_stage(Some(actor), path, "upload to")?;
        let sha = temp.sha256();
        if temp.size() == 0 {
            return Err(RegistryError::Invalid(format!(
                "{} is empty",
                echo(filename)
            )));
        }
        if let Some(declared) = declared(&form.sha256_digest) {
            let declared: Sha256 = declared.parse().map_err(|_| {
                RegistryError::Invalid(format!(
                    "sha256_digest {:?} is not a sha256 hex digest (64 hexadecimal characters)",
                    echo(declared)
                ))
            })?;
            if declared != sha {
                return Err(RegistryError::Invalid(format!(
                    "sha256 digest mismatch: the received file hashes to {sha}, the upload declared {declared}; \
                     the file was corrupted in transit or the digest is wrong"
                )));
            }
        }

        let other_digests = OtherDigests::from_form(&form)?;

        // Parse and open the archive (and hash it again if the form declared
        // other digests) off the async runtime.
        let fname = filename.to_string();
        let limits = self.settings.inspect_limits.clone();
        let rehash = other_digests.any();
        let (inspected, digests, temp) = tokio::task::spawn_blocking(move || {
            let digests = if rehash {
                Some(FormDigests::of_file(temp.path()))
            } else {
                None
            };
            let r = dist::inspect_with_limits(temp.path(), &fname, &limits);
            (r, digests, temp)
        })
        .await
        .map_err(blocking_failed)?;
        if let Some(digests) = digests {
            let digests = digests.map_err(|e| {
                RegistryError::Store(StoreError::Internal(format!("hashing the upload: {e}")))
            })?;
            other_digests.check(&digests)?;
        }
        let inspected =
            inspected.map_err(|e| RegistryError::Invalid(format!("{}: {e}", echo(filename))))?;
        check_form_against_file(&form, &inspected)?;

        let project = inspected.filename.name.clone();
        // Stored and served under its canonical name; conflicts are decided
        // on the release (PEP 440 equality) and the file's slot in it.
        let stored_name = inspected.filename.canonical_filename();
        let slot = inspected.filename.release_slot();
        let (release_version, same_slot) = {
            let (id, name, v) = (
                index.id,
                project.as_str().to_string(),
                inspected.filename.version.clone(),
            );
            let slot = slot.clone();
            self.store
                .db
                .read(move |c| {
                    let (stored, files) = releases::equal_release(c, id, &name, &v)?;
                    Ok((stored, same_slot_files(files, &slot)))
                })
                .await?
        };
        let version = release_version.unwrap_or_else(|| inspected.filename.version.to_string());

        let is_new = self.gate_new_project(by, index.id, path, &project).await?;

        // The same file of this release already on this index, under any
        // spelling of its name?
        if let Some(existing) = same_slot.first() {
            if existing.sha256 == sha {
                return Ok(Uploaded {
                    project,
                    version,
                    sha256: sha,
                    filename: existing.filename.clone(),
                    unchanged: true,
                });
            }
            if !index.config.volatile {
                return Err(RegistryError::Conflict(format!(
                    "{} already exists on the non-volatile index {path} with different content: \
                     release files there never change, upload a new version instead (stored as \
                     {}, sha256 {}; a release holds one file per kind and tags)",
                    echo(filename),
                    existing.filename,
                    existing.sha256
                )));
            }
        }

        // Store the blobs, the metadata and the file at the same time (with
        // object storage each is a round trip); a blob this upload created
        // is removed again if the other fails.
        let metadata_bytes = inspected.metadata_bytes.clone();
        let temp_size = temp.size();
        let (b1, b2) = (Arc::clone(&self.store.blobs), Arc::clone(&self.store.blobs));
        let (meta, file) = tokio::join!(
            tokio::task::spawn_blocking(move || b1.put_bytes(&metadata_bytes)),
            tokio::task::spawn_blocking(move || b2.commit(temp)),
        );
        let (meta, file) = (
            meta.map_err(blocking_failed)?,
            file.map_err(blocking_failed)?,
        );
        let (meta_sha, meta_created, file_created) = match (meta, file) {
            (Ok((meta_sha, meta_created)), Ok(file_created)) => {
                (meta_sha, meta_created, file_created)
            }
            (meta, file) => {
                let mut undo = Vec::new();
                if let Ok((s, true)) = &meta {
                    undo.push(*s);
                }
                if let Ok(true) = &file {
                    undo.push(sha);
                }
                self.collect_garbage(undo).await;
                let e = meta.err().or(file.err()).expect("one of them failed");
                return Err(e.into());
            }
        };

        let release_metadata = release_metadata_json(&inspected.metadata).to_string();
        // rendered once, here, never per page view
        let meta = inspected.metadata.clone();
        let description =
            tokio::task::spawn_blocking(move || super::descriptions::of_metadata(&meta))
                .await
                .map_err(blocking_failed)?;
        let kind = match inspected.filename.kind {
            DistKind::Wheel => "wheel",
            DistKind::Sdist => "sdist",
        };
        let audit = by
            .entry(
                Action::Upload,
                format!("{path}/{project}/{version}/{stored_name}"),
            )
            .details(json!({
                "index": path.to_string(), "project": project.as_str(), "version": version,
                "filename": stored_name, "uploaded_as": filename, "sha256": sha.to_hex(),
                "size": temp_size, "metadata_sha256": meta_sha.to_hex(), "kind": kind,
            }));
        let row = NewFileOwned {
            index_id: index.id,
            volatile: index.config.volatile,
            project: project.as_str().to_string(),
            display_name: inspected.metadata.name.clone(),
            version: version.clone(),
            release_metadata,
            description,
            search_description: crate::search::text::bounded(
                inspected.metadata.description.as_deref().unwrap_or(""),
                crate::search::text::MAX_DESCRIPTION_BYTES,
            ),
            filename: stored_name.clone(),
            parsed_version: inspected.filename.version.clone(),
            slot,
            kind,
            sha,
            size: temp_size,
            requires_python: inspected.metadata.requires_python.clone(),
            meta_sha,
            uploader: actor.user.clone(),
            provenance: json!([{
                "op": "upload", "index": path.to_string(), "by": actor.user,
                "cert": actor.cert_fingerprint, "at": crate::store::now(),
            }])
            .to_string(),
            audit,
        };
        let blobs = Arc::clone(&self.store.blobs);
        let write = move |tx: &crate::store::sql::Conn<'_>| {
            // Bytes that were stored already may be a mirror cache blob;
            // under the write lock, which mirror cache retention takes to
            // evict one, make sure they still are.
            if let Some(s) = blobs.first_missing(&[row.sha, row.meta_sha]) {
                return Err(crate::store::StoreError::Internal(format!(
                    "stored content {s} was evicted from the mirror cache during the \
                     upload; nothing was stored, upload again"
                )));
            }
            let orphans = match row.insert(tx)? {
                Ok(orphans) => orphans,
                Err(refused) => return Ok(Err(refused)),
            };
            if is_new {
                // the new name enters the typosquat index of private names
                // in the same transaction: the next upload's gate sees it
                let taken = crate::store::typo_index::work_queue(tx, super::typo::SYNC_BATCH)?.2;
                return Ok(Ok((orphans, taken < super::typo::SYNC_BATCH)));
            }
            Ok(Ok((orphans, true)))
        };
        let result = match self.store.db.write(write).await {
            Ok(inner) => inner,
            Err(e) => Err(RegistryError::from(e)),
        };
        match result {
            Ok((orphans, typo_queue_done)) => {
                let orphans: Vec<Sha256> = orphans
                    .into_iter()
                    .filter(|o| *o != sha && *o != meta_sha)
                    .collect();
                self.collect_garbage(orphans).await;
                if is_new {
                    if !typo_queue_done || !self.typo_detector_ready() {
                        self.typo_sync_names().await;
                    }
                    // Is the name already published upstream of a mirror in the chain?
                    self.watch_private_name(path, &project, vec![version.clone()]);
                }
                Ok(Uploaded {
                    project,
                    version,
                    sha256: sha,
                    filename: stored_name,
                    unchanged: false,
                })
            }
            Err(e) => {
                // Undo the blobs this upload added (if nothing else uses them).
                let mut undo = Vec::new();
                if file_created {
                    undo.push(sha);
                }
                if meta_created {
                    undo.push(meta_sha);
                }
                self.collect_garbage(undo).await;
                Err(e)
            }
        }
    }
}

/// The owned form of [`NewFile`], movable into the database task.
struct NewFileOwned {
    index_id: i64,
    volatile: bool,
    project: String,
    display_name: String,
    version: String,
    release_metadata: String,
    /// Stored with the release, in the same transaction.
    description: Option<DescriptionRow>,
    /// The description to index, bounded.
    search_description: String,
    filename: String,
    parsed_version: pep440_rs::Version,
    /// See [`dist::DistFilename::release_slot`].
    slot: String,
    kind: &'static str,
    sha: Sha256,
    size: u64,
    requires_python: Option<String>,
    meta_sha: Sha256,
    uploader: String,
    provenance: String,
    /// The `upload` audit entry, appended in the same transaction.
    audit: NewEntry,
}

impl NewFileOwned {
    fn insert(
        &self,
        tx: &crate::store::sql::Conn<'_>,
    ) -> std::result::Result<Result<Vec<Sha256>>, StoreError> {
        // Re-check inside the transaction: another upload may have raced us.
        let mut audit = self.audit.clone();
        let mut orphans = Vec::new();
        let (_, files) =
            releases::equal_release(tx, self.index_id, &self.project, &self.parsed_version)?;
        for existing in same_slot_files(files, &self.slot) {
            if existing.sha256 != self.sha && !self.volatile {
                return Ok(Err(RegistryError::Conflict(format!(
                    "{} was uploaded concurrently with different content",
                    existing.filename
                ))));
            }
            // a volatile index: the new file replaces the old one
            if let Some(d) = audit.details.as_object_mut() {
                d.insert("replaced_sha256".into(), existing.sha256.to_hex().into());
                d.insert("replaced_filename".into(), existing.filename.clone().into());
            }
            if existing.filename != self.filename {
                orphans.extend(releases::remove_replaced_file(tx, &existing)?);
            }
        }
        if let Some(d) = &self.description {
            descriptions::put(tx, d)?;
        }
        orphans.extend(releases::insert_file(
            tx,
            &NewFile {
                index_id: self.index_id,
                project: &self.project,
                display_name: &self.display_name,
                version: &self.version,
                release_metadata: &self.release_metadata,
                description_key: self.description.as_ref().map(|d| d.key.as_str()),
                filename: &self.filename,
                kind: self.kind,
                sha256: &self.sha,
                size: self.size,
                requires_python: self.requires_python.as_deref(),
                metadata_sha256: Some(&self.meta_sha),
                uploader: &self.uploader,
                provenance: &self.provenance,
            },
        )?);
        crate::store::search::set_description(
            tx,
            self.index_id,
            &self.project,
            &self.version,
            &self.search_description,
        )?;
        audit::append(tx, audit)?;
        Ok(Ok(orphans))
    }
}

/// The files among `files` that take the release slot `slot` (see
/// [`dist::DistFilename::release_slot`]); a stored name that no longer
/// parses only matches itself, never a slot.
pub(super) fn same_slot_files(files: Vec<FileRow>, slot: &str) -> Vec<FileRow> {
    files
        .into_iter()
        .filter(|f| dist::DistFilename::parse(&f.filename).is_ok_and(|d| d.release_slot() == slot))
        .collect()
}

/// A declared digest field, or `None` when absent or empty (some tools
/// send empty fields for digests they did not compute).
fn declared(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|d| !d.is_empty())
}

/// The MD5 and BLAKE2b-256 digests a form declared, validated as hex of the
/// right length. Every digest a client sends is checked, as PyPI does.
struct OtherDigests {
    md5: Option<String>,
    blake2_256: Option<String>,
}

impl OtherDigests {
    fn from_form(form: &UploadForm) -> Result<Self> {
        let hex =
            |field: &'static str, value: Option<&str>, len: usize| -> Result<Option<String>> {
                let Some(v) = value else { return Ok(None) };
                if v.len() != len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(RegistryError::Invalid(format!(
                        "{field} {:?} is not a hex digest ({len} hexadecimal characters)",
                        echo(v)
                    )));
                }
                Ok(Some(v.to_ascii_lowercase()))
            };
        Ok(Self {
            md5: hex("md5_digest", declared(&form.md5_digest), 32)?,
            blake2_256: hex("blake2_256_digest", declared(&form.blake2_256_digest), 64)?,
        })
    }

    fn any(&self) -> bool {
        self.md5.is_some() || self.blake2_256.is_some()
    }

    fn check(&self, actual: &FormDigests) -> Result<()> {
        for (field, want, got) in [
            ("md5_digest", &self.md5, &actual.md5),
            ("blake2_256_digest", &self.blake2_256, &actual.blake2_256),
        ] {
            if let Some(want) = want {
                if want != got {
                    return Err(RegistryError::Invalid(format!(
                        "{field} mismatch: the received file hashes to {got}, the upload \
                         declared {want}; the file was corrupted in transit or the digest is wrong"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The form's `name`/`version`, when sent, must agree with the file.
fn check_form_against_file(form: &UploadForm, d: &InspectedDist) -> Result<()> {
    if let Some(n) = &form.name {
        let n = ProjectName::new(n).map_err(|e| {
            RegistryError::Invalid(format!("the upload's name field {:?}: {e}", echo(n)))
        })?;
        if n != d.filename.name {
            return Err(RegistryError::Invalid(format!(
                "the upload's name field says {n:?} but the file is for project {:?}",
                d.filename.name.as_str()
            )));
        }
    }
    if let Some(v) = &form.version {
        let parsed: pep440_rs::Version = v.parse().map_err(|_| {
            RegistryError::Invalid(format!(
                "version {:?} is not a valid PEP 440 version",
                echo(v)
            ))
        })?;
        if parsed != d.filename.version {
            return Err(RegistryError::Invalid(format!(
                "the upload's version field says {:?} but the file is version {}",
                echo(v),
                d.filename.version
            )));
        }
    }
    Ok(())
}

/// Release metadata in the shape devpi clients read.
pub fn release_metadata_json(m: &CoreMetadata) -> Value {
    json!({
        "name": m.name,
        "version": m.version,
        "metadata_version": m.metadata_version,
        "summary": m.summary,
        "home_page": m.home_page,
        "author": m.author,
        "author_email": m.author_email,
        "maintainer": m.maintainer,
        "maintainer_email": m.maintainer_email,
        "license": m.license,
        "license_expression": m.license_expression,
        "requires_python": m.requires_python,
        "requires_dist": m.requires_dist,
        "provides_extra": m.provides_extra,
        "classifiers": m.classifiers,
        "keywords": m.keywords,
        "project_urls": m.project_urls,
        "description_content_type": m.description_content_type,
    })
}

/// The credentials a request brought, by policy name, for audit entries.
fn presented(identity: Option<&crate::auth::Identity>) -> Vec<&'static str> {
    let Some(i) = identity else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if i.has_password() {
        out.push("password");
    }
    if i.has_client_cert() {
        out.push("client_cert");
    }
    out
}
