//! Durations as manifests write them: a strict subset of Go's
//! `time.ParseDuration` ("90s", "30m", "1h30m", "720h"), the form Kubernetes
//! users already know and CEL's `duration()` reads.
//!
//! Strict on purpose: whole numbers of `h`, `m` and `s`, each at most once and
//! in that order, no sign, spaces or fractions. Anything looser (`1.5h`,
//! `30m1h`, `90 s`) has more than one spelling for one value and makes reviews
//! of Git diffs harder. The schema's `pattern` is the same grammar.

use std::fmt;
use std::time::Duration;

/// Why a string is not a duration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    Empty,
    /// A character that is neither a digit nor a unit, at this byte offset.
    UnexpectedChar {
        at: usize,
        found: char,
    },
    /// Digits at the end with no unit after them.
    MissingUnit,
    /// A unit with no number before it, at this byte offset.
    MissingNumber {
        at: usize,
    },
    /// A unit repeated or out of the order h, m, s.
    UnitOrder {
        unit: char,
    },
    /// More seconds than fit in 64 bits.
    Overflow,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FORM: &str = "write whole hours, minutes and seconds like 90s, 30m or 1h30m";
        match self {
            DurationError::Empty => write!(f, "empty; {FORM}"),
            DurationError::UnexpectedChar { at, found: _ } => {
                write!(f, "unexpected character at position {at}; {FORM} (units h, m, s; no sign, spaces or fractions)")
            }
            DurationError::MissingUnit => write!(f, "the last number has no unit; {FORM}"),
            DurationError::MissingNumber { at } => write!(f, "unit at position {at} has no number before it; {FORM}"),
            DurationError::UnitOrder { unit } => {
                write!(f, "unit '{unit}' is repeated or out of order; each of h, m, s at most once and in that order")
            }
            DurationError::Overflow => write!(f, "too large"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses `[<n>h][<n>m][<n>s]` with at least one part.
pub fn parse_go_duration(s: &str) -> Result<Duration, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    const UNITS: [(char, u64); 3] = [('h', 3600), ('m', 60), ('s', 1)];
    let mut total: u64 = 0;
    // Index into UNITS of the next unit allowed: enforces order and uniqueness.
    let mut next_unit = 0;
    let mut number: Option<u64> = None;
    for (at, c) in s.char_indices() {
        if let Some(d) = c.to_digit(10) {
            let n = number.unwrap_or(0).checked_mul(10).and_then(|n| n.checked_add(u64::from(d)));
            number = Some(n.ok_or(DurationError::Overflow)?);
            continue;
        }
        let Some(pos) = UNITS.iter().position(|&(u, _)| u == c) else {
            return Err(DurationError::UnexpectedChar { at, found: c });
        };
        let Some(n) = number.take() else {
            return Err(DurationError::MissingNumber { at });
        };
        if pos < next_unit {
            return Err(DurationError::UnitOrder { unit: c });
        }
        next_unit = pos + 1;
        let secs = n.checked_mul(UNITS[pos].1).ok_or(DurationError::Overflow)?;
        total = total.checked_add(secs).ok_or(DurationError::Overflow)?;
    }
    if number.is_some() {
        return Err(DurationError::MissingUnit);
    }
    Ok(Duration::from_secs(total))
}

/// The canonical spelling of a whole-second duration: `1h30m`, `90s` → `1m30s`,
/// zero → `0s`. Sub-second parts are dropped (the parser never produces them).
pub fn format_go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Result<u64, DurationError> {
        parse_go_duration(s).map(|d| d.as_secs())
    }

    #[test]
    fn single_units_parse() {
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("30m"), Ok(1800));
        assert_eq!(secs("1h"), Ok(3600));
        assert_eq!(secs("720h"), Ok(720 * 3600));
        assert_eq!(secs("0s"), Ok(0));
    }

    #[test]
    fn combined_units_parse_in_order() {
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("1h30m15s"), Ok(5415));
        assert_eq!(secs("2m5s"), Ok(125));
        assert_eq!(secs("1h5s"), Ok(3605));
    }

    #[test]
    fn leading_zeros_and_overlong_parts_are_accepted_like_go() {
        assert_eq!(secs("01h"), Ok(3600));
        assert_eq!(secs("90m"), Ok(5400));
        assert_eq!(secs("3600s"), Ok(3600));
    }

    #[test]
    fn empty_string_is_rejected() {
        assert_eq!(secs(""), Err(DurationError::Empty));
    }

    #[test]
    fn number_without_unit_is_rejected() {
        assert_eq!(secs("90"), Err(DurationError::MissingUnit));
        assert_eq!(secs("1h30"), Err(DurationError::MissingUnit));
    }

    #[test]
    fn unit_without_number_is_rejected() {
        assert_eq!(secs("h"), Err(DurationError::MissingNumber { at: 0 }));
        assert_eq!(secs("1hm"), Err(DurationError::MissingNumber { at: 2 }));
    }

    #[test]
    fn units_out_of_order_or_repeated_are_rejected() {
        assert_eq!(secs("30m1h"), Err(DurationError::UnitOrder { unit: 'h' }));
        assert_eq!(secs("1s1m"), Err(DurationError::UnitOrder { unit: 'm' }));
        assert_eq!(secs("1h1h"), Err(DurationError::UnitOrder { unit: 'h' }));
    }

    #[test]
    fn go_units_other_than_hms_are_rejected() {
        assert_eq!(secs("100ms"), Err(DurationError::MissingNumber { at: 4 }));
        assert_eq!(secs("1us"), Err(DurationError::UnexpectedChar { at: 1, found: 'u' }));
        assert_eq!(secs("1ns"), Err(DurationError::UnexpectedChar { at: 1, found: 'n' }));
        assert_eq!(secs("1d"), Err(DurationError::UnexpectedChar { at: 1, found: 'd' }));
        assert_eq!(secs("1H"), Err(DurationError::UnexpectedChar { at: 1, found: 'H' }));
    }

    #[test]
    fn signs_spaces_and_fractions_are_rejected() {
        assert_eq!(secs("-1h"), Err(DurationError::UnexpectedChar { at: 0, found: '-' }));
        assert_eq!(secs("+1h"), Err(DurationError::UnexpectedChar { at: 0, found: '+' }));
        assert_eq!(secs("1.5h"), Err(DurationError::UnexpectedChar { at: 1, found: '.' }));
        assert_eq!(secs("1h 30m"), Err(DurationError::UnexpectedChar { at: 2, found: ' ' }));
        assert_eq!(secs(" 1h"), Err(DurationError::UnexpectedChar { at: 0, found: ' ' }));
        assert_eq!(secs("1h\n"), Err(DurationError::UnexpectedChar { at: 2, found: '\n' }));
    }

    #[test]
    fn non_ascii_digits_are_rejected() {
        // '١' is ARABIC-INDIC DIGIT ONE: a digit to Unicode, not to Go.
        assert_eq!(secs("١h"), Err(DurationError::UnexpectedChar { at: 0, found: '١' }));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(secs("99999999999999999999s"), Err(DurationError::Overflow));
        assert_eq!(secs("9999999999999999h"), Err(DurationError::Overflow));
        assert_eq!(secs("5124095576030431h1h"), Err(DurationError::UnitOrder { unit: 'h' }));
        assert_eq!(secs(&format!("{}h59m", u64::MAX / 3600)), Err(DurationError::Overflow));
    }

    #[test]
    fn errors_explain_the_accepted_form() {
        let msg = DurationError::UnexpectedChar { at: 1, found: '.' }.to_string();
        assert!(msg.contains("position 1") && msg.contains("1h30m"), "{msg}");
        assert!(!msg.contains("'.'"), "the character written is not repeated: {msg}");
    }

    #[test]
    fn formatting_is_canonical_and_round_trips() {
        for (d, s) in
            [(0, "0s"), (59, "59s"), (60, "1m"), (90, "1m30s"), (3600, "1h"), (5400, "1h30m"), (3661, "1h1m1s")]
        {
            assert_eq!(format_go_duration(Duration::from_secs(d)), s);
            assert_eq!(secs(s), Ok(d));
        }
        assert_eq!(format_go_duration(Duration::from_secs(8760 * 3600)), "8760h");
    }
}
