//! Domain operations of the index server: users, indexes, uploads and
//! reads across inherited indexes. No HTTP here: handlers call these
//! functions and map [`RegistryError`] to responses.

mod actor;
mod alerts;
mod approvals;
mod audit_log;
mod bootstrap;
mod certs;
mod descriptions;
mod docs;
mod error;
mod file_rows;
mod indexes;
mod overview;
mod policies;
mod push;
mod reads;
mod search;
mod sessions;
mod toxresults;
mod typo;
mod upload;
mod users;
mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use actor::{Actor, Origin};
pub use bootstrap::{
    bootstrap, random_password, require_user_offline, reset_password_offline, RootPassword,
};
pub use certs::parse_pem_certificate;
pub use descriptions::RenderedDescription;
pub use docs::DocsStored;
pub use error::{RegistryError, Result, TypoRefusal};
pub use indexes::{normalize_version, ConfigChange};
pub use overview::{
    latest_version, IndexOverview, MirrorStatus, ProjectLine, Readiness, TestState,
};
pub use policies::{load_policies, BUILTIN_DEFAULT};
pub use push::{PushContext, PushOutcome, PushRequest, PushSetOutcome, PushSetRequest, PushedFile};
pub use reads::{ResolvedFile, ResolvedLink, ResolvedProject};
pub use search::{ranked_page, Page as SearchPage, PageHit as SearchPageHit};
pub use sessions::{NewSession, SESSION_IDLE_SECS, SESSION_MAX_SECS};
pub use toxresults::{StoredToxResult, MAX_RESULTS_PER_FILE};
pub use typo::{typo_message, Gate, TypoGuard, TypoMode, TypoSettings};
pub use upload::{UploadForm, Uploaded};
pub use users::UserChanges;
pub use webhooks::{NewWebhook, MAX_LOG as MAX_WEBHOOK_LOG};

use crate::auth::Authenticator;
use crate::index::inheritance::resolution_order;
use crate::names::IndexPath;
use crate::store::indexes::IndexRow;
use crate::store::{indexes as index_table, Store};

/// How a node on a shared PostgreSQL database catches up with the other
/// nodes' writes before it answers a request (`--cluster-sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ClusterSync {
    /// Every request waits for a read of the change serial that started
    /// after it arrived (shared by all the requests waiting at the time):
    /// whatever any node acknowledged before the request is in its answer.
    #[default]
    Strict,
    /// Requests are answered at once from what the node has; it catches up
    /// when PostgreSQL's notification of a change arrives (sent at commit,
    /// so normally before the writer's client has its answer), and from a
    /// read of the serial every second and after any reconnect. Faster;
    /// another node's write may be missing from an answer for as long as
    /// its notification takes.
    Notify,
}

/// Settings that shape domain behaviour.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Largest accepted distribution file, bytes.
    pub max_upload_bytes: u64,
    /// Whether anyone may create a user account (devpi's default) or only root.
    pub open_registration: bool,
    /// Typosquat checks.
    pub typo: TypoSettings,
    /// Upstream, offline mode, timeouts of mirror indexes.
    pub mirror: crate::mirror::MirrorSettings,
    /// Caps on inspecting a distribution (members, expanded size, ratio).
    pub inspect_limits: crate::dist::Limits,
    /// Webhook target rules, retries and timeouts.
    pub webhooks: crate::webhooks::WebhookSettings,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 100 * 1024 * 1024,
            open_registration: false,
            typo: TypoSettings::default(),
            mirror: crate::mirror::MirrorSettings::default(),
            inspect_limits: crate::dist::Limits::default(),
            webhooks: crate::webhooks::WebhookSettings::default(),
        }
    }
}

pub struct Registry {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub settings: RegistrySettings,
    typo: TypoGuard,
    confusion: alerts::ConfusionWatch,
    /// The policies in force (empty until `apply_policies`).
    policies: RwLock<Arc<crate::policy::Policies>>,
    /// Mirror indexes' upstream client and caches.
    pub mirror: crate::mirror::Mirror,
    /// All index configurations, kept in memory: they are read on every
    /// request (inheritance) and change rarely. Replaced whole on change.
    indexes: RwLock<Arc<HashMap<IndexPath, IndexRow>>>,
    /// Advanced every time `indexes` is replaced (see
    /// [`Registry::content_generation`]).
    index_reloads: std::sync::atomic::AtomicU64,
    /// Blocked attempts recently recorded in the audit log.
    audit: audit_log::BlockedAttempts,
    /// Test results posted recently, per poster.
    tox_rate: toxresults::PostRate,
    /// The change serial (PostgreSQL) the in-memory copies above (index
    /// configurations, typosquat rules) were last re-read at, and the lock
    /// that keeps two re-reads from finishing out of order.
    synced_serial: std::sync::atomic::AtomicI64,
    sync_lock: tokio::sync::Mutex<()>,
    /// Release-file rows recently looked up by downloads.
    file_rows: file_rows::FileRows,
}

impl Registry {
    /// A stored blob as a local file, for reading an archive by path: the
    /// blob itself with local storage, a copy whose sha256 was checked
    /// (deleted when dropped) with object storage.
    pub(crate) async fn blob_file(
        &self,
        sha: crate::digest::Sha256,
    ) -> Result<crate::store::blobs::LocalCopy> {
        let blobs = Arc::clone(&self.store.blobs);
        tokio::task::spawn_blocking(move || blobs.local_copy(&sha))
            .await
            .map_err(|e| RegistryError::Store(crate::store::StoreError::Internal(e.to_string())))?
            .map_err(RegistryError::from)
    }
}

