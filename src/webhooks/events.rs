//! Which audited actions are webhook events, and what their payload says.

use std::fmt;

use serde_json::{json, Map, Value};

use crate::audit::{Action, Entry};

/// The event types a webhook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Upload,
    UploadRefused,
    PushLanded,
    PushPending,
    PushRefused,
    PushApproved,
    PushRejected,
    ReleaseDeleted,
    DependencyConfusion,
    TyposquatBlocked,
    IndexCreated,
    IndexChanged,
    IndexDeleted,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        EventType::Upload,
        EventType::UploadRefused,
        EventType::PushLanded,
        EventType::PushPending,
        EventType::PushRefused,
        EventType::PushApproved,
        EventType::PushRejected,
        EventType::ReleaseDeleted,
        EventType::DependencyConfusion,
        EventType::TyposquatBlocked,
        EventType::IndexCreated,
        EventType::IndexChanged,
        EventType::IndexDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Upload => "upload",
            EventType::UploadRefused => "upload.refused",
            EventType::PushLanded => "push.landed",
            EventType::PushPending => "push.pending",
            EventType::PushRefused => "push.refused",
            EventType::PushApproved => "push.approved",
            EventType::PushRejected => "push.rejected",
            EventType::ReleaseDeleted => "release.deleted",
            EventType::DependencyConfusion => "dependency_confusion.alert",
            EventType::TyposquatBlocked => "typosquat.blocked",
            EventType::IndexCreated => "index.created",
            EventType::IndexChanged => "index.changed",
            EventType::IndexDeleted => "index.deleted",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.as_str() == name)
    }

    /// The event an audit entry stands for, if any.
    pub fn of_audit(action: Action, details: &Value) -> Option<Self> {
        let typo = details["gate"] == "typosquat";
        Some(match action {
            Action::Upload => EventType::Upload,
            Action::BlockedUpload if typo => EventType::TyposquatBlocked,
            Action::BlockedUpload => EventType::UploadRefused,
            Action::BlockedPush if typo => EventType::TyposquatBlocked,
            Action::BlockedPush => EventType::PushRefused,
            Action::BlockedInstall if typo => EventType::TyposquatBlocked,
            Action::Push => EventType::PushLanded,
            Action::PushPending => EventType::PushPending,
            Action::Approve => EventType::PushApproved,
            Action::Reject => EventType::PushRejected,
            Action::Delete => EventType::ReleaseDeleted,
            Action::SecurityEvent if details["kind"] == "dependency_confusion" => {
                EventType::DependencyConfusion
            }
            Action::IndexCreate => EventType::IndexCreated,
            // a webhook added or removed is no change of what the index serves
            Action::IndexModify
                if details.get("webhook_added").is_some()
                    || details.get("webhook_removed").is_some() =>
            {
                return None
            }
            Action::IndexModify => EventType::IndexChanged,
            Action::IndexDelete => EventType::IndexDeleted,
            _ => return None,
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The index (`user/index`) an audit target is about: its first two
/// segments.
pub fn index_of_target(target: &str) -> Option<&str> {
    let mut parts = target.splitn(3, '/');
    let user = parts.next().filter(|s| !s.is_empty())?;
    let index = parts.next().filter(|s| !s.is_empty())?;
    Some(&target[..user.len() + 1 + index.len()])
}

/// The project and version an event is about, when it is about a release.
pub fn release_of(entry: &Entry) -> Option<(String, String)> {
    let d = &entry.details;
    if let (Some(p), Some(v)) = (d["project"].as_str(), d["version"].as_str()) {
        return Some((p.to_string(), v.to_string()));
    }
    // targets of release events: user/index/project/version[/file]
    let mut parts = entry.target.splitn(5, '/').skip(2);
    match (parts.next(), parts.next()) {
        (Some(p), Some(v)) if !p.is_empty() && !v.is_empty() => Some((p.into(), v.into())),
        _ => None,
    }
}

/// The JSON body of an event: `{type, timestamp, data}`.
pub fn payload(ty: EventType, index: &str, entry: &Entry) -> Value {
    let mut data = Map::new();
    data.insert("index".into(), index.into());
    data.insert("target".into(), entry.target.clone().into());
    data.insert("actor".into(), entry.actor.clone().into());
    data.insert("audit_seq".into(), entry.seq.into());
    if let Some((project, version)) = release_of(entry) {
        data.insert("project".into(), project.into());
        data.insert("version".into(), version.into());
    }
    data.insert("details".into(), entry.details.clone());
    json!({
        "type": ty.as_str(),
        "timestamp": crate::simple::rfc3339(entry.time),
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_actions_map_to_event_types() {
        let none = json!({});
        assert_eq!(
            EventType::of_audit(Action::Upload, &none),
            Some(EventType::Upload)
        );
        assert_eq!(
            EventType::of_audit(Action::BlockedUpload, &none),
            Some(EventType::UploadRefused)
        );
        let typo = json!({"gate": "typosquat"});
        for a in [
            Action::BlockedUpload,
            Action::BlockedPush,
            Action::BlockedInstall,
        ] {
            assert_eq!(
                EventType::of_audit(a, &typo),
                Some(EventType::TyposquatBlocked)
            );
        }
        assert_eq!(EventType::of_audit(Action::BlockedInstall, &none), None);
        assert_eq!(
            EventType::of_audit(
                Action::SecurityEvent,
                &json!({"kind": "dependency_confusion"})
            ),
            Some(EventType::DependencyConfusion)
        );
        assert_eq!(EventType::of_audit(Action::SecurityEvent, &none), None);
        assert_eq!(EventType::of_audit(Action::UserCreate, &none), None);
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(*e));
        }
    }

    #[test]
    fn the_index_is_the_first_two_segments_of_the_target() {
        assert_eq!(index_of_target("root/prod"), Some("root/prod"));
        assert_eq!(
            index_of_target("root/prod/demo/1.0/x.whl"),
            Some("root/prod")
        );
        assert_eq!(index_of_target("alice"), None);
        assert_eq!(index_of_target("alert #3"), None);
        assert_eq!(index_of_target("/x"), None);
    }
}
