//! An endpoint's retry schedule (`retrySchedule`): the seconds to wait before each retry, up to
//! [`MAX_STEPS`] steps of 1 s to 24 h (Svix's documented example: 5 s, 5 min, 30 min, 2 h, 5 h,
//! 10 h, 10 h). Stored as a JSON array in `webhook_endpoint.retry_schedule`; NULL keeps Cirrus's
//! rule (one retry, shortly after the first attempt), and `[]` means no retry at all. Checked
//! when saved ([`validate`]) and read back leniently ([`parse_stored`]): a row that does not
//! parse falls back to Cirrus's rule rather than never retrying.

/// Most retries a schedule may list.
pub const MAX_STEPS: usize = 10;
/// Longest step, in seconds: 24 h.
pub const MAX_STEP_SECS: i32 = 86_400;

/// Checks the steps a client gives; the message names the rule broken.
pub fn validate(steps: &[i32]) -> Result<(), String> {
    if steps.len() > MAX_STEPS {
        return Err(format!("at most {MAX_STEPS} retry steps"));
    }
    match steps.iter().find(|s| !(1..=MAX_STEP_SECS).contains(*s)) {
        Some(bad) => Err(format!(
            "each retry step is 1 to {MAX_STEP_SECS} seconds (24 h), not {bad}"
        )),
        None => Ok(()),
    }
}

/// The text stored for checked `steps`.
pub fn stored(steps: &[i32]) -> String {
    serde_json::to_string(steps).unwrap_or_else(|_| "[]".into())
}

/// The steps of a stored schedule, in seconds; `None` for Cirrus's rule (no schedule, or one
/// that does not parse or breaks the rules: written by hand, or before a rule existed).
pub fn parse_stored(stored: Option<&str>) -> Option<Vec<u32>> {
    let steps: Vec<i32> = serde_json::from_str(stored?).ok()?;
    validate(&steps).ok()?;
    Some(steps.into_iter().map(|s| s as u32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_one_second_to_a_day_at_most_ten() {
        assert!(validate(&[]).is_ok());
        assert!(validate(&[5, 300, 1800, 7200, 18000, 36000, 36000]).is_ok());
        assert!(validate(&[1; MAX_STEPS]).is_ok());
        assert!(validate(&[1; MAX_STEPS + 1]).is_err());
        for bad in [0, -1, MAX_STEP_SECS + 1] {
            let message = validate(&[5, bad]).expect_err("out of range");
            assert!(message.contains(&bad.to_string()), "{message}");
        }
    }

    #[test]
    fn stored_schedules_read_back() {
        assert_eq!(parse_stored(None), None);
        assert_eq!(parse_stored(Some(&stored(&[1, 2]))), Some(vec![1, 2]));
        assert_eq!(parse_stored(Some("[]")), Some(vec![]));
        for bad in ["", "x", "[0]", "{\"a\":1}", "[1.5]"] {
            assert_eq!(parse_stored(Some(bad)), None, "{bad}");
        }
    }
}
