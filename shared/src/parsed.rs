//! Deserializing strings in place: ids and datetimes parse from the string they come in, and text
//! borrows it. A sync reads them by the hundred thousand, and none of them needs a copy.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{Error, Visitor};

/// Deserializes a string and parses it with `parse`; its error becomes the deserializer's.
pub(crate) fn from_str_with<'de, D, T, E>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
{
    deserializer.deserialize_str(Parsed { expecting, parse, value: PhantomData })
}

struct Parsed<T, E> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, E>,
    value: PhantomData<T>,
}

impl<T, E: fmt::Display> Visitor<'_> for Parsed<T, E> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<R: Error>(self, raw: &str) -> Result<T, R> {
        (self.parse)(raw).map_err(R::custom)
    }
}

/// An optional string that borrows from the input unless an escape made a copy necessary
/// (`#[serde(borrow)]` alone borrows a `Cow<str>`, never one inside an `Option`).
pub fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    deserializer.deserialize_option(OptionalText)
}

struct OptionalText;

impl<'de> Visitor<'de> for OptionalText {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }

    fn visit_borrowed_str<E: Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(text)))
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Row<'a> {
        #[serde(borrow, default, deserialize_with = "optional_text")]
        name: Option<Cow<'a, str>>,
    }

    #[test]
    fn optional_text_borrows_unless_an_escape_forces_a_copy() {
        let plain: Row = serde_json::from_str(r#"{"name":"Ada"}"#).unwrap();
        assert!(matches!(plain.name, Some(Cow::Borrowed("Ada"))));
        let escaped: Row = serde_json::from_str(r#"{"name":"A\"da"}"#).unwrap();
        assert!(matches!(escaped.name.as_deref(), Some("A\"da")));
        assert!(matches!(escaped.name, Some(Cow::Owned(_))));
        let null: Row = serde_json::from_str(r#"{"name":null}"#).unwrap();
        assert!(null.name.is_none());
        let absent: Row = serde_json::from_str("{}").unwrap();
        assert!(absent.name.is_none());
        use serde::Deserialize as _;
        let owned = Row::deserialize(serde_json::json!({"name": "Ada"})).unwrap();
        assert_eq!(owned.name.as_deref(), Some("Ada"));
        assert!(serde_json::from_str::<Row>(r#"{"name":3}"#).is_err());
    }
}
