//! A generic JSON sender's mapping: where in its body (RFC 9535 JSONPath) the build's fields are,
//! and which of its status words mean which of our build statuses. It is checked once, when the
//! source is saved ([`Mapping::check`]: bad paths are refused with `VALIDATION`), and stored as
//! JSON text ([`Mapping::to_json`], [`Mapping::from_json`]). Reading a body with it lives in
//! `generic`.

use serde::{Deserialize, Serialize};
use serde_json_path::JsonPath;

use crate::error::{Error, Result};
use crate::status::BuildStatus;

/// Longest JSONPath of a mapping, in characters.
pub const MAX_PATH_CHARS: usize = 512;
/// Most status words of a mapping.
pub const MAX_STATUS_WORDS: usize = 100;
/// Longest status word, in characters.
pub const MAX_WORD_CHARS: usize = 100;

/// Where a generic sender's body holds each field of a build (singular RFC 9535 JSONPaths such
/// as `$.pipeline.id` or `$['build']['items'][0]`), and what its status words mean.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Mapping {
    /// Path to the build's id (a string or an integer).
    pub external_id: String,
    /// Path to the sender's status word (a string).
    pub status: String,
    /// The sender's status words and our statuses; a word not listed is ignored (202).
    pub statuses: Vec<StatusWord>,
    /// Path to a repository name; without it the source needs a repository of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Path to the branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Path to the commit SHA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Path to the build's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Path to when the event happened: a number of ms (>= 1e12) or seconds since the epoch, or
    /// an RFC 3339 string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
}

/// One sender status word and the build status it means.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StatusWord {
    /// The word exactly as the sender writes it (case matters).
    pub word: String,
    /// Our status, stored by name (`COMPLETED`).
    #[serde(with = "status_name")]
    pub status: BuildStatus,
}

impl Mapping {
    /// Refuses a mapping that could not be read with (`VALIDATION`, naming the field as the API
    /// does, e.g. `mapping.externalId`): every path must be a singular RFC 9535 JSONPath of at
    /// most [`MAX_PATH_CHARS`] characters; there must be 1 to [`MAX_STATUS_WORDS`] status words,
    /// each of 1 to [`MAX_WORD_CHARS`] characters, none twice.
    pub fn check(&self) -> Result<()> {
        check_path("mapping.externalId", &self.external_id)?;
        check_path("mapping.status", &self.status)?;
        let optional = [
            ("mapping.repository", &self.repository),
            ("mapping.branch", &self.branch),
            ("mapping.commit", &self.commit),
            ("mapping.title", &self.title),
            ("mapping.eventTime", &self.event_time),
        ];
        for (field, path) in optional {
            if let Some(path) = path {
                check_path(field, path)?;
            }
        }
        if self.statuses.is_empty() || self.statuses.len() > MAX_STATUS_WORDS {
            return Err(Error::field(
                "mapping.statuses",
                format!("must have 1 to {MAX_STATUS_WORDS} status words"),
            ));
        }
        for (i, entry) in self.statuses.iter().enumerate() {
            let field = format!("mapping.statuses[{i}].word");
            let chars = entry.word.chars().count();
            if chars == 0 || chars > MAX_WORD_CHARS {
                return Err(Error::field(
                    field,
                    format!("must be 1 to {MAX_WORD_CHARS} characters"),
                ));
            }
            if self.statuses[..i].iter().any(|e| e.word == entry.word) {
                return Err(Error::field(
                    field,
                    format!("\"{}\" is mapped twice", entry.word),
                ));
            }
        }
        Ok(())
    }

    /// Our build status for a sender's status word; `None` when the word is not mapped.
    pub fn status_of(&self, word: &str) -> Option<BuildStatus> {
        self.statuses
            .iter()
            .find(|entry| entry.word == word)
            .map(|entry| entry.status)
    }

    /// The mapping as stored: JSON text with the API's field names (`externalId`, `eventTime`).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Internal(format!("mapping to JSON: {e}")))
    }

    /// A stored mapping; text that does not read is an internal error (it was written by
    /// [`Mapping::to_json`]).
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text)
            .map_err(|e| Error::Internal(format!("stored inbound mapping does not read: {e}")))
    }
}

/// `path` must parse as an RFC 9535 JSONPath and be a singular query (one that selects at most
/// one value: only name and index selectors, no wildcards, slices, filters or `..`).
fn check_path(field: &str, path: &str) -> Result<()> {
    if path.chars().count() > MAX_PATH_CHARS {
        return Err(Error::field(
            field,
            format!("must be at most {MAX_PATH_CHARS} characters"),
        ));
    }
    if let Err(e) = JsonPath::parse(path) {
        return Err(Error::field(
            field,
            format!("is not a JSONPath (RFC 9535), e.g. $.pipeline.id: {e}"),
        ));
    }
    // serde_json_path does not expose whether a query is singular, but RFC 9535 allows only
    // singular queries as comparables in a filter (section 2.3.5.1), so the parser answers it.
    if JsonPath::parse(&format!("$[?{path} == null]")).is_err() {
        return Err(Error::field(
            field,
            "must select a single value (names and indexes only, e.g. $.builds[0].id; no \
             wildcards, slices, filters or ..)",
        ));
    }
    Ok(())
}

/// Serde for a [`BuildStatus`] by its name (`NEEDS_APPROVAL`).
mod status_name {
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    use crate::status::BuildStatus;

