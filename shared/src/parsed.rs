//! Deserializing strings in place: ids and datetimes parse from the string they come in, without
//! a copy into an owned `String` first.

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
