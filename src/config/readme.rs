//! The README's configuration table checked against the declared settings, as the OpenAPI
//! document is checked against the routes: every setting documented, nothing documented that
//! does not exist, and each default shown as a value equal to the built-in one.

use serde::de::{Deserialize, Deserializer, IntoDeserializer, MapAccess, Visitor};
use std::collections::BTreeMap;

use super::flat::FlatSettings;
use super::raw::{RawValues, Source, READ_ELSEWHERE, SECRET_FILE_KEYS};
use super::text::{flat_settings, setting_names, Invalid};

const README: &str = include_str!("../../README.md");

/// One row of the table: the name (without `SHOPLAKE_`, lower case) and the default cell.
struct Row {
    name: String,
    default: String,
}

/// The "## Configuration" section of the README.
fn section() -> &'static str {
    let start = README.find("\n## Configuration\n").expect("the README has a Configuration section");
    let rest = &README[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |at| at + 3);
    &rest[..end]
}

/// The table's rows: `| `SHOPLAKE_X` | default | meaning |`.
fn rows() -> Vec<Row> {
    section()
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.strip_prefix('|')?.trim_end_matches('|').split(" | ").map(str::trim).collect();
            let variable = cells.first()?.strip_prefix("`SHOPLAKE_")?.strip_suffix('`')?;
            assert_eq!(cells.len(), 3, "a row has a variable, its default and its meaning: {line}");
            assert!(!variable.contains('`'), "one variable per row: {line}");
            Some(Row { name: variable.to_ascii_lowercase(), default: cells[1].to_owned() })
        })
        .collect()
}

/// A default shown as one value, `` `X` ``, rather than words.
fn single_value(cell: &str) -> Option<&str> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then_some(inner)
}

/// Whether the setting is an `Option`: unset by default, or defaulting to what other settings
/// imply (told by the derived type itself, through the way it reads that one field).
fn is_optional(name: &'static str) -> bool {
    struct Probe<'a> {
        name: Option<&'static str>,
        saw_option: &'a mut bool,
    }
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = Invalid;
        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
            visitor.visit_map(self)
        }
        fn deserialize_option<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Invalid> {
            *self.saw_option = true;
            Err(Invalid("probed".into()))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
            unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
        }
    }
    impl<'de> MapAccess<'de> for Probe<'_> {
        type Error = Invalid;
        fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Invalid> {
            self.name
                .take()
                .map(|name| seed.deserialize(IntoDeserializer::<Invalid>::into_deserializer(name)))
                .transpose()
        }
        fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Invalid> {
            seed.deserialize(Probe { name: None, saw_option: &mut *self.saw_option })
        }
    }
    let mut saw_option = false;
    let _ = FlatSettings::deserialize(Probe { name: Some(name), saw_option: &mut saw_option });
    saw_option
}

#[test]
fn every_setting_is_in_the_readme_table_and_every_row_is_a_setting() {
    let documented: Vec<String> = rows().into_iter().map(|row| row.name).collect();
    let missing: Vec<&str> =
        setting_names().iter().copied().filter(|name| !documented.iter().any(|d| d == name)).collect();
    assert!(missing.is_empty(), "settings missing from the README's configuration table: {missing:?}");
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|name| !setting_names().contains(&name.as_str()) && !READ_ELSEWHERE.contains(&name.as_str()))
        .collect();
    assert!(unknown.is_empty(), "README rows that are no setting: {unknown:?}");
    let mut sorted = documented.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), documented.len(), "a setting documented twice");
}

#[test]
fn every_default_in_the_readme_table_is_the_built_in_default() {
    let built_in = format!("{:?}", FlatSettings::default());
    let mut wrong = Vec::new();
    for row in rows().into_iter().filter(|row| !READ_ELSEWHERE.contains(&row.name.as_str())) {
        let name = setting_names().iter().copied().find(|n| *n == row.name).expect("a setting (checked above)");
        match single_value(&row.default) {
            Some(value) => {
                let raw = RawValues::from([(row.name.clone(), (value.to_owned(), Source::File))]);
                match flat_settings(&raw) {
                    Ok(parsed) if format!("{parsed:?}") == built_in => {}
                    Ok(_) => wrong.push(format!("{name}: the README shows `{value}`, the built-in default differs")),
                    Err(e) => wrong.push(format!("{name}: the README's default does not parse: {e}")),
                }
            }
            None if is_optional(name) => {}
            None => wrong.push(format!(
                "{name}: the README describes its default ({}), but it has one value: show it as `value`",
                row.default
            )),
        }
    }
    assert!(wrong.is_empty(), "README defaults that are not the built-in ones:\n{}", wrong.join("\n"));
}

#[test]
fn every_secret_file_variable_is_named_in_the_readme() {
    for key in SECRET_FILE_KEYS {
        let variable = format!("`SHOPLAKE_{}_FILE`", key.to_ascii_uppercase());
        assert!(section().contains(&variable), "{variable} is not in the README's configuration section");
    }
}

#[test]
fn the_readme_check_reads_the_table_it_is_meant_to() {
    let rows = rows();
    let by_name: BTreeMap<&str, &str> = rows.iter().map(|row| (row.name.as_str(), row.default.as_str())).collect();
    assert_eq!(by_name.get("max_upload_bytes"), Some(&"`268435456`"));
    assert!(is_optional("jwt_secret") && !is_optional("listen"));
}
