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

/// How a task starts (Cirrus's `TaskTriggerType`): on its own, or when someone triggers it.
#[derive(Enum, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskTriggerType {
    #[default]
    Automatic,
    /// Started by a person (`trigger`).
    Manual,
}

fn is_automatic(t: &TaskTriggerType) -> bool {
    *t == TaskTriggerType::Automatic
}

/// A task's attributes, as `Task` shows them (its fields are `Task`'s own).
#[derive(SimpleObject, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[graphql(name = "TaskAttributes")]
#[serde(rename_all = "camelCase", default)]
pub struct TaskAttributes {
    /// The machine the task runs on, as the reporter named it (`container`, ...); "" if unknown.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub instance_type: String,
    /// Whether this run was started automatically (a re-run after a failure), not by a person.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub automatic_re_run: bool,
    /// Whether the CI engine re-runs this task automatically when it fails.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub automatically_re_runnable: bool,
    /// Messages about the task the reporter attached.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
    /// Whether the task starts on its own or waits to be triggered.
    #[serde(skip_serializing_if = "is_automatic")]
    pub trigger_type: TaskTriggerType,
    /// The group the task belongs to in its build (tasks of a group run together); 0 if the
    /// reporter gave none.
    #[serde(skip_serializing_if = "is_zero")]
    pub local_group_id: i32,
    /// The groups that must finish before this task's group starts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_groups: Vec<i32>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// What a reporter may say of a task beyond its name, labels and optionality.
#[derive(Default)]
pub struct GivenTask {
    pub instance_type: Option<String>,
    pub automatically_re_runnable: Option<bool>,
    pub notifications: Option<Vec<Notification>>,
    pub trigger_type: Option<TaskTriggerType>,
    pub local_group_id: Option<i32>,
    pub required_groups: Option<Vec<i32>>,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
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
    pub fn given(field: &str, given: GivenTask) -> Result<TaskAttributes> {
        let instance_type = given.instance_type.unwrap_or_default();
        check_text(&format!("{field}.instanceType"), &instance_type, MAX_TEXT)?;
        let notifications = given.notifications.unwrap_or_default();
        check_notifications(&format!("{field}.notifications"), &notifications)?;
        let required_groups = given.required_groups.unwrap_or_default();
        let groups = std::iter::once(given.local_group_id.unwrap_or(0))
            .chain(required_groups.iter().copied());
        if required_groups.len() > MAX_NOTIFICATIONS || groups.clone().any(|g| g < 0) {
            return Err(Error::field(
                format!("{field}.requiredGroups"),
                format!("at most {MAX_NOTIFICATIONS} groups, each 0 or more"),
            ));
        }
        Ok(TaskAttributes {
            instance_type,
            automatic_re_run: false,
            automatically_re_runnable: given.automatically_re_runnable.unwrap_or(false),
            notifications,
            trigger_type: given.trigger_type.unwrap_or_default(),
            local_group_id: given.local_group_id.unwrap_or(0),
            required_groups,
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
        notifications: Option<Vec<Notification>>,
    ) -> Result<BuildAttributes> {
        let notifications = notifications.unwrap_or_default();
        check_notifications("notifications", &notifications)?;
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
            notifications,
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
            GivenTask {
                instance_type: Some("container".into()),
                automatically_re_runnable: Some(true),
                notifications: Some(vec![Notification {
                    level: NotificationLevel::Warning,
                    message: "slow".into(),
                    link: None,
                }]),
                trigger_type: Some(TaskTriggerType::Manual),
                local_group_id: Some(2),
                required_groups: Some(vec![0, 1]),
            },
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
            None,
        )
        .expect("valid");
        assert_eq!(read::<BuildAttributes>("build", store(&b).as_deref()), b);
        assert!(BuildAttributes::given(None, Some("root".into()), None).is_err());
        let bad = GivenTask {
            instance_type: Some("a\u{0}".into()),
            ..GivenTask::default()
        };
        assert!(TaskAttributes::given("t", bad).is_err());
        let bad = GivenTask {
            required_groups: Some(vec![-1]),
            ..GivenTask::default()
        };
        assert!(TaskAttributes::given("t", bad).is_err());
    }
}
