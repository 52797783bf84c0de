//! The Cirrus attributes of tasks and builds that no transition rule reads: a task's instance
//! type, whether it was (or may be) re-run automatically, its notifications; a build's user (the
//! author the reporter or an inbound source names) and that user's permission. Stored as one JSON
//! object per row (`task.attributes`, `build.attributes`; NULL when none were given), read here.

use async_graphql::{Enum, InputObject, SimpleObject, ID};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest `instanceType`, `username` or user id, in bytes.
const MAX_TEXT: usize = 200;
/// Longest notification message or link, in bytes.
const MAX_MESSAGE: usize = 2_000;
/// Most notifications a task keeps.
const MAX_NOTIFICATIONS: usize = 20;

/// How serious a notification is (Cirrus's `NotificationLevel`).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationLevel {
    Info,
    Warning,
    Error,
}

/// A message about a task for the people who look at it (Cirrus's `Notification`).
#[derive(SimpleObject, InputObject, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[graphql(input_name = "NotificationInput")]
pub struct Notification {
    pub level: NotificationLevel,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// A task's attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskAttributes {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub instance_type: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub automatic_re_run: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub automatically_re_runnable: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
}

/// A user as Cirrus shows one (`UserBasicInfo`): the author of a build the reporter names.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[graphql(name = "UserBasicInfo")]
pub struct BuildUser {
    pub id: ID,
    pub username: String,
}

/// A build's user as a reporter gives it.
#[derive(InputObject, Clone, Debug)]
pub struct BuildUserInput {
    /// The user's id on the platform (GitHub's numeric user id).
    pub id: ID,
    pub username: String,
}

/// A build's attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BuildAttributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<StoredUser>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_user_permissions: Option<String>,
}

/// A build's user as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredUser {
    pub id: String,
    pub username: String,
}

/// The permission names Cirrus reports for the user a build is for.
pub const PERMISSIONS: [&str; 4] = ["admin", "write", "read", "none"];

/// Reads a row's stored attributes; a text that does not parse reads as none (logged).
pub fn read<T: Default + for<'de> Deserialize<'de>>(what: &str, stored: Option<&str>) -> T {
    match stored {
        None => T::default(),
        Some(text) => serde_json::from_str(text).unwrap_or_else(|error| {
            tracing::warn!(what, %error, "stored attributes do not parse; reading none");
            T::default()
        }),
    }
}

/// The text to store for `attributes`: `None` when it holds nothing.
pub fn store<T: Default + PartialEq + Serialize>(attributes: &T) -> Option<String> {
    if *attributes == T::default() {
        return None;
    }
    serde_json::to_string(attributes).ok()
}

fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.len() > max || value.chars().any(char::is_control) {
        return Err(Error::field(
            field,
            format!("at most {max} bytes, without control characters"),
        ));
    }
    Ok(())
}

impl TaskAttributes {
    /// A reporter's values, checked (`field` names the input in errors).
    pub fn given(
        field: &str,
        instance_type: Option<String>,
        automatically_re_runnable: Option<bool>,
        notifications: Option<Vec<Notification>>,
    ) -> Result<TaskAttributes> {
        let instance_type = instance_type.unwrap_or_default();
        check_text(&format!("{field}.instanceType"), &instance_type, MAX_TEXT)?;
        let notifications = notifications.unwrap_or_default();
        check_notifications(&format!("{field}.notifications"), &notifications)?;
        Ok(TaskAttributes {
            instance_type,
            automatic_re_run: false,
            automatically_re_runnable: automatically_re_runnable.unwrap_or(false),
            notifications,
        })
    }
}

/// Checks a reporter's notifications.
pub fn check_notifications(field: &str, notifications: &[Notification]) -> Result<()> {
    if notifications.len() > MAX_NOTIFICATIONS {
        return Err(Error::field(
            field,
            format!("at most {MAX_NOTIFICATIONS} notifications"),
        ));
    }
    for (i, n) in notifications.iter().enumerate() {
        check_text(&format!("{field}[{i}].message"), &n.message, MAX_MESSAGE)?;
        if let Some(link) = &n.link {
            check_text(&format!("{field}[{i}].link"), link, MAX_MESSAGE)?;
        }
    }
    Ok(())
}

impl BuildAttributes {
    /// A reporter's values, checked.
    pub fn given(
        user: Option<BuildUserInput>,
        sender_user_permissions: Option<String>,
    ) -> Result<BuildAttributes> {
        let user = match user {
            None => None,
            Some(u) => {
                check_text("user.id", u.id.as_str(), MAX_TEXT)?;
                check_text("user.username", &u.username, MAX_TEXT)?;
                Some(StoredUser {
                    id: u.id.0,
                    username: u.username,
                })
            }
        };
        if let Some(p) = &sender_user_permissions {
            if !PERMISSIONS.contains(&p.as_str()) {
                return Err(Error::field(
                    "senderUserPermissions",
                    format!("one of {}", PERMISSIONS.join(", ")),
                ));
            }
        }
        Ok(BuildAttributes {
            user,
            sender_user_permissions,
        })
    }

    /// The build's user for the schema.
    pub fn user(&self) -> Option<BuildUser> {
        self.user.as_ref().map(|u| BuildUser {
            id: ID(u.id.clone()),
            username: u.username.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_given_stores_nothing_and_reads_back_the_defaults() {
        assert_eq!(store(&TaskAttributes::default()), None);
        assert_eq!(store(&BuildAttributes::default()), None);
        assert_eq!(
            read::<TaskAttributes>("task", None),
            TaskAttributes::default()
        );
        assert_eq!(
            read::<TaskAttributes>("task", Some("nope")),
            TaskAttributes::default()
        );
    }

    #[test]
    fn given_values_round_trip() {
        let t = TaskAttributes::given(
            "tasks[0]",
            Some("container".into()),
            Some(true),
            Some(vec![Notification {
                level: NotificationLevel::Warning,
                message: "slow".into(),
                link: None,
            }]),
        )
        .expect("valid");
        let text = store(&t).expect("stored");
        assert_eq!(read::<TaskAttributes>("task", Some(&text)), t);
        let b = BuildAttributes::given(
            Some(BuildUserInput {
                id: ID("42".into()),
                username: "octo".into(),
            }),
            Some("write".into()),
        )
        .expect("valid");
        assert_eq!(read::<BuildAttributes>("build", store(&b).as_deref()), b);
        assert!(BuildAttributes::given(None, Some("root".into())).is_err());
        assert!(TaskAttributes::given("t", Some("a\u{0}".into()), None, None).is_err());
    }
}
