//! The serde glue between the collected text values and the derived settings type: a
//! `Deserializer` over the values (each error names the setting, its source and its value), and
//! the setting names read from the derived type itself, so no list of names can drift from it.

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use std::collections::btree_map;
use std::sync::OnceLock;

use super::flat::FlatSettings;
use super::raw::{RawValues, Source};
use super::ConfigError;

/// Deserializes the settings from the collected values; an unset setting keeps its default.
pub(super) fn flat_settings(raw: &RawValues) -> Result<FlatSettings, ConfigError> {
    FlatSettings::deserialize(Values { entries: raw.iter(), current: None }).map_err(|e| ConfigError(e.0))
}

/// The setting names (TOML keys) in declaration order: the fields serde derived for
/// [`FlatSettings`].
pub(super) fn setting_names() -> &'static [&'static str] {
    static NAMES: OnceLock<&'static [&'static str]> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut fields = None;
        // The derived impl hands its field list to `deserialize_struct`; nothing is read.
        let _ = FlatSettings::deserialize(FieldNames(&mut fields));
        fields.expect("the settings type is a struct")
    })
}

/// A deserialization failure, already worded for the operator.
#[derive(Debug)]
pub(super) struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

impl de::Error for Invalid {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

/// The collected values as a map; a value that does not parse is reported with its origin.
struct Values<'a> {
    entries: btree_map::Iter<'a, String, (String, Source)>,
    current: Option<(&'a String, &'a String, &'a Source)>,
}

impl<'de> Deserializer<'de> for Values<'_> {
    type Error = Invalid;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for Values<'_> {
    type Error = Invalid;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Invalid> {
        let Some((key, (value, source))) = self.entries.next() else { return Ok(None) };
        self.current = Some((key, value, source));
        seed.deserialize(IntoDeserializer::<Invalid>::into_deserializer(key.as_str())).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Invalid> {
        let (key, value, source) = self.current.take().expect("serde reads a key before its value");
        seed.deserialize(Text(value)).map_err(|expected| {
            let shown = if key.contains("secret") || key.contains("private") { "<redacted>" } else { value };
            Invalid(format!("{} = '{shown}': expected {expected}", source.origin(key)))
        })
    }
}

/// One value's text: present means `Some`, everything else reads the text.
struct Text<'a>(&'a str);

impl<'de> Deserializer<'de> for Text<'_> {
    type Error = Invalid;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        visitor.visit_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        visitor.visit_some(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// Records the field list a derived struct passes to `deserialize_struct`, then stops.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Invalid;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Invalid> {
        Err(Invalid("not a struct".into()))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Invalid> {
        *self.0 = Some(fields);
        Err(Invalid("only the field names were wanted".into()))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}