impl Registry {
    pub async fn new(
        store: Store,
        auth: Arc<Authenticator>,
        settings: RegistrySettings,
    ) -> Result<Arc<Self>> {
        let mirror = crate::mirror::Mirror::new(
            settings.mirror.clone(),
            Arc::clone(&store.db),
            Arc::clone(&store.blobs),
        )
        .map_err(|e| crate::store::StoreError::Internal(e.to_string()))?;
        let reg = Arc::new(Self {
            mirror,
            store,
            auth,
            settings,
            typo: TypoGuard::default(),
            confusion: alerts::ConfusionWatch::default(),
            policies: RwLock::new(Arc::new(crate::policy::Policies::default())),
            indexes: RwLock::new(Arc::new(HashMap::new())),
            index_reloads: std::sync::atomic::AtomicU64::new(0),
            audit: audit_log::BlockedAttempts::default(),
            tox_rate: toxresults::PostRate::default(),
            synced_serial: std::sync::atomic::AtomicI64::new(0),
            sync_lock: tokio::sync::Mutex::new(()),
            file_rows: file_rows::FileRows::default(),
        });
        reg.reload_indexes().await?;
        Ok(reg)
    }

    /// Re-read every index configuration (after any index change).
    pub(crate) async fn reload_indexes(&self) -> Result<()> {
        let rows = self.store.db.read(index_table::list_all).await?;
        let map = rows.into_iter().map(|r| (r.path.clone(), r)).collect();
        *self.indexes.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
        self.index_reloads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// With several nodes on one PostgreSQL database: bring this node's
    /// in-memory copies (index configurations, typosquat rules) and its
    /// cached pages up to date with the other nodes' writes, as `mode`
    /// says: with [`ClusterSync::Strict`], every write committed on any
    /// node before this call (the change serial read again,
    /// [`crate::store::Db::sync`]); with [`ClusterSync::Notify`], every
    /// write this node has been notified of, without waiting.
    /// Called before each request is handled. Nothing on SQLite. If the
    /// database cannot be reached, the node goes on with what it has.
    pub async fn sync_cluster(self: &Arc<Self>, mode: ClusterSync) {
        use std::sync::atomic::Ordering;
        let serial = match mode {
            ClusterSync::Strict => self.store.db.sync().await,
            ClusterSync::Notify => self.store.db.seen_serial(),
        };
        let Some(serial) = serial else {
            return;
        };
        if serial <= self.synced_serial.load(Ordering::SeqCst) {
            return;
        }
        let _one = self.sync_lock.lock().await;
        if serial <= self.synced_serial.load(Ordering::SeqCst) {
            return;
        }
        let reloaded = match self.reload_indexes().await {
            Ok(()) => self.reload_typo_rules().await,
            Err(e) => Err(e),
        };
        match reloaded {
            Ok(()) => self.synced_serial.store(serial, Ordering::SeqCst),
            Err(e) => {
                tracing::warn!(error = %e, "re-reading index configurations after another node's change")
            }
        }
    }

    /// A number that changes whenever anything a page could show may have
    /// changed: every committed write but log appends (`Db::write_log`) and
    /// every index-configuration reload.
    /// Both counters only grow, so their sum does too. Read it *before*
    /// reading the data a cached answer is built from: a change landing in
    /// between then makes the answer stale at once, never the reverse.
    pub fn content_generation(&self) -> u64 {
        self.store.db.content_commits()
            + self.index_reloads.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn index_map(&self) -> Arc<HashMap<IndexPath, IndexRow>> {
        Arc::clone(&self.indexes.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The index at `path`, or a 404 naming it.
    pub fn index(&self, path: &IndexPath) -> Result<IndexRow> {
        self.index_map()
            .get(path)
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(format!("index {path} does not exist")))
    }

    pub fn all_indexes(&self) -> Vec<IndexRow> {
        let mut v: Vec<IndexRow> = self.index_map().values().cloned().collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }

    /// `path` followed by its bases, in resolution order.
    pub fn resolution_order(&self, path: &IndexPath) -> Result<Vec<IndexRow>> {
        let map = self.index_map();
        if !map.contains_key(path) {
            return Err(RegistryError::NotFound(format!(
                "index {path} does not exist"
            )));
        }
        Ok(
            resolution_order(path, |p| map.get(p).map(|r| r.config.bases.clone()))
                .into_iter()
                .filter_map(|p| map.get(&p).cloned())
                .collect(),
        )
    }

    /// Remove blobs no file refers to any more (after a delete or replace).
    pub(crate) async fn collect_garbage(&self, candidates: Vec<crate::digest::Sha256>) {
        if candidates.is_empty() {
            return;
        }
        // Checked and removed under the write lock: an upload that found
        // one of these blobs already stored (and so will not remove it
        // itself) re-checks that it is there under the same lock before it
        // commits its row, on this node or any other.
        let blobs = Arc::clone(&self.store.blobs);
        let removed = self
            .store
            .db
            .write_log(move |c| {
                for sha in candidates {
                    if crate::store::releases::blob_referenced(c, &sha)? {
                        continue;
                    }
                    if let Err(e) = blobs.remove(&sha) {
                        tracing::warn!(error = %e, "could not remove unreferenced blob");
                    }
                }
                Ok(())
            })
            .await;
        match removed {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "garbage collection skipped"),
        }
    }
}
