//! The table schema: columns with type, required flag, header aliases and checks; the sales
//! default of the contract, a TOML form for deployments, and its Arrow schema.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

use super::error::{IngestError, Result};

/// The type of a column as stored in Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer; `+3`, `03`, `3.0` are 3.
    Int64,
    /// Exact decimal, stored as Arrow Decimal128(precision, scale).
    Decimal {
        /// Total digits, 1..=38.
        precision: u8,
        /// Digits after the decimal mark, 0..=precision.
        scale: u8,
    },
    /// Wall-clock timestamp in microseconds, no time zone.
    Timestamp,
    /// Calendar date (`YYYY-MM-DD`).
    Date,
    /// `true`/`false`, `yes`/`no`, `1`/`0`, `t`/`f`, `y`/`n`.
    Bool,
}

impl ColumnType {
    /// Parses the TOML spelling: `string`, `int64`, `decimal(p,s)`, `timestamp`, `date`, `bool`.
    pub fn parse(text: &str) -> Result<Self> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let t = t.to_ascii_lowercase();
        Ok(match t.as_str() {
            "string" | "utf8" | "text" | "varchar" => ColumnType::String,
            "int64" | "bigint" | "integer" | "int" => ColumnType::Int64,
            "timestamp" => ColumnType::Timestamp,
            "date" => ColumnType::Date,
            "bool" | "boolean" => ColumnType::Bool,
            _ => {
                let inner = t
                    .strip_prefix("decimal(")
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| IngestError::Schema(format!("unknown column type `{text}`")))?;
                let (p, s) =
                    inner.split_once(',').ok_or_else(|| IngestError::Schema(format!("`{text}` needs decimal(p,s)")))?;
                let bad = || IngestError::Schema(format!("`{text}`: precision 1..=38, scale 0..=precision"));
                let precision: u8 = p.parse().map_err(|_| bad())?;
                let scale: u8 = s.parse().map_err(|_| bad())?;
                if precision == 0 || precision > 38 || scale > precision {
                    return Err(bad());
                }
                ColumnType::Decimal { precision, scale }
            }
        })
    }

    /// The Arrow data type of this column.
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Decimal { precision, scale } => DataType::Decimal128(precision, scale as i8),
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColumnType::Date => DataType::Date32,
            ColumnType::Bool => DataType::Boolean,
        }
    }
}

/// A rule a value must satisfy beyond its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Numbers: `>= 0`.
    NonNegative,
    /// Numbers: `!= 0`.
    NonZero,
    /// Unique among the accepted rows of the file.
    Unique,
    /// A current ISO 4217 currency code; stored upper-case; empty means the default currency.
    Iso4217,
    /// Timestamp or date: its date must equal the upload's date.
    SameDateAsPartition,
}

impl Check {
    /// Parses the TOML spelling (`non-negative`, `non-zero`, `unique`, `iso4217`,
    /// `same-date-as-partition`; `_` and `-` interchangeable).
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "non-negative" => Check::NonNegative,
            "non-zero" => Check::NonZero,
            "unique" => Check::Unique,
            "iso4217" | "iso-4217" => Check::Iso4217,
            "same-date-as-partition" => Check::SameDateAsPartition,
            _ => return Err(IngestError::Schema(format!("unknown check `{text}`"))),
        })
    }
}

/// One column of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// Name in Parquet and in error reports.
    pub name: String,
    /// Stored type.
    pub ty: ColumnType,
    /// A row without a value here is rejected, and a file without this column is refused.
    pub required: bool,
    /// Other header names accepted for this column.
    pub aliases: Vec<String>,
    /// Extra rules.
    pub checks: Vec<Check>,
}

impl ColumnSpec {
    fn new(name: &str, ty: ColumnType, required: bool, aliases: &[&str], checks: &[Check]) -> Self {
        ColumnSpec {
            name: name.to_string(),
            ty,
            required,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            checks: checks.to_vec(),
        }
    }

    /// Whether the column carries `check`.
    pub fn has(&self, check: Check) -> bool {
        self.checks.contains(&check)
    }
}

/// The columns of a table, in Parquet order.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    /// The declared columns (unknown CSV columns are appended at ingest time).
    pub columns: Vec<ColumnSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    columns: Vec<ColumnFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnFile {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    checks: Vec<String>,
}

impl TableSchema {
    /// The contract's `sales_processed` schema.
    pub fn sales_default() -> Self {
        use Check::*;
        use ColumnType::*;
        let dec = Decimal { precision: 18, scale: 4 };
        TableSchema {
            columns: vec![
                ColumnSpec::new("transaction_id", String, true, &["txn_id", "receipt_id", "id"], &[Unique]),
                ColumnSpec::new(
                    "sold_at",
                    Timestamp,
                    true,
                    &["timestamp", "datetime", "sale_time"],
                    &[SameDateAsPartition],
                ),
                ColumnSpec::new("sku", String, true, &["product_id", "item_id"], &[]),
                ColumnSpec::new("product_name", String, false, &["name", "item_name", "description"], &[]),
                ColumnSpec::new("quantity", Int64, true, &["qty", "units"], &[NonZero]),
                ColumnSpec::new("price", dec, true, &["unit_price", "unitprice"], &[NonNegative]),
                ColumnSpec::new("currency", String, false, &[], &[Iso4217]),
                ColumnSpec::new("payment_method", String, false, &["payment", "tender"], &[]),
            ],
        }
    }

