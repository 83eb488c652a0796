//! Row validation: each field of a record trimmed and parsed by its column's type and checks,
//! every defect reported with the contract's column name; nothing allocated for a good row.

use csv::ByteRecord;

use super::currency::iso4217;
use super::dedup::fingerprint;
use super::error::{IngestError, Result};
use super::header::HeaderMap;
use super::number::{parse_decimal, parse_int, NumError, NumberFormat};
use super::report::RowError;
use super::schema::{Check, ColumnType, TableSchema};
use super::time::{parse_date, parse_iso_timestamp, parse_with_format};

/// A validated value, ready to append. Strings stay in the record (`field` index).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Empty or absent.
    Null,
    /// The trimmed text of CSV field `field`.
    Str(usize),
    /// An upper-cased currency code.
    Code([u8; 3]),
    /// Int64.
    I64(i64),
    /// Decimal, scaled.
    Dec(i128),
    /// Timestamp, epoch microseconds.
    Ts(i64),
    /// Date, epoch days.
    Date(i32),
    /// Boolean.
    Bool(bool),
}

/// What one output column needs to validate a field.
#[derive(Debug, Clone)]
struct Plan {
    name: String,
    field: Option<usize>,
    ty: ColumnType,
    required: bool,
    non_negative: bool,
    non_zero: bool,
    iso4217: bool,
    same_date: bool,
    /// Index among the `unique` columns.
    unique: Option<usize>,
}

/// The key of a `unique` column in one row, for the duplicate check done in file order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Key {
    /// Whether the row has a (non-empty) value there; empty values are never duplicates.
    pub present: bool,
    /// Where a duplicate error goes among the row's errors (their order follows the columns).
    pub at: u32,
    /// The value's fingerprint.
    pub fp: u128,
}

/// Validates records against the schema for one shop-day (one per worker thread).
#[derive(Debug, Clone)]
pub struct RowValidator {
    plans: Vec<Plan>,
    fmt: NumberFormat,
    partition_days: i32,
    partition_date: chrono::NaiveDate,
    timestamp_format: Option<String>,
    default_currency: [u8; 3],
    /// The values of the row last validated (one per output column).
    pub values: Vec<Value>,
}

/// Trims ASCII whitespace (spaces, tabs, CR, LF).
#[inline]
pub fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

impl RowValidator {
    /// Plans validation of records laid out as `header`.
    pub fn new(
        schema: &TableSchema,
        header: &HeaderMap,
        fmt: NumberFormat,
        date: chrono::NaiveDate,
        timestamp_format: Option<String>,
        default_currency: &str,
    ) -> Result<Self> {
        let default_currency = iso4217(default_currency.trim().as_bytes()).ok_or_else(|| {
            IngestError::Schema(format!("the default currency `{default_currency}` is not an ISO 4217 code"))
        })?;
        let mut n_unique = 0;
        let mut plans: Vec<Plan> = schema
            .columns
            .iter()
            .zip(&header.slots)
            .map(|(c, &field)| Plan {
                name: c.name.clone(),
                field,
                ty: c.ty,
                required: c.required,
                non_negative: c.has(Check::NonNegative),
                non_zero: c.has(Check::NonZero),
                iso4217: c.has(Check::Iso4217),
                same_date: c.has(Check::SameDateAsPartition),
                unique: c.has(Check::Unique).then(|| {
                    n_unique += 1;
                    n_unique - 1
                }),
            })
            .collect();
        plans.extend(header.extras.iter().map(|(field, name)| Plan {
            name: name.clone(),
            field: Some(*field),
            ty: ColumnType::String,
            required: false,
            non_negative: false,
            non_zero: false,
            iso4217: false,
            same_date: false,
            unique: None,
        }));
        let n = plans.len();
        Ok(RowValidator {
            plans,
            fmt,
            partition_days: super::time::epoch_days(date),
            partition_date: date,
            timestamp_format,
            default_currency,
            values: vec![Value::Null; n],
        })
    }

    /// The `unique` columns: name and CSV field index, in [`Key`] order.
    pub fn unique_columns(&self) -> Vec<(String, Option<usize>)> {
        self.plans.iter().filter(|p| p.unique.is_some()).map(|p| (p.name.clone(), p.field)).collect()
    }

