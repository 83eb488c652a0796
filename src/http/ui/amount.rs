//! `Amount`: an exact money figure read from the engine's decimal text, shown rounded to cents
//! for people (half away from zero), compared exactly.

/// Ten-thousandths of a currency unit: the table's `price` is `decimal(18,4)`.
const SCALE: i128 = 10_000;

/// An exact amount, in ten-thousandths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i128);

impl Amount {
    /// Reads `-1234.5`, `1234.5678` or `12` (more than four decimals are cut, never rounded
    /// up); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut scaled: i128 = whole.parse::<i128>().ok()?.checked_mul(SCALE)?;
        let mut unit = SCALE / 10;
        for digit in fraction.bytes().take(4) {
            scaled += i128::from(digit - b'0') * unit;
            unit /= 10;
        }
        Some(Self(if negative { -scaled } else { scaled }))
    }

    /// The amount as a JSON value from the engine: a decimal string, or an integer.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        match value {
            serde_json::Value::String(text) => Self::parse(text),
            serde_json::Value::Number(number) => number.as_i64().map(|n| Self(i128::from(n) * SCALE)),
            _ => None,
        }
    }

    /// The sum of `amounts`.
    pub fn sum(amounts: impl IntoIterator<Item = Self>) -> Self {
        Self(amounts.into_iter().map(|a| a.0).sum())
    }

    /// This amount divided by `count` (an average), rounded half away from zero.
    pub fn divided_by(self, count: i64) -> Option<Self> {
        (count != 0).then(|| Self(div_round(self.0, i128::from(count))))
    }

    /// The change from `before` to this, in percent; `None` when `before` is zero.
    pub fn change_percent(self, before: Self) -> Option<f64> {
        (before.0 != 0).then(|| (self.0 - before.0) as f64 * 100.0 / before.0.abs() as f64)
    }

    /// This amount as a percentage of `whole` (display only); `None` when `whole` is zero.
    pub fn share_of(self, whole: Self) -> Option<f64> {
        (whole.0 != 0).then(|| self.0 as f64 * 100.0 / whole.0 as f64)
    }

    /// Machine form, exact: `-1234.5600` (for data attributes and CSV).
    pub fn exact(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.abs();
        format!("{sign}{}.{:04}", abs / SCALE, abs % SCALE)
    }
}

/// People's form: `-1,234.57`.
impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cents = div_round(self.0, SCALE / 100);
        let sign = if cents < 0 { "-" } else { "" };
        let abs = cents.abs();
        let whole = (abs / 100).to_string();
        let mut grouped = String::new();
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "{sign}{grouped}.{:02}", abs % 100)
    }
}

/// `value / divisor`, rounded half away from zero.
fn div_round(value: i128, divisor: i128) -> i128 {
    let half = divisor.abs() / 2;
    let adjusted = if (value < 0) != (divisor < 0) { value - half } else { value + half };
    adjusted / divisor
}

/// A change in percent for people: sign always shown, one decimal rounded half away from zero
/// (`+4.2 %`, `-0.5 %`).
pub fn percent(change: Option<f64>) -> String {
    match change {
        Some(value) => format!("{:+.1} %", (value * 10.0).round() / 10.0),
        None => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_exactly_and_shown_rounded_to_cents_with_groups() {
        assert_eq!(Amount::parse("1234567.8950").unwrap().to_string(), "1,234,567.90");
        assert_eq!(Amount::parse("-0.0050").unwrap().to_string(), "-0.01");
        assert_eq!(Amount::parse("12").unwrap().exact(), "12.0000");
        assert_eq!(Amount::parse("0.1").unwrap().exact(), "0.1000");
        assert_eq!(Amount::sum([Amount::parse("0.1").unwrap(), Amount::parse("0.2").unwrap()]).exact(), "0.3000");
        assert!(Amount::parse("1e3").is_none() && Amount::parse("").is_none() && Amount::parse("1.2.3").is_none());
    }

    #[test]
    fn averages_round_half_away_from_zero_and_changes_carry_a_sign() {
        assert_eq!(Amount::parse("10").unwrap().divided_by(3).unwrap().exact(), "3.3333");
        assert_eq!(Amount::parse("-0.0002").unwrap().divided_by(4).unwrap().exact(), "-0.0001");
        assert_eq!(Amount::parse("1").unwrap().divided_by(0), None);
        let change = Amount::parse("110").unwrap().change_percent(Amount::parse("100").unwrap());
        assert_eq!(percent(change), "+10.0 %");
        assert_eq!(percent(Amount::parse("90").unwrap().change_percent(Amount::parse("100").unwrap())), "-10.0 %");
        assert_eq!(percent(Amount::parse("5").unwrap().change_percent(Amount::default())), "n/a");
        assert_eq!(percent(Some(106.25)), "+106.3 %", "a tie rounds away from zero");
    }
}
