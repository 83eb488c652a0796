//! Fast ISO 8601 date and timestamp parsing to epoch days / microseconds (wall clock as
//! written: a `Z` or offset is validated, then dropped), plus an optional chrono format.

use chrono::{NaiveDate, NaiveDateTime};

/// Days from 1970-01-01 to `date`.
pub fn epoch_days(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid")).num_days() as i32
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy as i32;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

#[inline]
fn num(s: &[u8], at: usize, len: usize) -> Option<u32> {
    let d = s.get(at..at + len)?;
    let mut v = 0u32;
    for &b in d {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (b - b'0') as u32;
    }
    Some(v)
}

/// `YYYY-MM-DD` as epoch days, `None` when it is not a real date.
#[inline]
pub fn parse_date(s: &[u8]) -> Option<i32> {
    if s.len() != 10 {
        return None;
    }
    date_prefix(s)
}

fn date_prefix(s: &[u8]) -> Option<i32> {
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    let (y, m, d) = (num(s, 0, 4)? as i32, num(s, 5, 2)?, num(s, 8, 2)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// A timestamp as (epoch days of its written date, epoch microseconds of its wall clock).
pub type Stamp = (i32, i64);

/// ISO 8601: `YYYY-MM-DD[T| ]hh:mm[:ss[.f{1,9}]][ ][Z|±hh[:mm]|±hhmm]`. Fractions beyond
/// microseconds are truncated; the offset must be within ±18:00 and is then dropped.
#[inline]
pub fn parse_iso_timestamp(s: &[u8]) -> Option<Stamp> {
    if s.len() < 16 || !matches!(s[10], b'T' | b't' | b' ') || s[13] != b':' {
        return None;
    }
    let days = date_prefix(s)?;
    let (h, mi) = (num(s, 11, 2)?, num(s, 14, 2)?);
    let mut i = 16;
    let mut sec = 0;
    let mut micros = 0u32;
    if s.get(i) == Some(&b':') {
        sec = num(s, i + 1, 2)?;
        i += 3;
        if matches!(s.get(i), Some(b'.') | Some(b',')) {
            i += 1;
            let start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                if i - start < 6 {
                    micros = micros * 10 + (s[i] - b'0') as u32;
                }
                i += 1;
            }
            let n = i - start;
            if n == 0 || n > 9 {
                return None;
            }
            for _ in n..6 {
                micros *= 10;
            }
        }
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    if s.get(i) == Some(&b' ') {
        i += 1;
    }
    let rest = &s[i..];
    let ok = match rest {
        [] if s[i - 1] != b' ' => true,
        [b'Z' | b'z'] => true,
        [b'+' | b'-', tz @ ..] => valid_offset(tz),
        _ => false,
    };
    if !ok {
        return None;
    }
    let secs = days as i64 * 86_400 + (h * 3600 + mi * 60 + sec) as i64;
    Some((days, secs * 1_000_000 + micros as i64))
}

fn valid_offset(tz: &[u8]) -> bool {
    let (h, m) = match tz.len() {
        2 => (num(tz, 0, 2), Some(0)),
        4 => (num(tz, 0, 2), num(tz, 2, 2)),
        5 if tz[2] == b':' => (num(tz, 0, 2), num(tz, 3, 2)),
        _ => return false,
    };
    matches!((h, m), (Some(h), Some(m)) if m < 60 && h * 60 + m <= 18 * 60)
}

/// A timestamp in a configured chrono format (e.g. `%d/%m/%Y %H:%M`).
pub fn parse_with_format(s: &str, format: &str) -> Option<Stamp> {
    let dt = NaiveDateTime::parse_from_str(s, format).ok()?;
    Some((epoch_days(dt.date()), dt.and_utc().timestamp_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn micros(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap().and_utc().timestamp_micros()
    }

    #[test]
    fn iso_variants_keep_the_written_wall_clock() {
        let want = micros("2025-07-30 14:03:27");
        for s in [
            "2025-07-30T14:03:27",
            "2025-07-30 14:03:27",
            "2025-07-30t14:03:27",
            "2025-07-30T14:03:27Z",
            "2025-07-30T14:03:27+02:00",
            "2025-07-30T14:03:27-0530",
            "2025-07-30T14:03:27 +02",
        ] {
            assert_eq!(parse_iso_timestamp(s.as_bytes()).map(|t| t.1), Some(want), "{s}");
        }
        assert_eq!(
            parse_iso_timestamp(b"2025-07-30T14:03:27.123456789").unwrap().1,
            micros("2025-07-30 14:03:27.123456")
        );
        assert_eq!(parse_iso_timestamp(b"2025-07-30T14:03:27.5").unwrap().1, micros("2025-07-30 14:03:27.5"));
        assert_eq!(parse_iso_timestamp(b"2025-07-30T14:03").unwrap().1, micros("2025-07-30 14:03:00"));
    }

    #[test]
    fn impossible_times_dates_and_offsets_are_refused() {
        for s in [
            "not-a-date",
            "2025-07-30T25:61:00",
            "2025-13-45T12:00:00",
            "2025-02-29T10:00:00",
            "31/02/2025 10:00",
            "2025-07-30",
            "2025-07-30T14:03:27+19:00",
            "2025-07-30T14:03:27+02:7",
            "2025-07-30T14:03:27.",
            "2025-07-30T14:03:27 ",
            "2025-07-30T14:03:27UTC",
        ] {
            assert_eq!(parse_iso_timestamp(s.as_bytes()), None, "{s}");
        }
        assert!(parse_iso_timestamp(b"2024-02-29T10:00:00").is_some());
    }

    #[test]
    fn epoch_days_agree_with_chrono_over_centuries() {
        let mut d = NaiveDate::from_ymd_opt(1890, 1, 1).unwrap();
        while d.year_ce().1 < 2210 {
            let s = d.format("%Y-%m-%d").to_string();
            assert_eq!(parse_date(s.as_bytes()), Some(epoch_days(d)), "{s}");
            d = d + chrono::Days::new(13);
        }
    }

    #[test]
    fn configured_format_is_understood() {
        let (days, us) = parse_with_format("30/07/2025 10:00", "%d/%m/%Y %H:%M").unwrap();
        assert_eq!(days, epoch_days(NaiveDate::from_ymd_opt(2025, 7, 30).unwrap()));
        assert_eq!(us, micros("2025-07-30 10:00:00"));
        assert!(parse_with_format("31/02/2025 10:00", "%d/%m/%Y %H:%M").is_none());
    }
}
