//! How long finished deliveries are kept, as the operator writes it: a whole number of days or
//! seconds, where `0` or `off` keeps everything.

use std::fmt;
use std::str::FromStr;

/// A retention setting: `Some(n)` units, or `None` (off: nothing is deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span(pub Option<u64>);

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Span(None));
        }
        match s.parse::<u64>() {
            Ok(0) => Ok(Span(None)),
            Ok(n) => Ok(Span(Some(n))),
            Err(_) => Err(format!("{s:?} is not a whole number or off")),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("off"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Span;

    #[test]
    fn zero_and_off_turn_retention_off() {
        assert_eq!("30".parse::<Span>(), Ok(Span(Some(30))));
        assert_eq!("0".parse::<Span>(), Ok(Span(None)));
        assert_eq!("OFF".parse::<Span>(), Ok(Span(None)));
        assert!("-1".parse::<Span>().is_err());
        assert!("30d".parse::<Span>().is_err());
        assert_eq!(Span(None).to_string(), "off");
    }
}
