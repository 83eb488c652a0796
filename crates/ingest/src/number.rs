//! Exact number parsing: one convention per file (`;` files use a decimal comma), grouping in
//! threes, currency dropped, decimals straight into a scaled `i128` — never through a float.

use super::currency::strip_currency;

/// Which mark is the decimal mark in a file; the other one groups thousands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberFormat {
    /// `1,234.50` — every delimiter but `;`.
    DecimalPoint,
    /// `1.234,50` — `;`-delimited files.
    DecimalComma,
}

impl NumberFormat {
    /// The convention the contract ties to a delimiter.
    pub fn for_delimiter(delimiter: u8) -> Self {
        if delimiter == b';' {
            NumberFormat::DecimalComma
        } else {
            NumberFormat::DecimalPoint
        }
    }

    fn marks(self) -> (u8, u8) {
        match self {
            NumberFormat::DecimalPoint => (b'.', b','),
            NumberFormat::DecimalComma => (b',', b'.'),
        }
    }
}

/// Why a value is not an acceptable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumError {
    /// Not a number at all.
    NotANumber,
    /// The thousands separator is not followed by groups of three digits.
    BadGrouping,
    /// More decimals than the column's scale.
    TooManyDecimals,
    /// Out of the column's range.
    TooLarge,
    /// An integer column got a fractional value.
    NotWhole,
}

/// A number split into its parts, digits still with group separators.
struct Parts<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
}

fn split(s: &[u8], fmt: NumberFormat) -> Result<Parts<'_>, NumError> {
    let (dec, group) = fmt.marks();
    let (negative, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = match body.iter().position(|&b| b == dec) {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &body[body.len()..]),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(NumError::NotANumber);
    }
    if !frac.iter().all(u8::is_ascii_digit) {
        return Err(NumError::NotANumber);
    }
    // Integer part: plain digits, or 1-3 digits then groups of exactly three.
    let mut group_len: Option<usize> = None; // digits since the last separator, once one is seen
    let mut lead = 0usize;
    for &b in int {
        if b.is_ascii_digit() {
            match group_len.as_mut() {
                Some(n) => *n += 1,
                None => lead += 1,
            }
        } else if b == group {
            match group_len {
                None if (1..=3).contains(&lead) => group_len = Some(0),
                Some(3) => group_len = Some(0),
                _ => return Err(NumError::BadGrouping),
            }
        } else {
            return Err(NumError::NotANumber);
        }
    }
    if matches!(group_len, Some(n) if n != 3) {
        return Err(NumError::BadGrouping);
    }
    Ok(Parts { negative, int, frac })
}

/// Parses a decimal with at most `scale` decimals and `precision` digits into the scaled
/// integer (`"1,234.5"` at scale 4 is `12_345_000`). A currency symbol or code is dropped.
#[inline]
pub fn parse_decimal(s: &[u8], fmt: NumberFormat, precision: u8, scale: u8) -> Result<i128, NumError> {
    let plain = s.iter().all(|&b| b.is_ascii_digit() || matches!(b, b'.' | b',' | b'-' | b'+'));
    if plain {
        return accumulate(split(s, fmt)?, precision, scale);
    }
    // `-€3.49`: a sign may stand before the currency symbol.
    if let Some(rest) = s.strip_prefix(b"-") {
        let stripped = strip_currency(rest);
        if stripped.len() != rest.len() {
            let p = split(stripped, fmt)?;
            if p.negative || stripped.first() == Some(&b'+') {
                return Err(NumError::NotANumber);
            }
            return accumulate(Parts { negative: true, ..p }, precision, scale);
        }
    }
    let s = strip_currency(s);
    accumulate(split(s, fmt)?, precision, scale)
}

fn accumulate(p: Parts<'_>, precision: u8, scale: u8) -> Result<i128, NumError> {
    if p.frac.len() > scale as usize {
        return Err(NumError::TooManyDecimals);
    }
    let max_int_digits = (precision - scale) as usize;
    let mut v: i128 = 0;
    let mut sig = 0usize;
    for &b in p.int {
        if b.is_ascii_digit() {
            if sig > 0 || b != b'0' {
                sig += 1;
                if sig > max_int_digits {
                    return Err(NumError::TooLarge);
                }
            }
            v = v * 10 + (b - b'0') as i128;
        }
    }
    for &b in p.frac {
        v = v * 10 + (b - b'0') as i128;
    }
    v *= 10i128.pow((scale as usize - p.frac.len()) as u32);
    Ok(if p.negative { -v } else { v })
}

