//! What an audit entry records.

use std::fmt;

/// The kinds of audited actions, stored as their snake_case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Upload,
    Push,
    PushPending,
    Approve,
    Reject,
    Delete,
    IndexCreate,
    IndexModify,
    IndexDelete,
    UserCreate,
    UserModify,
    UserDelete,
    PolicyLoad,
    BlockedInstall,
    BlockedFetch,
    BlockedUpload,
    BlockedPush,
    TypoAllow,
    TypoDeny,
    /// An allow/deny typosquat rule was removed.
    TypoRemove,
    SecurityEvent,
    /// A security alert was acknowledged (with a note).
    AlertAck,
    /// The data folder was created by `airlock import` from an export.
    DataImport,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Upload,
        Action::Push,
        Action::PushPending,
        Action::Approve,
        Action::Reject,
        Action::Delete,
        Action::IndexCreate,
        Action::IndexModify,
        Action::IndexDelete,
        Action::UserCreate,
        Action::UserModify,
        Action::UserDelete,
        Action::PolicyLoad,
        Action::BlockedInstall,
        Action::BlockedFetch,
        Action::BlockedUpload,
        Action::BlockedPush,
        Action::TypoAllow,
        Action::TypoDeny,
        Action::TypoRemove,
        Action::SecurityEvent,
        Action::AlertAck,
        Action::DataImport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Upload => "upload",
            Action::Push => "push",
            Action::PushPending => "push_pending",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Delete => "delete",
            Action::IndexCreate => "index_create",
            Action::IndexModify => "index_modify",
            Action::IndexDelete => "index_delete",
            Action::UserCreate => "user_create",
            Action::UserModify => "user_modify",
            Action::UserDelete => "user_delete",
            Action::PolicyLoad => "policy_load",
            Action::BlockedInstall => "blocked_install",
            Action::BlockedFetch => "blocked_fetch",
            Action::BlockedUpload => "blocked_upload",
            Action::BlockedPush => "blocked_push",
            Action::TypoAllow => "typo_allow",
            Action::TypoDeny => "typo_deny",
            Action::TypoRemove => "typo_remove",
            Action::SecurityEvent => "security_event",
            Action::AlertAck => "alert_ack",
            Action::DataImport => "data_import",
        }
    }

    /// The action stored as `name`, if this airlock knows it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
