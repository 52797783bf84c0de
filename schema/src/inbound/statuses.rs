//! STUB (replaced by the vendor readers' branch).
use crate::status::{BuildStatus, TaskStatus};
pub fn build_rank(s: BuildStatus) -> u8 {
    match s {
        BuildStatus::Created => 0,
        BuildStatus::NeedsApproval => 1,
        BuildStatus::Triggered => 3,
        BuildStatus::Executing => 5,
        _ => 6,
    }
}
pub fn task_rank(s: TaskStatus) -> u8 {
    match s {
        TaskStatus::Created => 0,
        TaskStatus::Paused => 2,
        TaskStatus::Triggered => 3,
        TaskStatus::Scheduled => 4,
        TaskStatus::Executing => 5,
        _ => 6,
    }
}