    /// Validates `rec` (UTF-8 fields, right field count) into [`Self::values`]. Pushes one
    /// error per defect to `errors` and returns whether there was none; the duplicate check is
    /// left to the caller, which gets the fingerprints of the unique columns in `keys`.
    pub fn validate(&mut self, rec: &ByteRecord, line: u64, errors: &mut Vec<RowError>, keys: &mut [Key]) -> bool {
        let before = errors.len();
        keys.fill(Key::default());
        for (i, plan) in self.plans.iter().enumerate() {
            let raw = plan.field.and_then(|f| rec.get(f)).map(trim).unwrap_or(b"");
            let mut fail = |reason: String| {
                errors.push(RowError {
                    line,
                    column: Some(plan.name.clone()),
                    value: Some(String::from_utf8_lossy(raw).into_owned()),
                    reason,
                });
            };
            if raw.is_empty() {
                self.values[i] = if plan.iso4217 { Value::Code(self.default_currency) } else { Value::Null };
                if plan.required {
                    fail(format!("{} is required but empty", plan.name));
                }
                continue;
            }
            let value = match plan.ty {
                ColumnType::String if plan.iso4217 && raw == self.default_currency => {
                    Value::Code(self.default_currency)
                }
                ColumnType::String if plan.iso4217 => match iso4217(raw) {
                    Some(code) => Value::Code(code),
                    None => {
                        fail(format!("{} is not an ISO 4217 currency code such as EUR", plan.name));
                        Value::Null
                    }
                },
                ColumnType::String => Value::Str(plan.field.unwrap_or(0)),
                ColumnType::Int64 => match parse_int(raw, self.fmt) {
                    Ok(v) => Value::I64(v),
                    Err(e) => {
                        fail(num_reason(&plan.name, e, self.fmt, 0));
                        Value::Null
                    }
                },
                ColumnType::Decimal { precision, scale } => match parse_decimal(raw, self.fmt, precision, scale) {
                    Ok(v) => Value::Dec(v),
                    Err(e) => {
                        fail(num_reason(&plan.name, e, self.fmt, scale));
                        Value::Null
                    }
                },
                ColumnType::Timestamp => {
                    let parsed = parse_iso_timestamp(raw).or_else(|| {
                        let f = self.timestamp_format.as_deref()?;
                        parse_with_format(std::str::from_utf8(raw).ok()?, f)
                    });
                    match parsed {
                        Some((days, us)) if plan.same_date && days != self.partition_days => {
                            fail(self.other_day(&plan.name, days));
                            Value::Ts(us)
                        }
                        Some((_, us)) => Value::Ts(us),
                        None => {
                            fail(format!(
                                "{} is not a valid date and time (expected e.g. 2025-07-30T14:03:27)",
                                plan.name
                            ));
                            Value::Null
                        }
                    }
                }
                ColumnType::Date => match parse_date(raw) {
                    Some(days) if plan.same_date && days != self.partition_days => {
                        fail(self.other_day(&plan.name, days));
                        Value::Date(days)
                    }
                    Some(days) => Value::Date(days),
                    None => {
                        fail(format!("{} is not a valid date (expected e.g. 2025-07-30)", plan.name));
                        Value::Null
                    }
                },
                ColumnType::Bool => match parse_bool(raw) {
                    Some(b) => Value::Bool(b),
                    None => {
                        fail(format!("{} must be yes or no (true/false, 1/0)", plan.name));
                        Value::Null
                    }
                },
            };
            let (negative, zero) = match value {
                Value::I64(v) => (v < 0, v == 0),
                Value::Dec(v) => (v < 0, v == 0),
                _ => (false, false),
            };
            if plan.non_negative && negative {
                fail(format!("{} must not be negative", plan.name));
            }
            if plan.non_zero && zero {
                fail(format!("{} must not be zero", plan.name));
            }
            if let Some(k) = plan.unique {
                keys[k] = Key { present: true, at: (errors.len() - before) as u32, fp: fingerprint(raw) };
            }
            self.values[i] = value;
        }
        errors.len() == before
    }

    fn other_day(&self, name: &str, days: i32) -> String {
        let day = self.partition_date + chrono::Duration::days((days - self.partition_days) as i64);
        format!("{name} is on {day} but the file is for {}", self.partition_date)
    }
}

fn parse_bool(v: &[u8]) -> Option<bool> {
    match v.to_ascii_lowercase().as_slice() {
        b"true" | b"t" | b"yes" | b"y" | b"1" => Some(true),
        b"false" | b"f" | b"no" | b"n" | b"0" => Some(false),
        _ => None,
    }
}

fn num_reason(name: &str, e: NumError, fmt: NumberFormat, scale: u8) -> String {
    let (dec, group) = match fmt {
        NumberFormat::DecimalPoint => ("'.'", "','"),
        NumberFormat::DecimalComma => ("','", "'.'"),
    };
    match e {
        NumError::NotANumber => format!("{name} is not a number"),
        NumError::BadGrouping => format!(
            "{name} is not a number in this file's format: {dec} marks decimals and {group} may only separate groups of three digits"
        ),
        NumError::TooManyDecimals => format!("{name} has more than {scale} decimals"),
        NumError::TooLarge => format!("{name} is too large"),
        NumError::NotWhole => format!("{name} must be a whole number"),
    }
}
