//! STUB (replaced by the vendor readers' branch).
use crate::status::BuildStatus;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StatusWord {
    pub word: String,
    #[serde(serialize_with = "ser", deserialize_with = "de")]
    pub status: BuildStatus,
}
fn ser<S: Serializer>(s: &BuildStatus, z: S) -> Result<S::Ok, S::Error> {
    z.serialize_str(s.as_str())
}
fn de<'d, D: Deserializer<'d>>(d: D) -> Result<BuildStatus, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Mapping {
    pub external_id: String,
    pub status: String,
    pub statuses: Vec<StatusWord>,
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub title: Option<String>,
    pub event_time: Option<String>,
}
impl Mapping {
    pub fn check(&self) -> crate::error::Result<()> {
        Ok(())
    }
}