    pub fn serialize<S: Serializer>(
        status: &BuildStatus,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(status.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BuildStatus, D::Error> {
        let name = String::deserialize(deserializer)?;
        BuildStatus::from_str(&name)
            .map_err(|_| serde::de::Error::custom(format!("unknown build status {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn mapping() -> Mapping {
        Mapping {
            external_id: "$.pipeline.id".into(),
            status: "$.pipeline.state".into(),
            statuses: vec![
                StatusWord {
                    word: "running".into(),
                    status: BuildStatus::Executing,
                },
                StatusWord {
                    word: "passed".into(),
                    status: BuildStatus::Completed,
                },
            ],
            repository: Some("$.repo['full name']".into()),
            branch: Some("$.git.branch".into()),
            commit: None,
            title: None,
            event_time: Some("$.ts".into()),
        }
    }

    fn field_of(result: Result<()>) -> String {
        match result {
            Err(Error::InvalidField { field, .. }) => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn a_good_mapping_passes_and_round_trips_as_json() {
        let mapping = mapping();
        mapping.check().expect("a good mapping");
        let text = mapping.to_json().expect("to JSON");
        assert!(text.contains("\"externalId\":\"$.pipeline.id\""), "{text}");
        assert!(text.contains("\"status\":\"EXECUTING\""), "{text}");
        assert!(!text.contains("commit"), "{text}");
        assert_eq!(Mapping::from_json(&text).expect("reads back"), mapping);
        assert_eq!(mapping.status_of("passed"), Some(BuildStatus::Completed));
        assert_eq!(mapping.status_of("Passed"), None);
    }

    #[test]
    fn stored_text_with_an_unknown_status_does_not_read() {
        let text =
            r#"{"externalId":"$.id","status":"$.s","statuses":[{"word":"ok","status":"DONE"}]}"#;
        assert!(matches!(Mapping::from_json(text), Err(Error::Internal(_))));
        let text = r#"{"externalId":"$.id","status":"$.s","statuses":[{"word":"ok","status":"NEEDS_APPROVAL"}]}"#;
        let read = Mapping::from_json(text).expect("reads back");
        assert_eq!(read.statuses[0].status, BuildStatus::NeedsApproval);
        assert_eq!(read.branch, None);
    }

    #[test]
    fn singular_paths_pass() {
        for path in [
            "$",
            "$.a",
            "$.a.b",
            "$['a b']",
            "$[\"a\"][0]",
            "$.builds[-1].id",
            "$.a[0][1].c",
        ] {
            assert!(check_path("f", path).is_ok(), "{path}");
        }
    }

    #[test]
    fn bad_or_plural_paths_are_refused_with_their_field() {
        for path in [
            "",
            "a.b",
            "pipeline.id",
            "@.a",
            "$.",
            "$.a ",
            " $.a",
            "$[",
            "$.a == 1",
            "$[?@.a == 1] == null] || $",
            "$.*",
            "$.a[*]",
            "$..a",
            "$.a[0:2]",
            "$.a[0,1]",
            "$.a[?@.b == 1]",
            "$.a[?@.b]",
        ] {
            let error = check_path("mapping.branch", path).expect_err("refused");
            assert_eq!(error.code(), "VALIDATION", "{path}");
            assert_eq!(field_of(Err(error)), "mapping.branch", "{path}");
        }
        let long = format!("$.{}", "a".repeat(MAX_PATH_CHARS - 1));
        assert!(check_path("f", &long).is_err());
        assert!(check_path("f", &long[..MAX_PATH_CHARS]).is_ok());
    }

    #[test]
    fn each_path_is_checked_under_its_api_name() {
        type Spoil = fn(&mut Mapping);
        let cases: [(&str, Spoil); 7] = [
            ("mapping.externalId", |m| m.external_id = "$..id".into()),
            ("mapping.status", |m| m.status = "state".into()),
            ("mapping.repository", |m| m.repository = Some("$.*".into())),
            ("mapping.branch", |m| m.branch = Some("$[0:1]".into())),
            ("mapping.commit", |m| m.commit = Some("".into())),
            ("mapping.title", |m| m.title = Some("$.a[*]".into())),
            ("mapping.eventTime", |m| m.event_time = Some("ts".into())),
        ];
        for (field, spoil) in cases {
            let mut m = mapping();
            spoil(&mut m);
            assert_eq!(field_of(m.check()), field);
        }
    }

    #[test]
    fn status_words_are_bounded_and_unique() {
        let word = |w: &str| StatusWord {
            word: w.into(),
            status: BuildStatus::Failed,
        };
        let mut m = mapping();
        m.statuses.clear();
        assert_eq!(field_of(m.check()), "mapping.statuses");
        m.statuses = (0..=MAX_STATUS_WORDS)
            .map(|i| word(&format!("w{i}")))
            .collect();
        assert_eq!(field_of(m.check()), "mapping.statuses");
        m.statuses.truncate(MAX_STATUS_WORDS);
        m.check().expect("a good mapping");
        let mut m = mapping();
        m.statuses.push(word(""));
        assert_eq!(field_of(m.check()), "mapping.statuses[2].word");
        let mut m = mapping();
        m.statuses.push(word(&"é".repeat(MAX_WORD_CHARS + 1)));
        assert_eq!(field_of(m.check()), "mapping.statuses[2].word");
        let mut m = mapping();
        m.statuses.push(word(&"é".repeat(MAX_WORD_CHARS)));
        m.check().expect("a good mapping");
        let mut m = mapping();
        m.statuses.push(word("running"));
        assert_eq!(field_of(m.check()), "mapping.statuses[2].word");
    }
}
