//! The audit trail: who changed what in the gallery, and who took its data out. Entries name
//! people by id, never by name, so that forgetting a person leaves no name behind; `people
//! list` maps ids to names while the people exist. Every store makes the table append-only.

use serde::Serialize;

/// Who a change is made by: `cli:<user>`, `window:<user>` or `api:<key name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Actor(String);

impl Actor {
    /// The user running a command.
    pub fn cli() -> Actor {
        Actor(format!("cli:{}", user()))
    }

    /// The user at the window.
    pub fn window() -> Actor {
        Actor(format!("window:{}", user()))
    }

    /// A client of the service, by its API key's name.
    pub fn api_key(name: &str) -> Actor {
        Actor(format!("api:{name}"))
    }

    /// The server's own hourly purge of sightings past `retention_days`.
    pub fn purge() -> Actor {
        Actor("purge:retention_days".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The login name; without one in the environment, the name of the user who logged in, or
/// (a service, a container: no login session) of the effective user; a uid without a name
/// as `uid N`.
fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            // The kernel writes (uid_t)-1 there when no login session set it.
            let login = std::fs::read_to_string("/proc/self/loginuid")
                .ok()
                .and_then(|uid| uid.trim().parse::<u32>().ok())
                .filter(|&uid| uid != u32::MAX);
            let uid = login.unwrap_or_else(|| rustix::process::geteuid().as_raw());
            name_of(uid).unwrap_or_else(|| format!("uid {uid}"))
        })
}

/// The name /etc/passwd gives `uid`.
fn name_of(uid: u32) -> Option<String> {
    let passwd = crate::base::files::read_text_limited(
        std::path::Path::new("/etc/passwd"),
        16 << 20,
        "/etc/passwd",
    )
    .ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Enroll,
    Rename,
    Remove,
    RemoveFace,
    Import,
    Export,
    KeyCreated,
    KeyRevoked,
    Threshold,
    /// The site threshold set or cleared (the console's Settings, `PUT /v1/settings/threshold`).
    SiteThreshold,
    Purge,
    Encrypt,
    Decrypt,
    /// Sightings read in bulk (`GET /v1/sightings`, `whoisit sightings`).
    ReadSightings,
    /// A group of unknown sightings forgotten (`DELETE /v1/visitors/{id}`, `visitors dismiss`).
    DismissVisitor,
    /// A sighting or a face named wrongly, kept as a negative example ("not this person").
    NotThisPerson,
    /// Two people found to be one, merged.
    Merge,
    /// A face moved to the person it shows.
    MoveFace,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Enroll => "enroll",
            AuditAction::Rename => "rename",
            AuditAction::Remove => "remove",
            AuditAction::RemoveFace => "remove_face",
            AuditAction::Import => "import",
            AuditAction::Export => "export",
            AuditAction::KeyCreated => "key_created",
            AuditAction::KeyRevoked => "key_revoked",
            AuditAction::Threshold => "threshold",
            AuditAction::SiteThreshold => "site_threshold",
            AuditAction::Purge => "purge",
            AuditAction::Encrypt => "encrypt",
            AuditAction::Decrypt => "decrypt",
            AuditAction::ReadSightings => "read_sightings",
            AuditAction::DismissVisitor => "dismiss_visitor",
            AuditAction::NotThisPerson => "not_this_person",
            AuditAction::Merge => "merge",
            AuditAction::MoveFace => "move_face",
        }
    }
}

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// `cli:<user>`, `window:<user>` or `api:<key name>`.
    pub actor: String,
    /// An [`AuditAction`] as text; kept as text, since a newer whoisit may have written one
    /// this one does not know.
    pub action: String,
    /// What changed, with ids, counts and values; never a person's name.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_say_where_the_change_came_from() {
        assert_eq!(AuditAction::RemoveFace.as_str(), "remove_face");
        assert!(Actor::api_key("frontdesk").as_str() == "api:frontdesk");
        assert!(Actor::cli().as_str().starts_with("cli:"));
    }
}
