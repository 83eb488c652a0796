//! `SalesDate`: the calendar day a shop's file reports, written `YYYY-MM-DD`.

use super::shop_id::truncate_for_message;
use super::DomainError;
use chrono::NaiveDate;

/// The shop-day of an upload; a real calendar date in strict `YYYY-MM-DD` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SalesDate(NaiveDate);

impl SalesDate {
    /// Accepts only `YYYY-MM-DD` (ten characters) naming a real day.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let shaped = raw.len() == 10
            && raw.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        let parsed = shaped.then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()).flatten();
        parsed.map(Self).ok_or_else(|| {
            DomainError(format!("invalid date '{}': expected a calendar day as YYYY-MM-DD", truncate_for_message(raw)))
        })
    }

    /// The date as chrono's type.
    pub fn naive(&self) -> NaiveDate {
        self.0
    }
}

impl From<NaiveDate> for SalesDate {
    fn from(date: NaiveDate) -> Self {
        Self(date)
    }
}

impl std::fmt::Display for SalesDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_days_round_trip() {
        assert_eq!(SalesDate::parse("2025-07-30").unwrap().to_string(), "2025-07-30");
        assert_eq!(SalesDate::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
    }

    #[test]
    fn other_shapes_and_impossible_days_are_refused() {
        for bad in ["2025-7-30", "30.07.2025", "2025-02-30", "2025-13-01", "2025-07-30T00:00", "", "../../etc"] {
            assert!(SalesDate::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
