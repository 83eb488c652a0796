//! Column types as a catalog (Glue/Hive) names them, their Arrow equivalents, and the pure
//! schema-evolution rule: new columns are added, safe widenings applied, conflicts refused.

use super::{CatalogError, CatalogResult};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One column of a table or file, with its Hive/Glue type name (`bigint`, `decimal(18,4)`...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// Hive/Glue type: string, bigint, decimal(p,s), timestamp, date, boolean, double.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The Hive/Glue name of an Arrow type, if the catalog can describe it.
pub fn hive_type(data_type: &DataType) -> Option<String> {
    Some(match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "int".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Date32 => "date".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Float64 => "double".into(),
        _ => return None,
    })
}

/// The Arrow type of a Hive/Glue type name (timestamps in microseconds, no time zone).
pub fn arrow_type(hive: &str) -> Option<DataType> {
    Some(match hive {
        "string" => DataType::Utf8,
        "bigint" => DataType::Int64,
        "int" => DataType::Int32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "date" => DataType::Date32,
        "boolean" => DataType::Boolean,
        "double" => DataType::Float64,
        other => {
            let (p, s) = parse_decimal(other)?;
            DataType::Decimal128(p, s)
        }
    })
}

fn parse_decimal(text: &str) -> Option<(u8, i8)> {
    let inner = text.strip_prefix("decimal(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// The catalog columns of an Arrow schema.
pub fn columns_of(schema: &Schema) -> CatalogResult<Vec<ColumnDef>> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let data_type = hive_type(f.data_type()).ok_or_else(|| CatalogError::UnsupportedType {
                column: f.name().clone(),
                data_type: f.data_type().to_string(),
            })?;
            Ok(ColumnDef { name: f.name().clone(), data_type })
        })
        .collect()
}

/// The Arrow schema of catalog columns (all nullable: old partitions may lack new columns).
pub fn arrow_schema(columns: &[ColumnDef]) -> Schema {
    Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(&c.data_type).unwrap_or(DataType::Utf8), true))
            .collect::<Vec<_>>(),
    )
}

/// A short, stable digest of a column list.
pub fn fingerprint(columns: &[ColumnDef]) -> String {
    let mut hasher = Sha256::new();
    for c in columns {
        hasher.update(c.name.as_bytes());
        hasher.update(b":");
        hasher.update(c.data_type.as_bytes());
        hasher.update(b";");
    }
    hex::encode(&hasher.finalize()[..8])
}

/// The table's columns after seeing a file's: unchanged, or with columns added or widened.
/// A conflict (a column whose types cannot both be held by one type) is an error, never silent.
pub fn evolve(table: &[ColumnDef], file: &[ColumnDef]) -> CatalogResult<Option<Vec<ColumnDef>>> {
    let mut next = table.to_vec();
    let mut changed = false;
    for column in file {
        match next.iter_mut().find(|t| t.name == column.name) {
            None => {
                next.push(column.clone());
                changed = true;
            }
            Some(existing) if existing.data_type == column.data_type => {}
            Some(existing) => {
                let wider =
                    widen(&existing.data_type, &column.data_type).ok_or_else(|| CatalogError::TypeConflict {
                        column: column.name.clone(),
                        table_type: existing.data_type.clone(),
                        file_type: column.data_type.clone(),
                    })?;
                if wider != existing.data_type {
                    existing.data_type = wider;
                    changed = true;
                }
            }
        }
    }
    Ok(changed.then_some(next))
}

/// A type that holds every value of both, exactly: bigint and decimals widen to a decimal
/// with enough integer digits (bigint needs 19) and the larger scale, up to 38 digits.
fn widen(a: &str, b: &str) -> Option<String> {
    let digits = |t: &str| -> Option<(u8, i8)> {
        if t == "bigint" {
            Some((19, 0))
        } else {
            parse_decimal(t)
        }
    };
    let ((pa, sa), (pb, sb)) = (digits(a)?, digits(b)?);
    let scale = sa.max(sb);
    let integer_digits = (pa as i16 - sa as i16).max(pb as i16 - sb as i16);
    let precision = integer_digits + scale as i16;
    (precision <= 38).then(|| format!("decimal({precision},{scale})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(spec: &[(&str, &str)]) -> Vec<ColumnDef> {
        spec.iter().map(|(n, t)| ColumnDef { name: n.to_string(), data_type: t.to_string() }).collect()
    }

    #[test]
    fn a_new_column_is_appended_and_nothing_else_changes() {
        let table = cols(&[("sku", "string"), ("price", "decimal(18,4)")]);
        let file = cols(&[("sku", "string"), ("loyalty_card", "string"), ("price", "decimal(18,4)")]);
        let next = evolve(&table, &file).unwrap().expect("changed");
        assert_eq!(next, cols(&[("sku", "string"), ("price", "decimal(18,4)"), ("loyalty_card", "string")]));
        assert_eq!(evolve(&next, &file).unwrap(), None, "seen before: unchanged");
    }

    #[test]
    fn bigint_widens_to_a_decimal_that_holds_every_bigint() {
        let next = evolve(&cols(&[("quantity", "bigint")]), &cols(&[("quantity", "decimal(18,4)")])).unwrap().unwrap();
        assert_eq!(next[0].data_type, "decimal(23,4)");
        let back = evolve(&next, &cols(&[("quantity", "bigint")])).unwrap();
        assert_eq!(back, None, "a bigint file fits the widened column");
    }

    #[test]
    fn incompatible_types_are_a_conflict_naming_the_column() {
        let err = evolve(&cols(&[("quantity", "bigint")]), &cols(&[("quantity", "string")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("quantity") && text.contains("bigint") && text.contains("string"), "{text}");
    }

    #[test]
    fn arrow_and_hive_types_round_trip() {
        for t in ["string", "bigint", "decimal(18,4)", "timestamp", "date", "boolean"] {
            assert_eq!(hive_type(&arrow_type(t).unwrap()).unwrap(), t);
        }
    }
}