    /// Reads a schema file:
    /// ```toml
    /// [[columns]]
    /// name = "price"
    /// type = "decimal(18,4)"
    /// required = true
    /// aliases = ["unit_price"]
    /// checks = ["non-negative"]
    /// ```
    pub fn from_toml(text: &str) -> Result<Self> {
        let file: SchemaFile = toml::from_str(text).map_err(|e| IngestError::Schema(e.to_string()))?;
        let mut columns = Vec::with_capacity(file.columns.len());
        for c in file.columns {
            let ty = ColumnType::parse(&c.ty)?;
            let checks = c.checks.iter().map(|s| Check::parse(s)).collect::<Result<Vec<_>>>()?;
            for check in &checks {
                let ok = match check {
                    Check::NonNegative | Check::NonZero => {
                        matches!(ty, ColumnType::Int64 | ColumnType::Decimal { .. })
                    }
                    Check::Iso4217 => ty == ColumnType::String,
                    Check::SameDateAsPartition => {
                        matches!(ty, ColumnType::Timestamp | ColumnType::Date)
                    }
                    Check::Unique => true,
                };
                if !ok {
                    return Err(IngestError::Schema(format!(
                        "column `{}`: check {check:?} does not apply to its type",
                        c.name
                    )));
                }
            }
            columns.push(ColumnSpec {
                name: c.name.trim().to_string(),
                ty,
                required: c.required,
                aliases: c.aliases,
                checks,
            });
        }
        let schema = TableSchema { columns };
        schema.validate()?;
        Ok(schema)
    }

    fn validate(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(IngestError::Schema("it declares no columns".into()));
        }
        let mut seen = std::collections::HashMap::new();
        for (i, c) in self.columns.iter().enumerate() {
            if c.name.is_empty() {
                return Err(IngestError::Schema(format!("column {} has an empty name", i + 1)));
            }
            for n in std::iter::once(&c.name).chain(&c.aliases) {
                if let Some(other) = seen.insert(normalize_name(n), i) {
                    if other != i {
                        return Err(IngestError::Schema(format!("the name `{n}` is used by two columns")));
                    }
                }
            }
        }
        Ok(())
    }

    /// The Arrow schema of the declared columns (no partition columns).
    pub fn to_arrow(&self) -> SchemaRef {
        Arc::new(Schema::new(self.arrow_fields()))
    }

    pub(crate) fn arrow_fields(&self) -> Vec<Field> {
        self.columns.iter().map(|c| Field::new(&c.name, c.ty.arrow_type(), !c.required)).collect()
    }
}

/// Header comparison key: lower-case, without spaces, `-` and `_`.
pub fn normalize_name(name: &str) -> String {
    name.chars().filter(|c| !c.is_whitespace() && *c != '-' && *c != '_').flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sales_default_matches_the_contract_types() {
        let s = TableSchema::sales_default().to_arrow();
        assert_eq!(s.field_with_name("price").unwrap().data_type(), &DataType::Decimal128(18, 4));
        assert_eq!(
            s.field_with_name("sold_at").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(s.field_with_name("quantity").unwrap().data_type(), &DataType::Int64);
        assert!(!s.field_with_name("transaction_id").unwrap().is_nullable());
        assert!(s.field_with_name("currency").unwrap().is_nullable());
        assert_eq!(s.fields().len(), 8);
    }

    #[test]
    fn toml_schema_is_read_with_types_aliases_and_checks() {
        let s = TableSchema::from_toml(
            r#"
            [[columns]]
            name = "amount"
            type = "decimal(10, 2)"
            required = true
            aliases = ["betrag"]
            checks = ["non-negative"]
            [[columns]]
            name = "day"
            type = "date"
            checks = ["same_date_as_partition"]
            [[columns]]
            name = "paid"
            type = "bool"
            "#,
        )
        .unwrap();
        assert_eq!(s.columns[0].ty, ColumnType::Decimal { precision: 10, scale: 2 });
        assert_eq!(s.columns[0].aliases, vec!["betrag"]);
        assert!(s.columns[1].has(Check::SameDateAsPartition));
        assert_eq!(s.columns[2].ty, ColumnType::Bool);
    }

    #[test]
    fn bad_schema_files_are_refused_with_a_schema_error() {
        for text in [
            "columns = []",
            "[[columns]]\nname = \"a\"\ntype = \"float\"",
            "[[columns]]\nname = \"a\"\ntype = \"decimal(40,2)\"",
            "[[columns]]\nname = \"a\"\ntype = \"string\"\nchecks = [\"non-zero\"]",
            "[[columns]]\nname = \"a\"\ntype = \"string\"\n[[columns]]\nname = \"A\"\ntype = \"int64\"",
            "not toml at all [",
        ] {
            assert!(matches!(TableSchema::from_toml(text), Err(IngestError::Schema(_))), "{text}");
        }
    }

    #[test]
    fn header_names_ignore_case_spaces_dashes_and_underscores() {
        assert_eq!(normalize_name(" Unit-Price "), "unitprice");
        assert_eq!(normalize_name("unit_price"), normalize_name("UNIT PRICE"));
    }
}
