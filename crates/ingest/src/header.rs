//! The header line: names trimmed, compared without case, spaces, `-` and `_`, mapped through
//! the schema's aliases; unknown names kept as extra string columns.

use std::collections::HashMap;

use super::error::{IngestError, Result};
use super::schema::{normalize_name, TableSchema};

/// Where each column lives in the CSV records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeaderMap {
    /// Number of fields of the header (every record must have as many).
    pub n_fields: usize,
    /// For each schema column, the CSV field index, if the file has it.
    pub slots: Vec<Option<usize>>,
    /// Unknown columns: CSV field index and name as written (trimmed).
    pub extras: Vec<(usize, String)>,
    /// The header fields as written, for the rejected-rows file.
    pub original: Vec<String>,
}

/// Maps header fields (already decoded to text) onto `schema`.
/// A field whose name (compared as the aliases are: without case, spaces, `-` and `_`) is in
/// `reserved` is refused: those columns live in the partition path.
pub fn map_header(fields: &[String], schema: &TableSchema, reserved: &[String]) -> Result<HeaderMap> {
    let reserved: Vec<(String, &String)> = reserved.iter().map(|r| (normalize_name(r), r)).collect();
    let mut lookup: HashMap<String, usize> = HashMap::new();
    for (i, c) in schema.columns.iter().enumerate() {
        lookup.insert(normalize_name(&c.name), i);
        for a in &c.aliases {
            lookup.insert(normalize_name(a), i);
        }
    }
    let mut slots = vec![None; schema.columns.len()];
    let mut extras: Vec<(usize, String)> = Vec::new();
    let mut extra_seen: HashMap<String, usize> = HashMap::new();
    for (pos, raw) in fields.iter().enumerate() {
        let name = raw.trim();
        let normalized = normalize_name(name);
        if let Some((_, key)) = reserved.iter().find(|(r, _)| !normalized.is_empty() && *r == normalized) {
            return Err(IngestError::ReservedColumn {
                written: name.to_string(),
                position: pos + 1,
                reserved: key.to_string(),
            });
        }
        match lookup.get(&normalized) {
            Some(&col) if !name.is_empty() => {
                if let Some(first) = slots[col] {
                    return Err(IngestError::DuplicateColumn {
                        column: schema.columns[col].name.clone(),
                        first: first + 1,
                        second: pos + 1,
                    });
                }
                slots[col] = Some(pos);
            }
            _ => {
                let name = if name.is_empty() { format!("column_{}", pos + 1) } else { name.to_string() };
                // Compared without case: catalogs such as Glue and Athena fold names to lower case.
                if let Some(first) = extra_seen.insert(name.to_lowercase(), pos) {
                    return Err(IngestError::DuplicateColumn { column: name, first: first + 1, second: pos + 1 });
                }
                extras.push((pos, name));
            }
        }
    }
    if slots.iter().all(Option::is_none) {
        let known: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        let shown: String = fields.iter().take(5).map(|f| format!("`{}`", f.trim())).collect::<Vec<_>>().join(", ");
        return Err(IngestError::NoHeader {
            detail: format!(
                "line 1 ({shown}) names none of the expected columns ({}); the first line must name the columns",
                known.join(", ")
            ),
        });
    }
    let missing: Vec<String> = schema
        .columns
        .iter()
        .zip(&slots)
        .filter(|(c, s)| c.required && s.is_none())
        .map(|(c, _)| c.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(IngestError::MissingRequiredColumns { columns: missing });
    }
    Ok(HeaderMap { n_fields: fields.len(), slots, extras, original: fields.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    const GEN: &[&str] =
        &["transaction_id", "sold_at", "sku", "product_name", "quantity", "unit_price", "currency", "payment_method"];

    #[test]
    fn aliases_map_onto_contract_columns_whatever_the_case_and_separators() {
        let h = map_header(
            &fields(&[" Receipt-ID ", "Sale Time", "ITEM_ID", "Qty", "Unit Price", "Tender", "store note"]),
            &TableSchema::sales_default(),
            &[],
        )
        .unwrap();
        assert_eq!(h.slots, vec![Some(0), Some(1), Some(2), None, Some(3), Some(4), None, Some(5)]);
        assert_eq!(h.extras, vec![(6, "store note".to_string())]);
    }

    #[test]
    fn generator_header_maps_fully() {
        let h = map_header(&fields(GEN), &TableSchema::sales_default(), &[]).unwrap();
        assert!(h.slots.iter().all(Option::is_some));
        assert!(h.extras.is_empty());
    }

    #[test]
    fn missing_required_columns_are_all_named() {
        let err =
            map_header(&fields(&["transaction_id", "sold_at", "sku"]), &TableSchema::sales_default(), &[]).unwrap_err();
        match err {
            IngestError::MissingRequiredColumns { columns } => {
                assert_eq!(columns, vec!["quantity", "price"])
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn a_data_line_instead_of_a_header_is_no_header() {
        let err = map_header(&fields(&["001-1", "2025-07-30T10:00:00", "SKU1"]), &TableSchema::sales_default(), &[]);
        assert!(matches!(err, Err(IngestError::NoHeader { .. })));
    }

    #[test]
    fn two_columns_meaning_the_same_are_refused() {
        let mut f = fields(GEN);
        f.push("price".into());
        let err = map_header(&f, &TableSchema::sales_default(), &[]).unwrap_err();
        assert!(matches!(err, IngestError::DuplicateColumn { first: 6, second: 9, .. }), "{err}");
        assert!(err.to_string().contains("price"));
    }

    #[test]
    fn unnamed_extra_columns_get_a_positional_name() {
        let mut f = fields(GEN);
        f.push(" ".into());
        let h = map_header(&f, &TableSchema::sales_default(), &[]).unwrap();
        assert_eq!(h.extras, vec![(8, "column_9".to_string())]);
    }

    #[test]
    fn partition_keys_are_refused_whatever_their_spelling() {
        let reserved = ["shop_id".to_string(), "date".to_string()];
        for written in ["shop_id", "SHOP_ID", "Shop ID", "shop-id", " Date ", "DATE"] {
            let mut f = fields(GEN);
            f.insert(2, written.into());
            match map_header(&f, &TableSchema::sales_default(), &reserved) {
                Err(IngestError::ReservedColumn { position: 3, reserved, .. }) => {
                    assert!(reserved == "shop_id" || reserved == "date", "{written}: {reserved}")
                }
                other => panic!("{written}: {other:?}"),
            }
        }
        // Names that only contain a key are ordinary extra columns.
        let mut f = fields(GEN);
        f.push("shop_id_old".into());
        assert!(map_header(&f, &TableSchema::sales_default(), &reserved).is_ok());
    }

    #[test]
    fn extra_columns_differing_only_in_case_are_one_column_twice() {
        let mut f = fields(GEN);
        f.extend(["Note".to_string(), "NOTE".to_string()]);
        let err = map_header(&f, &TableSchema::sales_default(), &[]).unwrap_err();
        assert!(matches!(err, IngestError::DuplicateColumn { first: 9, second: 10, .. }), "{err}");
    }
}
