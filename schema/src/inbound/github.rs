//! STUB (replaced by the vendor readers' branch).
use super::report::{Malformed, Report};
pub fn read(event: &str, _body: &serde_json::Value) -> Result<Report, Malformed> {
    Ok(Report::Ignored(format!(
        "GitHub event {event} is not handled"
    )))
}