/// Parses a whole number: `+3`, `03`, `3.0` and `1,000` are accepted, `3.5` is `NotWhole`.
#[inline]
pub fn parse_int(s: &[u8], fmt: NumberFormat) -> Result<i64, NumError> {
    // Fast path: plain digits with an optional sign.
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        let v = digits.iter().fold(0i64, |a, &b| a * 10 + (b - b'0') as i64);
        return Ok(if neg { -v } else { v });
    }
    let p = split(s, fmt)?;
    if p.frac.iter().any(|&b| b != b'0') {
        return Err(NumError::NotWhole);
    }
    let mut v: i128 = 0;
    for &b in p.int.iter().filter(|b| b.is_ascii_digit()) {
        v = v * 10 + (b - b'0') as i128;
        if v > 1 << 63 {
            return Err(NumError::TooLarge);
        }
    }
    i64::try_from(if p.negative { -v } else { v }).map_err(|_| NumError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use NumberFormat::*;

    fn price(s: &str, f: NumberFormat) -> Result<i128, NumError> {
        parse_decimal(s.as_bytes(), f, 18, 4)
    }

    #[test]
    fn every_price_form_of_the_contract_parses_exactly() {
        assert_eq!(price("€1,234.50", DecimalPoint), Ok(12_345_000));
        assert_eq!(price("1234.5", DecimalPoint), Ok(12_345_000));
        assert_eq!(price("1.234,50", DecimalComma), Ok(12_345_000));
        assert_eq!(price("€3.49", DecimalPoint), Ok(34_900));
        assert_eq!(price("3,49 €", DecimalComma), Ok(34_900));
        assert_eq!(price("3,49€", DecimalComma), Ok(34_900));
        assert_eq!(price("EUR 3.49", DecimalPoint), Ok(34_900));
        assert_eq!(price("3.49 usd", DecimalPoint), Ok(34_900));
        assert_eq!(price("1,234,567.1234", DecimalPoint), Ok(12_345_671_234));
        assert_eq!(price("0.0001", DecimalPoint), Ok(1));
        assert_eq!(price(".5", DecimalPoint), Ok(5_000));
        assert_eq!(price("7", DecimalPoint), Ok(70_000));
        assert_eq!(price("1,000", DecimalPoint), Ok(10_000_000));
        assert_eq!(price("-€3.49", DecimalPoint), Ok(-34_900));
        assert_eq!(price("-3.49", DecimalPoint), Ok(-34_900));
    }

    #[test]
    fn malformed_prices_are_rejected_never_rounded() {
        assert_eq!(price("12,50", DecimalPoint), Err(NumError::BadGrouping));
        assert_eq!(price("1,23,456.00", DecimalPoint), Err(NumError::BadGrouping));
        assert_eq!(price("1234,567.00", DecimalPoint), Err(NumError::BadGrouping));
        assert_eq!(price("3.49", DecimalComma), Err(NumError::BadGrouping));
        assert_eq!(price("1.23456", DecimalPoint), Err(NumError::TooManyDecimals));
        assert_eq!(price("1,23456", DecimalComma), Err(NumError::TooManyDecimals));
        assert_eq!(price("abc", DecimalPoint), Err(NumError::NotANumber));
        assert_eq!(price("1e3", DecimalPoint), Err(NumError::NotANumber));
        assert_eq!(price("1.2.3", DecimalPoint), Err(NumError::NotANumber));
        assert_eq!(price("€", DecimalPoint), Err(NumError::NotANumber));
        assert_eq!(price("€3.49 EUR", DecimalPoint), Err(NumError::NotANumber));
        assert_eq!(price("XYZ 3.49", DecimalPoint), Err(NumError::NotANumber));
        assert_eq!(price("123456789012345.0", DecimalPoint), Err(NumError::TooLarge));
        assert_eq!(price("--3", DecimalPoint), Err(NumError::NotANumber));
    }

    #[test]
    fn quantities_accept_sign_leading_zeros_and_point_zero_only() {
        assert_eq!(parse_int(b"+3", DecimalPoint), Ok(3));
        assert_eq!(parse_int(b"03", DecimalPoint), Ok(3));
        assert_eq!(parse_int(b"3.0", DecimalPoint), Ok(3));
        assert_eq!(parse_int(b"3,0", DecimalComma), Ok(3));
        assert_eq!(parse_int(b"-2", DecimalPoint), Ok(-2));
        assert_eq!(parse_int(b"1,000", DecimalPoint), Ok(1000));
        assert_eq!(parse_int(b"3.5", DecimalPoint), Err(NumError::NotWhole));
        assert_eq!(parse_int(b"two", DecimalPoint), Err(NumError::NotANumber));
        assert_eq!(parse_int(b"99999999999999999999", DecimalPoint), Err(NumError::TooLarge));
        assert_eq!(parse_int(b"", DecimalPoint), Err(NumError::NotANumber));
    }

    fn group(digits: &str, sep: char) -> String {
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    proptest! {
        #[test]
        fn any_scaled_price_formatted_in_each_convention_parses_back_exactly(
            v in 0i128..=999_999_999_999_999_999i128,
            frac_digits in 0usize..=4,
            grouped: bool, symbol in 0usize..5,
        ) {
            // Keep only `frac_digits` decimals so the written form is exact.
            let v = v - v % 10i128.pow(4 - frac_digits as u32);
            let int = (v / 10_000).to_string();
            let frac = format!("{:04}", v % 10_000)[..frac_digits].to_string();
            for fmt in [DecimalPoint, DecimalComma] {
                let (dec, sep) = if fmt == DecimalPoint { ('.', ',') } else { (',', '.') };
                let int_s = if grouped { group(&int, sep) } else { int.clone() };
                let num = if frac_digits > 0 { format!("{int_s}{dec}{frac}") } else { int_s };
                let text = match symbol {
                    0 => num,
                    1 => format!("€{num}"),
                    2 => format!("{num} €"),
                    3 => format!("EUR {num}"),
                    _ => format!("{num}EUR"),
                };
                prop_assert_eq!(price(&text, fmt), Ok(v), "{}", text);
            }
        }

        #[test]
        fn any_i64_written_plainly_parses_back(v: i64) {
            prop_assert_eq!(parse_int(v.to_string().as_bytes(), DecimalPoint), Ok(v));
        }
    }
}
